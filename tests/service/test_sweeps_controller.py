"""The sweep controller on a real SQLite store, with children moved through their states by hand.

No run queue here: the test plays the agent's run queue (Running, Completed, Canceled) so every
decision of the controller can be checked one tick at a time, and time comes from a fake clock.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from service.sweeps import stored_config
from service.settings import load_settings
from service.store import Store
from service.agent.sweeps import SweepController
from service.sweeps import sweep_summary
from service.store.workspace import init_workspace

GRID = {"type": "grid", "space": {"--kernel": ["choice", [["linear", "rbf", "poly"]]],
                                  "--penalty": ["choice", [[0.5, 1]]]}}


class Clock:
    def __init__(self):
        self.now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    ws = init_workspace(tmp_path / "ws")
    return Store(ws.db_path, clock=clock)


@pytest.fixture
def controller(store, tmp_path):
    settings = load_settings({"AMLOCAL_WORKSPACE": str(tmp_path / "ws")})
    return SweepController(store, None, settings)


def make_sweep(store, **body):
    body = {"sampling": GRID, "primary_metric": {"name": "Accuracy", "goal": "maximize"},
            "max_total_runs": 6, "max_concurrent_runs": 2, **body}
    config, notes = stored_config(body)
    number = store.conn.execute("SELECT COUNT(*) FROM sweeps").fetchone()[0]
    return store.create_sweep("exp", f"HD_{number}", "train.py",
                              ["--kernel", "base"], "0" * 64, config, notes, tags={"team": "a"})


def states(store, parent_id):
    return [c.status for c in store.list_children(parent_id)]


def run_child(store, child_id, *values, status="Completed"):
    store.set_run_state(child_id, "Preparing")
    store.set_run_state(child_id, "Running")
    store.record_events(child_id, [{"type": "metric", "name": "Accuracy", "value": v}
                                   for v in values])
    if status:
        store.finish_run(child_id, status, None if status == "Completed" else
                         {"message": "Run was canceled" if status == "Canceled" else "boom"})


def test_grid_keeps_two_children_going_then_completes(store, controller):
    parent = make_sweep(store)
    controller.tick()
    assert store.get_run(parent.id).status == "Running"
    children = store.list_children(parent.id)
    assert [c.id for c in children] == [f"{parent.id}_0", f"{parent.id}_1"]
    assert children[0].arguments == ["--kernel", "base", "--kernel", "linear", "--penalty", "0.5"]
    assert json.loads(children[1].properties["hyperparameters"]) == {"--kernel": "linear",
                                                                      "--penalty": 1}
    assert children[0].tags == {"team": "a"} and children[0].kind == "script"
    tags = store.get_run(parent.id).tags
    assert json.loads(tags[f"_aml_system_{parent.id}_1"]) == {"--kernel": "linear", "--penalty": 1}
    controller.tick()
    assert len(store.list_children(parent.id)) == 2  # nothing more while both are unfinished
    for i in range(6):
        run_child(store, f"{parent.id}_{i}", 0.5 + i / 100)
        controller.tick()
        assert sum(s not in ("Completed",) for s in states(store, parent.id)) <= 2
    assert states(store, parent.id) == ["Completed"] * 6
    assert store.list_children(parent.id)[5].tags == {"team": "a"}  # not the parent's system tags
    assert len(store.get_run(parent.id).tags) == 7
    done = store.get_run(parent.id)
    assert done.status == "Completed", done.error
    assert list(done.status_times) == ["NotStarted", "Queued", "Preparing", "Running",
                                       "Finalizing", "Completed"]
    summary = sweep_summary(store, done)
    assert summary["best"]["run_id"] == f"{parent.id}_5"
    assert summary["children_by_state"] == {"Completed": 6}
    assert summary["stop_reason"] == "max_total_runs=6 reached"
    best = store.get_metric_events(parent.id, ["best_child_by_primary_metric"])
    assert best[0]["value"]["run_id"] == f"{parent.id}_5"


def test_a_small_space_ends_the_sweep_early(store, controller):
    parent = make_sweep(store, max_total_runs=10, max_concurrent_runs=10,
                        sampling={"type": "grid", "space": {"x": ["choice", [[1, 2]]]}})
    controller.tick()
    assert store.list_children(parent.id)[1].arguments[-2:] == ["--x", "2"]
    for i in range(2):
        run_child(store, f"{parent.id}_{i}", 0.1)
    controller.tick()
    assert store.get_run(parent.id).status == "Completed"
    assert "exhausted after 2" in store.get_sweep(parent.id).stop_reason


def test_the_service_run_limit_caps_the_sweep_concurrency(store, controller):
    parent = make_sweep(store, max_concurrent_runs=6)  # the service allows 4
    controller.tick()
    assert len(store.list_children(parent.id)) == controller.settings.max_concurrent_runs == 4


def test_bandit_cancels_a_bad_running_child_and_records_why(store, controller):
    parent = make_sweep(store, policy={"type": "bandit", "slack_factor": 0.1})
    controller.tick()
    good, bad = (f"{parent.id}_{i}" for i in range(2))
    run_child(store, good, 0.9, status=None)
    run_child(store, bad, 0.5, status=None)
    controller.tick()
    assert store.is_cancel_requested(bad) and not store.is_cancel_requested(good)
    reason = store.get_run(bad).properties["cancel_reason"]
    assert reason.startswith("BanditPolicy: best 0.5 at interval 1 is below 0.8182")
    store.finish_run(bad, "Canceled", {"message": "Run was canceled"})  # as the executor says
    controller.tick()
    assert store.get_run(bad).error["message"] == reason
    assert len(store.list_children(parent.id)) == 3  # the freed slot went to the next config


def test_canceling_the_parent_cancels_its_children_then_itself(store, controller):
    parent = make_sweep(store)
    controller.tick()
    run_child(store, f"{parent.id}_0", 0.7, status=None)
    store.request_cancel(parent.id)
    controller.tick()
    assert states(store, parent.id) == ["Running", "Canceled"]  # the queued one at once
    assert store.is_cancel_requested(f"{parent.id}_0")
    store.finish_run(f"{parent.id}_0", "Canceled", {"message": "Run was canceled"})
    controller.tick()
    done = store.get_run(parent.id)
    assert done.status == "Canceled"
    assert "was canceled" in store.get_run(f"{parent.id}_0").error["message"]
    assert len(store.list_children(parent.id)) == 2


def test_max_duration_cancels_what_runs_and_ends_the_sweep(store, controller, clock):
    parent = make_sweep(store, max_duration_minutes=1)
    controller.tick()
    run_child(store, f"{parent.id}_0", 0.7)
    controller.tick()
    clock.now += timedelta(minutes=1)
    controller.tick()
    controller.tick()
    assert states(store, parent.id) == ["Completed", "Canceled", "Canceled"]
    assert store.get_run(parent.id).status == "Completed"
    message = store.get_run(f"{parent.id}_1").error["message"]
    assert message == "Canceled: the sweep reached max_duration_minutes=1."


def test_a_sweep_whose_children_all_fail_fails_with_the_first_reason(store, controller):
    parent = make_sweep(store, max_total_runs=2)
    controller.tick()
    for i in range(2):
        run_child(store, f"{parent.id}_{i}", status="Failed")
    controller.tick()
    done = store.get_run(parent.id)
    assert done.status == "Failed"
    assert done.error["message"] == "All 2 child runs failed; the first failure: boom"


def test_a_restarted_controller_replays_the_drawn_seed(store, controller):
    space = {"--penalty": ["uniform", [0.1, 2.0]], "--kernel": ["choice", [["linear", "rbf"]]]}
    unseeded = make_sweep(store, sampling={"type": "random", "space": space}, max_total_runs=5)
    seed = store.get_sweep(unseeded.id).config["sampling"]["seed"]  # drawn at submission
    assert isinstance(seed, int)

    def drive(parent, restart_at=None):
        ctl = SweepController(store, None, controller.settings)
        for i in range(5):
            ctl.tick()
            run_child(store, f"{parent.id}_{i}", 0.5)
            if i == restart_at:  # a restarted agent: a controller with nothing in memory
                ctl = SweepController(store, None, controller.settings)
        ctl.tick()
        return [c.properties["hyperparameters"] for c in store.list_children(parent.id)]

    resumed = drive(unseeded, restart_at=2)
    seeded = make_sweep(store, sampling={"type": "random", "space": space, "seed": seed},
                        max_total_runs=5)
    assert drive(seeded) == resumed and len(set(resumed)) == 5
    assert {store.get_run(p.id).status for p in (unseeded, seeded)} == {"Completed"}


def test_a_large_sweep_without_a_concurrency_reparses_its_stored_config(store, controller):
    # max_concurrent_runs defaults to max_total_runs, which may exceed the explicit bound of 100.
    parent = make_sweep(store, max_total_runs=150, max_concurrent_runs=None,
                        sampling={"type": "random", "space": {"--c": ["uniform", [0, 1]]}})
    controller.tick()
    assert len(store.list_children(parent.id)) == controller.settings.max_concurrent_runs
