"""Updates and rollback keep the scoring URI and drop no request; keys rotate one at a time."""
from __future__ import annotations

import threading

import requests

from tests.conftest import assert_error
from tests.polling import wait_for
from tests.service.test_deployments_support import iris_model, register_model, score, wait_state


class Traffic:
    """A client that scores continuously (new connection each time) and counts failures."""

    def __init__(self, uri: str):
        self.uri, self.ok, self.failures = uri, 0, []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                resp = score(self.uri)
                if resp.status_code == 200 and resp.json() == {"predict": [0, 2]}:
                    self.ok += 1
                else:
                    self.failures.append(f"{resp.status_code} {resp.text[:200]}")
            except requests.RequestException as err:
                self.failures.append(repr(err))

    def __enter__(self) -> "Traffic":
        self.thread.start()
        wait_for(lambda: self.ok >= 5, timeout=10, message="traffic flowing")
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.thread.join(timeout=60)


def _served(svc, name: str, generation: int) -> dict:
    return wait_for(lambda: (d := svc.http("GET", f"/deployments/{name}").json())[
        "served_generation"] == generation and d["state"] == "Healthy" and d,
        timeout=60, message=f"{name} serving generation {generation}")


def test_update_and_rollback_drop_no_request_and_keep_the_uri(svc):
    v1 = register_model(svc.workspace, "sklearn-iris", iris_model("svc"))
    v2 = register_model(svc.workspace, "sklearn-iris", iris_model("logistic"))
    resp = svc.http("POST", "/deployments", json={"name": "iris", "models": [v1]})
    assert resp.status_code == 202, resp.text
    dep = wait_state(svc, "iris")
    uri = dep["scoring_uri"]
    with Traffic(uri) as traffic:
        resp = svc.http("PATCH", "/deployments/iris", json={"models": [v2]})
        assert resp.status_code == 202 and resp.json()["state"] == "Transitioning", resp.text
        updated = _served(svc, "iris", 2)
        before_rollback = traffic.ok
        wait_for(lambda: traffic.ok > before_rollback + 5, timeout=10, message="traffic on v2")
        resp = svc.http("POST", "/deployments/iris/rollback")
        assert resp.status_code == 202, resp.text
        rolled = _served(svc, "iris", 3)
        after = traffic.ok
        wait_for(lambda: traffic.ok > after + 5, timeout=10, message="traffic after rollback")
    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.ok > 20
    assert updated["scoring_uri"] == rolled["scoring_uri"] == uri
    assert updated["models"] == ["sklearn-iris:2"] and rolled["models"] == ["sklearn-iris:1"]
    history = rolled["history"]
    assert [h["models"] for h in history] == [[v1], [v2], [v1]]
    assert [h["outcome"] for h in history] == ["Served"] * 3
    assert history[0]["ended_time"] and history[1]["ended_time"] and not history[2]["ended_time"]
    assert history[2]["reason"] == "rollback to generation 1"


def test_a_failed_update_keeps_the_old_generation_serving(svc):
    v1 = register_model(svc.workspace, "sklearn-iris", iris_model())
    svc.http("POST", "/deployments", json={"name": "iris-keep", "models": [v1]})
    dep = wait_state(svc, "iris-keep")
    bad = {"entry_script": "score.py",
           "source": {"files": {"score.py": "def init():\n    raise RuntimeError('nope')\n\n"
                                            "def run(data):\n    return data\n"}}}
    resp = svc.http("PATCH", "/deployments/iris-keep", json={"inference_config": bad})
    assert resp.status_code == 202, resp.text
    failed = wait_state(svc, "iris-keep", states=("Failed",))
    assert failed["error"] == "RuntimeError: nope" and failed["served_generation"] == 1
    assert score(dep["scoring_uri"]).json() == {"predict": [0, 2]}


def test_keys_are_required_and_regenerating_one_leaves_the_other_working(svc):
    v1 = register_model(svc.workspace, "sklearn-iris", iris_model())
    resp = svc.http("POST", "/deployments", json={"name": "iris-auth", "models": [v1],
                                                  "deployment_config": {"auth_enabled": True}})
    assert resp.status_code == 202, resp.text
    dep = wait_state(svc, "iris-auth")
    keys = svc.http("GET", "/deployments/iris-auth/keys").json()
    primary, secondary = keys["primary_key"], keys["secondary_key"]
    assert primary != secondary and len(primary) >= 32
    assert score(dep["scoring_uri"]).status_code == 401
    assert score(dep["scoring_uri"], key="wrong").status_code == 401
    assert score(dep["scoring_uri"], key=primary).json() == {"predict": [0, 2]}
    assert score(dep["scoring_uri"], key=secondary).json() == {"predict": [0, 2]}

    assert_error(svc.http("POST", "/deployments/iris-auth/keys/regenerate",
                          json={"key": "Tertiary"}), 400, field="key", contains="Primary, Secondary")
    resp = svc.http("POST", "/deployments/iris-auth/keys/regenerate", json={"key": "primary"})
    assert resp.status_code == 202, resp.text
    new_primary = resp.json()["primary_key"]
    assert new_primary != primary and resp.json()["secondary_key"] == secondary
    _served(svc, "iris-auth", 2)
    assert score(dep["scoring_uri"], key=new_primary).json() == {"predict": [0, 2]}
    assert score(dep["scoring_uri"], key=secondary).json() == {"predict": [0, 2]}
    assert score(dep["scoring_uri"], key=primary).status_code == 401
