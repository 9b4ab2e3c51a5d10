"""The generated build context: Azure ML's layout, a tag that is the hash of its inputs, bad input."""
from __future__ import annotations

from pathlib import Path

import pytest

from service.targets import docker_image
from service.targets.docker_image import ContextError, make_context
from tests.dockerengine import REPO_ROOT

BASE = "amlocal/debian:bookworm"


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A model folder with one small file (these tests never load it)."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.joblib").write_bytes(b"model-bytes-v1")
    return folder


@pytest.fixture
def script(tmp_path: Path) -> Path:
    """A custom entry script."""
    path = tmp_path / "src" / "myscore.py"
    path.parent.mkdir()
    path.write_text("def init():\n    pass\n\ndef run(data):\n    return data\n")
    return path


def tag_of(tmp_path: Path, models, entry=None, base=BASE, **kwargs) -> str:
    """The tag of a fresh context made from these inputs."""
    dest = tmp_path / f"ctx{len(list(tmp_path.glob('ctx*')))}"
    return make_context(dest, REPO_ROOT, models, entry, base, **kwargs).tag


def test_nocode_layout_follows_azure(tmp_path, model_dir):
    ctx = make_context(tmp_path / "ctx", REPO_ROOT, [("sklearn-iris", 1, model_dir)], None, BASE)
    assert (ctx.path / "models/azureml-models/sklearn-iris/1/model.joblib").read_bytes() == \
        b"model-bytes-v1"
    assert (ctx.path / "app/nocode.py").read_bytes() == (REPO_ROOT / "scoring/nocode.py").read_bytes()
    assert (ctx.path / "scoring/__main__.py").is_file()
    assert ctx.build_args == {"BASE_IMAGE": BASE, "ENTRY_SCRIPT": "nocode.py",
                              "MODEL_DIR": "azureml-models/sklearn-iris/1"}
    assert ctx.tag.startswith("amlocal-scoring:") and len(ctx.tag.split(":")[1]) == 16
    assert (ctx.path / "build/ca-certificates.crt").exists()


def test_custom_entry_and_several_models(tmp_path, model_dir, script):
    other = tmp_path / "other"
    other.mkdir()
    (other / "weights.pkl").write_bytes(b"w")
    ctx = make_context(tmp_path / "ctx", REPO_ROOT, [("a", 1, model_dir), ("b", "3", other)],
                       script, BASE)
    assert (ctx.path / "app/myscore.py").read_text() == script.read_text()
    assert not (ctx.path / "app/nocode.py").exists()
    assert ctx.build_args["ENTRY_SCRIPT"] == "myscore.py"
    assert ctx.build_args["MODEL_DIR"] == "azureml-models"  # Azure's value for several models
    assert (ctx.path / "models/azureml-models/b/3/weights.pkl").is_file()


def test_source_dir_is_copied_whole(tmp_path, model_dir, script):
    (script.parent / "helpers").mkdir()
    (script.parent / "helpers/util.py").write_text("X = 1\n")
    ctx = make_context(tmp_path / "ctx", REPO_ROOT, [("a", 1, model_dir)], Path("myscore.py"),
                       BASE, source_dir=script.parent)
    assert (ctx.path / "app/helpers/util.py").read_text() == "X = 1\n"
    assert ctx.build_args["ENTRY_SCRIPT"] == "myscore.py"


def test_same_inputs_give_the_same_tag(tmp_path, model_dir):
    models = [("sklearn-iris", 1, model_dir)]
    first = tag_of(tmp_path, models)
    (model_dir / "__pycache__").mkdir()  # caches never reach the image or its hash
    (model_dir / "__pycache__/x.pyc").write_bytes(b"junk")
    assert tag_of(tmp_path, models) == first


@pytest.mark.parametrize("change", ["model bytes", "model version", "base image", "entry script",
                                    "requirements"])
def test_any_input_change_gives_a_new_tag(tmp_path, model_dir, script, change):
    models = [("sklearn-iris", 1, model_dir)]
    first = tag_of(tmp_path, models)
    kwargs, entry, base = {}, None, BASE
    if change == "model bytes":
        (model_dir / "model.joblib").write_bytes(b"model-bytes-v2")
    elif change == "model version":
        models = [("sklearn-iris", 2, model_dir)]
    elif change == "base image":
        base = "python:3.11-slim"
    elif change == "entry script":
        entry = script
    else:
        reqs = tmp_path / "reqs.txt"
        reqs.write_text("flask==3.1.0\n")
        kwargs["requirements"] = reqs
    assert tag_of(tmp_path, models, entry, base, **kwargs) != first


def test_context_is_replaced_but_foreign_folders_are_not(tmp_path, model_dir):
    dest = tmp_path / "ctx"
    make_context(dest, REPO_ROOT, [("m", 1, model_dir)], None, BASE)
    (dest / "stale.txt").write_text("left from an earlier build")
    make_context(dest, REPO_ROOT, [("m", 1, model_dir)], None, BASE)
    assert not (dest / "stale.txt").exists()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("precious")
    with pytest.raises(ContextError, match="not a build context"):
        make_context(foreign, REPO_ROOT, [("m", 1, model_dir)], None, BASE)
    assert (foreign / "keep.txt").read_text() == "precious"


@pytest.mark.parametrize("case, match", [
    ("missing model folder", "models: m:1: model folder"),
    ("bad model name", "models: model name"),
    ("missing entry script", "entry_script: .* does not exist"),
    ("entry not python", "entry_script: .* is not a .py file"),
    ("entry outside source_dir", "entry_script: .* is not inside"),
])
def test_bad_inputs_name_the_field(tmp_path, model_dir, script, case, match):
    models, entry, kwargs = [("m", 1, model_dir)], None, {}
    if case == "missing model folder":
        models = [("m", 1, tmp_path / "nope")]
    elif case == "bad model name":
        models = [("../escape", 1, model_dir)]
    elif case == "missing entry script":
        entry = tmp_path / "nope.py"
    elif case == "entry not python":
        entry = script.with_suffix(".txt")
        entry.write_text("x")
    else:
        entry, kwargs["source_dir"] = script, tmp_path / "model"
    with pytest.raises(ContextError, match=match):
        make_context(tmp_path / "ctx", REPO_ROOT, models, entry, BASE, **kwargs)


def test_errors_carry_http_statuses():
    assert ContextError.status == 400
    assert docker_image.ContainerNotFound.status == 404
    assert docker_image.DockerUnavailable.status == 503
