"""Fuzzing the control API with schemathesis, against the live /openapi.json of a real service.

Every operation in the document is fuzzed (a fixed, derandomized number of examples, so a run is
repeatable): with data that fits the document, and with data that does not. No answer may be a
5xx, and every answer must agree with the document: a declared status, the declared content
type, a body matching the declared schema. Every method the document does not list is a 405 with
`Allow`.

Random path parameters name nothing that exists, so each operation on a run, a model or an
environment is fuzzed a third time on one that does (seeded below). Two are not, and say why
where they are left out (SEEDED_ELSEWHERE); both are still fuzzed with random names.

The multipart uploads (a run's or a sweep's snapshot, model files, an environment's file part)
are fuzzed too, but random bytes are never a .tar.gz holding the script and a random `config`
string is almost never JSON, so the fuzzer meets only their first checks. Their bad inputs are
spelled out instead: test_api.py (BAD_SUBMISSIONS: traversal, links, devices, configs),
test_models.py (uploads), test_api_errors.py (a config part 100,000 deep).

schemathesis's own pytest loader (`schemathesis.pytest.from_fixture`) does not run under pytest 9
(it sets `request.node._nodeid`), so each operation's strategy is driven by hypothesis here.
"""
from __future__ import annotations

import json

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis import GenerationMode
from schemathesis.checks import (content_type_conformance, not_a_server_error,
                                 response_schema_conformance, status_code_conformance)

from tests.conftest import TOKEN, Service, assert_error, free_port
from tests.service.test_deployments_support import kill_leftovers

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
EXAMPLES = 20  # per operation and pass: 43 operations x 2-3 passes in about a minute on 2 cores
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                phases=[Phase.explicit, Phase.generate, Phase.shrink],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])
METHODS = ("get", "post", "put", "patch", "delete")
SEEDED_ELSEWHERE = {
    # A real build installs packages from an index: tests/service/test_environments_api.py.
    "POST /environments/{name}/versions/{version}/build",
    # Deleting the seeded model first would leave the later operations nothing to act on; it is
    # fuzzed with random names, and deleted for real in tests/service/test_models.py.
    "DELETE /models/{name}/versions/{version}",
}


@pytest.fixture(scope="module", autouse=True)
def hypothesis_home(tmp_path_factory):
    """Hypothesis keeps caches under ./.hypothesis; nothing is written into the repository."""
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    set_hypothesis_home_dir(None)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    service = Service(tmp_path_factory.mktemp("fuzz") / "ws", free_port()).start()
    yield service
    service.stop()
    kill_leftovers(service.workspace)


@pytest.fixture(scope="module")
def document(live) -> dict:
    resp = requests.get(f"{live.url}/openapi.json", headers=AUTH, timeout=30)
    assert resp.status_code == 200
    return resp.json()


@pytest.fixture(scope="module")
def seeded(live) -> dict[str, dict[str, str]]:
    """A run, a model version and an environment version: path parameters that name something."""
    run = live.submit({"train.py": "print('fuzz')\n"}, "train.py", experiment="fuzz")
    model = live.http("POST", "/models", files={"files": ("model.txt", b"weights")},
                      data={"config": json.dumps({"name": "fuzz-model"})})
    env = live.http("POST", "/environments",
                    json={"name": "fuzz-env", "pip_requirements": "requests\n"})
    assert model.status_code == 201 and env.status_code == 201, (model.text, env.text)
    return {"/experiments/": {"experiment": "fuzz"}, "/runs/": {"run_id": run["id"]},
            "/models/": {"name": "fuzz-model", "version": "1"},
            "/environments/": {"name": "fuzz-env", "version": "1"}}


def existing(operation, seeded: dict) -> dict[str, str] | None:
    """Path parameters naming a seeded resource for `operation`, if it takes any."""
    if not operation.path_parameters or operation.label in SEEDED_ELSEWHERE:
        return None
    for prefix, params in seeded.items():
        if operation.path.startswith(prefix):
            names = {p.name for p in operation.path_parameters}
            return {k: v for k, v in params.items() if k in names} or None
    return None  # deployments: a real one starts scoring servers (test_deployments_*.py)


def fuzz(operation, mode: GenerationMode, base_url: str, path: dict | None = None) -> None:
    """`EXAMPLES` cases of `operation`, each sent and checked against the document."""

    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path))
    def check(case):
        case.call_and_validate(base_url=base_url, headers=AUTH, checks=CHECKS, timeout=60)

    check()


def test_every_operation_answers_as_the_document_says(live, document, seeded, subtests):
    api = schemathesis.openapi.from_dict(document)
    fuzzed = []
    for result in api.get_all_operations():
        operation = result.ok()
        fuzzed.append(operation.label)
        passes = [("fits the document", GenerationMode.POSITIVE, None)]
        # An operation that takes nothing (GET /health) has no input to get wrong.
        if operation.path_parameters or operation.query or operation.body:
            passes.append(("does not fit", GenerationMode.NEGATIVE, None))
        if (path := existing(operation, seeded)) is not None:
            passes.append((f"on {path}", GenerationMode.POSITIVE, path))
        for what, mode, path in passes:
            with subtests.test(msg=f"{operation.label}, {what}"):
                fuzz(operation, mode, live.url, path)
    declared = [f"{m.upper()} {p}" for p, ops in document["paths"].items() for m in ops]
    assert sorted(fuzzed) == sorted(declared) and len(fuzzed) >= 40


def test_what_gunicorn_cannot_parse_is_answered_in_the_error_shape(live):
    resp = requests.get(f"{live.url}/runs/{'r' * 9000}", headers=AUTH, timeout=30)
    assert_error(resp, 414, field="path")
    resp = requests.get(f"{live.url}/health", headers={"x-big": "h" * 9000}, timeout=30)
    assert_error(resp, 431, field="headers")


def test_a_method_the_document_does_not_list_is_405_with_allow(live, document):
    checked = 0
    for path, operations in document["paths"].items():
        url = live.url + path.replace("{", "x").replace("}", "")
        for method in set(METHODS) - set(operations):
            resp = requests.request(method, url, headers=AUTH, timeout=30)
            assert_error(resp, 405)
            allowed = {m.strip().lower() for m in resp.headers["Allow"].split(",")}
            assert set(operations) <= allowed, (path, method, resp.headers["Allow"])
            checked += 1
    assert checked >= 100
