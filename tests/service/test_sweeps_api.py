"""The sweeps API in-process: every bad input is a 4xx naming the field and stores nothing;
children ranked like get_children_sorted_by_primary_metric; the best child or a 404."""
from __future__ import annotations

import io
import json
import os

import pytest

from tests.conftest import assert_error, make_snapshot

KERNELS = ["choice", [["linear", "rbf", "poly", "sigmoid"]]]
GOOD = {"script": "train.py", "arguments": ["--epochs", "3"],
        "sampling": {"type": "grid", "space": {"--kernel": KERNELS}},
        "primary_metric": {"name": "Accuracy", "goal": "maximize"}, "max_total_runs": 4,
        "max_concurrent_runs": 2}


def submit(client, config, snapshot: bytes | None = b"default", experiment="exp"):
    data = {"config": config if isinstance(config, str) else json.dumps(config)}
    if snapshot is not None:
        body = make_snapshot({"train.py": "print(1)\n"}) if snapshot == b"default" else snapshot
        data["snapshot"] = (io.BytesIO(body), "s.tar.gz")
    return client.post(f"/experiments/{experiment}/sweeps", data=data,
                       content_type="multipart/form-data")


def with_(**changes) -> dict:
    config = json.loads(json.dumps(GOOD))
    for path, value in changes.items():
        target, keys = config, path.split("__")
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = value
    return config


BAD = [
    pytest.param(with_(sampling__space={"--kernel": ["gaussian", [1]]}), "config.sampling.space.--kernel",
                 id="unknown-expression"),
    pytest.param(with_(sampling__type="random", sampling__space={"--c": ["uniform", [2, 1]]}),
                 "config.sampling.space.--c", id="uniform-2-1"),
    pytest.param(with_(sampling__space={"--kernel": ["choice", [[]]]}),
                 "config.sampling.space.--kernel", id="choice-empty"),
    pytest.param(with_(sampling__space={"--c": ["uniform", [0, 1]]}), "config.sampling.space.--c",
                 id="grid-with-uniform"),
    pytest.param(with_(sampling__type="bayesian", policy={"type": "bandit", "slack_factor": 0.1}),
                 "config.policy", id="bayesian-with-policy"),
    pytest.param(with_(max_concurrent_runs=0), "config.max_concurrent_runs", id="concurrency-0"),
    pytest.param(with_(max_concurrent_runs=101), "config.max_concurrent_runs", id="concurrency-101"),
    pytest.param(with_(max_total_runs=1001), "config.max_total_runs", id="total-1001"),
    pytest.param(with_(primary_metric__goal="up"), "config.primary_metric.goal", id="goal-up"),
    pytest.param(with_(policy={"type": "truncation_selection", "truncation_percentage": 100}),
                 "config.policy.truncation_percentage", id="truncation-100"),
    pytest.param({k: v for k, v in GOOD.items() if k != "sampling"}, "config.sampling",
                 id="no-sampling"),
    pytest.param(with_(retries=3), "config.retries", id="unknown-field"),
    pytest.param(with_(script="missing.py"), "config.script", id="script-not-in-snapshot"),
    pytest.param("{not json", "config", id="config-not-json"),
]


def _stored(app) -> tuple[list, int]:
    ws = app.config["WORKSPACE"]
    runs = app.config["STORE"].conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    return sorted(os.listdir(ws.root / "snapshots")), runs


@pytest.mark.parametrize("config, field", BAD)
def test_bad_sweeps_are_400_naming_the_field_and_create_nothing(client, app, config, field):
    assert_error(submit(client, config), 400, field=field)
    assert _stored(app) == ([], 0)
    assert client.get("/experiments").get_json() == {"experiments": []}


def test_a_missing_snapshot_or_bad_experiment_creates_nothing(client, app):
    assert_error(submit(client, GOOD, snapshot=None), 400, field="snapshot")
    assert_error(submit(client, GOOD, experiment="-bad"), 400, field="experiment")
    assert _stored(app) == ([], 0)


def test_a_sweep_is_a_queued_parent_with_its_stored_config(client):
    resp = submit(client, with_(sampling__type="random", sampling__space={"--c": ["uniform", [0, 1]]}))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    parent = resp.get_json()
    assert parent["kind"] == "sweep" and parent["status"] == "Queued"
    assert parent["id"].startswith("HD_") and parent["arguments"] == ["--epochs", "3"]
    assert isinstance(parent["sweep"]["config"]["sampling"]["seed"], int)  # drawn, kept
    shown = client.get(f"/runs/{parent['id']}").get_json()
    assert shown["summary"]["children"] == 0 and shown["summary"]["best"] is None
    assert client.get(f"/runs/{parent['id']}/children").get_json() == {"children": []}


def test_a_bayesian_sweep_is_accepted_quietly_with_azure_notes(client):
    resp = submit(client, with_(sampling__type="bayesian",
                                sampling__space={"--c": ["uniform", [0.1, 2]],
                                                 "--kernel": KERNELS}))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    notes = resp.get_json()["sweep"]["notes"]
    assert any("Recommended value: 40" in note for note in notes)


def _sweep_with_children(client, app, goal="maximize"):
    parent = submit(client, with_(primary_metric__goal=goal)).get_json()
    store = app.config["STORE"]
    parent_run = store.get_run(parent["id"])
    results = [("linear", [0.5, 0.97], "Completed"), ("rbf", [], "Failed"),
               ("poly", [0.97], "Completed"), ("sigmoid", [0.24], "Canceled")]
    for i, (kernel, values, status) in enumerate(results):
        child = store.create_child(parent_run, i, {"--kernel": kernel}, ["--kernel", kernel])
        store.record_events(child.id, [{"type": "metric", "name": "Accuracy", "value": v}
                                       for v in values])
        store.finish_run(child.id, status)
    return parent["id"]


def test_children_sort_best_first_ties_in_order_no_metric_last(client, app):
    parent = _sweep_with_children(client, app)
    rows = client.get(f"/runs/{parent}/children?sort=primary_metric").get_json()["children"]
    assert [(r["hyperparameters"]["--kernel"], r["best_primary_metric"]) for r in rows] == [
        ("linear", 0.97), ("poly", 0.97), ("sigmoid", 0.24), ("rbf", None)]
    assert rows[0] == {"run_id": f"{parent}_0", "hyperparameters": {"--kernel": "linear"},
                       "best_primary_metric": 0.97, "status": "Completed"}
    top = client.get(f"/runs/{parent}/children?sort=primary_metric&top=2&reverse=true")
    assert [r["run_id"][-1] for r in top.get_json()["children"]] == ["3", "0"]
    plain = client.get(f"/runs/{parent}/children").get_json()["children"]
    assert [r["run_id"][-1] for r in plain] == ["0", "1", "2", "3"]


def test_best_is_the_top_child_with_its_run(client, app):
    parent = _sweep_with_children(client, app, goal="minimize")
    best = client.get(f"/runs/{parent}/best").get_json()
    assert best["run_id"] == f"{parent}_3" and best["best_primary_metric"] == 0.24
    assert best["run"]["id"] == best["run_id"] and best["run"]["parent_id"] == parent
    best = client.get(f"/runs/{parent}/best?include_canceled=false").get_json()
    assert best["run_id"] == f"{parent}_0"


def test_best_is_404_naming_the_metric_when_no_child_logged_it(client):
    parent = submit(client, GOOD).get_json()["id"]
    err = assert_error(client.get(f"/runs/{parent}/best"), 404, field="primary_metric")
    assert "'Accuracy'" in err["message"]


@pytest.mark.parametrize("path, status, field", [
    ("/runs/nope/children", 404, "run_id"),
    ("/runs/nope/best", 404, "run_id"),
    ("/runs/{plain}/children?sort=primary_metric", 400, "sort"),
    ("/runs/{plain}/best", 400, "run_id"),
    ("/runs/{sweep}/children?sort=accuracy", 400, "sort"),
    ("/runs/{sweep}/children?top=-1", 400, "top"),
], ids=["children-unknown", "best-unknown", "sort-plain-run", "best-plain-run", "sort-unknown",
        "top-negative"])
def test_children_and_best_refuse_what_does_not_apply(client, path, status, field):
    sweep = submit(client, GOOD).get_json()["id"]
    plain = client.post("/experiments/exp/runs", content_type="multipart/form-data", data={
        "snapshot": (io.BytesIO(make_snapshot({"t.py": "1"})), "s.tgz"),
        "config": json.dumps({"script": "t.py"})}).get_json()["id"]
    assert_error(client.get(path.format(plain=plain, sweep=sweep)), status, field=field)


def test_openapi_describes_the_sweep_routes(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert "multipart/form-data" in paths["/experiments/{experiment}/sweeps"]["post"][
        "requestBody"]["content"]
    assert {"/runs/{run_id}/children", "/runs/{run_id}/best"} <= set(paths)


def test_experiment_run_list_hides_children_unless_asked(client, app):
    parent = _sweep_with_children(client, app)
    top = client.get("/experiments/exp/runs").get_json()["runs"]
    assert [r["id"] for r in top] == [parent]  # Azure's get_runs(include_children=False)
    everything = client.get("/experiments/exp/runs?include_children=true").get_json()["runs"]
    assert len(everything) == 5 and everything[-1]["id"] == parent
    assert client.get("/experiments/exp/runs?include_children=maybe").status_code == 400
