"""The dashboard in a real headless Chromium (Debian's, driven by Selenium) against a real
service (gunicorn + agent) on 127.0.0.1: one service and one browser for the module, a few
end-to-end flows that reuse each other's runs. Every test saves a screenshot under tmp_path."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.conftest import REPO, TOKEN, Service, free_port, make_snapshot
from tests.polling import wait_for
from tests.service.test_deployments_support import kill_leftovers

TRAIN_IRIS = (REPO / "training" / "train_iris.py").read_text()
IRIS_ARGS = ["--kernel", "linear", "--penalty", "1.0"]
LOSS = [0.9, 0.7, 0.5, 0.4, 0.3, 0.25, 0.2]
TWO_FLOWERS = {"data": [[5.1, 3.5, 1.4, 0.2], [6.5, 3.0, 5.5, 1.8]]}
# A run that logs a list metric, then waits (Running) until the test opens its gate.
GATED = ("import os, sys, time\nfrom azureml.core.run import Run\nrun = Run.get_context()\n"
         f"run.log_list('loss', {LOSS!r})\nprint('waiting for the gate', flush=True)\n"
         "while not os.path.exists(sys.argv[-1]):\n    time.sleep(0.05)\n"
         "print('released', flush=True)\n")
# A sweep child in a blink: Accuracy as train_iris would log it for that kernel.
SCORED = ("import argparse\nfrom azureml.core.run import Run\np = argparse.ArgumentParser()\n"
          "p.add_argument('--kernel')\nkernel = p.parse_args().kernel\n"
          "Run.get_context().log('Accuracy', {'linear': 0.9737, 'sigmoid': 0.2368}[kernel])\n")
RECORDER = """
window.seen = {};
function record() {
  document.querySelectorAll('#runs-body tr[data-run-id]').forEach(function (row) {
    var st = row.querySelector('.status').textContent, list = window.seen[row.dataset.runId] || [];
    if (list[list.length - 1] !== st) list.push(st);
    window.seen[row.dataset.runId] = list;
  });
}
record();
new MutationObserver(record).observe(document.getElementById('runs'),
  {subtree: true, childList: true, characterData: true});
window.notReloaded = true;
"""


def prepare_browser() -> dict[str, str]:
    """docker/prepare-browser.sh: Debian's chromium and chromedriver, installed if missing."""
    done = subprocess.run([str(REPO / "docker" / "prepare-browser.sh")], capture_output=True,
                          text=True, timeout=900)
    if done.returncode != 0:
        pytest.skip(f"no headless Chromium here: {done.stderr.strip()[-300:]}")
    return dict(line.split("=", 1) for line in done.stdout.split())


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    """One real service for the module; one run at a time, so a run can wait Queued."""
    service = Service(tmp_path_factory.mktemp("dash") / "ws", free_port()).start(
        AMLOCAL_MAX_CONCURRENT_RUNS="1")
    yield service
    service.stop()
    kill_leftovers(service.workspace)


@pytest.fixture(scope="module")
def browser():
    paths = prepare_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = paths["chromium"]
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,800"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=DriverService(paths["chromedriver"]))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def gate_dir():
    """A folder the sandboxed script can see (it sees the host read-only under /var/tmp)."""
    folder = Path(tempfile.mkdtemp(prefix="amlocal-dash-", dir="/var/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def state() -> dict:
    """What one flow leaves for the next (run ids, the sweep's id)."""
    return {}


@pytest.fixture
def shot(browser, tmp_path):
    """Save a screenshot of the page now, under tmp_path (and, whole page, into
    $AMLOCAL_DASHBOARD_SCREENSHOTS when set: how README's pictures are made)."""

    def save(name: str) -> None:
        path = tmp_path / name
        browser.save_screenshot(str(path))
        assert path.stat().st_size > 1000
        folder = os.environ.get("AMLOCAL_DASHBOARD_SCREENSHOTS")
        if folder:
            height = browser.execute_script("return document.documentElement.scrollHeight")
            browser.set_window_size(1280, min(height + 140, 2400))
            browser.save_screenshot(str(Path(folder) / name))
            browser.set_window_size(1280, 800)
    return save


def text(browser, css: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, css).text


def test_sign_in_then_watch_train_iris_go_queued_running_completed(svc, browser, gate_dir,
                                                                    state, shot):
    gate = gate_dir / "open"
    gated = svc.submit({"gated.py": GATED}, "gated.py", ["--kernel", "rbf", "--penalty", "1.0",
                                                         str(gate)], experiment="iris")
    browser.get(svc.url + "/ui/experiments/iris")
    assert "/ui/sign-in" in browser.current_url  # no session yet
    field = browser.switch_to.active_element  # the token field has the focus: keyboard only
    assert field.get_attribute("name") == "token"
    field.send_keys(TOKEN + Keys.ENTER)
    wait_for(lambda: browser.current_url.endswith("/ui/experiments/iris"), message="signed in")
    cookie = browser.get_cookie("amlocal_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    svc.wait_run(gated["id"], statuses=("Running",))
    browser.execute_script(RECORDER)
    iris = svc.submit({"train_iris.py": TRAIN_IRIS}, "train_iris.py", IRIS_ARGS,
                      experiment="iris", tags={"note": "<script>alert(1)</script>"})
    seen = lambda: browser.execute_script("return window.seen[arguments[0]] || []", iris["id"])
    wait_for(lambda: "Queued" in seen(), timeout=30, message="the new row, Queued")

    browser.switch_to.new_window("tab")  # the gated run's page follows its log live
    browser.get(svc.url + f"/ui/runs/{gated['id']}")
    wait_for(lambda: "waiting for the gate" in text(browser, "#log"), message="log so far")
    gate.touch()
    wait_for(lambda: "released" in text(browser, "#log"), timeout=60, message="live log")
    wait_for(lambda: text(browser, "#run-status") == "Completed", message="live run state")
    browser.close()
    browser.switch_to.window(browser.window_handles[0])

    wait_for(lambda: "Completed" in seen(), timeout=120, message="train_iris Completed")
    order = [s for s in seen() if s in ("Queued", "Running", "Completed")]
    assert order == ["Queued", "Running", "Completed"], seen()
    assert browser.execute_script("return window.notReloaded") is True
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-run-id="{iris["id"]}"]')
    assert "<script>alert(1)</script>" in row.text  # the tag shows as text, not run
    assert row.find_element(By.CSS_SELECTOR, ".start").text  # its start time, filled in live
    assert text(browser, "#run-count").startswith("2 runs")
    state.update(iris=iris["id"], gated=gated["id"])
    state["sweep"] = svc.http("POST", "/experiments/iris-sweep/sweeps", files={
        "snapshot": ("s.tar.gz", make_snapshot({"score.py": SCORED}))}, data={
        "config": json.dumps({"script": "score.py", "sampling": {"type": "grid", "space": {
            "--kernel": ["choice", [["sigmoid", "linear"]]]}},
            "primary_metric": {"name": "Accuracy", "goal": "maximize"},
            "max_total_runs": 2, "max_concurrent_runs": 1})}).json()["id"]
    made = svc.http("POST", "/models", json={  # deployed now, comes up while the others run
        "name": "iris-web", "run_id": iris["id"], "path": "outputs/model.joblib",
        "framework": "ScikitLearn", "sample_input": TWO_FLOWERS["data"]})
    assert made.status_code == 201, made.text
    made = svc.http("POST", "/deployments", json={"name": "iris-web", "models": ["iris-web:1"],
                                                  "deployment_config": {"auth_enabled": True}})
    assert made.status_code == 202, made.text
    shot("dashboard-runs.png")


def test_run_page_shows_accuracy_and_every_point_of_a_list_metric(svc, browser, state, shot):
    from amlocal.client import Client

    page = svc.url + f"/ui/runs/{state['iris']}"
    assert svc.run(state["iris"])["url"] == page
    printed = io.StringIO()  # the CLI's `Web View:` line, as `run submit --wait` prints it
    Client(svc.url, TOKEN).wait_for_run(svc.run(state["iris"]), out=printed)
    assert f"Web View: {page}\n" in printed.getvalue()
    browser.get(svc.run(state["gated"])["url"])
    chart = browser.find_element(By.CSS_SELECTOR, 'figure[data-metric="loss"]')
    assert len(chart.find_elements(By.CSS_SELECTOR, "circle.pt")) == len(LOSS)
    shot("dashboard-run.png")
    browser.get(svc.run(state["iris"])["url"])
    card = browser.find_element(By.CSS_SELECTOR, '.metric[data-metric="Accuracy"] .metric-value')
    assert card.text == "0.9737"
    assert "Accuracy: 0.9737" in text(browser, "#log")
    browser.find_element(By.LINK_TEXT, "Register model").click()  # the outputs file's action
    browser.find_element(By.ID, "model-name").send_keys("iris-ui")
    browser.find_element(By.ID, "register-button").click()
    wait_for(lambda: browser.current_url.endswith("/ui/models/iris-ui/1"), timeout=60,
             message="the model page")
    assert state["iris"] in text(browser, "#lineage")  # its run, back from the model
    shot("dashboard-model.png")
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:  # JavaScript off: the page still reads (log, metrics, chart are the server's HTML)
        browser.get(svc.url + f"/ui/runs/{state['gated']}")
        assert "released" in text(browser, "#log")
        assert len(browser.find_elements(By.CSS_SELECTOR, "circle.pt")) == len(LOSS)
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("class") != "js"
    finally:
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
    browser.get(svc.url + f"/ui/runs/{state['gated']}")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("class") == "js"  # (can fail)
    browser.set_window_size(420, 900)  # a narrow window: the page does not scroll sideways
    try:
        assert browser.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1")
    finally:
        browser.set_window_size(1280, 800)


def test_compare_shows_only_the_differing_arguments(svc, browser, state, shot):
    browser.get(svc.url + "/ui/experiments/iris")
    ActionChains(browser).send_keys(Keys.TAB).perform()  # the keyboard starts at "skip to content"
    assert browser.switch_to.active_element.text == "Skip to content"
    boxes = [f'input[value="{run_id}"]' for run_id in (state["iris"], state["gated"])]
    for box in boxes:
        browser.find_element(By.CSS_SELECTOR, box).click()
    wait_for(lambda: all(browser.find_element(By.CSS_SELECTOR, b).is_selected() for b in boxes),
             message="both runs ticked")
    browser.find_element(By.ID, "compare-button").click()
    wait_for(lambda: browser.find_elements(By.ID, "only-diff"), message="the compare page")
    browser.find_element(By.ID, "only-diff").click()
    args = browser.find_elements(By.CSS_SELECTOR, 'tbody[data-section="Arguments"] tr.differs')
    assert [r.get_attribute("data-name") for r in args] == ["--kernel", "[4]"]
    assert not browser.find_elements(By.CSS_SELECTOR, 'tr[data-name="--penalty"]')
    shot("dashboard-compare.png")


def test_the_sweep_page_marks_the_best_child(svc, browser, state, shot):
    svc.wait_run(state["sweep"], timeout=180)
    best = svc.http("GET", f"/runs/{state['sweep']}/best").json()
    browser.get(svc.url + f"/ui/runs/{state['sweep']}")
    marked = browser.find_elements(By.CSS_SELECTOR, "#sweep-children tr.best")
    assert [r.get_attribute("data-run-id") for r in marked] == [best["run_id"]]
    assert "best" in marked[0].text and "linear" in marked[0].text
    first = browser.find_element(By.CSS_SELECTOR, "#sweep-children tbody tr")
    assert first.get_attribute("data-run-id") == best["run_id"]  # sorted by Accuracy
    assert browser.find_elements(By.CSS_SELECTOR, "svg.parallel polyline.pc-line.best")
    shot("dashboard-sweep.png")


def test_register_deploy_test_tab_and_rollback(svc, browser, state, shot):
    served = lambda generation: wait_for(lambda: (d := svc.http("GET", "/deployments/iris-web")
                                                  .json())["served_generation"] == generation
                                         and d["state"] == "Healthy" and d, timeout=120,
                                         message=f"generation {generation} served")
    served(1)
    assert svc.http("PATCH", "/deployments/iris-web",  # the version the run page registered
                    json={"models": ["iris-ui:1"]}).status_code == 202
    served(2)

    browser.get(svc.url + "/ui/deployments/iris-web#test")
    body = browser.find_element(By.ID, "test-body")
    assert "data" in json.loads(body.get_attribute("value"))  # the swagger example
    body.clear()
    body.send_keys(json.dumps(TWO_FLOWERS))
    browser.find_element(By.ID, "test-send").click()
    wait_for(lambda: browser.find_elements(By.ID, "test-answer"), timeout=60, message="answer")
    assert json.loads(text(browser, "#test-answer")) == {"predict": [0, 2]}
    assert text(browser, "#test-status") == "200"
    shot("dashboard-deployment.png")

    keys = svc.http("GET", "/deployments/iris-web/keys").json()
    uri = svc.http("GET", "/deployments/iris-web").json()["scoring_uri"]
    browser.find_element(By.CSS_SELECTOR, 'a[data-tab="consume"]').click()
    assert uri in text(browser, "#consume") and keys["primary_key"] in text(browser, "#consume")
    browser.find_element(By.CSS_SELECTOR, 'a[data-tab="overview"]').click()
    assert "••••" in text(browser, "#keys") and keys["primary_key"] not in text(browser, "#keys")
    browser.find_element(By.CSS_SELECTOR, "#keys details summary").click()  # Reveal
    assert text(browser, '#keys [data-key="Primary"]') == keys["primary_key"]
    browser.find_element(By.ID, "rollback").click()
    wait_for(lambda: text(browser, "#dep-served") == "3" and text(browser, "#dep-state") ==
             "Healthy", timeout=120, message="the rollback served, seen live on the page")
    assert served(3)["models"] == ["iris-web:1"]
    browser.get(svc.url + "/ui/models/iris-web/1")  # the model's lineage, forward
    assert "Deployments: iris-web" in text(browser, "#lineage")
