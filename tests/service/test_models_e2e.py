"""The model registry against a real service (gunicorn + agent, 127.0.0.1): runs, threads, kills."""
from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import joblib
import pytest
import requests
import sklearn

from tests.conftest import REPO, TOKEN, Service, free_port
from tests.polling import wait_for
from training.train_iris import split_data, train_model

TRAIN_IRIS = (REPO / "training" / "train_iris.py").read_text()


class _Sleeps:
    def __reduce__(self):
        return (time.sleep, (600,))


def _iris_bytes() -> bytes:
    buf = io.BytesIO()
    joblib.dump(train_model(split_data()), buf)
    return buf.getvalue()


def _upload(svc: Service, name: str, files: list[tuple[str, bytes]], **config):
    return svc.http("POST", "/models", data={"config": json.dumps({"name": name, **config})},
                    files=[("files", (rel, data)) for rel, data in files])


def test_train_iris_registered_twice_gives_versions_1_and_2_and_downloads_the_run_file(service):
    run = service.wait_run(service.submit({"train_iris.py": TRAIN_IRIS}, "train_iris.py",
                                          experiment="iris")["id"])
    assert run["status"] == "Completed", run
    body = {"name": "sklearn-iris", "run_id": run["id"], "path": "outputs/model.joblib",
            "framework": "ScikitLearn", "framework_version": sklearn.__version__,
            "resource_configuration": {"cpu": 1, "memory_in_gb": 0.5}}
    first = service.http("POST", "/models", json=body)
    second = service.http("POST", "/models", json=body)
    assert (first.status_code, second.status_code) == (201, 201), first.text
    assert [first.json()["id"], second.json()["id"]] == ["sklearn-iris:1", "sklearn-iris:2"]
    model = second.json()
    est = model["estimator"]
    assert (est["class"], est["n_features_in"], est["classes"], est["has_predict_proba"]) == (
        "SVC", 4, [0, 1, 2], False)
    assert model["environment"]["packages"]["scikit-learn"] == sklearn.__version__
    assert model["run_id"] == run["id"]
    run_file = service.http("GET", f"/runs/{run['id']}/files/outputs/model.joblib").content
    download = service.http("GET", "/models/sklearn-iris/versions/2/download")
    assert download.status_code == 200 and download.content == run_file
    assert hashlib.sha256(download.content).hexdigest() == model["files"][0]["sha256"]


def test_20_concurrent_registrations_get_versions_1_to_20(service):
    blob, barrier, answers = _iris_bytes(), threading.Barrier(20), []

    def register(i: int) -> None:
        barrier.wait(timeout=30)
        resp = _upload(service, "concurrent", [("model.joblib", blob + b"")],
                       framework="ScikitLearn", tags={"thread": str(i)})
        answers.append((resp.status_code, resp.json()))

    threads = [threading.Thread(target=register, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [code for code, _ in answers] == [201] * 20, answers
    assert sorted(body["version"] for _, body in answers) == list(range(1, 21))
    assert sorted(int(body["tags"]["thread"]) for _, body in answers) == list(range(20))
    assert all(body["estimator"]["class"] == "SVC" for _, body in answers)
    listed = service.http("GET", "/models/concurrent").json()["models"]
    assert [m["version"] for m in listed] == list(range(20, 0, -1))
    for version in range(1, 21):
        assert (service.workspace / "models" / "concurrent" / str(version) /
                "model.joblib").read_bytes() == blob


def test_a_hanging_unpickle_is_registered_as_failed_while_the_api_answers(service):
    result: dict = {}
    hanging = threading.Thread(target=lambda: result.update(resp=_upload(
        service, "hangs", [("model.pkl", pickle.dumps(_Sleeps()))], framework="ScikitLearn")))
    started = time.monotonic()
    hanging.start()
    health_latencies = []
    while hanging.is_alive() and time.monotonic() - started < 60:
        t0 = time.monotonic()
        assert requests.get(service.url + "/health", timeout=5).ok
        health_latencies.append(time.monotonic() - t0)
        if len(health_latencies) == 20:  # meanwhile another registration is not held up
            other = _upload(service, "fine", [("model.joblib", _iris_bytes())],
                            framework="ScikitLearn")
            assert other.status_code == 201 and other.json()["estimator"]["class"] == "SVC"
            assert hanging.is_alive()
        time.sleep(0.05)  # pacing the probe, not waiting for a state
    hanging.join(timeout=60)
    resp = result["resp"]
    assert resp.status_code == 201, resp.text
    assert resp.json()["estimator"] == {"status": "failed",
                                        "reason": "introspection timed out after 10 s"}
    assert len(health_latencies) >= 50 and max(health_latencies) < 1.0, health_latencies
    assert (service.workspace / "models" / "hangs" / "1" / "model.pkl").is_file()


def test_the_cli_registers_lists_shows_downloads_and_deletes(service, tmp_path):
    script = ("import os, joblib\nfrom sklearn.linear_model import LogisticRegression\n"
              "os.makedirs('outputs', exist_ok=True)\n"
              "joblib.dump(LogisticRegression().fit([[0, 1], [1, 0]], [0, 1]), "
              "'outputs/model.pkl')\n")
    run = service.wait_run(service.submit({"t.py": script}, "t.py")["id"])
    assert run["status"] == "Completed", run
    env = {**os.environ, "AMLOCAL_URL": service.url, "AMLOCAL_API_TOKEN": TOKEN}

    def cli(*args: str, expect: int = 0) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "service.cli", "model", *args], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == expect, done.stderr
        return done

    made = json.loads(cli("register", "--run", run["id"], "--path", "outputs/model.pkl",
                          "--name", "logreg", "--framework", "ScikitLearn", "--cpu", "1",
                          "--tag", "k=v", "--json").stdout)
    assert made["id"] == "logreg:1" and made["estimator"]["has_predict_proba"] is True
    assert made["resource_configuration"] == {"cpu": 1.0} and made["tags"] == {"k": "v"}
    folder = tmp_path / "bundle"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "w.bin").write_bytes(b"weights")
    (folder / "conf.json").write_text("{}")
    up = json.loads(cli("register", "--file", str(folder), "--name", "bundle", "--json").stdout)
    assert sorted(f["path"] for f in up["files"]) == ["bundle/conf.json", "bundle/sub/w.bin"]
    listed = json.loads(cli("list", "--latest", "--json").stdout)
    assert [m["id"] for m in listed] == ["bundle:1", "logreg:1"]
    assert "logreg:1" in cli("list").stdout
    assert "LogisticRegression (2 features)" in cli("show", "logreg").stdout
    cli("download", "logreg:1", "-o", str(tmp_path / "got.pkl"))
    assert (tmp_path / "got.pkl").read_bytes() == (
        service.workspace / "runs" / run["id"] / "outputs" / "model.pkl").read_bytes()
    cli("property", "logreg:1", "--add", "p=1")
    refused = cli("property", "logreg:1", "--add", "p=2", expect=1)
    assert "properties are immutable" in refused.stderr
    assert "deleted logreg:1" in cli("delete", "logreg:1").stdout
    assert "ModelNotFound" in cli("show", "logreg:1", expect=1).stderr
    assert "model name is invalid" in cli("register", "--file", str(folder), "--name", "bad name",
                                          expect=1).stderr


# -- crash safety: SIGKILL of the whole service (supervisor, gunicorn, agent, fork servers) ------

def _start_own_group(workspace: Path) -> Service:
    """A real service in its own process group, so all of it can be killed at once."""
    svc = Service(workspace, free_port())
    svc.env = {**os.environ, "AMLOCAL_API_TOKEN": TOKEN, "AMLOCAL_WORKSPACE": str(workspace)}
    svc.proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port",
                                 str(svc.port), "--workspace", str(workspace)], env=svc.env,
                                cwd=REPO, start_new_session=True)
    wait_for(lambda: svc.proc.poll() is None and requests.get(svc.url + "/health", timeout=1).ok,
             timeout=60, message="service /health")
    return svc


def _group_members(pgid: int) -> list[int]:
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def _kill_group(svc: Service) -> None:
    os.killpg(svc.proc.pid, signal.SIGKILL)
    svc.proc.wait(timeout=10)
    wait_for(lambda: not _group_members(svc.proc.pid), timeout=10, message="the group to die")


def _assert_none_or_whole(workspace: Path, name: str, sent: dict[str, bytes]) -> list[int]:
    """Every visible version has exactly the files sent, byte for byte; returns the versions."""
    svc = _start_own_group(workspace)
    try:
        resp = svc.http("GET", f"/models?name={name}")
        versions = [m for m in resp.json()["models"]]
        for model in versions:
            folder = workspace / "models" / name / str(model["version"])
            on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
            assert on_disk == set(sent) == {f["path"] for f in model["files"]}
            for record in model["files"]:
                data = (folder / record["path"]).read_bytes()
                assert data == sent[record["path"]]
                assert hashlib.sha256(data).hexdigest() == record["sha256"]
        after = _upload(svc, name, [("after.bin", b"after")])  # the registry still works
        assert after.status_code == 201 and after.json()["version"] == len(versions) + 1
        return [m["version"] for m in versions]
    finally:
        _kill_group(svc)


def _multipart(name: str, files: dict[str, bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="config"\r\n\r\n'
             f'{json.dumps({"name": name, "framework": "ScikitLearn"})}\r\n'.encode()]
    for rel, data in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
                     f'filename="{rel}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                     .encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("moment", ["receiving", "staging", "introspecting", "answered"])
def test_killing_the_service_mid_registration_leaves_no_version_or_a_whole_one(tmp_path, moment):
    workspace = tmp_path / "ws"
    big = os.urandom(64 * 1024 * 1024)
    sent = {"big.bin": big, "model.pkl": pickle.dumps(_Sleeps())}
    body, content_type = _multipart("big", sent)
    svc = _start_own_group(workspace)
    conn = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=60)
    sender = None
    try:
        conn.putrequest("POST", "/models")
        for key, value in (("Authorization", f"Bearer {TOKEN}"), ("Content-Type", content_type),
                           ("Content-Length", str(len(body)))):
            conn.putheader(key, value)
        conn.endheaders()
        if moment == "receiving":
            conn.send(body[:len(body) // 2])
        else:
            sender = threading.Thread(target=lambda: _send_quietly(conn, body), daemon=True)
            sender.start()
            stages = lambda: list((workspace / "tmp").glob("model-*"))  # noqa: E731
            if moment == "staging":
                wait_for(lambda: any(p.is_file() for s in stages() for p in s.iterdir()),
                         interval=0.002, message="a stage with a file")
            elif moment == "introspecting":  # whole stage; the pickle now hangs for 10 s
                wait_for(lambda: any((s / "model.pkl").is_file() for s in stages()),
                         message="the staged pickle")
            else:
                wait_for(lambda: (workspace / "models" / "big" / "1").is_dir() and svc.http(
                    "GET", "/models/big/versions/1").ok, timeout=60, message="version 1")
    finally:
        _kill_group(svc)
        if sender is not None:
            sender.join(timeout=30)
        conn.close()
    versions = _assert_none_or_whole(workspace, "big", sent)
    if moment in ("receiving", "staging", "introspecting"):
        assert versions == []
    else:
        assert versions == [1]


def _send_quietly(conn: http.client.HTTPConnection, body: bytes) -> None:
    try:
        conn.send(body)
        conn.getresponse().read()
    except OSError:
        pass  # the service was killed under it
