"""Curated specs shipped with amlocal, and the package's import rule."""
import ast
from pathlib import Path

import environments
from environments.curated import CURATED_DIR, list_curated
from environments.spec import requirement_name


def test_curated_specs_are_listed_by_name_and_parse():
    curated = list_curated()
    assert {"amlocal-sklearn-1.9", "amlocal-azureml-core", "amlocal-minimal"} <= set(curated)
    assert all(spec.name == name for name, spec in curated.items())
    assert len({spec.hash for spec in curated.values()}) == len(curated)


def test_sklearn_curated_env_matches_the_scoring_container():
    names = {requirement_name(r) for r in list_curated()["amlocal-sklearn-1.9"].pip}
    assert {"flask", "gunicorn", "inference-schema", "scikit-learn", "numpy", "joblib"} <= names
    assert "scikit-learn<1.10,>=1.9" in list_curated()["amlocal-sklearn-1.9"].pip


def test_azureml_core_curated_env_carries_the_real_sdk():
    assert any(r.startswith("azureml-core") for r in list_curated()["amlocal-azureml-core"].pip)


def test_list_curated_reads_another_folder(tmp_path):
    (tmp_path / "team.yml").write_text("dependencies:\n  - pip:\n      - joblib\n")
    (tmp_path / "notes.md").write_text("not a spec")
    assert list(list_curated(tmp_path)) == ["team"]
    assert CURATED_DIR.is_dir()


def test_environments_imports_nothing_else_of_ours():
    ours = {"service", "training", "scoring"}
    for path in Path(environments.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not {n.split(".")[0] for n in names} & ours, f"{path.name} imports {names}"


def test_sklearn_scoring_spec_pins_the_training_version():
    from environments.curated import sklearn_scoring_spec
    spec = sklearn_scoring_spec("1.5.2")
    assert "scikit-learn==1.5.2" in spec.pip and "numpy>=1.24" in spec.pip
    assert {"flask", "gunicorn", "inference-schema"} <= {requirement_name(r) for r in spec.pip}
    assert spec.name == "amlocal-sklearn-1.5.2"
    assert "numpy<2,>=1.24" in sklearn_scoring_spec("1.3.2").pip  # built before numpy 2
    assert sklearn_scoring_spec("1.5.2").hash != sklearn_scoring_spec("1.5.1").hash


def test_sklearn_scoring_spec_refuses_a_non_version():
    import pytest

    from environments.curated import sklearn_scoring_spec
    from environments.spec import EnvSpecError
    with pytest.raises(EnvSpecError, match="'banana' is not a version"):
        sklearn_scoring_spec("banana")
