"""The deployment routes in-process: every bad request is a 4xx naming the field, changing nothing."""
from __future__ import annotations

import socket

import pytest

from tests.conftest import assert_error
from tests.service.test_deployments_support import INIT_RAISES, iris_model, register_model


@pytest.fixture
def models(app):
    root = app.config["WORKSPACE"].root
    return {"iris": register_model(root, "sklearn-iris", iris_model()),
            "iris2": register_model(root, "other-iris", iris_model()),
            "custom": register_model(root, "custom-model", b"\x00" * 10, framework="Custom",
                                     filename="weights.bin")}


def _state(app) -> tuple:
    store = app.config["STORE"]
    rows = store.conn.execute("SELECT COUNT(*) FROM deployments").fetchone()[0]
    history = store.conn.execute("SELECT COUNT(*) FROM deployment_history").fetchone()[0]
    return rows, history, sorted(p.name for p in (app.config["WORKSPACE"].root /
                                                   "deployments").iterdir())


def _taken_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


SOURCE = {"entry_script": "score.py", "source": {"files": {"score.py": INIT_RAISES}}}
BAD = [
    ("name-too-short", {"name": "ab"}, 400, "name", "between 3 and 32 characters"),
    ("name-uppercase", {"name": "Iris"}, 400, "name", "lowercase letters"),
    ("name-starts-with-digit", {"name": "1iris"}, 400, "name", "start with a letter"),
    ("name-ends-with-dash", {"name": "iris-"}, 400, "name", "end with a letter or number"),
    ("name-too-long", {"name": "a" * 33}, 400, "name", None),
    ("unknown-version", {"models": ["sklearn-iris:7"]}, 400, "models[0]", "sklearn-iris"),
    ("unknown-model", {"models": ["nope:1"]}, 400, "models[0]", "nope"),
    ("model-without-version", {"models": ["sklearn-iris"]}, 400, "models.0", "name:version"),
    ("two-models-no-config", {"models": ["sklearn-iris:1", "other-iris:1"]}, 400,
     "inference_config", "You must provide an InferenceConfig when deploying zero or multiple"),
    ("no-models-no-config", {"models": []}, 400, "inference_config", "zero or multiple"),
    ("custom-framework-no-config", {"models": ["custom-model:1"]}, 400, "inference_config",
     "model_framework set to Custom"),
    ("unknown-target", {"deployment_config": {"target": "aks"}}, 400,
     "deployment_config.target", "local, docker, aci"),
    ("negative-cpu", {"deployment_config": {"cpu_cores": -1}}, 400, "deployment_config.cpu_cores",
     "cpu_cores must be positive"),
    ("zero-memory", {"deployment_config": {"memory_gb": 0}}, 400, "deployment_config.memory_gb",
     "memory_gb must be positive"),
    ("port-out-of-range", {"deployment_config": {"port": 70000}}, 400, "deployment_config.port",
     "[1, 65535]"),
    ("zero-workers", {"deployment_config": {"worker_count": 0}}, 400,
     "deployment_config.worker_count", None),
    ("entry-not-python", {"inference_config": {**SOURCE, "entry_script": "score.sh"}}, 400,
     "inference_config.entry_script", "only Python drivers"),
    ("entry-bad-module-name", {"inference_config": {
        "entry_script": "my-score.py", "source": {"files": {"my-score.py": "x = 1"}}}}, 400,
     "inference_config.entry_script", 'invalid name "my-score"'),
    ("entry-missing", {"inference_config": {**SOURCE, "entry_script": "other.py"}}, 400,
     "inference_config.entry_script", "not among the source files"),
    ("entry-syntax-error", {"inference_config": {
        "entry_script": "score.py", "source": {"files": {"score.py": "def init(:"}}}}, 400,
     "inference_config.entry_script", "try local deployment to verify"),
    ("unknown-run-source", {"inference_config": {
        "entry_script": "score.py", "source": {"run_id": "exp_1_nope"}}}, 400,
     "inference_config.source.run_id", "not found"),
    ("two-sources", {"inference_config": {"entry_script": "score.py", "source": {
        "run_id": "x", "files": {"score.py": "x"}}}}, 400, "inference_config.source", "exactly one"),
    ("models-not-a-list", {"models": "sklearn-iris:1"}, 400, "models", None),
]


@pytest.mark.parametrize("change,status,field,contains", [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])
def test_bad_create_is_refused_and_changes_nothing(client, app, models, change, status, field,
                                                   contains):
    body = {"name": "iris-svc", "models": [models["iris"]], **change}
    before = _state(app)
    assert_error(client.post("/deployments", json=body), status, field=field, contains=contains)
    assert _state(app) == before


def test_a_taken_port_is_refused(client, app, models):
    with _taken_port() as sock:
        port = sock.getsockname()[1]
        body = {"name": "iris-svc", "models": [models["iris"]],
                "deployment_config": {"port": port}}
        before = _state(app)
        assert_error(client.post("/deployments", json=body), 409,
                     field="deployment_config.port", contains=f"port {port} is already in use")
        assert _state(app) == before


def test_duplicates_need_overwrite_and_a_port_is_one_deployments(client, app, models):
    resp = client.post("/deployments", json={"name": "iris-svc", "models": [models["iris"]]})
    assert resp.status_code == 202, resp.get_json()
    dep = resp.get_json()
    assert dep["state"] == "Transitioning" and dep["generation"] == 1
    assert dep["history"][0]["models"] == [models["iris"]]
    before = _state(app)
    assert_error(client.post("/deployments", json={"name": "iris-svc", "models": [models["iris"]]}),
                 409, field="name", contains="same name already exists")
    assert_error(client.post("/deployments", json={
        "name": "iris-two", "models": [models["iris"]],
        "deployment_config": {"port": dep["port"]}}), 409, field="deployment_config.port")
    assert _state(app) == before
    resp = client.post("/deployments", json={"name": "iris-svc", "models": [models["iris2"]],
                                              "overwrite": True})
    assert resp.status_code == 202 and resp.get_json()["generation"] == 2


def test_updates_of_missing_or_bad_things_are_refused(client, app, models):
    assert_error(client.patch("/deployments/nope", json={"worker_count": 2}), 404, field="name")
    assert_error(client.post("/deployments/nope/rollback"), 404, field="name")
    assert_error(client.get("/deployments/nope"), 404, field="name")
    assert_error(client.get("/deployments/nope/keys"), 404, field="name")
    assert_error(client.delete("/deployments/nope"), 404, field="name")
    client.post("/deployments", json={"name": "iris-svc", "models": [models["iris"]]})
    before = _state(app)
    assert_error(client.patch("/deployments/iris-svc", json={}), 400,
                 contains="No parameters provided to update.")
    assert_error(client.patch("/deployments/iris-svc", json={"models": ["sklearn-iris:9"]}), 400,
                 field="models[0]")
    assert_error(client.patch("/deployments/iris-svc", json={"worker_count": -1}), 400,
                 field="worker_count")
    assert_error(client.post("/deployments/iris-svc/rollback"), 409, contains="nothing to roll back")
    assert_error(client.get("/deployments/iris-svc/keys"), 409, contains="auth enabled")
    assert_error(client.get("/deployments/iris-svc/logs?lines=0"), 400, field="lines")
    assert _state(app) == before


def test_a_deployed_model_version_is_reported_in_use(app, models, client):
    store = app.config["STORE"]
    assert store.deployments_using(models["iris"]) == []
    client.post("/deployments", json={"name": "iris-svc", "models": [models["iris"]]})
    assert store.deployments_using(models["iris"]) == ["iris-svc"]
    assert store.deployments_using(models["iris2"]) == []


def test_openapi_documents_the_deployment_routes(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["paths"]["/deployments"]["post"]["responses"].keys() >= {"202", "400", "409"}
    assert "/deployments/{name}/keys/regenerate" in spec["paths"]
    assert "Deployment" in spec["components"]["schemas"]


def test_the_reason_a_server_did_not_start_is_read_from_its_log():
    from service.targets.health import init_error, last_error

    log = ("2026 I [1] amlocal.scoring - Invoking user's init function\n"
           "Traceback (most recent call last):\n  File \"score.py\", line 2, in init\n"
           "    raise ValueError('boom')\nValueError: boom\n"
           "[2026] [1] [INFO] Worker exiting (pid: 1)\n")
    assert init_error(log) == "ValueError: boom"
    assert init_error("[ERROR] Connection in use: ('127.0.0.1', 80)\n") == ""
    assert last_error("ok\n[ERROR] Connection in use: ('127.0.0.1', 80)\nRetrying\n") == \
        "[ERROR] Connection in use: ('127.0.0.1', 80)"


def test_a_server_that_stops_answering_shows_unhealthy_until_it_answers_again(app, models):
    import http.server
    import threading

    from service.agent.reconciler import NOT_ANSWERING, PROBE_FAILURES, DeploymentReconciler
    from service.deployments import create

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"Healthy")

        def log_message(self, *args):
            pass

    store = app.config["STORE"]
    create(store, {"name": "iris-svc", "models": [models["iris"]], "inference_config": None,
                   "overwrite": False, "deployment_config": {
                       "target": "local", "auth_enabled": False, "port": None,
                       "worker_count": 1, "cpu_cores": None, "memory_gb": None}})
    hung = socket.socket()  # accepts connections into its backlog, never answers
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    reconciler = DeploymentReconciler(store, app.config["WORKSPACE"], app.config["SETTINGS"],
                                      targets={})
    reconciler.probe_timeout_s = 0.2
    try:
        store.mark_served("iris-svc", 1, {"serving": {"health_port": hung.getsockname()[1]}},
                          "http://x/score", "http://x/swagger.json")
        for _ in range(PROBE_FAILURES):
            assert store.get_deployment("iris-svc").state == "Healthy"
            reconciler._probe(store.get_deployment("iris-svc"))
        dep = store.get_deployment("iris-svc")
        assert (dep.state, dep.error) == ("Unhealthy", NOT_ANSWERING)
        store.set_deployment_runtime("iris-svc", {"serving": {
            "health_port": server.server_address[1]}})
        reconciler._probe(store.get_deployment("iris-svc"))
        assert store.get_deployment("iris-svc").state == "Healthy"
    finally:
        server.shutdown()
        server.server_close()
        hung.close()
