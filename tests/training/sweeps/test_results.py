"""Ranking children like HyperDriveRun.get_children_sorted_by_primary_metric."""
import pytest

from training.sweeps import ChildRun, best_child, best_value, sort_children

KERNELS = ["linear", "rbf", "poly", "sigmoid"]
PENALTIES = [0.5, 1, 1.5]


def iris_children():
    """The notebook's 12 runs: every kernel ties at 0.9737 except sigmoid at 0.2368."""
    children = []
    for i, (kernel, penalty) in enumerate((k, p) for k in KERNELS for p in PENALTIES):
        accuracy = 0.2368 if kernel == "sigmoid" else 0.9737
        children.append(ChildRun(f"HD_1_{i}", {"--kernel": kernel, "--penalty": penalty},
                                 [accuracy], "Completed"))
    return children


def ids(rows):
    return [row["run_id"] for row in rows]


def test_ties_keep_child_order_and_sigmoid_comes_last():
    rows = sort_children(iris_children(), "maximize")
    assert ids(rows) == [f"HD_1_{i}" for i in range(12)]
    assert [r["hyperparameters"]["--kernel"] for r in rows[-3:]] == ["sigmoid"] * 3
    assert rows[0] == {"run_id": "HD_1_0", "best_primary_metric": 0.9737, "status": "Completed",
                       "hyperparameters": {"--kernel": "linear", "--penalty": 0.5}}


def test_best_is_max_or_min_of_logged_values():
    children = [ChildRun("a", {}, [0.2, 0.9, 0.5], "Completed"),
                ChildRun("b", {}, [0.6, 0.1], "Completed")]
    assert [r["best_primary_metric"] for r in sort_children(children, "maximize")] == [0.9, 0.6]
    assert [r["best_primary_metric"] for r in sort_children(children, "minimize")] == [0.1, 0.2]
    assert ids(sort_children(children, "minimize")) == ["b", "a"]


def test_children_without_the_metric_come_last_even_reversed():
    children = [ChildRun("none-1", {}, [], "Failed"), ChildRun("low", {}, [0.1], "Completed"),
                ChildRun("high", {}, [0.9], "Canceled"), ChildRun("none-2", {}, [], "Running")]
    assert ids(sort_children(children, "maximize")) == ["high", "low", "none-1", "none-2"]
    assert ids(sort_children(children, "maximize", reverse=True)) == [
        "low", "high", "none-1", "none-2"]
    assert ids(sort_children(children, "maximize", discard_no_metric=True)) == ["high", "low"]
    assert sort_children(children, "maximize")[2]["best_primary_metric"] is None


def test_reverse_keeps_ties_in_child_order():
    rows = sort_children(iris_children(), "maximize", reverse=True)
    assert ids(rows) == [f"HD_1_{i}" for i in (9, 10, 11, *range(9))]


def test_top_limits_the_list():
    assert ids(sort_children(iris_children(), "maximize", top=2)) == ["HD_1_0", "HD_1_1"]
    with pytest.raises(ValueError):
        sort_children(iris_children(), "maximize", top=-1)


def test_best_child_skips_failed_or_canceled_when_asked():
    children = [ChildRun("canceled", {}, [0.99], "Canceled"),
                ChildRun("failed", {}, [0.95], "Failed"),
                ChildRun("ok", {}, [0.9], "Completed"), ChildRun("empty", {}, [], "Completed")]
    assert best_child(children, "maximize")["run_id"] == "canceled"
    assert best_child(children, "maximize", include_canceled=False)["run_id"] == "failed"
    assert best_child(children, "maximize", include_canceled=False,
                      include_failed=False)["run_id"] == "ok"


def test_best_child_is_none_when_nobody_logged_the_metric():
    assert best_child([ChildRun("a", {}, [], "Completed")], "maximize") is None


def test_best_value_ignores_values_that_are_not_numbers():
    assert best_value([float("nan"), 0.3, float("inf"), 0.5], "maximize") == 0.5
    assert best_value([float("nan")], "minimize") is None
