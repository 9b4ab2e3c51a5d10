"""Fixtures for the dashboard: an app on a tmp workspace with runs made by the store's verbs, and
a signed-in test client (the browser tests have their own, in test_browser.py)."""
from __future__ import annotations

import re

import pytest

from tests.conftest import TOKEN

XSS = "<script>alert(1)</script>"


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(client) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    page = client.get("/ui/sign-in").get_data(as_text=True)
    resp = client.post("/ui/sign-in", data={"token": TOKEN, "csrf_token": csrf_of(page),
                                            "next": "/ui/"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/ui/", resp.status_code
    return csrf_of(client.get("/ui/").get_data(as_text=True))


def make_run(store, experiment="exp", arguments=(), tags=None, status="Completed",
             metrics=(), error=None):
    """A run as the agent would leave it: states, metric events, an ending."""
    run = store.create_run(experiment, "train.py", list(arguments), "0" * 64, tags=tags or {})
    if status in ("Running", "Completed", "Failed"):
        store.set_run_state(run.id, "Preparing")
        store.set_run_state(run.id, "Running")
    if metrics:
        store.record_events(run.id, [{"type": "metric", "name": n, "kind": k, "value": v}
                                     for n, k, v in metrics])
    if status in ("Completed", "Failed", "Canceled"):
        store.finish_run(run.id, status, error)
    return store.get_run(run.id)


@pytest.fixture
def store(app):
    return app.config["STORE"]


@pytest.fixture
def browser_client(app):
    """A test client signed in through the form, and its CSRF token."""
    client = app.test_client()
    return client, sign_in(client)
