"""Medians, the markdown table, ratios and targets, and the fixtures every server is given."""
import json

import pytest

from bench.scoring import fixtures, report


def sample(server, workers, rps1, rps1000, p50, rss=100.0, non_2xx=0):
    """A raw sample shaped as run.measure() returns it."""
    return {"server": server, "workers": workers, "startup_s": 1.0, "worker_rss_mib": rss,
            "tree_rss_mib": rss + 20, "workers_seen": workers, "loads": {
                "rows1_c16": {"rps": rps1, "p99_ms": 2.0, "non_2xx": non_2xx, "socket_errors": 0,
                              "cpu_us_per_req": 1e6 / rps1},
                "rows1000_c16": {"rps": rps1000, "p99_ms": 30.0, "non_2xx": 0, "socket_errors": 0,
                                 "cpu_us_per_req": 1e6 / rps1000},
                "rows1_c1": {"rps": 1000.0, "p50_ms": p50, "p99_ms": 2 * p50, "non_2xx": 0,
                             "socket_errors": 0}}}


SAMPLES = [
    sample("azml", 1, 1000, 100, 0.6), sample("azml", 1, 1200, 300, 0.5),
    sample("azml", 1, 1100, 200, 0.7),
    sample("ours", 1, 2000, 250, 0.4), sample("ours", 1, 1500, 350, 0.3, non_2xx=2),
    sample("ours", 1, 1800, 310, 0.45),
]


def test_medians_take_the_middle_value_and_sum_errors():
    table = report.medians(SAMPLES)
    assert table[("azml", 1)]["rows1_c16.rps"] == 1100
    assert table[("azml", 1)]["rows1000_c16.rps"] == 200
    assert table[("ours", 1)]["rows1_c1.p50_ms"] == 0.4
    assert table[("ours", 1)]["rows1_c16.non_2xx"] == 2
    assert table[("ours", 1)]["repetitions"] == 3


def test_ratios_are_ours_over_the_peer():
    figures = report.ratios(report.medians(SAMPLES), "ours", "azml")[1]
    assert figures["rows1_c16.rps"] == pytest.approx(1800 / 1100)
    assert figures["rows1000_c16.rps"] == pytest.approx(310 / 200)
    assert figures["rows1_c1.p50_ms"] == pytest.approx(0.4 / 0.6)
    assert figures["rows1_c16.cpu_us_per_req"] == pytest.approx((1e6 / 1800) / (1e6 / 1100))


def test_targets_report_met_and_missed():
    checks = dict(report.target_checks(report.medians(SAMPLES), [("ours", "azml")]))
    met = {text.split(":")[0]: ok for text, ok in checks.items()}
    assert met["ours 1 row/16 conns ≥ 1.5× azml (1w)"] is True     # 1.64×
    assert met["ours 1000 rows ≥ 1.5× azml (1w)"] is True          # 1.55×
    assert met["ours p50 < 0.5 ms at 1 conn, 1 row (1w)"] is True
    # azml's p50 of 0.6 ms here against 0.55 ms in PEERS.md: the scaled target is 0.545 ms.
    assert met["ours p50 < 0.545 ms, the target scaled to this machine by azml's p50 (1w)"] is True
    slow = report.medians([sample("azml", 1, 1000, 100, 0.6), sample("ours", 1, 1400, 100, 0.6)])
    assert not any(ok for _, ok in report.target_checks(slow, [("ours", "azml")]))


def test_markdown_table_orders_servers_and_flags_errors():
    text = report.render(report.medians(SAMPLES), ["azml", "ours"], [("ours", "azml")])
    rows = [line for line in text.splitlines() if line.startswith("| azml |")
            or line.startswith("| ours |")]
    assert [row.split("|")[1].strip() for row in rows] == ["azml", "ours"]
    assert "1,100" in rows[0] and "⚠2 errors" in rows[1]
    assert "| ours / azml | 1 | 1.64× |" in text
    assert "| 909 / 5000 |" in rows[0]  # CPU µs per request, 1 row / 1000 rows


def test_render_without_the_peer_has_no_ratios():
    text = report.render(report.medians(SAMPLES[3:]), ["ours"], [("ours", "azml")])
    assert "ours / azml" not in text and "| ours | 1 |" in text


def test_the_model_is_the_iris_linear_svc_and_predicts_well():
    model, x_test = fixtures.train_iris_svc()
    assert model.kernel == "linear" and x_test.shape == (38, 4)
    assert model.predict([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]).tolist() == [0, 2]


def test_big_rows_are_exactly_1000_repeated_test_rows():
    _, x_test = fixtures.train_iris_svc()
    rows = fixtures.big_rows(x_test)
    assert rows.shape == (1000, 4)
    assert (rows[38] == x_test[0]).all()


@pytest.mark.parametrize("kind, key", [("azureml", "data"), ("mlflow", "inputs")])
def test_body_files_hold_each_servers_format(tmp_path, kind, key):
    f = fixtures.prepare_fixtures(tmp_path, mlflow_python=None)
    scripts = fixtures.write_body_files(tmp_path, f)
    body = json.loads((tmp_path / f"body-{kind}-big.json").read_text(encoding="utf-8"))
    assert list(body) == [key] and len(body[key]) == 1000
    assert str(tmp_path / f"body-{kind}-one.json") in scripts[(kind, "one")].read_text()
    assert (f.model_dir / "model.joblib").exists() and len(list(f.model_dir.iterdir())) == 1
    assert len(f.expected_big) == 1000


def test_an_unknown_body_kind_is_refused():
    with pytest.raises(ValueError, match="unknown body kind"):
        fixtures.request_body("kserve", [[1.0]])
