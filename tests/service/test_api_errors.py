"""Every client mistake is a 4xx in the one error shape, naming what is wrong (issue 13), and the
OpenAPI document declares what the routes answer. In-process (Flask's test client); the live
service is fuzzed by test_api_fuzz.py."""
from __future__ import annotations

import ast
import io
import json

import pytest

from tests.conftest import REPO, assert_error, make_snapshot

DEEP = "[" * 100_000 + "]" * 100_000


def _spec(client) -> dict:
    return client.get("/openapi.json").get_json()


def _json_operations(spec: dict) -> list[tuple[str, str]]:
    """(method, path with every parameter filled) of each operation taking a JSON body."""
    found = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            if "application/json" in op.get("requestBody", {}).get("content", {}):
                found.append((method, path.replace("{", "x").replace("}", "")))
    return found


def test_json_nested_100000_deep_is_a_400_naming_the_body_on_every_json_route(client):
    operations, refused = _json_operations(_spec(client)), 0
    assert len(operations) >= 10
    for method, path in operations:
        resp = client.open(path, method=method.upper(), data=DEEP,
                           content_type="application/json")
        if resp.status_code == 404:  # some routes look the resource up before reading the body
            assert_error(resp, 404)
            continue
        assert_error(resp, 400, field="body", contains="more than 64 deep")
        refused += 1
    assert refused >= 8


@pytest.mark.parametrize("body, status, contains", [
    pytest.param("[" * 65 + "]" * 65, 400, "more than 64 deep", id="65-deep"),
    pytest.param('{"name": ', 400, "not valid JSON", id="truncated"),
    pytest.param(b"\xff\xfe{", 400, "not valid JSON", id="not-utf8"),
    pytest.param("[1, 2]", 400, "must be a JSON object", id="not-an-object"),
    pytest.param(json.dumps({"name": "x" * (17 * 1024 * 1024)}), 413, "at most", id="17-MiB"),
])
def test_a_body_that_is_not_a_bounded_json_object_is_refused_naming_it(client, body, status,
                                                                       contains):
    resp = client.post("/deployments", data=body, content_type="application/json")
    assert_error(resp, status, field="body", contains=contains)


def test_a_json_route_wants_the_json_content_type(client):
    resp = client.post("/deployments", data='{"name": "abc"}', content_type="text/plain")
    assert_error(resp, 400, field="body", contains="application/json")


def test_a_deep_config_part_is_a_400_naming_it(client):
    resp = client.post("/experiments/exp/runs", content_type="multipart/form-data", data={
        "snapshot": (io.BytesIO(make_snapshot({"train.py": "x"})), "s.tar.gz"),
        "config": '{"script": "train.py", "environment": ' + DEEP + "}"})
    assert_error(resp, 400, field="config", contains="more than 64 deep")


def test_an_unknown_run_is_404_when_tagged(client):
    resp = client.patch("/runs/nope/tags", json={"add": {"k": "v"}})
    assert_error(resp, 404, field="run_id")


@pytest.mark.parametrize("version", ["\u00b2", "\u0663", "99999999999999999999", "0", "-1",
                                     "1.0", "1" * 5000])
def test_a_version_that_is_not_a_positive_ascii_integer_is_a_400(client, version):
    for path in (f"/models/m/versions/{version}", f"/environments/e/versions/{version}"):
        assert_error(client.get(path), 400, field="version", contains="Invalid version")


@pytest.mark.parametrize("offset", ["99999999999999999999", "\u00b2", "1e3", "1" * 5000])
def test_a_log_offset_that_is_not_a_file_offset_is_a_400(client, offset):
    run = _submit(client)
    assert_error(client.get(f"/runs/{run['id']}/logs?offset={offset}"), 400, field="offset")


def test_a_log_offset_beyond_any_file_is_an_empty_answer(client):
    run = _submit(client)
    (client.application.config["WORKSPACE"].run_dir(run["id"]) / "user_logs").mkdir(parents=True)
    (client.application.config["WORKSPACE"].run_dir(run["id"]) / "user_logs/std_log.txt"
     ).write_text("hello\n")
    resp = client.get(f"/runs/{run['id']}/logs?offset={2**63 - 1}")
    assert resp.status_code == 200 and resp.data == b""
    assert resp.headers["x-log-offset"] == str(2**63 - 1)


def test_follow_is_a_boolean(client):
    run = _submit(client)
    assert_error(client.get(f"/runs/{run['id']}/logs?follow=maybe"), 400, field="follow")


NAMES_ENDING_IN_A_NEWLINE = [
    pytest.param("post", "/experiments/exp%0A/runs", None, "experiment", id="experiment"),
    pytest.param("get", "/experiments/exp%0A/runs", None, "experiment", id="experiment-list"),
    pytest.param("post", "/models", {"name": "m\n", "run_id": "r", "path": "p"}, "name",
                 id="model"),
    pytest.param("get", "/models/m%0A", None, "name", id="model-path"),
    pytest.param("get", "/models?name=m%0A", None, "name", id="model-filter"),
    pytest.param("post", "/deployments", {"name": "abc\n", "models": ["m:1"]}, "name",
                 id="deployment"),
    pytest.param("post", "/deployments", {"name": "abc", "models": ["m:1\n"]}, "models.0",
                 id="deployment-model-id"),
    pytest.param("post", "/environments", {"name": "e\n", "pip_requirements": "numpy\n"}, "name",
                 id="environment"),
]


@pytest.mark.parametrize("method, path, body, field", NAMES_ENDING_IN_A_NEWLINE)
def test_a_name_ending_in_a_newline_is_refused(client, app, method, path, body, field):
    resp = client.open(path, method=method.upper(), json=body)
    assert_error(resp, 400, field=field)
    ws = app.config["WORKSPACE"].root
    assert not [p for p in ws.rglob("*") if p.name.endswith("\n")]


def test_a_model_id_version_beyond_sqlite_is_refused(client):
    resp = client.post("/deployments", json={"name": "abc", "models": ["m:" + "9" * 19]})
    assert_error(resp, 400, field="models.0")


def test_405_names_the_allowed_methods_in_the_error_shape(client):
    resp = client.put("/runs/x")
    assert_error(resp, 405)
    assert {m.strip() for m in resp.headers["Allow"].split(",")} >= {"GET"}


def test_list_routes_are_declared_as_the_objects_they_answer(client):
    spec = _spec(client)
    listings = {"/experiments": "experiments", "/experiments/{experiment}/runs": "runs",
                "/models": "models", "/models/{name}": "models", "/deployments": "deployments",
                "/environments": "environments", "/environments/{name}/versions": "environments",
                "/runs/{run_id}/files": "files"}
    for path, key in listings.items():
        schema = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"][
            "schema"]
        assert schema["type"] == "object" and schema["required"] == [key], (path, schema)
        assert schema["properties"][key]["type"] == "array"


def test_every_operation_declares_its_errors_with_the_error_shape(client):
    spec = _spec(client)
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            codes = set(op["responses"])
            assert {"414", "431"} <= codes, (method, path)
            if path != "/health":
                assert {"401", "403"} <= codes, (method, path)
            if method != "get":
                assert "507" in codes, (method, path)
            if "requestBody" in op:
                assert {"400", "413"} <= codes, (method, path)
            for code in codes - {"200", "201", "202"}:
                assert op["responses"][code] == {"$ref": "#/components/responses/Error"}


def test_every_detail_an_error_carries_is_declared_in_the_document(client):
    """A keyword given to an ApiError (NotFound(..., state=...)) is a field of the error body:
    walk every raise in service/ and find it in the document's ErrorBody."""
    from service import errors

    declared = set(_spec(client)["components"]["schemas"]["ErrorBody"]["properties"])
    kinds = {name for name, value in vars(errors).items()
             if isinstance(value, type) and issubclass(value, errors.ApiError)}
    used = {}
    for path in (REPO / "service").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(
                    node.func, "attr", None)) in kinds:
                for keyword in node.keywords:
                    used.setdefault(keyword.arg, f"{path.relative_to(REPO)}:{node.lineno}")
    assert "field" in used and len(used) >= 5
    undeclared = {k: where for k, where in used.items() if k not in declared}
    assert not undeclared, f"declare these in ErrorBodySchema: {undeclared}"


def _submit(client) -> dict:
    resp = client.post("/experiments/exp/runs", content_type="multipart/form-data", data={
        "snapshot": (io.BytesIO(make_snapshot({"train.py": "x"})), "s.tar.gz"),
        "config": json.dumps({"script": "train.py"})})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_every_route_is_in_the_document(client, app):
    paths = _spec(client)["paths"]
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("dashboard."):
            continue  # HTML pages, not the API
        path = rule.rule.replace("<path:", "{").replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in paths.get(path, {}), (method, rule.rule)


def test_the_token_is_needed_for_the_document_too(app):
    assert_error(app.test_client().get("/openapi.json"), 401, field="Authorization")
