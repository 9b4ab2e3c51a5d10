"""Run-scoped tokens on the control API: what a run's token may do (itself and its child runs,
while it is active), what it may not (403), and when it stops working (401)."""
from __future__ import annotations

import hashlib
import io

import pytest

from tests.conftest import TOKEN, assert_error


@pytest.fixture
def db(app):
    return app.config["STORE"]


def start_run(db, experiment: str = "exp") -> str:
    """A run as the agent has it once claimed: Preparing, then Running."""
    run = db.create_run(experiment, "train.py", [], "0" * 64)
    db.claim_next_run()
    db.set_run_state(run.id, "Running")
    return run.id


@pytest.fixture
def own(db) -> tuple[str, str]:
    """(run id, its token)."""
    run_id = start_run(db)
    token, _ = db.issue_run_token(run_id, 3600)
    return run_id, token


def as_run(client, token: str):
    """Requests with a run token instead of the workspace's."""
    def call(method: str, path: str, **kwargs):
        return client.open(path, method=method, headers={"Authorization": f"Bearer {token}"},
                           **kwargs)
    return call


def test_a_run_acts_on_itself_and_its_children(client, db, own):
    run_id, token = own
    call = as_run(client, token)
    assert call("GET", f"/runs/{run_id}").status_code == 200
    resp = call("POST", f"/runs/{run_id}/metrics", json={"metrics": [
        {"name": "loss", "value": 0.5}, {"name": "curve", "kind": "list", "value": [1, 2]},
        {"name": "table", "kind": "row", "value": {"a": 1}}]})
    assert resp.status_code == 200 and resp.get_json() == {"logged": 3}
    assert call("GET", f"/runs/{run_id}/metrics").get_json()["metrics"] == {
        "loss": 0.5, "curve": [1, 2], "table": {"a": 1}}
    assert call("PATCH", f"/runs/{run_id}/tags", json={"add": {"t": "1"}}).status_code == 200
    assert call("PATCH", f"/runs/{run_id}/properties", json={"add": {"p": "1"}}).status_code == 200
    assert_error(call("PATCH", f"/runs/{run_id}/properties", json={"add": {"p": "2"}}), 409,
                 field="add.p")
    resp = call("PUT", f"/runs/{run_id}/files/outputs/notes.txt", data=b"hello")
    assert resp.status_code == 201 and resp.get_json() == {"path": "outputs/notes.txt", "size": 5}
    assert_error(call("PUT", f"/runs/{run_id}/files/outputs/notes.txt", data=b"again"), 409,
                 field="path")
    download = call("GET", f"/runs/{run_id}/files/outputs/notes.txt")
    assert download.data == b"hello"
    download.close()

    child = call("POST", f"/runs/{run_id}/children", json={"name": "fold", "tags": {"k": "v"}})
    assert child.status_code == 201, child.get_json()
    child = child.get_json()
    assert (child["parent_id"], child["status"], child["kind"]) == (run_id, "Running", "child")
    assert list(child["status_times"]) == ["NotStarted", "Running"]
    grandchild = call("POST", f"/runs/{child['id']}/children", json={}).get_json()
    assert call("POST", f"/runs/{grandchild['id']}/metrics",
                json={"metrics": [{"name": "m", "value": 1}]}).status_code == 200
    assert [c["run_id"] for c in call("GET", f"/runs/{run_id}/children").get_json()[
        "children"]] == [child["id"]]
    with_runs = call("GET", f"/runs/{child['id']}/children?runs=true").get_json()["children"]
    shown = call("GET", f"/runs/{grandchild['id']}").get_json()
    assert [row["run"] for row in with_runs] == [{k: v for k, v in shown.items() if k != "summary"}]
    assert "run" not in call("GET", f"/runs/{child['id']}/children").get_json()["children"][0]
    ended = call("POST", f"/runs/{grandchild['id']}/status",
                 json={"status": "Failed", "message": "fold 2 diverged"})
    assert ended.get_json()["status"] == "Failed"
    assert ended.get_json()["error"]["message"] == "fold 2 diverged"
    assert (child["id"], grandchild["id"]) == (f"{run_id}_0", f"{run_id}_0_0")
    # a script run's own request is kept for the end of its process, which applies it
    asked = call("POST", f"/runs/{run_id}/status",
                 json={"status": "Failed", "message": "bad data", "code": "DataError"})
    assert asked.get_json()["status"] == "Running", asked.get_json()
    assert db.get_run(run_id).requested_status == {
        "status": "Failed", "error": {"message": "bad data", "code": "DataError"}}

    db.finish_run(run_id, "Completed")  # the child left open ends with its parent
    assert db.get_run(child["id"]).status == "Completed"
    assert db.get_run(grandchild["id"]).status == "Failed"


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/runs/{other}", None),
    ("GET", "/runs/{other}/metrics", None),
    ("GET", "/runs/{other}/logs", None),
    ("GET", "/runs/{other}/files", None),
    ("GET", "/runs/{other}/children", None),
    ("POST", "/runs/{other}/metrics", {"metrics": [{"name": "m", "value": 1}]}),
    ("PATCH", "/runs/{other}/tags", {"add": {"x": "y"}}),
    ("PATCH", "/runs/{other}/properties", {"add": {"x": "y"}}),
    ("POST", "/runs/{other}/children", {}),
    ("POST", "/models", {"name": "stolen", "run_id": "{other}", "path": "outputs"}),
    ("POST", "/models", {"name": "nameless", "path": "outputs"}),
], ids=["show", "metrics", "logs", "files", "children", "log", "tag", "properties", "child",
        "register-other", "register-no-run"])
def test_other_runs_are_refused(client, db, own, method, path, body):
    other = start_run(db)
    _, token = own
    path = path.format(other=other)
    if body and body.get("run_id") == "{other}":
        body = {**body, "run_id": other}
    assert_error(as_run(client, token)(method, path, json=body), 403, field="run_id")


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/experiments", None),
    ("GET", "/experiments/exp/runs", None),
    ("POST", "/runs/{own}/cancel", None),
    ("GET", "/models", None),
    ("GET", "/models/m/versions/1", None),
    ("DELETE", "/models/m/versions/1", None),
    ("GET", "/deployments", None),
    ("POST", "/deployments", {"name": "evil", "models": ["m:1"]}),
    ("DELETE", "/deployments/prod", None),
    ("GET", "/environments", None),
    ("GET", "/openapi.json", None),
], ids=["experiments", "runs", "cancel", "models", "model", "delete-model", "deployments",
        "deploy", "undeploy", "environments", "openapi"])
def test_everything_else_is_refused(client, own, method, path, body):
    run_id, token = own
    resp = as_run(client, token)(method, path.format(own=run_id), json=body)
    err = assert_error(resp, 403, field="Authorization")
    assert "run token cannot" in err["message"]


def test_registering_an_upload_is_refused(client, own):
    run_id, token = own
    resp = as_run(client, token)("POST", "/models", data={
        "config": '{"name": "m"}', "files": (io.BytesIO(b"x"), "model.pkl")})
    assert_error(resp, 403, field="run_id", contains="its run's files")


def test_the_token_ends_with_the_run_and_is_stored_hashed(client, db, own):
    run_id, token = own
    row = db.conn.execute("SELECT * FROM run_tokens WHERE run_id = ?", (run_id,)).fetchone()
    assert row["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in [str(v) for v in tuple(row)]
    assert as_run(client, token)("GET", f"/runs/{run_id}").status_code == 200
    db.finish_run(run_id, "Failed", {"message": "boom"})
    assert_error(as_run(client, token)("GET", f"/runs/{run_id}"), 401, field="Authorization",
                 contains="run token")
    assert client.get(f"/runs/{run_id}").status_code == 200  # the workspace's token still works


@pytest.mark.parametrize("token", ["amlrun_" + "x" * 43, "amlrun_", "not-a-token"],
                         ids=["unknown", "empty", "other"])
def test_unknown_tokens_are_401(client, own, token):
    run_id, _ = own
    assert_error(as_run(client, token)("GET", f"/runs/{run_id}"), 401, field="Authorization")


def test_an_expired_token_is_401(client, db):
    run_id = start_run(db)
    token, _ = db.issue_run_token(run_id, -1)
    assert_error(as_run(client, token)("GET", f"/runs/{run_id}"), 401, field="Authorization")


@pytest.mark.parametrize("name", ["a/../../x", "wd/x", ".amlocal/events.jsonl", "user_logs/x"],
                         ids=["dotdot", "wd", "amlocal", "user_logs"])
def test_uploads_stay_inside_the_run(client, own, name):
    run_id, token = own
    assert_error(as_run(client, token)("PUT", f"/runs/{run_id}/files/{name}", data=b"x"), 400,
                 field="path")


def test_a_metric_value_must_fit_its_kind(client, own):
    run_id, token = own
    resp = as_run(client, token)("POST", f"/runs/{run_id}/metrics",
                                 json={"metrics": [{"name": "r", "kind": "row", "value": 1}]})
    assert_error(resp, 400, field="metrics.0.value")
    resp = as_run(client, token)("POST", f"/runs/{run_id}/metrics",
                                 json={"metrics": [{"name": "s", "value": [1, 2]}]})
    assert_error(resp, 400, field="metrics.0.value", contains="run.log")


def test_a_finished_run_takes_no_more_records(client, db):
    run_id = start_run(db)
    db.finish_run(run_id, "Completed")
    for method, path, kwargs in (
            ("POST", f"/runs/{run_id}/metrics", {"json": {"metrics": [{"name": "m", "value": 1}]}}),
            ("PUT", f"/runs/{run_id}/files/late.txt", {"data": b"x"}),
            ("POST", f"/runs/{run_id}/children", {"json": {}})):
        assert_error(client.open(path, method=method, **kwargs), 409, field="run_id")


def test_the_workspace_token_is_not_a_run_token(client, own):
    run_id, _ = own
    other_scheme = client.get(f"/runs/{run_id}", headers={"Authorization": f"Basic {TOKEN}"})
    assert_error(other_scheme, 401, field="Authorization")
