"""The click CLI itself: its command tree, the README's command lines, errors, passthrough."""
from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from service.cli.client import Client, ClientError
from service.cli.main import cli
from service.cli.models import FRAMEWORKS
from tests.conftest import REPO, TOKEN, free_port

NO_JSON = {("serve",), ("quickstart",)}  # they print no resource


def commands(group: click.Group = cli, path: tuple[str, ...] = ()):
    """(path, command) for every leaf command under `group`."""
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name), command


def parse(argv: list[str]) -> tuple[tuple[str, ...], dict]:
    """What the CLI makes of `argv` (group by group, as click does), without running it."""
    command: click.Command = cli
    ctx, name, path = None, "amlocal", []
    while True:
        ctx = command.make_context(name, list(argv), parent=ctx)
        if not isinstance(command, click.Group):
            return tuple(path), ctx.params
        name, argv = argv[0], argv[1:]  # our groups have no options of their own
        found = command.get_command(ctx, name)
        assert found is not None, f"no command {name!r} in {' '.join(['amlocal', *path])}"
        command = found
        path.append(name)


def readme_command_lines() -> list[str]:
    """Every `amlocal ...` line of the README's code blocks and inline code."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            lines += [part.strip() for part in re.split(r";|&&", line)]
    lines += re.findall(r"`(amlocal [^`]+)`", text)
    found = []
    for line in lines:
        if "$(" in line:  # BEST=$(amlocal sweep best HD_... -q)
            line = line[line.index("$(") + 2:line.rindex(")")]
        words = line.split(maxsplit=1)
        if words and Path(words[0]).name == "amlocal":
            found.append(line)
    return found


README_LINES = readme_command_lines()


def test_the_readme_shows_the_cli():
    assert len(README_LINES) >= 20, README_LINES


@pytest.mark.parametrize("line", README_LINES)
def test_every_readme_command_line_parses(line):
    """Syntax summaries (`show|logs|list`) name sub-commands that exist; examples parse whole."""
    line = re.sub(r"\s*\[[^\]]*\]", "", line)  # optional parts of a syntax summary
    words = shlex.split(line, comments=True)[1:]
    alternatives = next((i for i, w in enumerate(words) if "|" in w), None)
    if alternatives is not None:
        path = words[:alternatives]
        group: click.Group = cli
        for name in path:
            group = group.commands[name]
        for name in words[alternatives].split("|"):
            assert name in group.commands, f"README names `amlocal {' '.join(path)} {name}`"
        return
    if "..." in words:  # a summary's trailing "... (every command takes --json)"
        words = words[:words.index("...")]
    parse(words)


@pytest.mark.parametrize("path", [p for p, _ in commands() if p not in NO_JSON],
                         ids=" ".join)
def test_every_resource_command_takes_json(path):
    command = dict(commands())[path]
    flags = {opt for param in command.params for opt in param.opts}
    assert "--json" in flags


def test_the_cli_offers_the_frameworks_the_service_accepts():
    from service.models import FRAMEWORKS as ACCEPTED

    assert tuple(FRAMEWORKS.choices) == ACCEPTED


def test_arguments_after_double_dash_go_to_the_script_untouched():
    _, params = parse(["run", "submit", "src", "s.py", "--experiment", "e", "--wait", "--",
                       "--alpha", "0.1", "--json", "--", "-x"])
    assert params["arguments"] == ("--alpha", "0.1", "--json", "--", "-x")
    assert params["experiment"] == "e" and params["wait"] and not params["as_json"]
    _, params = parse(["sweep", "submit", "src", "s.py", "--param", "--x=choice(1,2)", "--param",
                       "kind=choice(a)", "--metric", "m", "--max-runs", "2", "--", "--base", "b"])
    assert params["params"] == ("--x=choice(1,2)", "kind=choice(a)")
    assert params["arguments"] == ("--base", "b")


def test_an_unknown_option_before_double_dash_is_a_usage_error():
    result = CliRunner().invoke(cli, ["run", "submit", "src", "s.py", "--alpha", "0.1"])
    assert result.exit_code == 2 and "No such option '--alpha'" in result.stderr


def test_model_files_follow_one_file_option():
    _, params = parse(["model", "register", "--file", "a.pkl", "b.json", "--name", "m"])
    assert params["files"] + params["more_files"] == (Path("a.pkl"), Path("b.json"))


def test_a_client_error_is_one_line_on_stderr_and_exit_code_1():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = CliRunner().invoke(cli, ["run", "show", "some-run"],
                                env={"AMLOCAL_URL": url, "AMLOCAL_API_TOKEN": TOKEN})
    assert result.exit_code == 1, result.output
    assert result.stderr == (f"amlocal: error: cannot reach the amlocal service at {url} "
                             f"(start it with `amlocal serve`)\n")
    assert result.stdout == ""


def test_a_bad_setting_is_one_line_too():
    result = CliRunner().invoke(cli, ["model", "list"],
                                env={"AMLOCAL_MAX_CONCURRENT_RUNS": "many"})
    assert result.exit_code == 1
    assert result.stderr == ("amlocal: error: AMLOCAL_MAX_CONCURRENT_RUNS='many' is not a valid "
                             "int\n")


def test_a_service_that_does_not_answer_in_time_is_a_client_error():
    with socket.socket() as silent:  # listens, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(ClientError, match=r"did not answer GET /health within 0.3 s"):
            Client(url, token=TOKEN, timeout=0.3).health()


def test_the_cli_against_a_service_errors_exit_codes_and_passthrough(service, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "echo.py").write_text("import sys\nprint('argv', sys.argv[1:])\n")
    env = {"AMLOCAL_URL": service.url, "AMLOCAL_API_TOKEN": TOKEN}
    runner = CliRunner()
    done = runner.invoke(cli, ["run", "submit", str(src), "echo.py", "--experiment", "pt",
                               "--wait", "--json", "--", "--alpha", "0.1", "--json", "--", "-x"],
                         env=env)
    assert done.exit_code == 0, done.output
    run = json.loads(done.stdout)
    assert run["status"] == "Completed"
    assert run["arguments"] == ["--alpha", "0.1", "--json", "--", "-x"]
    assert "argv ['--alpha', '0.1', '--json', '--', '-x']" in done.stderr  # the log, under --json
    logs = json.loads(runner.invoke(cli, ["run", "logs", run["id"], "--json"], env=env).stdout)
    assert "argv ['--alpha'" in logs["log"]
    missing = runner.invoke(cli, ["model", "show", "nothing:1"], env=env)
    assert missing.exit_code == 1 and missing.stderr.startswith("amlocal: error: ")
    assert len(missing.stderr.splitlines()) == 1 and "Traceback" not in missing.output
    not_a_sweep = runner.invoke(cli, ["sweep", "show", run["id"]], env=env)
    assert not_a_sweep.exit_code == 1
    assert not_a_sweep.stderr == f"amlocal: error: run {run['id']} is not a sweep\n"
    gone = runner.invoke(cli, ["run", "submit", str(tmp_path / "nowhere"), "s.py"], env=env)
    assert gone.exit_code == 1 and "does not exist" in gone.stderr


def test_quickstart_failure_is_one_line_and_a_nonzero_exit(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("the workspace cannot be made under a file")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AMLOCAL_")},
           "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "service.cli", "quickstart", "--workspace",
                           str(blocker / "ws"), "--port", str(free_port())], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.startswith("amlocal: error: starting the service: the service exited "
                                  "with "), done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
    log = Path(done.stderr.rpartition("the service's log: ")[2].rstrip(")\n"))
    assert log.parent == tmp_path and log.read_text()  # what the service said, kept for the user
