"""Parsing, normalising and hashing conda YAML and pip requirement specs."""
import pytest

from environments import spec as spec_module
from environments.curated import DEFAULT_SPEC
from environments.parsing import load_spec, parse_conda_yaml, parse_pip_requirements
from environments.spec import EnvSpec, EnvSpecError

IRIS = """\
name: iris
channels:
  - conda-forge
dependencies:
  - python=3.11
  - numpy=1.26
  - pip
  - pip:
      - scikit-learn>=1.3
      - joblib
"""

# The same environment written differently: order, spacing, case, `==` forms, another name.
IRIS_REWRITTEN = """\
name: something-else
channels: [conda-forge]
dependencies:
  - pip:
      - Joblib
      - scikit_learn >= 1.3
  - python==3.11
  - numpy =1.26
"""


def test_sklearn_env_file_parses_to_python_311_with_pip_packages():
    spec = load_spec(DEFAULT_SPEC)
    assert spec.python == "3.11"
    assert spec.name == "sklearn-env"
    assert [r.split(">=")[0] for r in spec.pip] == ["joblib", "numpy", "scikit-learn"]
    assert not any("azureml" in r for r in spec.pip_requirements())


def test_equivalent_specs_normalise_to_the_same_content_and_hash():
    first, second = parse_conda_yaml(IRIS), parse_conda_yaml(IRIS_REWRITTEN)
    assert first.content() == second.content()
    assert first.hash == second.hash
    assert first.name != second.name  # the name is not content, as in Azure ML's image hash


def test_a_changed_version_changes_the_hash():
    changed = IRIS.replace("scikit-learn>=1.3", "scikit-learn>=1.4")
    assert parse_conda_yaml(IRIS).hash != parse_conda_yaml(changed).hash


def test_hash_includes_the_platform(monkeypatch):
    spec = parse_conda_yaml(IRIS)
    before = spec.hash
    monkeypatch.setattr(spec_module.platform, "machine", lambda: "some-other-arch")
    assert spec.hash != before


@pytest.mark.parametrize("written, normalised", [
    ("numpy=1.26", "numpy==1.26.*"),
    ("numpy==1.26", "numpy==1.26"),
    ("numpy 1.26", "numpy==1.26"),
    ("numpy 1.26 py311_0", "numpy==1.26 py311_0"),
    ("conda-forge::NumPy>=1.24, <2", "numpy<2,>=1.24"),
    ("numpy=1.26=py311_0", "numpy==1.26.* py311_0"),
    ("numpy", "numpy"),
], ids=["fuzzy", "exact", "space", "build", "channel-case-range", "equals-build", "bare"])
def test_conda_dependencies_normalise(written, normalised):
    spec = parse_conda_yaml(f"dependencies:\n  - {written}\n", check=False)
    assert spec.conda == (normalised,)


def test_conda_names_map_to_pypi_names_and_pip_list_wins():
    text = ("dependencies:\n  - pytorch=2.1\n  - py-xgboost\n  - scikit-learn=1.3\n  - pip\n"
            "  - pip:\n      - scikit-learn==1.3.2\n")
    spec = parse_conda_yaml(text, check=False)
    assert spec.pip_requirements() == ["xgboost", "torch==2.1.*", "scikit-learn==1.3.2"]


def test_pip_requirements_file_normalises_comments_case_and_continuations():
    text = "# training deps\nScikit_Learn == 1.3  # pinned\n\nnumpy>=1.24,\\\n  <3\njoblib\n"
    spec = parse_pip_requirements(text, source="requirements.txt")
    assert spec.pip == ("joblib", "numpy<3,>=1.24", "scikit-learn==1.3")
    assert spec.kind == "pip" and spec.python is None
    assert spec.lines["pip:numpy"] == 4


def test_same_packages_as_pip_file_or_conda_yaml_hash_the_same():
    from_pip = parse_pip_requirements("joblib\n")
    from_conda = parse_conda_yaml("dependencies:\n  - pip\n  - pip:\n      - joblib\n")
    assert from_pip.hash == from_conda.hash


def test_to_dict_round_trips_and_conda_yaml_rendering_reparses():
    spec = parse_conda_yaml(IRIS + "variables:\n  MY_FLAG: 'on'\n")
    again = EnvSpec.from_dict(spec.to_dict())
    assert again == spec and again.hash == spec.hash and again.name == "iris"
    assert spec.to_dict()["variables"] == {"MY_FLAG": "on"}
    assert parse_conda_yaml(spec.to_conda_yaml()) == spec


def test_python_version_no_interpreter_satisfies_lists_those_found():
    with pytest.raises(EnvSpecError) as caught:
        parse_conda_yaml("dependencies:\n  - python=3.99\n")
    assert caught.value.line == 2
    assert "python=3.99" in caught.value.reason and "found:" in caught.value.reason
    import platform
    assert platform.python_version() in caught.value.reason  # the current interpreter is listed


def test_conda_only_package_without_conda_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no conda or mamba on it
    with pytest.raises(EnvSpecError) as caught:
        parse_conda_yaml("dependencies:\n  - numpy\n  - mkl\n")
    assert caught.value.line == 3
    assert "'mkl' is a conda-only package" in caught.value.reason


def test_conda_only_package_is_accepted_when_conda_is_on_path(tmp_path, monkeypatch):
    conda = tmp_path / "conda"
    conda.write_text("#!/bin/sh\nexit 0\n")
    conda.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    spec = parse_conda_yaml("dependencies:\n  - numpy\n  - mkl\n")
    assert spec.conda_only_packages() == ["mkl"]
    assert spec.pip_requirements() == ["numpy"]


BAD_YAML = [
    ("invalid-yaml", "dependencies:\n  - numpy\n - pip: [\n", 3, "invalid YAML"),
    ("unknown-key", "name: x\nbuild_steps: []\ndependencies:\n  - numpy\n", 2,
     "unknown key 'build_steps'"),
    ("unknown-key-in-dependencies", "dependencies:\n  - npm:\n      - left-pad\n", 2,
     "unknown key 'npm'"),
    ("python-2.7", "dependencies:\n  - python=2.7\n  - numpy\n", 2, "Python 2.7 is not supported"),
    ("python-range", "dependencies:\n  - python>=3.9\n", 2, "pin Python as python=X.Y"),
    ("empty-file", "", None, "empty file"),
    ("only-comments", "# nothing here\n", None, "empty file"),
    ("not-a-mapping", "- numpy\n", 1, "must be a mapping"),
    ("no-dependencies", "name: x\n", 1, "no 'dependencies'"),
    ("empty-dependencies", "dependencies: []\n", 1, "'dependencies' is empty"),
    ("dependencies-not-list", "dependencies: numpy\n", 1, "must be a list"),
    ("duplicate-pip", "dependencies:\n  - pip:\n      - numpy\n      - NumPy>=1\n", 4,
     "'numpy' is listed twice"),
    ("pip-option", "dependencies:\n  - pip:\n      - --extra-index-url http://x\n", 3,
     "pip option '--extra-index-url' is not supported"),
    ("bad-requirement", "dependencies:\n  - pip:\n      - numpy>>1\n", 3, "invalid pip requirement"),
    ("bad-variable", "dependencies: [numpy]\nvariables:\n  1BAD: x\n", 3, "variable '1BAD'"),
    ("conda-or-version", "dependencies:\n  - numpy 1.2|1.3\n", 2, "'or' versions"),
]


@pytest.mark.parametrize("text, line, reason", [b[1:] for b in BAD_YAML],
                         ids=[b[0] for b in BAD_YAML])
def test_bad_conda_specs_name_the_line_and_the_reason(text, line, reason):
    with pytest.raises(EnvSpecError) as caught:
        parse_conda_yaml(text, source="env.yml")
    assert caught.value.line == line
    assert reason in caught.value.reason
    assert str(caught.value).startswith("env.yml" + (f":{line}" if line else "") + ": ")
    assert caught.value.status == 400
    assert caught.value.to_dict()["line"] == line


@pytest.mark.parametrize("text, line, reason", [
    ("", None, "empty file"),
    ("# only a comment\n\n", None, "empty file"),
    ("numpy\n-r other.txt\n", 2, "pip option '-r'"),
    ("numpy\nnot a requirement!\n", 2, "invalid pip requirement"),
], ids=["empty", "comments-only", "include", "invalid"])
def test_bad_pip_requirements_name_the_line_and_the_reason(text, line, reason):
    with pytest.raises(EnvSpecError) as caught:
        parse_pip_requirements(text)
    assert caught.value.line == line
    assert reason in caught.value.reason


def test_load_spec_reads_yaml_and_requirements_by_suffix(tmp_path):
    (tmp_path / "env.yaml").write_text(IRIS)
    (tmp_path / "requirements.txt").write_text("joblib\n")
    assert load_spec(tmp_path / "env.yaml").kind == "conda"
    assert load_spec(tmp_path / "requirements.txt").pip == ("joblib",)
    with pytest.raises(EnvSpecError, match="cannot read spec file"):
        load_spec(tmp_path / "missing.yml")


def test_interpreters_found_include_this_one_and_skip_broken_candidates(tmp_path):
    import sys

    from environments.interpreters import find_interpreters
    broken = tmp_path / "python3.12"  # like a pyenv shim for a version that is not installed
    broken.write_text("#!/bin/sh\necho 'pyenv: python3.12: command not found' >&2\nexit 127\n")
    broken.chmod(0o755)
    found = find_interpreters(str(tmp_path), refresh=True)
    assert [i.version for i in found] == [".".join(map(str, sys.version_info[:3]))]
    assert found[0].satisfies(f"{sys.version_info.major}.{sys.version_info.minor}")
    assert not found[0].satisfies(f"{sys.version_info.major}.{sys.version_info.minor}1")


@pytest.mark.parametrize("dep, arg", [
    ("numpy==1.26.* py311_0", "numpy 1.26.* py311_0"),
    ("numpy<2,>=1.24", "numpy <2,>=1.24"),
    ("mkl", "mkl"),
], ids=["fuzzy-build", "range", "bare"])
def test_conda_command_line_spelling(dep, arg):
    from environments.spec import conda_arg
    assert conda_arg(dep) == arg
