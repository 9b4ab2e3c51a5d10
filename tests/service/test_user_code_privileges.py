"""User code against a real service: a training script and a deployed score.py each try to get at
the workspace's token and database, the agent's environment and another run's files, and to use
the control API with whatever they find; all of that fails. The script can still do what a run
may do to itself through its run token. A double-forked process ends with its run."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO, TOKEN, prepare_sandbox, process_alive, run_processes
from tests.polling import wait_for
from tests.service.test_deployments_support import iris_model, register_model, score, wait_state

# What both probes try: every secret they must not get, as they would find it.
PROBE = r'''
import glob, json, os, sys, urllib.error, urllib.request

def attempt_read(path):
    try:
        with open(path, "rb") as fh:
            return "READ " + fh.read(4096).decode("utf-8", "replace")
    except Exception as err:
        return type(err).__name__

def attempt_list(path):
    try:
        return sorted(os.listdir(path))
    except Exception as err:
        return type(err).__name__

def http(method, path, token=None, body=None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(API + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except Exception as err:
        return type(err).__name__

def probe():
    found = {"env": dict(os.environ), "uid": os.getuid()}
    found["reads"] = {p: attempt_read(p) for p in (
        WS + "/api-token", WS + "/amlocal.db", WS + "/amlocal.db-wal",
        WS + "/runs/" + OTHER + "/outputs/secret.txt", "/proc/%d/environ" % AGENT,
        "/proc/%d/cmdline" % AGENT)}
    found["lists"] = {p: attempt_list(p) for p in (WS, WS + "/runs", WS + "/models")}
    # every process this code can see, and what their environments hold
    found["environs"] = {p: attempt_read(p) for p in glob.glob("/proc/[0-9]*/environ")}
    found["writes"] = {}
    for path in (REPO + "/service/evil.py", WS + "/api-token", "/etc/amlocal-evil"):
        try:
            open(path, "a").close()
            found["writes"][path] = "WROTE"
        except Exception as err:
            found["writes"][path] = type(err).__name__
    # the control API with anything it could find: nothing, a guess, the well-known files
    tokens = {"none": None, "guess": "amlrun_" + "A" * 43}
    for name, text in found["reads"].items():
        if text.startswith("READ "):
            tokens[name] = text[5:].strip()
    found["admin_calls"] = {name: [http("GET", "/models", token),
                                   http("DELETE", "/models/victim/versions/1", token)]
                            for name, token in tokens.items()}
    return found
'''

TRAIN = PROBE + r'''
sys.path.insert(0, REPO)
from azureml.core import Run
from training.runapi import RunApi, RunApiError

run = Run.get_context()
api = RunApi.from_environment()
report = probe()
mine = os.environ.get("AZUREML_RUN_TOKEN")
report["token"] = mine
report["endpoint"] = os.environ.get("AZUREML_SERVICE_ENDPOINT")
report["expiry"] = os.environ.get("AZUREML_RUN_TOKEN_EXPIRY")
me = os.environ["AZUREML_RUN_ID"]

# links planted for the service to follow (the target does not even exist in here)
os.symlink(WS + "/api-token", "../leak")
os.symlink(WS + "/api-token", "outputs/leak.joblib")
os.rename("../user_logs", "../user_logs_moved")
os.mkdir("../user_logs")
os.symlink(WS + "/api-token", "../user_logs/std_log.txt")

def status(method, path, body=None):
    return http(method, path, mine, body)

report["run_token"] = {
    "own run": status("GET", "/runs/" + me),
    "own files": status("GET", "/runs/" + me + "/files"),
    "own children": status("GET", "/runs/" + me + "/children"),
    "other run": status("GET", "/runs/" + OTHER),
    "other run's file": status("GET", "/runs/" + OTHER + "/files/outputs/secret.txt"),
    "other run's metrics": status("GET", "/runs/" + OTHER + "/metrics"),
    "tag other run": status("PATCH", "/runs/" + OTHER + "/tags", {"add": {"x": "y"}}),
    "cancel other run": status("POST", "/runs/" + OTHER + "/cancel"),
    "cancel itself": status("POST", "/runs/" + me + "/cancel"),
    "list experiments": status("GET", "/experiments"),
    "submit a run": status("POST", "/experiments/exp/runs"),
    "list models": status("GET", "/models"),
    "read a model": status("GET", "/models/victim/versions/1"),
    "delete a model": status("DELETE", "/models/victim/versions/1"),
    "register from another run": status("POST", "/models", {"name": "stolen", "run_id": OTHER,
                                                            "path": "outputs/secret.txt"}),
    "list deployments": status("GET", "/deployments"),
    "deploy": status("POST", "/deployments", {"name": "evil", "models": ["victim:1"]}),
    "register an environment": status("POST", "/environments", {"name": "e", "pip": "x"}),
    "read the OpenAPI document": status("GET", "/openapi.json"),
    "the planted link": status("GET", "/runs/" + me + "/files/leak"),
    "the planted output link": status("GET", "/runs/" + me + "/files/outputs/leak.joblib"),
}
log = urllib.request.Request(API + "/runs/" + me + "/logs",
                             headers={"Authorization": "Bearer " + mine})
report["log through a planted link"] = urllib.request.urlopen(log, timeout=30).read().decode()
os.remove("../user_logs/std_log.txt")
os.rmdir("../user_logs")
os.rename("../user_logs_moved", "../user_logs")

# what a run may do to itself
run.log("context_metric", 1)
run.tag("context_tag", "a")
api.log("http_metric", 2)
api.log("http_row", {"a": 1, "b": 2}, kind="row")
api.set_tags({"http_tag": "b"})
api.add_properties({"http_property": "c"})
run.upload_file("uploaded/context.txt", __file__)
api.upload_file("uploaded/http.txt", b"through the run token")
child = api.create_child(name="fold-1", tags={"fold": "1"})
api.log("child_metric", 3, run_id=child["id"])
api.upload_file("child.txt", b"the child's file", run_id=child["id"])
report["child"] = child["id"]
report["child seen"] = api.get_run(child["id"])["parent_id"]
report["children"] = [c["run_id"] for c in api.list_children()]
grandchild = api.request("POST", "/runs/" + child["id"] + "/children", {"name": "inner"})
api.complete_child(grandchild["id"], "Failed", "a fold failed")
report["grandchild"] = grandchild["id"]
import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
joblib.dump(LogisticRegression(max_iter=300).fit(*load_iris(return_X_y=True)),
            "outputs/model.joblib")
report["model"] = api.register_model("from-the-run", "outputs/model.joblib",
                                     framework="ScikitLearn")["id"]
try:
    api.register_model("from-a-link", "outputs/leak.joblib")
    report["model from a link"] = "registered"
except RunApiError as err:
    report["model from a link"] = err.status
os.remove("outputs/leak.joblib")
with open("outputs/report.json", "w") as fh:
    json.dump(report, fh)
'''

SCORE = PROBE + r'''
report = None

def init():
    global report
    report = probe()
    model_dir = os.environ.get("AZUREML_MODEL_DIR", "")
    report["model writable"] = "no"
    for path in glob.glob(model_dir + "/**/*.joblib", recursive=True):
        try:
            open(path, "ab").close()
            report["model writable"] = path
        except Exception:
            pass

def run(data):
    return json.dumps(report)
'''


def constants(svc, other_run: str) -> str:
    return (f"WS = {str(svc.workspace)!r}\nREPO = {str(REPO)!r}\nAPI = {svc.url!r}\n"
            f"AGENT = {svc.agent_pid()}\nOTHER = {other_run!r}\n")


@pytest.fixture
def victim(svc) -> tuple[str, str]:
    """Another run with a secret in its outputs, and a registered model: what a probe is after."""
    other = svc.submit({"o.py": "open('outputs/secret.txt', 'w').write('other-run-secret')\n"},
                       "o.py")
    assert svc.wait_run(other["id"])["status"] == "Completed"
    model = register_model(svc.workspace, "victim", iris_model())
    # A token file beside the configured token, as a workspace that once generated one has it.
    token_file = svc.workspace / "api-token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    return other["id"], model


def assert_nothing_leaked(report: dict, ws: Path) -> None:
    """The checks both probes share."""
    text = json.dumps(report)
    assert TOKEN not in text  # the workspace's token: not in env, files or any visible process
    assert "other-run-secret" not in text
    assert not [k for k in report["env"] if k.startswith("AMLOCAL_") and k != "AMLOCAL_RUN_DIR"]
    for path, outcome in report["reads"].items():
        assert not outcome.startswith("READ"), (path, outcome)
    assert report["lists"][str(ws / "models")] in ("FileNotFoundError", "PermissionError")
    assert all(v != "WROTE" for v in report["writes"].values()), report["writes"]
    for token, (list_models, delete_model) in report["admin_calls"].items():
        assert (list_models, delete_model) == (401, 401), token
    assert report["uid"] != 0


def test_a_training_script_reaches_only_its_own_run(svc, victim):
    assert prepare_sandbox(), "bubblewrap is needed to confine user code (prepare-sandbox.sh)"
    other, model = victim
    run = svc.submit({"probe.py": constants(svc, other) + TRAIN}, "probe.py", experiment="probe")
    done = svc.wait_run(run["id"], timeout=180)
    log = svc.http("GET", f"/runs/{run['id']}/logs").text
    assert done["status"] == "Completed", (done, log)
    report = svc.http("GET", f"/runs/{run['id']}/files/outputs/report.json").json()

    assert_nothing_leaked(report, svc.workspace)
    assert report["lists"][str(svc.workspace / "runs")] == [run["id"]]  # no other run in sight
    assert report["endpoint"] == svc.url and int(report["expiry"]) > 0
    assert report["run_token"] == {
        "own run": 200, "own files": 200, "own children": 200, "other run": 403,
        "other run's file": 403, "other run's metrics": 403, "tag other run": 403,
        "cancel other run": 403, "cancel itself": 403, "list experiments": 403,
        "submit a run": 403, "list models": 403, "read a model": 403, "delete a model": 403,
        "register from another run": 403, "list deployments": 403, "deploy": 403,
        "register an environment": 403, "read the OpenAPI document": 403,
        "the planted link": 404, "the planted output link": 404}
    assert report["log through a planted link"] == ""
    assert report["model from a link"] == 400

    # what it did to itself landed
    metrics = svc.http("GET", f"/runs/{run['id']}/metrics").json()["metrics"]
    assert metrics == {"context_metric": 1, "http_metric": 2, "http_row": {"a": 1, "b": 2}}
    assert done["tags"] == {"context_tag": "a", "http_tag": "b"}
    assert done["properties"]["http_property"] == "c"
    files = {f["path"] for f in svc.http("GET", f"/runs/{run['id']}/files").json()["files"]}
    assert {"uploaded/context.txt", "uploaded/http.txt", "outputs/model.joblib"} <= files
    assert svc.http("GET", f"/runs/{run['id']}/files/uploaded/http.txt").text == \
        "through the run token"
    child = svc.run(report["child"])
    assert report["child seen"] == run["id"] and report["children"] == [report["child"]]
    assert (child["status"], child["parent_id"], child["tags"]) == ("Completed", run["id"],
                                                                   {"fold": "1"})
    assert svc.http("GET", f"/runs/{child['id']}/metrics").json()["metrics"] == {
        "child_metric": 3}
    assert svc.http("GET", f"/runs/{child['id']}/files/child.txt").text == "the child's file"
    grandchild = svc.run(report["grandchild"])
    assert (grandchild["status"], grandchild["error"]["message"]) == ("Failed", "a fold failed")
    registered = svc.http("GET", f"/models/{report['model'].replace(':', '/versions/')}").json()
    assert registered["run_id"] == run["id"]
    assert svc.http("GET", f"/models/{model.replace(':', '/versions/')}").status_code == 200

    # the token ended with the run, and only its sha256 was ever stored
    token = report["token"]
    own = requests.get(f"{svc.url}/runs/{run['id']}", timeout=30,
                       headers={"Authorization": f"Bearer {token}"})
    assert own.status_code == 401 and "run token" in own.json()["error"]["message"]
    db = sqlite3.connect(svc.workspace / "amlocal.db")
    try:
        rows = db.execute("SELECT token_sha256, revoked_time FROM run_tokens WHERE run_id = ?",
                          (run["id"],)).fetchall()
    finally:
        db.close()
    assert len(rows) == 1 and rows[0][0] == hashlib.sha256(token.encode()).hexdigest()
    assert rows[0][1] is not None
    for name in ("amlocal.db", "amlocal.db-wal"):
        path = svc.workspace / name
        assert not path.exists() or token.encode() not in path.read_bytes()


def test_a_deployed_score_py_reaches_nothing_of_the_service(svc, victim):
    assert prepare_sandbox(), "bubblewrap is needed to confine user code (prepare-sandbox.sh)"
    other, model = victim
    resp = svc.http("POST", "/deployments", json={
        "name": "probe", "models": [model], "inference_config": {
            "entry_script": "score.py",
            "source": {"files": {"score.py": constants(svc, other) + SCORE}}}})
    assert resp.status_code == 202, resp.text
    dep = wait_state(svc, "probe", timeout=120)
    assert dep["state"] == "Healthy", dep
    answer = score(dep["scoring_uri"])
    assert answer.status_code == 200, answer.text
    report = json.loads(answer.json())
    assert_nothing_leaked(report, svc.workspace)
    assert report["lists"][str(svc.workspace / "runs")] in ("FileNotFoundError",
                                                             "PermissionError")
    assert "AZUREML_RUN_TOKEN" not in report["env"]
    assert report["model writable"] == "no"  # the registered files are read-only in there


def _run_pid(ws: Path, run_id: str) -> int:
    db = sqlite3.connect(ws / "amlocal.db")
    try:
        return db.execute("SELECT pid FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
    finally:
        db.close()


@pytest.mark.parametrize("ending", ["normal end", "cancel", "timeout"])
def test_a_double_forked_process_ends_with_its_run(svc, ending):
    # fork, setsid, fork: the daemon is in another session and process group, and its parent
    # is gone, so neither a process-group kill nor the script's exit would reach it.
    script = ("import os, sys, time\nfrom azureml.core import Run\n"
              "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
              "        os.execv(sys.executable, [sys.executable, '-c', "
              "'import time; time.sleep(600)', 'daemon-marker'])\n    os._exit(0)\n"
              "os.wait()\nRun.get_context().log('daemon', 1)\n"
              + ("while not os.path.exists('end'):\n    time.sleep(0.05)\n"
                 if ending == "normal end" else "time.sleep(600)\n"))
    run = svc.submit({"d.py": script}, "d.py",
                     **({"timeout_s": 5} if ending == "timeout" else {}))
    daemons = wait_for(lambda: [pid for pid in run_processes(run["id"])
                                if b"daemon-marker" in Path(f"/proc/{pid}/cmdline").read_bytes()],
                       timeout=60, message="the daemon to start")
    assert len(daemons) == 1
    assert os.getpgid(daemons[0]) != os.getpgid(_run_pid(svc.workspace, run["id"]))
    if ending == "normal end":
        (svc.workspace / "runs" / run["id"] / "wd" / "end").write_text("")
    elif ending == "cancel":
        assert svc.http("POST", f"/runs/{run['id']}/cancel").status_code == 202
    done = svc.wait_run(run["id"], timeout=60)
    assert done["status"] == {"normal end": "Completed", "cancel": "Canceled",
                              "timeout": "Failed"}[ending]
    wait_for(lambda: not process_alive(daemons[0]), timeout=5, message="the daemon to end")
    assert not run_processes(run["id"])
