"""The model registry in-process: registering from runs and uploads, reading, changing, deleting."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pickle
import time
import zipfile
from pathlib import Path

import joblib
import pytest
import sklearn

from tests.conftest import assert_error
from training.train_iris import split_data, train_model


class _Sleeps:
    """Unpickling this sleeps for ten minutes (a pickle runs code)."""

    def __reduce__(self):
        return (time.sleep, (600,))


def _iris_model_bytes() -> bytes:
    buf = io.BytesIO()
    joblib.dump(train_model(split_data()), buf)
    return buf.getvalue()


IRIS = _iris_model_bytes()


def completed_run(app, files: dict[str, bytes], status: str = "Completed", **kwargs) -> str:
    """A run in the store with `files` in its folder, as the executor leaves a finished run."""
    db, ws = app.config["STORE"], app.config["WORKSPACE"]
    run = db.create_run("exp", "train.py", [], "0" * 64, **kwargs)
    for rel, data in files.items():
        target = ws.run_dir(run.id) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    if status in ("Completed", "Failed", "Canceled"):
        db.finish_run(run.id, status)
    elif status != "Queued":
        db.set_run_state(run.id, status)
    return run.id


def upload(client, config: dict | str | None, files: list[tuple[str, bytes]]):
    data: dict = {"files": [(io.BytesIO(content), name) for name, content in files]}
    if config is not None:
        data["config"] = config if isinstance(config, str) else json.dumps(config)
    return client.post("/models", data=data, content_type="multipart/form-data")


def stored(app) -> tuple[int, list[str], list[str]]:
    """(rows, version folders, leftovers in tmp/): what a refused registration must not change."""
    ws = app.config["WORKSPACE"]
    rows = app.config["STORE"].conn.execute("SELECT COUNT(*) FROM models").fetchone()[0]
    folders = sorted(str(p.relative_to(ws.root)) for p in (ws.root / "models").glob("*/*"))
    return rows, folders, sorted(os.listdir(ws.tmp_dir))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_registering_an_iris_run_twice_gives_versions_1_and_2_with_lineage(app, client):
    run_id = completed_run(app, {"outputs/model.joblib": IRIS, "user_logs/std_log.txt": b"hi"})
    body = {"name": "sklearn-iris", "run_id": run_id, "path": "outputs/model.joblib",
            "framework": "ScikitLearn", "framework_version": sklearn.__version__,
            "resource_configuration": {"cpu": 1, "memory_in_gb": 0.5},
            "tags": {"area": "iris"}, "properties": {"accuracy": "0.9737"},
            "description": "SVC on iris", "sample_input": [[5.1, 3.5, 1.4, 0.2]]}
    first = client.post("/models", json=body)
    second = client.post("/models", json=body)
    assert (first.status_code, second.status_code) == (201, 201), first.get_json()
    one, two = first.get_json(), second.get_json()
    assert (one["id"], one["version"], two["id"]) == ("sklearn-iris:1", 1, "sklearn-iris:2")
    assert one["files"] == [{"path": "model.joblib", "size": len(IRIS), "sha256": sha256(IRIS)}]
    assert one["run_id"] == run_id and one["experiment"] == "exp"
    assert one["run_path"] == "outputs/model.joblib"
    assert one["resource_configuration"] == {"cpu": 1.0, "memory_in_gb": 0.5}
    assert one["tags"] == {"area": "iris"} and one["properties"] == {"accuracy": "0.9737"}
    assert one["sample_input"] == [[5.1, 3.5, 1.4, 0.2]] and one["description"] == "SVC on iris"
    est = one["estimator"]
    assert (est["status"], est["class"], est["n_features_in"], est["classes"]) == (
        "ok", "SVC", 4, [0, 1, 2])
    assert est["has_predict_proba"] is False and est["has_predict"] is True
    assert est["feature_names_in"] is None
    env = one["environment"]
    assert env["packages"]["scikit-learn"] == sklearn.__version__
    assert env["python"] == ".".join(map(str, __import__("sys").version_info[:3]))
    ws = app.config["WORKSPACE"]
    assert (ws.model_dir("sklearn-iris", 2) / "model.joblib").read_bytes() == IRIS
    assert client.get("/models/sklearn-iris/versions/latest").get_json()["version"] == 2


def test_a_folder_keeps_its_name_and_downloads_as_a_zip_of_the_recorded_bytes(app, client):
    files = {"outputs/model.pkl": IRIS, "outputs/meta/info.json": b'{"a": 1}'}
    run_id = completed_run(app, files)
    model = client.post("/models", json={"name": "folder", "run_id": run_id,
                                         "path": "./outputs/"}).get_json()
    assert [f["path"] for f in model["files"]] == ["outputs/meta/info.json", "outputs/model.pkl"]
    assert model["estimator"]["class"] == "SVC"  # Custom framework, one pickle: still read
    with client.get("/models/folder/versions/1/download") as resp:  # WSGI: the caller closes
        assert resp.status_code == 200 and resp.mimetype == "application/zip"
        assert resp.headers["x-amlocal-sha256"] == sha256(resp.data)
    with client.get("/models/folder/versions/1/download") as again:
        assert again.data == resp.data  # the zip is deterministic
    with zipfile.ZipFile(io.BytesIO(resp.data)) as zf:
        for record in model["files"]:
            data = zf.read(record["path"])
            assert sha256(data) == record["sha256"] == sha256(files[record["path"]])


def test_the_download_of_a_file_is_the_run_files_bytes(app, client):
    run_id = completed_run(app, {"outputs/model.joblib": IRIS})
    model = client.post("/models", json={"name": "m", "run_id": run_id,
                                         "path": "outputs/model.joblib"}).get_json()
    with client.get("/models/m/versions/1/download") as resp:
        assert resp.status_code == 200 and resp.data == IRIS
        assert sha256(resp.data) == model["files"][0]["sha256"] == resp.headers["x-amlocal-sha256"]
        assert "model.joblib" in resp.headers["Content-Disposition"]


def test_an_upload_registers_its_files_and_reads_the_one_pickle(app, client):
    resp = upload(client, {"name": "up.model_1", "framework": "ScikitLearn",
                           "tags": {"k": "v"}},
                  [("model/clf.joblib", IRIS), ("model/README", b"notes")])
    assert resp.status_code == 201, resp.get_json()
    model = resp.get_json()
    assert model["id"] == "up.model_1:1" and model["run_id"] is None
    assert model["environment"] is None  # no run: no environment to speak of
    assert model["estimator"]["class"] == "SVC"
    assert {f["path"]: f["sha256"] for f in model["files"]} == {
        "model/README": sha256(b"notes"), "model/clf.joblib": sha256(IRIS)}


def test_sample_rows_must_match_the_models_features(app, client):
    resp = upload(client, {"name": "s", "sample_input": [[1, 2, 3, 4], [1, 2, 3]]},
                  [("m.joblib", IRIS)])
    assert_error(resp, 400, field="sample_input", contains="row 1 has 3 values; the model "
                                                           "expects 4 features")
    assert stored(app) == (0, [], [])


def test_a_non_sklearn_upload_is_not_unpickled(app, client):
    model = upload(client, {"name": "onnx", "framework": "Onnx"},
                   [("model.onnx", b"\x08\x01"), ("x.pkl", pickle.dumps(_Sleeps()))]).get_json()
    assert model["framework"] == "Onnx" and model["estimator"] is None


def test_an_invalid_and_a_hanging_pickle_are_registered_with_introspection_failed(app, client):
    app.config["SETTINGS"] = dataclasses.replace(app.config["SETTINGS"], introspect_timeout_s=1.0)
    bad = upload(client, {"name": "bad", "framework": "ScikitLearn"},
                 [("model.pkl", b"this is not a pickle")])
    assert bad.status_code == 201
    assert bad.get_json()["estimator"]["status"] == "failed"
    assert "Error: " in bad.get_json()["estimator"]["reason"]  # joblib's own words vary
    assert (app.config["WORKSPACE"].model_dir("bad", 1) / "model.pkl").is_file()
    started = time.monotonic()
    hang = upload(client, {"name": "hang", "framework": "ScikitLearn"},
                  [("model.pkl", pickle.dumps(_Sleeps()))])
    assert hang.status_code == 201 and time.monotonic() - started < 8
    model = hang.get_json()
    assert model["estimator"] == {"status": "failed",
                                  "reason": "introspection timed out after 1 s"}
    assert model["files"][0]["sha256"] == sha256(pickle.dumps(_Sleeps()))
    assert (app.config["WORKSPACE"].model_dir("hang", 1) / "model.pkl").is_file()


GOOD_RUN = {"name": "good", "path": "outputs/model.joblib"}
BAD_FROM_RUN = [
    pytest.param({**GOOD_RUN, "name": "-starts-with-dash"}, 400, "name", "model name is invalid",
                 id="name-dash"),
    pytest.param({**GOOD_RUN, "name": "has space"}, 400, "name", None, id="name-space"),
    pytest.param({**GOOD_RUN, "name": "x" * 256}, 400, "name", None, id="name-too-long"),
    pytest.param({**GOOD_RUN, "run_id": "no-such-run"}, 404, "run_id", None, id="unknown-run"),
    pytest.param({**GOOD_RUN, "path": "outputs/nope.pkl"}, 400, "path",
                 "Could not locate the provided model_path outputs/nope.pkl in the set of files "
                 "uploaded to the run: ['outputs/model.joblib', 'user_logs/std_log.txt']",
                 id="path-absent"),
    pytest.param({**GOOD_RUN, "path": "../../amlocal.db"}, 400, "path", "Could not locate",
                 id="path-dotdot"),
    pytest.param({**GOOD_RUN, "path": "outputs/../../x"}, 400, "path", None,
                 id="path-inner-dotdot"),
    pytest.param({**GOOD_RUN, "path": "/etc/passwd"}, 400, "path", None, id="path-absolute"),
    pytest.param({**GOOD_RUN, "path": "wd"}, 400, "path", None, id="path-hidden-folder"),
    pytest.param({**GOOD_RUN, "path": "outputs/model"}, 400, "path", None, id="path-partial-name"),
    pytest.param({**GOOD_RUN, "resource_configuration": {"cpu": -1}}, 400,
                 "resource_configuration.cpu", "cpu must be greater than zero", id="negative-cpu"),
    pytest.param({**GOOD_RUN, "resource_configuration": {"memory_in_gb": "2"}}, 400,
                 "resource_configuration.memory_in_gb", "not a string", id="memory-as-string"),
    pytest.param({**GOOD_RUN, "resource_configuration": {"gpu": 0.5}}, 400,
                 "resource_configuration.gpu", None, id="fractional-gpu"),
    pytest.param({**GOOD_RUN, "resource_configuration": "1cpu"}, 400, "resource_configuration",
                 None, id="resource-configuration-not-object"),
    pytest.param({**GOOD_RUN, "framework": "sklearn"}, 400, "framework", "Model.Framework",
                 id="unknown-framework"),
    pytest.param({**GOOD_RUN, "framework_version": "1.0"}, 400, "framework_version",
                 "Model framework version cannot be provided without a valid framework",
                 id="version-without-framework"),
    pytest.param({**GOOD_RUN, "colour": "red"}, 400, "colour", None, id="unknown-field"),
    pytest.param({**GOOD_RUN, "tags": {"k": 1}}, 400, "tags.k.value", None, id="tag-not-string"),
    pytest.param({**GOOD_RUN, "sample_input": [1, 2]}, 400, "sample_input", None,
                 id="sample-rows-not-rows"),
]


@pytest.mark.parametrize("body, status, field, contains", BAD_FROM_RUN)
def test_bad_registrations_from_a_run_are_4xx_and_store_nothing(app, client, body, status, field,
                                                                contains):
    run_id = completed_run(app, {"outputs/model.joblib": IRIS, "user_logs/std_log.txt": b"x"})
    before = stored(app)
    resp = client.post("/models", json={"run_id": run_id, **body})
    assert_error(resp, status, field=field, contains=contains)
    assert stored(app) == before == (0, [], [])


@pytest.mark.parametrize("status", ["Queued", "Running", "Failed", "Canceled"])
def test_only_a_completed_run_can_be_registered(app, client, status):
    run_id = completed_run(app, {"outputs/model.joblib": IRIS}, status=status)
    resp = client.post("/models", json={"name": "m", "run_id": run_id,
                                        "path": "outputs/model.joblib"})
    assert_error(resp, 409, field="run_id", contains=f"is {status}")
    assert stored(app) == (0, [], [])


BAD_UPLOADS = [
    pytest.param({"name": "u"}, [], "files", id="no-files"),
    pytest.param({"name": "u"}, [("model.pkl", b"")], "files", id="empty-file"),
    pytest.param({"name": "u"}, [("../model.pkl", b"x")], "files", id="dotdot-name"),
    pytest.param({"name": "u"}, [("/abs.pkl", b"x")], "files", id="absolute-name"),
    pytest.param({"name": "u"}, [("a", b"x"), ("a/b", b"y")], "files", id="file-and-folder"),
    pytest.param({"name": "u"}, [("a", b"x"), ("./a", b"y")], "files", id="same-name-twice"),
    pytest.param(None, [("m.pkl", b"x")], "config", id="no-config"),
    pytest.param("{not json", [("m.pkl", b"x")], "config", id="config-not-json"),
    pytest.param({"name": "bad name"}, [("m.pkl", b"x")], "name", id="bad-name"),
    pytest.param({"name": "u", "run_id": "r"}, [("m.pkl", b"x")], "run_id", id="run-and-files"),
    pytest.param({"name": "u", "resource_configuration": {"cpu": 0}}, [("m.pkl", b"x")],
                 "resource_configuration.cpu", id="zero-cpu"),
]


@pytest.mark.parametrize("config, files, field", BAD_UPLOADS)
def test_bad_uploads_are_400_and_store_nothing(app, client, config, files, field):
    assert_error(upload(client, config, files), 400, field=field)
    assert stored(app) == (0, [], [])


def test_json_without_a_run_and_a_non_object_body_are_400(app, client):
    assert_error(client.post("/models", json={"name": "m"}), 400, field="run_id")
    assert_error(client.post("/models", json=[1]), 400, field="body")
    assert_error(client.post("/models", data="x", content_type="text/plain"), 400, field="body")
    assert stored(app) == (0, [], [])


def test_tags_change_but_properties_are_add_only(app, client):
    upload(client, {"name": "m", "tags": {"a": "1", "b": "2"}, "properties": {"p": "1"}},
           [("w.bin", b"x")])
    tagged = client.patch("/models/m/versions/1/tags", json={"add": {"c": "3"}, "remove": ["a"]})
    assert tagged.status_code == 200 and tagged.get_json()["tags"] == {"b": "2", "c": "3"}
    added = client.patch("/models/m/versions/1/properties", json={"add": {"q": "2"}})
    assert added.get_json()["properties"] == {"p": "1", "q": "2"}
    for value in ("1", "changed"):
        assert_error(client.patch("/models/m/versions/1/properties", json={"add": {"p": value}}),
                     409, field="properties",
                     contains="properties are immutable, the following keys cannot be "
                              "added/modified: p")
    assert client.get("/models/m/versions/1").get_json()["properties"] == {"p": "1", "q": "2"}
    assert_error(client.patch("/models/m/versions/1/properties", json={"add": {}}), 400,
                 field="add")
    assert_error(client.patch("/models/m/versions/1/tags", json={"add": {"k": 5}}), 400)


def test_unknown_models_and_versions(app, client):
    upload(client, {"name": "m"}, [("w.bin", b"x")])
    assert_error(client.get("/models/m/versions/2"), 404, field="version",
                 contains="ModelNotFound: Model with name m, version 2 not found")
    assert_error(client.get("/models/nope"), 404, contains="Model with name nope not found")
    assert_error(client.get("/models/nope/versions/latest"), 404)
    for bad in ("0", "-1", "abc", "1.5"):
        assert_error(client.get(f"/models/m/versions/{bad}"), 400, field="version")
    assert_error(client.get("/models/-x/versions/1"), 400, field="name")
    for path in ("/models/m/versions/9/download", "/models/m/versions/9/tags"):
        assert client.open(path, method="GET" if "download" in path else "PATCH",
                           json={}).status_code == 404


def test_listing_filters_by_name_tag_property_framework_run_and_latest(app, client):
    run_id = completed_run(app, {"outputs/model.joblib": IRIS})
    for tags in ({"stage": "dev"}, {"stage": "prod"}):
        client.post("/models", json={"name": "iris", "run_id": run_id, "framework": "ScikitLearn",
                                     "path": "outputs/model.joblib", "tags": tags,
                                     "properties": {"acc": "0.97"}})
    upload(client, {"name": "other", "framework": "Onnx", "tags": {"stage": "prod"}},
           [("m.onnx", b"x")])

    def ids(query: str) -> list[str]:
        resp = client.get(f"/models{query}")
        assert resp.status_code == 200, resp.get_json()
        return [m["id"] for m in resp.get_json()["models"]]

    assert ids("") == ["iris:2", "iris:1", "other:1"]
    assert ids("?latest=true") == ["iris:2", "other:1"]
    assert ids("?name=iris") == ["iris:2", "iris:1"]
    assert ids("?tag=stage=prod") == ["iris:2", "other:1"]
    assert ids("?tag=stage=dev&latest=true") == ["iris:1"]
    assert ids("?tag=stage&tag=missing") == []
    assert ids("?property=acc=0.97") == ["iris:2", "iris:1"]
    assert ids("?framework=Onnx") == ["other:1"]
    assert ids(f"?run_id={run_id}") == ["iris:2", "iris:1"]
    assert ids("?limit=1") == ["iris:2"]
    assert [m["version"] for m in client.get("/models/iris").get_json()["models"]] == [2, 1]
    assert_error(client.get("/models?framework=nope"), 400, field="framework")
    assert_error(client.get("/models?latest=maybe"), 400, field="latest")


def use_deployments(app, users: dict[str, list[str]]) -> None:
    """Hand the app a store whose deployments use some versions (that store is not ours)."""
    from service.store import Store

    class Using(Store):
        def deployments_using(self, model_id: str) -> list[str]:
            return users.get(model_id, [])

    app.config["STORE"] = Using(app.config["WORKSPACE"].db_path)


def test_delete_removes_files_and_row_and_is_refused_while_deployed(app, client):
    for _ in range(3):
        upload(client, {"name": "m"}, [("w.bin", b"x")])
    use_deployments(app, {"m:2": ["iris-svc"]})
    ws = app.config["WORKSPACE"]
    assert_error(client.delete("/models/m/versions/2"), 409, field="version",
                 contains="iris-svc")
    assert ws.model_dir("m", 2).is_dir()
    gone = client.delete("/models/m/versions/latest")
    assert gone.status_code == 200 and gone.get_json()["id"] == "m:3"
    assert not ws.model_dir("m", 3).exists() and os.listdir(ws.tmp_dir) == []
    assert_error(client.get("/models/m/versions/3"), 404)
    assert_error(client.delete("/models/m/versions/3"), 404)
    again = upload(client, {"name": "m"}, [("w.bin", b"y")]).get_json()
    assert again["version"] == 4  # a deleted number is never handed out again


def test_a_crash_between_rename_and_commit_leaves_no_version(app, client, tmp_path):
    """A real process dies (os._exit) right after moving the folder in, before COMMIT."""
    import subprocess
    import sys

    from tests.conftest import REPO

    ws = app.config["WORKSPACE"]
    script = tmp_path / "crash.py"
    script.write_text(
        "import io, os, sys\n"
        "from service.store import Store\n"
        "import service.store.models as models\n"
        "real = os.replace\n"
        "def replace_then_die(src, dst):\n"
        "    real(src, dst)\n"
        "    os._exit(9)\n"
        "models.os.replace = replace_then_die\n"
        "db = Store(sys.argv[1])\n"
        "staged = db.new_stage()\n"
        "db.stage_file(staged, 'model.bin', io.BytesIO(b'half'))\n"
        "db.register_model_version('crashy', staged)\n")
    done = subprocess.run([sys.executable, str(script), str(ws.db_path)], cwd=REPO)
    assert done.returncode == 9
    assert (ws.model_dir("crashy", 1) / "model.bin").read_bytes() == b"half"  # the stray folder
    assert_error(client.get("/models/crashy/versions/1"), 404)
    assert client.get("/models").get_json()["models"] == []
    model = upload(client, {"name": "crashy"}, [("whole.bin", b"whole")]).get_json()
    assert model["version"] == 1
    assert sorted(os.listdir(ws.model_dir("crashy", 1))) == ["whole.bin"]


def test_clean_stray_model_dirs_removes_folders_without_rows_and_stages_nobody_holds(app, client):
    upload(client, {"name": "kept"}, [("w.bin", b"x")])
    ws, db = app.config["WORKSPACE"], app.config["STORE"]
    stray = ws.model_dir("ghost", 7)
    stray.mkdir(parents=True)
    (stray / "half.bin").write_bytes(b"x")
    left = ws.tmp_dir / "model-left"  # a registration that died: nobody holds its stage
    left.mkdir()
    (left / "half.bin").write_bytes(b"x" * 1000)
    held = db.new_stage()  # one in progress (held by this process), however young or old
    removed = db.clean_stray_model_dirs()
    assert sorted(p.name for p in removed) == ["7", "model-left"]
    assert not stray.exists() and not left.exists() and held.dir.exists()
    assert (ws.model_dir("kept", 1) / "w.bin").exists()
    db.discard_stage(held)
    assert db.clean_stray_model_dirs() == [] and os.listdir(ws.tmp_dir) == []


def test_the_runs_own_interpreter_reports_its_environment(app, client):
    """A run in a named environment: its recorded interpreter (inside envs/) is asked."""
    import sys

    ws = app.config["WORKSPACE"]
    (ws.envs_dir / "abc123").symlink_to(Path(sys.prefix))  # a materialised env: our own venv
    python = ws.envs_dir / "abc123" / "bin" / "python"
    env_run = completed_run(app, {"outputs/model.joblib": IRIS}, environment={"name": "iris-env"},
                            properties={"amlocal.python": str(python)})
    model = client.post("/models", json={"name": "env", "run_id": env_run,
                                         "path": "outputs/model.joblib"}).get_json()
    assert model["environment"]["interpreter"] == str(python)
    assert model["environment"]["run_environment"] == {"name": "iris-env"}
    assert model["estimator"]["class"] == "SVC"
    outside = completed_run(app, {"outputs/model.joblib": IRIS}, environment={"name": "e"},
                            properties={"amlocal.python": "/bin/true"})
    model = client.post("/models", json={"name": "env", "run_id": outside,
                                         "path": "outputs/model.joblib"}).get_json()
    assert model["environment"]["interpreter"] == sys.executable  # not /bin/true


def test_openapi_describes_the_model_routes(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert "201" in paths["/models"]["post"]["responses"]
    assert {"get", "delete"} <= set(paths["/models/{name}/versions/{version}"])
    assert "patch" in paths["/models/{name}/versions/{version}/properties"]
    assert "get" in paths["/models/{name}/versions/{version}/download"]


def test_a_dead_introspection_server_is_replaced(app, client):
    import signal

    from service.introspect.parent import fork_server

    first = upload(client, {"name": "a"}, [("m.joblib", IRIS)]).get_json()
    assert first["estimator"]["class"] == "SVC"
    server = fork_server()
    os.kill(server.proc.pid, signal.SIGKILL)  # started by this process, on its first model
    server.proc.wait(timeout=10)
    again = upload(client, {"name": "a"}, [("m.joblib", IRIS)]).get_json()
    assert again["estimator"]["class"] == "SVC" and fork_server() is not server


def test_registry_and_no_code_entry_agree_on_model_files() -> None:
    # Each module stands alone (scoring/ imports nothing of ours; the introspection child runs in
    # the model's own Python), so the list is written twice: it must not drift.
    from scoring import nocode
    from service.introspect import child as introspect_child
    assert introspect_child.MODEL_SUFFIXES == nocode.MODEL_SUFFIXES
