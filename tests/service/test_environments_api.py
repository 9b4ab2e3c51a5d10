"""Environments through the Flask app: registration, versions, curated, bad specs, run configs."""
from __future__ import annotations

import io
import json

import pytest

from environments import DEFAULT_SPEC, find_built, parse_pip_requirements
from service.environments import (ScoringEnvironmentError, build_scoring_environment, build_state,
                                  choose_scoring_environment)
from service.store.models import ModelVersion
from tests.conftest import assert_error, make_snapshot
from tests.polling import wait_for

SKLEARN_ENV = DEFAULT_SPEC.read_text()
CURATED = ["amlocal-azureml-core", "amlocal-minimal", "amlocal-sklearn-1.9"]


def _names(client) -> list[tuple[str, int]]:
    return [(e["name"], e["version"]) for e in client.get("/environments").get_json()["environments"]]


def _submit(client, environment) -> object:
    config = {"script": "s.py", "environment": environment}
    return client.post("/experiments/exp/runs", content_type="multipart/form-data",
                       data={"config": json.dumps(config),
                             "snapshot": (io.BytesIO(make_snapshot({"s.py": "print(1)\n"})),
                                          "s.tar.gz")})


def test_same_content_same_version_changed_content_new_version(client):
    first = client.post("/environments", json={"name": "sklearn", "conda_spec": SKLEARN_ENV})
    assert first.status_code == 201, first.text
    body = first.get_json()
    assert (body["id"], body["kind"], body["python"]) == ("sklearn:1", "conda", "3.11")
    assert "scikit-learn>=1.3" in body["pip"] and body["build"]["state"] == "NotBuilt"
    # Comments, spacing and order are not content: the same version comes back (200).
    reordered = SKLEARN_ENV.replace("      - joblib>=1.3\n", "").replace(
        "      - scikit-learn>=1.3\n", "      - joblib >= 1.3\n      - scikit-learn>=1.3\n")
    again = client.post("/environments", json={"name": "sklearn", "conda_spec": "# x\n" + reordered})
    assert again.status_code == 200 and again.get_json()["version"] == 1
    changed = client.post("/environments", json={"name": "sklearn",
                                                 "conda_spec": SKLEARN_ENV + "      - pyyaml\n"})
    assert changed.status_code == 201 and changed.get_json()["version"] == 2
    assert client.get("/environments/sklearn/versions/latest").get_json()["version"] == 2
    assert client.get("/environments/sklearn/versions/1").get_json()["definition"] == SKLEARN_ENV
    versions = client.get("/environments/sklearn/versions").get_json()["environments"]
    assert [v["version"] for v in versions] == [2, 1]
    assert _names(client) == [("sklearn", 2)] + [(name, 1) for name in CURATED]


def test_multipart_upload_registers_a_requirements_file(client):
    resp = client.post("/environments", content_type="multipart/form-data",
                       data={"name": "mini", "pip_requirements": (io.BytesIO(b"joblib>=1.3\n"),
                                                                  "requirements.txt")})
    assert resp.status_code == 201, resp.text
    assert resp.get_json()["pip"] == ["joblib>=1.3"] and resp.get_json()["kind"] == "pip"


@pytest.mark.parametrize("body, field, words", [
    pytest.param({"name": "e", "conda_spec": "dependencies: [\n"}, "conda_spec", "invalid YAML",
                 id="invalid-yaml"),
    pytest.param({"name": "e", "conda_spec": "foo: 1\ndependencies: [pip]\n"}, "conda_spec",
                 "unknown key 'foo'", id="unknown-key"),
    pytest.param({"name": "e", "conda_spec": "dependencies:\n  - python=2.7\n"}, "conda_spec",
                 "Python 2.7", id="python-2.7"),
    pytest.param({"name": "e", "conda_spec": ""}, "conda_spec", "empty", id="empty-conda"),
    pytest.param({"name": "e", "pip_requirements": "# nothing\n"}, "pip_requirements", "empty",
                 id="empty-pip"),
    pytest.param({"name": "e", "pip_requirements": "-e .\n"}, "pip_requirements", "'-e'",
                 id="pip-option"),
    pytest.param({"name": "e"}, "conda_spec", "exactly one", id="no-definition"),
    pytest.param({"name": "e", "conda_spec": SKLEARN_ENV, "pip_requirements": "joblib"},
                 "conda_spec", "exactly one", id="two-definitions"),
    pytest.param({"name": "AzureML-x", "pip_requirements": "joblib"}, "name", "reserved",
                 id="reserved-azureml"),
    pytest.param({"name": "Microsoft.x", "pip_requirements": "joblib"}, "name", "reserved",
                 id="reserved-microsoft"),
    pytest.param({"name": "amlocal-minimal", "pip_requirements": "joblib"}, "name", "reserved",
                 id="curated-name"),
    pytest.param({"name": "has space", "pip_requirements": "joblib"}, "name", "name", id="bad-name"),
    pytest.param({"name": "e", "pip_requirements": "joblib", "extra": 1}, "extra", None,
                 id="unknown-field"),
])
def test_bad_registrations_are_refused_and_nothing_is_stored(client, body, field, words):
    err = assert_error(client.post("/environments", json=body), 400, field=field, contains=words)
    if field in ("conda_spec", "pip_requirements") and "line" in err:
        assert err["reason"] and err["reason"] in err["message"]
    assert _names(client) == [(name, 1) for name in CURATED]


def test_spec_errors_name_the_line(client):
    err = assert_error(client.post("/environments", json={
        "name": "e", "conda_spec": "name: e\ndependencies:\n  - python=2.7\n"}), 400)
    assert err["line"] == 3 and "line 3" in err["message"]


def test_non_json_body_and_bad_versions(client):
    assert_error(client.post("/environments", data="x", content_type="text/plain"), 400)
    assert_error(client.get("/environments/nope/versions/latest"), 404, field="name")
    assert_error(client.get("/environments/amlocal-minimal/versions/2"), 404, field="version")
    assert_error(client.get("/environments/amlocal-minimal/versions/0"), 400, field="version")
    assert_error(client.get("/environments/amlocal-minimal/versions/1/log"), 404,
                 contains="NotBuilt")


def test_curated_environments_are_listed_with_their_definition(client):
    env = client.get("/environments/amlocal-azureml-core/versions/latest").get_json()
    assert env["curated"] is True and env["version"] == 1
    assert "azureml-core>=1.60" in env["pip"] and "azureml-core" in env["definition"]


@pytest.mark.parametrize("environment, field, words", [
    pytest.param("nope", "config.environment", "not found", id="unknown-name"),
    pytest.param("sk:9", "config.environment", "no version 9", id="unknown-version"),
    pytest.param("sk:x", "config.environment", "version", id="bad-version"),
    pytest.param(7, "config.environment", "NAME", id="not-a-string"),
    pytest.param({"conda_spec": "foo: 1\n"}, "config.environment.conda_spec", "unknown key",
                 id="inline-bad"),
    pytest.param({"conda_spec": "x", "name": "sk"}, "config.environment", "exactly one",
                 id="inline-and-name"),
    pytest.param({"pip_requirements": 3}, "config.environment.pip_requirements", "text",
                 id="inline-not-text"),
])
def test_run_configs_with_bad_environments_are_refused(client, environment, field, words):
    client.post("/environments", json={"name": "sk", "pip_requirements": "joblib\n"})
    assert_error(_submit(client, environment), 400, field=field, contains=words)
    assert client.get("/experiments/exp/runs").status_code in (200, 404)
    assert not client.get("/experiments/exp/runs").get_json().get("runs")


@pytest.mark.parametrize("environment, name, version", [
    pytest.param("sk", "sk", 1, id="name"), pytest.param("sk:1", "sk", 1, id="name-version"),
    pytest.param({"name": "sk", "version": 1}, "sk", 1, id="object"),
    pytest.param("amlocal-minimal", "amlocal-minimal", 1, id="curated"),
    pytest.param({"pip_requirements": "joblib\n"}, None, None, id="inline"),
])
def test_runs_record_the_resolved_environment(client, environment, name, version):
    client.post("/environments", json={"name": "sk", "pip_requirements": "joblib\n"})
    resp = _submit(client, environment)
    assert resp.status_code == 201, resp.text
    recorded = resp.get_json()["environment"]
    assert (recorded["name"], recorded["version"]) == (name, version)
    assert recorded["hash"] == recorded["spec"]["hash"] == parse_pip_requirements(
        "joblib\n" if name != "amlocal-minimal" else "joblib>=1.3\n").hash


def test_build_endpoint_builds_in_the_background_with_a_log(client, app):
    client.post("/environments", json={"name": "mini", "pip_requirements": "joblib>=1.3\n"})
    resp = client.post("/environments/mini/versions/1/build")
    assert resp.status_code == 202 and resp.get_json()["build"]["state"] in ("Building",
                                                                              "Succeeded")
    env = wait_for(lambda: (e := client.get("/environments/mini/versions/1").get_json())
                   ["build"]["state"] in ("Succeeded", "Failed") and e, timeout=300,
                   message="the build")
    assert env["build"]["state"] == "Succeeded", client.get("/environments/mini/versions/1/log").text
    log = client.get("/environments/mini/versions/1/log")
    assert log.status_code == 200 and "joblib" in log.text
    ws = app.config["WORKSPACE"]
    spec = parse_pip_requirements("joblib>=1.3\n")
    assert find_built(spec, ws.envs_dir) is not None and build_state(ws, spec)[0] == "Succeeded"
    again = client.post("/environments/mini/versions/latest/build")
    assert again.status_code == 202 and again.get_json()["build"]["state"] == "Succeeded"


def _model(environment: dict | None, framework: str = "Custom", framework_version=None):
    return ModelVersion(name="m", version=1, id="m:1", framework=framework,
                        framework_version=framework_version, resource_configuration=None,
                        files=[], dir=None, run_id=None, tags={}, properties={}, description=None,
                        created_time="", environment=environment, estimator=None,
                        sample_input=None)


def test_scoring_environment_for_a_version_that_does_not_exist_fails_clearly(app, tmp_path):
    ws = app.config["WORKSPACE"]
    model = _model(None, framework="ScikitLearn", framework_version="0.0.77")
    choice = choose_scoring_environment(None, {"models": ["m:1"]}, [model])
    with pytest.raises(ScoringEnvironmentError, match="scikit-learn 0.0.77") as err:
        build_scoring_environment(choice, ws.envs_dir, tmp_path / "deploy.log")
    assert "scikit-learn" in (tmp_path / "deploy.log").read_text()
    assert not [p for p in ws.envs_dir.iterdir() if p.is_dir()]  # nothing half-made is left
    assert err.value.__cause__ is not None


def test_a_failed_background_build_shows_failed_with_the_installer_s_log(client, app):
    package = "amlocal-no-such-package-for-build-test"
    client.post("/environments", json={"name": "broken", "pip_requirements": f"{package}==1\n"})
    assert client.post("/environments/broken/versions/1/build").status_code == 202
    env = wait_for(lambda: (e := client.get("/environments/broken/versions/1").get_json())
                   ["build"]["state"] in ("Succeeded", "Failed") and e, timeout=300,
                   message="the build")
    assert env["build"]["state"] == "Failed"
    log = client.get("/environments/broken/versions/1/log")
    assert log.status_code == 200 and log.headers["x-amlocal-build-state"] == "Failed"
    assert package in log.text
    envs = app.config["WORKSPACE"].envs_dir
    assert not (envs / env["build"]["hash"]).exists()
    assert not list(envs.glob(f"{env['build']['hash']}.requested-*"))
