"""Early termination on hand-made metric series (one logged value = one interval)."""
import pytest

from training.sweeps import (BanditPolicy, MedianStoppingPolicy, NoTerminationPolicy,
                             TruncationSelectionPolicy, build_policy, parse_sweep_config)


def series_until(children, k):
    """Every child's values as they stood after k intervals."""
    return {cid: values[:k] for cid, values in children.items()}


def test_bandit_stops_a_decreasing_child_and_keeps_the_good_ones():
    children = {
        "good": [0.55, 0.65, 0.73, 0.80],
        "fine": [0.55, 0.62, 0.70, 0.74],
        "falling": [0.60, 0.45, 0.30, 0.20],
    }
    policy = BanditPolicy(evaluation_interval=1, slack_factor=0.1)
    stopped = {}
    for k in range(1, 5):
        for cid, reason in policy.evaluate(series_until(children, k), "maximize").items():
            stopped.setdefault(cid, (k, reason))
    assert set(stopped) == {"falling"}
    k, reason = stopped["falling"]
    assert k == 3  # at 2 the best was 0.65: 0.6 is within 0.65 / 1.1 = 0.59
    assert reason == "BanditPolicy: best 0.6 at interval 3 is below 0.6636 = 0.73 / (1 + 0.1)"


def test_bandit_reason_for_a_child_that_never_got_close():
    children = {"best": [0.6, 0.7, 0.73], "slow": [0.3, 0.45, 0.52]}
    verdicts = BanditPolicy(slack_factor=0.1).evaluate(children, "MAXIMIZE")
    assert verdicts == {
        "slow": "BanditPolicy: best 0.52 at interval 3 is below 0.6636 = 0.73 / (1 + 0.1)"}


def test_bandit_slack_amount_when_minimizing():
    children = {"a": [0.9, 0.5, 0.3], "b": [0.9, 0.6, 0.45], "c": [0.9, 0.7, 0.55]}
    verdicts = BanditPolicy(slack_amount=0.2).evaluate(children, "minimize")
    assert list(verdicts) == ["c"]
    assert verdicts["c"] == "BanditPolicy: best 0.55 at interval 3 is above 0.5 = 0.3 + 0.2"


def test_bandit_waits_for_delay_and_interval():
    children = {"top": [0.9, 0.9, 0.9, 0.9, 0.9], "low": [0.1, 0.1, 0.1, 0.1, 0.1]}
    policy = BanditPolicy(evaluation_interval=2, slack_factor=0.1, delay_evaluation=3)
    assert policy.evaluate(series_until(children, 3), "maximize") == {}
    verdicts = policy.evaluate(series_until(children, 4), "maximize")
    assert "interval 4" in verdicts["low"]
    # Between evaluation points a child is judged at the last one it passed.
    assert "interval 4" in policy.evaluate(children, "maximize")["low"]


def test_bandit_cancels_only_running_children_but_compares_with_all():
    children = {"done": [0.9], "done-bad": [0.2], "running": [0.5]}
    verdicts = BanditPolicy(slack_factor=0.1).evaluate(children, "maximize",
                                                       running={"running"})
    assert list(verdicts) == ["running"]


def test_bandit_compares_runs_at_equal_interval_counts():
    # "late" has logged one value; "long"'s 0.95 at interval 3 does not count against it.
    children = {"long": [0.5, 0.6, 0.95], "late": [0.48]}
    assert BanditPolicy(slack_factor=0.1).evaluate(children, "maximize") == {}


def test_children_without_values_are_left_alone():
    children = {"a": [0.9, 0.9], "silent": [], "nan": [float("nan")]}
    assert BanditPolicy(slack_factor=0.1).evaluate(children, "maximize") == {}


def test_median_stopping_cancels_below_the_median_of_running_averages():
    children = {"a": [1.0, 1.0, 1.0], "b": [0.9, 0.9, 0.9], "c": [0.2, 0.3, 0.4]}
    verdicts = MedianStoppingPolicy().evaluate(children, "maximize")
    assert verdicts == {"c": "MedianStoppingPolicy: best 0.4 at interval 3 is below the median "
                             "0.9 of the running averages of 3 runs"}


def test_median_stopping_uses_averages_not_last_values():
    # b's running average (0.5) is what the median sees, so a's best 0.6 survives.
    children = {"a": [0.6, 0.6], "b": [0.1, 0.9], "c": [0.55, 0.6]}
    verdicts = MedianStoppingPolicy().evaluate(children, "maximize")
    assert "a" not in verdicts and "c" not in verdicts


def test_median_stopping_minimize_with_delay():
    children = {"a": [1.0, 0.5, 0.2], "b": [1.0, 0.6, 0.3], "c": [1.0, 0.9, 0.8]}
    policy = MedianStoppingPolicy(delay_evaluation=3)
    assert policy.evaluate(series_until(children, 2), "minimize") == {}
    assert list(policy.evaluate(children, "minimize")) == ["c"]


def test_truncation_cancels_the_lowest_percentage():
    children = {"a": [0.9, 0.9], "b": [0.8, 0.7], "c": [0.5, 0.6], "d": [0.1, 0.2]}
    verdicts = TruncationSelectionPolicy(truncation_percentage=25).evaluate(children, "maximize")
    assert list(verdicts) == ["d"]
    assert verdicts["d"] == ("TruncationSelectionPolicy: best 0.2 at interval 2 is in the lowest "
                             "25% of 4 runs (the 1 worst; the cut-off is 0.6)")
    assert TruncationSelectionPolicy(50).evaluate(children, "maximize").keys() == {"c", "d"}


def test_truncation_too_few_runs_or_a_tie_at_the_cut_cancels_nothing():
    children = {"a": [0.9], "b": [0.5], "c": [0.5], "d": [0.7]}
    assert TruncationSelectionPolicy(20).evaluate(children, "maximize") == {}  # 20% of 4 < 1
    assert TruncationSelectionPolicy(25).evaluate(children, "maximize") == {}  # b ties c


def test_truncation_minimize_compares_at_equal_intervals():
    children = {"a": [0.1, 0.1, 0.1], "b": [0.2, 0.2], "c": [0.9, 0.8], "d": [0.3]}
    verdicts = TruncationSelectionPolicy(34).evaluate(children, "minimize")
    # At interval 2 three runs compete (a, b, c) and 34% of 3 is one run: c.
    assert list(verdicts) == ["c"]


def test_no_termination_never_cancels():
    assert NoTerminationPolicy().evaluate({"a": [0.0], "b": [1.0]}, "maximize") == {}


@pytest.mark.parametrize("policy, kind", [
    pytest.param({"type": "bandit", "slack_factor": 0.1}, BanditPolicy, id="bandit"),
    pytest.param({"type": "median_stopping", "delay_evaluation": 5}, MedianStoppingPolicy,
                 id="median"),
    pytest.param({"type": "truncation_selection", "truncation_percentage": 10},
                 TruncationSelectionPolicy, id="truncation"),
    pytest.param(None, NoTerminationPolicy, id="none"),
])
def test_build_policy_follows_the_config(policy, kind):
    body = {"sampling": {"type": "random", "space": {"--c": "choice(1,2)"}},
            "primary_metric": {"name": "Accuracy", "goal": "maximize"}, "max_total_runs": 2,
            "policy": policy}
    assert isinstance(build_policy(parse_sweep_config(body).policy), kind)
