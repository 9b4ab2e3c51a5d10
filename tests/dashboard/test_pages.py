"""The dashboard's pages through Flask's test client: access, CSRF, cookies, escaping, and what
each page shows. The browser flows are in test_browser.py."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import TOKEN
from tests.dashboard.conftest import XSS, csrf_of, make_run

STATIC = Path(__file__).resolve().parents[2] / "service" / "dashboard" / "static"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize("path", ["/", "/ui/", "/ui/experiments/exp", "/ui/runs/x",
                                  "/ui/compare?run=a&run=b", "/ui/models", "/ui/deployments",
                                  "/ui/deployments/d/state", "/ui/runs/x/log-events"])
def test_a_page_without_a_session_goes_to_sign_in(app, path):
    resp = app.test_client().get(path, headers={"Authorization": "Bearer wrong"})
    assert resp.status_code == 302, resp.status_code
    assert resp.headers["Location"].startswith("/ui/sign-in") or path == "/"
    assert resp.mimetype != "application/json"


def test_sign_in_sets_a_strict_httponly_session_and_sign_out_ends_it(app):
    client = app.test_client()
    page = client.get("/ui/sign-in").get_data(as_text=True)
    wrong = client.post("/ui/sign-in", data={"token": "nope", "csrf_token": csrf_of(page)})
    assert wrong.status_code == 401 and "not this workspace" in wrong.get_data(as_text=True)
    resp = client.post("/ui/sign-in", data={"token": TOKEN, "csrf_token": csrf_of(page),
                                            "next": "/ui/models"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/ui/models"
    cookie = resp.headers["Set-Cookie"]
    assert "amlocal_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert TOKEN not in cookie
    home = client.get("/ui/")
    assert home.status_code == 200 and "Experiments" in home.get_data(as_text=True)
    out = client.post("/ui/sign-out", data={"csrf_token": csrf_of(home.get_data(as_text=True))})
    assert out.status_code == 302
    assert client.get("/ui/").status_code == 302


def test_sign_in_goes_only_to_a_page_of_this_site(app):
    client = app.test_client()
    page = client.get("/ui/sign-in").get_data(as_text=True)
    resp = client.post("/ui/sign-in", data={"token": TOKEN, "csrf_token": csrf_of(page),
                                            "next": "//evil.example/x"})
    assert resp.headers["Location"] == "/ui/"


def test_a_post_without_the_csrf_token_is_403(app, browser_client):
    client, csrf = browser_client
    for path in ("/ui/sign-out", "/ui/deployments/dep/rollback", "/ui/runs/r/register"):
        assert client.post(path).status_code == 403, path
        assert client.post(path, data={"csrf_token": "forged"}).status_code == 403, path
    assert app.test_client().post("/ui/sign-in", data={"token": TOKEN}).status_code == 403
    # with the token the form goes through (and the domain answers: no such deployment)
    assert client.post("/ui/deployments/dep/rollback", data={"csrf_token": csrf}).status_code == 404


def test_the_bearer_header_reads_pages_without_a_session(app, store):
    run = make_run(store)
    resp = app.test_client().get("/ui/experiments/exp", headers=BEARER)
    assert resp.status_code == 200 and f'data-run-id="{run.id}"' in resp.get_data(as_text=True)
    with_form = app.test_client().post("/ui/deployments/nope/rollback", headers=BEARER)
    assert with_form.status_code == 404  # a bearer POST needs no CSRF token (no cookie is used)


def test_a_script_tag_value_renders_as_text(app, store, browser_client):
    client, _ = browser_client
    run = make_run(store, tags={"note": XSS}, arguments=["--x", XSS],
                   metrics=[("m", "scalar", XSS)], error={"message": XSS, "stderr_tail": XSS})
    for path in ("/ui/experiments/exp", f"/ui/runs/{run.id}"):
        html = client.get(path).get_data(as_text=True)
        assert XSS not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    assert "script-src 'self'" in client.get("/ui/").headers["Content-Security-Policy"]


def test_experiments_show_counts_last_status_and_activity(store, browser_client):
    client, _ = browser_client
    make_run(store, "a")
    make_run(store, "a", status="Failed", error={"message": "boom"})
    html = client.get("/ui/").get_data(as_text=True)
    row = re.search(r'href="/ui/experiments/a">a</a></td>\s*<td class="num">(\d+)</td>\s*'
                    r'<td><span class="status s-(\w+)"', html)
    assert row and row.groups() == ("2", "Failed"), html


def _ids(html: str) -> list[str]:
    return re.findall(r'<tr data-run-id="([^"]+)"', html)


def test_runs_table_sorts_by_a_metric_filters_and_pages_on_the_server(store, browser_client):
    client, _ = browser_client
    runs = [make_run(store, arguments=["--i", str(i)], tags={"even": str(i % 2 == 0)},
                     metrics=[("acc", "scalar", i / 100), ("acc", "scalar", 1 - i / 100)])
            for i in range(30)]
    failed = make_run(store, status="Failed", error={"message": "x"})
    page1 = client.get("/ui/experiments/exp?per_page=25").get_data(as_text=True)
    assert "31 runs · page 1 of 2" in page1
    assert _ids(page1) == [failed.id] + [r.id for r in reversed(runs)][:24]
    page2 = _ids(client.get("/ui/experiments/exp?per_page=25&page=2").get_data(as_text=True))
    assert page2 == [r.id for r in reversed(runs[:6])]
    by_min = _ids(client.get("/ui/experiments/exp?sort=m:min:acc&order=asc&per_page=25")
                  .get_data(as_text=True))
    assert by_min[:2] == [runs[0].id, runs[1].id] and failed.id not in by_min  # empties last
    by_last = _ids(client.get("/ui/experiments/exp?sort=m:last:acc&order=desc&per_page=25")
                   .get_data(as_text=True))
    assert by_last[0] == runs[0].id  # its last value is 1.0
    only = _ids(client.get("/ui/experiments/exp?status=Failed").get_data(as_text=True))
    assert only == [failed.id]
    tagged = _ids(client.get("/ui/experiments/exp?tag=even=True&per_page=100")
                  .get_data(as_text=True))
    assert sorted(tagged) == sorted(r.id for r in runs[::2])
    rows = client.get("/ui/experiments/exp?partial=rows&status=Failed").get_data(as_text=True)
    assert rows.lstrip().startswith("<tr") and _ids(rows) == [failed.id]


def test_run_page_has_cards_charts_with_every_point_tables_error_and_log(app, store,
                                                                         browser_client):
    client, _ = browser_client
    run = make_run(store, status="Failed", arguments=["--kernel", "rbf"], metrics=[
        ("Accuracy", "scalar", 0.9737), ("loss", "list", [0.9, 0.5, 0.3, 0.2, 0.1]),
        ("roc", "row", {"fpr": 0.0, "tpr": 0.0}), ("roc", "row", {"fpr": 1.0, "tpr": 1.0})],
        error={"message": "Script exited with code 1", "exit_code": 1,
               "stderr_tail": "ValueError: bad kernel"})
    log = app.config["WORKSPACE"].run_dir(run.id) / "user_logs" / "std_log.txt"
    log.parent.mkdir(parents=True)
    log.write_text("epoch 1\nepoch 2\n")
    (log.parent.parent / "outputs").mkdir()
    (log.parent.parent / "outputs" / "table.csv").write_text("a,b\n1,<i>2</i>\n")
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    (log.parent.parent / "plot.png").write_bytes(png)
    store.record_events(run.id, [{"type": "metric", "name": "plot", "kind": "image",
                                  "value": f"aml://artifactId/ExperimentRun/dcid.{run.id}/plot.png"}])
    html = client.get(f"/ui/runs/{run.id}").get_data(as_text=True)
    assert f'<img class="preview" src="/ui/runs/{run.id}/raw/plot.png" alt="plot">' in html
    with client.get(f"/ui/runs/{run.id}/raw/plot.png") as image:
        assert image.mimetype == "image/png" and image.data == png
        assert "sandbox" in image.headers["Content-Security-Policy"]
    card = re.search(r'data-metric="Accuracy">.*?metric-value">([^<]+)<', html, re.S)
    assert card and card.group(1) == "0.9737"
    chart = re.search(r'data-metric="loss" data-count="(\d+)">(.*?)</figure>', html, re.S)
    assert chart and chart.group(1) == "5" and chart.group(2).count('<circle class="pt"') == 5
    assert "ValueError: bad kernel" in html and "exit code 1" in html
    assert "epoch 1\nepoch 2" in html and "data-follow" not in html  # ended: nothing to follow
    assert "<th scope=\"col\">fpr</th>" in html
    preview = client.get(f"/ui/runs/{run.id}/files/outputs/table.csv").get_data(as_text=True)
    assert "<td>&lt;i&gt;2&lt;/i&gt;</td>" in preview
    with client.get(f"/ui/runs/{run.id}/raw/outputs/table.csv?download=1") as raw:
        assert raw.data == b"a,b\n1,<i>2</i>\n"
        assert "attachment" in raw.headers["Content-Disposition"]
    assert client.get(f"/ui/runs/{run.id}/files/..%2Fx").status_code in (400, 404)


def test_compare_shows_only_the_differing_arguments(store, browser_client):
    client, _ = browser_client
    a = make_run(store, arguments=["--kernel", "linear", "--penalty", "1.0"], tags={"t": "1"},
                 metrics=[("loss", "list", [3, 2, 1])])
    b = make_run(store, arguments=["--kernel", "rbf", "--penalty", "1.0"], tags={"t": "1"},
                 metrics=[("loss", "list", [4, 3])])
    html = client.get(f"/ui/compare?run={a.id}&run={b.id}&only=1").get_data(as_text=True)
    shown = re.findall(r'<tr class="differs" data-name="([^"]+)"', html)
    assert shown == ["--kernel"] and 'data-name="--penalty"' not in html
    everything = client.get(f"/ui/compare?run={a.id}&run={b.id}").get_data(as_text=True)
    assert 'data-name="--penalty"' in everything
    chart = re.search(r'<svg class="chart".*?</svg>', everything, re.S).group(0)
    assert re.findall(r'data-series="([^"]+)"', chart) == [a.id, b.id]  # one chart, both runs
    assert chart.count('<circle class="pt"') == 5
    one = client.get(f"/ui/compare?run={a.id}")
    assert one.status_code == 400 and "Select 2 to 10" in one.get_data(as_text=True)


def test_an_unknown_run_is_a_404_page_not_json(browser_client):
    client, _ = browser_client
    resp = client.get("/ui/runs/nope")
    assert resp.status_code == 404 and resp.mimetype == "text/html"
    assert "not found" in resp.get_data(as_text=True)


def test_every_resource_json_carries_its_page_url(client, store):
    run = make_run(store)
    assert client.get(f"/runs/{run.id}").get_json()["url"] == f"http://localhost/ui/runs/{run.id}"
    assert client.get("/experiments").get_json()["experiments"][0]["url"] == \
        "http://localhost/ui/experiments/exp"


def test_the_assets_are_ours_and_small():
    total = sum(p.stat().st_size for p in STATIC.iterdir() if p.suffix in (".js", ".css"))
    assert 0 < total < 300 * 1024
    for page in (STATIC.parent / "templates").iterdir():
        assert "http://" not in page.read_text() and "https://" not in page.read_text(), page


def test_the_sweep_page_ranks_children_marks_the_best_and_the_early_terminated(store,
                                                                              browser_client):
    from service.sweeps import stored_config

    client, _ = browser_client
    config, notes = stored_config({
        "sampling": {"type": "grid", "space": {"--x": ["choice", [[1, 2, 3]]]}},
        "primary_metric": {"name": "score", "goal": "maximize"}, "max_total_runs": 3,
        "policy": {"type": "bandit", "slack_factor": 0.1, "evaluation_interval": 1}})
    parent = store.create_sweep("sw", "HD_test", "t.py", [], "0" * 64, config, notes)
    kids = [store.create_child(parent, i, {"--x": i + 1}, ["--x", str(i + 1)]) for i in range(3)]
    for kid, score in zip(kids, (0.5, 0.9)):
        store.record_events(kid.id, [{"type": "metric", "name": "score", "kind": "scalar",
                                      "value": score}])
        store.finish_run(kid.id, "Completed")
    store.cancel_child(kids[2].id, "Bandit policy: 0.1 is outside the slack")
    html = client.get(f"/ui/runs/{parent.id}").get_data(as_text=True)
    order = re.findall(r'<tr data-run-id="([^"]+)" class="([^"]*)"', html)
    assert [i for i, _ in order[:2]] == [kids[1].id, kids[0].id]  # by score, best first
    assert dict(order)[kids[1].id] == "best"
    assert "terminated" in dict(order)[kids[2].id]
    assert "early-terminated: Bandit policy: 0.1 is outside the slack" in html
    assert html.count('class="pc-line best"') == 1
