"""The wrk side of the bench: the lua hook's JSON line is parsed, and a real wrk run yields figures."""
import shutil
import subprocess
import sys

import pytest

from bench.scoring import fixtures, load, servers
from tests.polling import wait_for

WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:1/score
  2 threads and 16 connections
  Latency Distribution
     50%  612.00us
WRKJSON {"requests": 2000, "duration_us": 1000000, "p50_us": 612, "p90_us": 900, "p99_us": 1500, \
"max_us": 3000, "status_errors": 3, "connect_errors": 0, "read_errors": 1, "write_errors": 0, \
"timeouts": 2}
Requests/sec:   2000.00
"""

APP = """\
def app(environ, start_response):
    environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "3")])
    return [b"[0]"]
"""


def test_parse_wrk_reads_the_hook_line():
    figures = load.parse_wrk(WRK_OUTPUT)
    assert figures["rps"] == pytest.approx(2000.0)
    assert figures["p50_ms"] == pytest.approx(0.612)
    assert figures["p99_ms"] == pytest.approx(1.5)
    assert figures["non_2xx"] == 3
    assert figures["socket_errors"] == 3


def test_parse_wrk_without_the_hook_line_is_an_error():
    with pytest.raises(load.LoadError, match="WRKJSON"):
        load.parse_wrk("Requests/sec: 10\n")


def test_wrk_argv_uses_whole_seconds_and_keeps_latency():
    argv = load.wrk_argv("wrk", load.LOADS[2], fixtures.Path("/x.lua"), "http://127.0.0.1:9/s", 3)
    assert argv[:4] == ["wrk", "-t1", "-c1", "-d3s"]
    assert "--latency" in argv and argv[-1] == "http://127.0.0.1:9/s"


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_real_wrk_posts_the_body_file(tmp_path):
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    spec = servers.ServerSpec(
        "const", lambda port, w: [sys.executable, "-m", "gunicorn", "-w", str(w), "-b",
                                  f"127.0.0.1:{port}", "--chdir", str(tmp_path), "app:app"],
        body_kind="azureml", predictions=lambda body: body)
    f = fixtures.Fixtures(tmp_path, tmp_path, tmp_path, tmp_path, tmp_path, tmp_path, tmp_path,
                          rows_one=[[1.0, 2.0, 3.0, 4.0]], rows_big=[[1.0, 2.0, 3.0, 4.0]] * 3,
                          expected_one=[0], expected_big=[0])
    scripts = fixtures.write_body_files(tmp_path, f)
    server = servers.start_server(spec, 1, {"PATH": "/usr/bin:/bin"}, tmp_path, tmp_path / "log")
    try:
        figures = load.run_wrk(shutil.which("wrk"), load.LOADS[0], scripts[("azureml", "one")],
                               server.score_url, 1)
    finally:
        servers.stop_server(server.process)
    assert figures["requests"] > 0 and figures["rps"] > 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert figures["non_2xx"] == 0 and figures["socket_errors"] == 0
    wait_for(lambda: server.process.poll() is not None, timeout=10, message="server stopped")


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_wrk_counts_non_2xx_answers(tmp_path):
    (tmp_path / "app.py").write_text(APP.replace("200 OK", "500 Oops"), encoding="utf-8")
    spec = servers.ServerSpec(
        "broken", lambda port, w: [sys.executable, "-m", "gunicorn", "-w", str(w), "-b",
                                   f"127.0.0.1:{port}", "--chdir", str(tmp_path), "app:app"],
        body_kind="azureml", predictions=lambda body: body, health_path="/missing-is-500")
    lua = tmp_path / "post.lua"
    (tmp_path / "body.json").write_text("{}", encoding="utf-8")
    lua.write_text(fixtures.WRK_LUA % {"body": tmp_path / "body.json"}, encoding="utf-8")
    port = servers.free_port()
    process = subprocess.Popen(spec.argv(port, 1), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: servers.http_request(port, "GET", "/")[0] == 500, timeout=30,
                 message="gunicorn answering")
        figures = load.run_wrk(shutil.which("wrk"), load.LOADS[2], lua,
                               f"http://127.0.0.1:{port}/score", 1)
    finally:
        servers.stop_server(process)
    assert figures["requests"] > 0
    assert figures["non_2xx"] == figures["requests"]
