"""The control API in-process: auth on every route, OpenAPI, bad submissions store nothing."""
from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

from tests.conftest import TOKEN, assert_error, make_snapshot


def _submit(client, snapshot: bytes | None, config, experiment="exp"):
    data = {}
    if snapshot is not None:
        data["snapshot"] = (io.BytesIO(snapshot), "s.tar.gz")
    if config is not None:
        data["config"] = config if isinstance(config, str) else json.dumps(config)
    return client.post(f"/experiments/{experiment}/runs", data=data,
                       content_type="multipart/form-data")


def _stored(app) -> tuple[list, int]:
    ws = app.config["WORKSPACE"]
    snapshots = sorted(os.listdir(ws.root / "snapshots"))
    runs = app.config["STORE"].conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    return snapshots, runs


def test_health_is_open_and_everything_else_needs_the_token(app):
    anonymous = app.test_client()
    assert anonymous.get("/health").status_code == 200
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "health.health") or rule.endpoint.startswith("dashboard."):
            continue  # the dashboard's pages redirect to its sign-in page (tests/dashboard)
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", "x").replace(f"<path:{arg}>", "x")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                resp = anonymous.open(path, method=method, headers=headers)
                assert_error(resp, 401, field="Authorization")
                checked += 1
    assert checked >= 30


def test_openapi_is_generated_from_the_schemas(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    submit = spec["paths"]["/experiments/{experiment}/runs"]["post"]
    assert "multipart/form-data" in submit["requestBody"]["content"]
    assert "201" in submit["responses"]
    run_schema = spec["components"]["schemas"]["Run"]["properties"]
    assert {"id", "experiment", "status", "created_time", "error"} <= set(run_schema)
    assert spec["paths"]["/runs/{run_id}"]["get"]["security"] == [{"bearer": []}]


def test_submit_answers_201_with_a_queued_run(client, app):
    resp = _submit(client, make_snapshot({"train.py": "print(1)"}),
                   {"script": "train.py", "arguments": ["--a", "1"], "tags": {"k": "v"}})
    assert resp.status_code == 201, resp.get_json()
    run = resp.get_json()
    assert run["id"].startswith("exp_") and run["status"] == "Queued"
    assert run["arguments"] == ["--a", "1"] and run["tags"] == {"k": "v"}
    assert set(run["status_times"]) == {"NotStarted", "Queued"}
    assert client.get(f"/runs/{run['id']}").get_json()["id"] == run["id"]
    listed = client.get("/experiments/exp/runs?tag=k=v").get_json()["runs"]
    assert [r["id"] for r in listed] == [run["id"]]
    assert client.get("/experiments/exp/runs?tag=k=other").get_json()["runs"] == []
    assert client.get("/experiments").get_json()["experiments"][0]["run_count"] == 1


def _tar_with(member: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        ok = tarfile.TarInfo("train.py")
        ok.size = 1
        tar.addfile(ok, io.BytesIO(b"x"))
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if data else None)
    return buf.getvalue()


def _link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def _device(name):
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    return info


GOOD = {"script": "train.py"}
BAD_SUBMISSIONS = [
    pytest.param(None, GOOD, "snapshot", id="no-snapshot"),
    pytest.param(b"", GOOD, "snapshot", id="empty-snapshot"),
    pytest.param(b"just some text, not a tar", GOOD, "snapshot", id="not-gzip-tar"),
    pytest.param(_tar_with(tarfile.TarInfo("../evil.py"), b"x"), GOOD, "snapshot", id="dotdot"),
    pytest.param(_tar_with(tarfile.TarInfo("/etc/evil"), b"x"), GOOD, "snapshot", id="absolute"),
    pytest.param(_tar_with(_link("out", "../../etc/passwd")), GOOD, "snapshot", id="outward-link"),
    pytest.param(_tar_with(_link("hard", "/etc/passwd", tarfile.LNKTYPE)), GOOD, "snapshot",
                 id="outward-hardlink"),
    pytest.param(_tar_with(_device("dev")), GOOD, "snapshot", id="device"),
    pytest.param(make_snapshot({"a.py": "x"}), GOOD, "config.script", id="script-not-in-snapshot"),
    pytest.param(make_snapshot({"train.py": "x"}), None, "config", id="no-config"),
    pytest.param(make_snapshot({"train.py": "x"}), "{not json", "config", id="malformed-json"),
    pytest.param(make_snapshot({"train.py": "x"}), "[1, 2]", "config", id="config-not-object"),
    pytest.param(make_snapshot({"train.py": "x"}), {"script": "train.py", "colour": "red"},
                 "config.colour", id="unknown-field"),
    pytest.param(make_snapshot({"train.py": "x"}), {"arguments": []}, "config.script",
                 id="missing-script"),
    pytest.param(make_snapshot({"train.py": "x"}), {"script": "train.py", "arguments": "x"},
                 "config.arguments", id="arguments-not-a-list"),
    pytest.param(make_snapshot({"train.py": "x"}), {"script": "train.py", "timeout_s": -1},
                 "config.timeout_s", id="negative-timeout"),
]


@pytest.mark.parametrize("snapshot, config, field", BAD_SUBMISSIONS)
def test_bad_submissions_are_400_and_store_nothing(client, app, snapshot, config, field):
    before = _stored(app)
    err = assert_error(_submit(client, snapshot, config), 400, field=field)
    assert err["message"]
    assert _stored(app) == before == ([], 0)
    assert os.listdir(app.config["WORKSPACE"].tmp_dir) == []


def test_bad_experiment_name(client, app):
    assert_error(_submit(client, make_snapshot({"train.py": "x"}), GOOD, experiment="-bad"), 400,
                 field="experiment", contains="Experiment name must be")
    assert _stored(app) == ([], 0)


def test_snapshot_over_the_size_limit_is_refused_without_storing(tmp_path):
    from service.app import create_app

    app = create_app({"AMLOCAL_WORKSPACE": str(tmp_path / "ws"), "AMLOCAL_API_TOKEN": TOKEN,
                      "AMLOCAL_MAX_UPLOAD_BYTES": "4096"})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    big = make_snapshot({"train.py": "x", "blob.bin": os.urandom(20000)})
    assert_error(_submit(client, big, GOOD), 413)
    assert _stored(app) == ([], 0)


def test_unknown_run_and_experiment_are_404(client):
    for path in ("/runs/nope", "/runs/nope/metrics", "/runs/nope/files", "/runs/nope/logs",
                 "/experiments/nope/runs"):
        assert_error(client.get(path), 404)
    assert_error(client.post("/runs/nope/cancel"), 404, field="run_id")


def test_cancel_of_a_queued_run_is_immediate_and_a_finished_one_is_409(client):
    run = _submit(client, make_snapshot({"train.py": "x"}), GOOD).get_json()
    canceled = client.post(f"/runs/{run['id']}/cancel").get_json()
    assert canceled["status"] == "Canceled" and canceled["end_time"]
    assert_error(client.post(f"/runs/{run['id']}/cancel"), 409, contains="already Canceled")


def test_file_paths_cannot_leave_the_run(client):
    run = _submit(client, make_snapshot({"train.py": "x"}), GOOD).get_json()
    assert_error(client.get(f"/runs/{run['id']}/files/wd/train.py"), 400, field="path")
    assert_error(client.get(f"/runs/{run['id']}/files/outputs/none"), 404, field="path")
    assert_error(client.get(f"/runs/{run['id']}/logs?offset=-1"), 400, field="offset")
