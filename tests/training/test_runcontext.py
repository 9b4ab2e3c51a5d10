"""The in-script run object: Azure ML's value rules, events written as calls happen."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from training.metrics import fold
from training.runcontext import AmlocalRun, UserErrorException, convert_value, from_environment


@pytest.fixture
def run(tmp_path: Path) -> AmlocalRun:
    return AmlocalRun("exp_1_abc", "exp", tmp_path / "run", fold)


def events(run_dir: Path) -> list[dict]:
    """The events file's lines."""
    lines = (run_dir / ".amlocal" / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("value, expected", [
    (1, 1), (0.5, 0.5), ("s", "s"), (True, True), (None, None),
    (np.float64(0.25), 0.25), (np.float32(0.5), 0.5), (np.int32(3), 3), (np.uint8(4), 4),
    (np.bool_(True), True), (np.str_("k"), "k"),
    (np.int64(5), repr(np.int64(5))), ({"a": 1}, "{'a': 1}"), ((1, 2), "(1, 2)"),
], ids=lambda v: type(v).__name__)
def test_value_conversion_follows_azure(value: object, expected: object) -> None:
    converted = convert_value(value)
    assert converted == expected and type(converted) is type(expected)


@pytest.mark.parametrize("value", [[1, 2], range(3), (i for i in range(2))],
                         ids=["list", "range", "generator"])
def test_log_refuses_lists_with_azure_message(run: AmlocalRun, value: object) -> None:
    with pytest.raises(UserErrorException,
                       match="run.log does not support list type. Use run.log_list instead"):
        run.log("x", value)


def test_every_call_is_an_event_and_metrics_read_back(run: AmlocalRun, tmp_path: Path) -> None:
    run.log("acc", np.float64(0.5), step=1)
    run.log("acc", 0.75)
    run.log_list("l", [np.int16(1), 2])
    run.log_row("t", x=1, y="a")
    run.log_table("tab", {"a": [1, 2], "b": [3, 4]})
    run.tag("stage", "dev")
    run.set_tags({"k": 1, "none": None})
    run.add_properties({"p": "v"})
    run.add_properties({})
    assert run.get_metrics() == {"acc": [0.5, 0.75], "l": [1, 2], "t": {"x": 1, "y": "a"},
                                 "tab": {"a": [1, 2], "b": [3, 4]}}
    assert run.get_metrics("acc") == {"acc": [0.5, 0.75]}
    assert run.get_metrics(recursive=True) == {"exp_1_abc": run.get_metrics()}
    assert run.get_tags() == {"stage": "dev", "k": "1", "none": None}
    assert run.get_properties() == {"p": "v"}
    written = events(tmp_path / "run")
    assert [e["type"] for e in written] == ["metric"] * 5 + ["tags", "tags", "properties"]
    assert written[0] == {"type": "metric", "name": "acc", "kind": "scalar", "value": 0.5,
                          "step": 1, "description": "", "ts": written[0]["ts"]}
    assert fold(written) == run.get_metrics()


def test_remove_tags(run: AmlocalRun, tmp_path: Path) -> None:
    run.set_tags({"a": "1", "b": "2"})
    run.remove_tags(["a"])
    assert run.get_tags() == {"b": "2"} == run.tags
    assert events(tmp_path / "run")[-1]["removed"] == ["a"]


def test_properties_are_add_only(run: AmlocalRun) -> None:
    run.add_properties({"a": "1"})
    run.add_properties({"a": "1"})
    with pytest.raises(UserErrorException, match="immutable"):
        run.add_properties({"a": "2"})


@pytest.mark.parametrize("call", [
    lambda r: r.log_row("t", x=[1, 2]),
    lambda r: r.log_table("t", {"a": [1], "b": [1, 2]}),
    lambda r: r.log_table("t", [1, 2]),
    lambda r: r.log("", 1),
    lambda r: (r.log("m", 1), r.log_row("m", a=1)),
], ids=["row-list-cell", "table-ragged", "table-not-dict", "empty-name", "family-clash"])
def test_bad_metric_calls(run: AmlocalRun, call) -> None:
    with pytest.raises(UserErrorException):
        call(run)


def test_upload_file_path_and_stream(run: AmlocalRun, tmp_path: Path) -> None:
    source = tmp_path / "src.txt"
    source.write_text("hello")
    run.upload_file("outputs/copy.txt", str(source))
    run.upload_file("report/bytes.bin", io.BytesIO(b"\x00\x01"))
    run_dir = tmp_path / "run"
    assert (run_dir / "outputs/copy.txt").read_text() == "hello"
    assert (run_dir / "report/bytes.bin").read_bytes() == b"\x00\x01"
    assert [e for e in events(run_dir) if e["type"] == "file"][0]["size"] == 5
    assert run.get_file_names() == ["outputs/copy.txt", "report/bytes.bin"]
    for bad in ("../escape.txt", ".amlocal/events.jsonl", "wd/x", ""):
        with pytest.raises(UserErrorException, match="invalid artifact name"):
            run.upload_file(bad, str(source))
    with pytest.raises(TypeError, match="equal lengths"):
        run.upload_files(["a"], [])


def test_status_calls(run: AmlocalRun, tmp_path: Path) -> None:
    run.fail(error_details="bad data", error_code="DataError")
    assert run.get_status() == "Failed"
    last = events(tmp_path / "run")[-1]
    assert last["status"] == "Failed"
    assert last["error"] == {"message": "bad data", "code": "DataError"}
    run.complete()
    assert events(tmp_path / "run")[-1]["status"] == "Completed"


def test_identity_and_environment(tmp_path: Path) -> None:
    env = {"AZUREML_RUN_ID": "e_1_x", "AZUREML_ARM_PROJECT_NAME": "e",
           "AMLOCAL_RUN_DIR": str(tmp_path)}
    run = from_environment(fold, env)
    assert (run.id, run.experiment.name) == ("e_1_x", "e")
    with pytest.raises(UserErrorException, match="AMLOCAL_RUN_DIR"):
        from_environment(fold, {"AZUREML_RUN_ID": "x"})


class FakeFigure:
    """Stands in for a matplotlib figure: only savefig is used."""

    def savefig(self, handle, format: str) -> None:
        handle.write(b"PNG" + format.encode())


def test_images_and_json_metrics_become_run_files(run: AmlocalRun, tmp_path: Path) -> None:
    image = tmp_path / "roc.jpg"
    image.write_bytes(b"jpeg")
    run.log_image("roc", path=str(image))
    run.log_image("loss", plot=FakeFigure())
    run.log_confusion_matrix("cm", {"class_labels": [0, 1], "matrix": [[1, 0], [0, 1]]})
    run.log_predictions("pred", '{"bin_averages": [1]}')
    run_dir = tmp_path / "run"
    assert (run_dir / "roc.jpg").read_bytes() == b"jpeg"
    assert (run_dir / "loss.png").read_bytes() == b"PNGpng"
    assert json.loads((run_dir / "cm.json").read_text())["data"]["matrix"] == [[1, 0], [0, 1]]
    assert json.loads((run_dir / "pred.json").read_text())["schema_type"] == "predictions"
    with pytest.raises(UserErrorException, match="exactly one"):
        run.log_image("x")
