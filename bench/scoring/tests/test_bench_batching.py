"""The micro-batching bench's medians and its issue-18 targets (each can fail)."""
from bench.scoring import batching


def sample(model, server, rps, p50_c1, p99_c16, rep=0):
    """A raw sample shaped as batching.measure() returns it."""
    figures = {"non_2xx": 0, "socket_errors": 0, "cpu_us_per_req": 1e6 / rps}
    return {"rep": rep, "model": model, "server": server, "loadavg_1m": 1.0, "loads": {
        "rows1_c16": {**figures, "rps": rps, "p50_ms": 5.0, "p99_ms": p99_c16},
        "rows1_c1": {**figures, "rps": 100.0, "p50_ms": p50_c1, "p99_ms": 2 * p50_c1}}}


PREDICT = {"forest": {"1": 10.0, "16": 11.0}, "svc": {"1": 0.1, "16": 0.1}}


def checks(forest_ours: float, svc_ours: float, p50_svc_ours: float, p99_forest: float) -> list[bool]:
    samples = [sample("forest", "azmlinfsrv", 100, 10.0, 500), sample("forest", "bentoml", 300, 20.0, 400),
               sample("forest", "ours-batched", forest_ours, 10.0, p99_forest),
               sample("forest", "ours-unbatched", 120, 10.0, 900),
               sample("svc", "ours-batched", svc_ours, p50_svc_ours, 5.0),
               sample("svc", "ours-unbatched", 1000, 0.50, 20.0)]
    return [met for _, met in batching.targets(batching.medians(samples), PREDICT)]


def test_every_target_met():
    assert all(checks(forest_ours=600, svc_ours=1300, p50_svc_ours=0.52, p99_forest=20.0))


def test_each_target_can_fail():
    assert checks(forest_ours=400, svc_ours=1300, p50_svc_ours=0.52, p99_forest=20.0)[0] is False
    assert checks(forest_ours=250, svc_ours=1300, p50_svc_ours=0.52, p99_forest=20.0)[1] is False
    assert checks(forest_ours=600, svc_ours=1100, p50_svc_ours=0.52, p99_forest=20.0)[2] is False
    assert checks(forest_ours=600, svc_ours=1300, p50_svc_ours=0.60, p99_forest=20.0)[6] is False
    assert checks(forest_ours=600, svc_ours=1300, p50_svc_ours=0.52, p99_forest=25.0)[5] is False


def test_the_report_has_one_row_per_model_and_server():
    samples = [sample("svc", "ours-batched", 1000, 0.5, 5.0, rep) for rep in range(3)]
    text = batching.render(batching.medians(samples), {"svc": PREDICT["svc"]})
    assert text.count("| svc | ours-batched | 1,000 |") == 1
