"""Process handling of the bench against a real gunicorn: start-up time, workers, RSS, loopback, stop."""
import json
import os
import subprocess
import sys

import pytest

from bench.scoring import servers
from tests.polling import wait_for

APP = """\
import json


def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    rows = json.loads(environ["wsgi.input"].read(length) or b"{}").get("data", [])
    body = json.dumps([0] * len(rows)).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""


def gunicorn_spec(folder):
    """A spec running a tiny WSGI app under gunicorn on 127.0.0.1."""
    (folder / "app.py").write_text(APP, encoding="utf-8")
    return servers.ServerSpec(
        "tiny", lambda port, w: [sys.executable, "-m", "gunicorn", "-w", str(w), "-b",
                                 f"127.0.0.1:{port}", "--chdir", str(folder), "app:app"],
        body_kind="azureml", predictions=lambda body: body)


def alive(pid):
    """True while /proc has the pid."""
    return os.path.exists(f"/proc/{pid}")


def test_two_workers_are_found_measured_and_stopped(tmp_path):
    server = servers.start_server(gunicorn_spec(tmp_path), 2, dict(os.environ), tmp_path,
                                  tmp_path / "log")
    try:
        assert 0 < server.startup_s < 60
        wait_for(lambda: len(servers.worker_pids(server.process.pid)) == 2, timeout=30,
                 message="two gunicorn workers")
        workers = servers.worker_pids(server.process.pid)
        assert server.process.pid not in workers
        mem = servers.memory(server)
        assert mem["workers_seen"] == 2
        assert 5 < mem["worker_rss_mib"] < mem["tree_rss_mib"]
        servers.check_loopback_only(server)
        servers.check_predictions(server, json.dumps({"data": [[1, 2]]}).encode(), [0])
    finally:
        servers.stop_server(server.process)
    assert server.process.poll() is not None
    wait_for(lambda: not any(alive(pid) for pid in workers), timeout=10, message="workers gone")


def test_wrong_predictions_are_refused(tmp_path):
    server = servers.start_server(gunicorn_spec(tmp_path), 1, dict(os.environ), tmp_path,
                                  tmp_path / "log")
    try:
        with pytest.raises(servers.ServerError, match="wrong predictions"):
            servers.check_predictions(server, json.dumps({"data": [[1, 2]]}).encode(), [2])
    finally:
        servers.stop_server(server.process)


def test_the_listening_address_is_read_from_proc(tmp_path):
    server = servers.start_server(gunicorn_spec(tmp_path), 1, dict(os.environ), tmp_path,
                                  tmp_path / "log")
    try:
        assert servers.listening_hosts(server.process.pid) == {"0100007F"}
    finally:
        servers.stop_server(server.process)


@pytest.mark.parametrize("hosts, wide", [
    ({"0100007F"}, set()),
    ({"00000000000000000000000001000000"}, set()),
    ({"0100007F", "00000000"}, {"00000000"}),                       # 0.0.0.0
    ({"00000000000000000000000000000000"}, {"00000000000000000000000000000000"}),  # ::
], ids=["ipv4-loopback", "ipv6-loopback", "ipv4-any", "ipv6-any"])
def test_addresses_beyond_loopback_are_named(hosts, wide):
    assert servers.beyond_loopback(hosts) == wide


def test_a_server_that_exits_is_a_server_error(tmp_path):
    spec = servers.ServerSpec("dies", lambda port, w: [sys.executable, "-c", "raise SystemExit(3)"],
                              body_kind="azureml", predictions=lambda body: body)
    with pytest.raises(servers.ServerError, match="exit code 3"):
        servers.start_server(spec, 1, dict(os.environ), tmp_path, tmp_path / "log")


def test_cpu_seconds_sums_the_process_tree(tmp_path):
    burn = ("import subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', "
            "'import time\\nt = time.process_time()\\nwhile time.process_time() - t < 0.3: pass\\n"
            "time.sleep(60)'])\n"
            "time.sleep(60)\n")
    process = subprocess.Popen([sys.executable, "-c", burn])
    try:
        wait_for(lambda: servers.cpu_seconds(process.pid) >= 0.3, timeout=30,
                 message="the child's CPU counted under its parent")
        assert len(servers.descendants(process.pid)) == 1
    finally:
        servers.stop_server(process)
