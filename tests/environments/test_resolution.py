"""Resolving like pip: unpinned packages land on their newest release where it fits, not where uv's
backtracking left them (environments/resolution.py), checked on a real Azure conda file."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from environments.build import materialise
from environments.parsing import load_spec
from environments.resolution import Resolver, read_pins, unpinned

AZURE_SPEC = Path(__file__).resolve().parents[1] / "samples" / "azure" / "deploy-to-cloud" / \
    "model-register-and-deploy.yml"


def test_only_requirements_without_an_exact_pin_may_be_raised():
    found = unpinned(["azureml-defaults", "inference-schema[numpy-support]>=1.8", "scikit-learn==1.9.1",
                      "numpy==1.26.*", "joblib ; python_version >= '3'", "pkg @ https://example.org/p.whl",
                      "Flask>=3.0,<4", "dill===0.3.6"])
    assert found == {"azureml-defaults": "azureml-defaults",
                     "inference-schema": "inference-schema[numpy-support]>=1.8",
                     "numpy": "numpy==1.26.*", "joblib": "joblib ; python_version >= '3'",
                     "flask": "Flask>=3.0,<4"}


def test_pins_are_read_by_canonical_name(tmp_path):
    pinned = tmp_path / "pinned.txt"
    pinned.write_text("azureml_defaults==1.62.0\nInference-Schema[numpy-support]==1.8\n"
                      "    # via x\n-e ./local\nnumpy==2.3.2 ; python_version >= '3.11'\n")
    assert read_pins(pinned) == {"azureml-defaults": "1.62.0", "inference-schema": "1.8", "numpy": "2.3.2"}


class FakeUv:
    """Answers `uv pip compile` as a table says: (the requirement lines it was given) -> pins, or
    unsatisfiable. `--no-deps` answers each package's newest release."""

    def __init__(self, answers: dict[frozenset, dict[str, str] | None], newest: dict[str, str]):
        self.answers, self.newest, self.calls = answers, newest, []

    def __call__(self, command: list[str]) -> None:
        source = Path(command[-1]).read_text().split()
        self.calls.append(source)
        if "--no-deps" in command:
            pins = {re.split(r"[<>=\[ ;]", line)[0]: self.newest[re.split(r"[<>=\[ ;]", line)[0]]
                    for line in source}
        else:
            pins = self.answers.get(frozenset(source))
            if pins is None:
                raise subprocess.CalledProcessError(1, command)
        Path(command[command.index("-o") + 1]).write_text("".join(f"{k}=={v}\n" for k, v in pins.items()))


def _resolve(fake: FakeUv, requirements: list[str]) -> tuple[dict[str, str], list[str]]:
    notes: list[str] = []
    resolver = Resolver("uv", "python", fake, notes.append)
    return read_pins(resolver.resolve_like_pip(requirements)), notes


def test_a_package_left_on_an_old_release_is_raised_to_its_newest():
    requirements = ["azureml-defaults", "scikit-learn==1.9.1"]
    fake = FakeUv({frozenset(requirements): {"azureml-defaults": "1.0.45", "numpy": "2.4.6"},
                   frozenset(requirements + ["azureml-defaults>=1.62.0"]):
                       {"azureml-defaults": "1.62.0", "numpy": "2.3.2"}},
                  newest={"azureml-defaults": "1.62.0"})
    pins, notes = _resolve(fake, requirements)
    assert pins == {"azureml-defaults": "1.62.0", "numpy": "2.3.2"}
    assert any("uv settled azureml-defaults at 1.0.45, but 1.62.0" in note for note in notes)


def test_a_floor_that_conflicts_is_dropped_and_later_ones_still_tried():
    requirements = ["numpy", "azureml-defaults", "scikit-learn==1.2.2"]
    first = {"numpy": "1.26.4", "azureml-defaults": "1.0.45"}
    fake = FakeUv({frozenset(requirements): first,  # numpy>=2.4.6 has no answer: unsatisfiable
                   frozenset(requirements + ["azureml-defaults>=1.62.0"]):
                       {"numpy": "1.26.4", "azureml-defaults": "1.62.0"}},
                  newest={"numpy": "2.4.6", "azureml-defaults": "1.62.0"})
    pins, notes = _resolve(fake, requirements)
    assert pins == {"numpy": "1.26.4", "azureml-defaults": "1.62.0"}
    assert any("numpy>=2.4.6 conflicts with the rest of the spec: numpy stays at 1.26.4" in n for n in notes)


def test_nothing_behind_means_one_resolution_and_one_lookup():
    requirements = ["joblib>=1.3"]
    fake = FakeUv({frozenset(requirements): {"joblib": "1.6.0"}}, newest={"joblib": "1.6.0"})
    pins, notes = _resolve(fake, requirements)
    assert pins == {"joblib": "1.6.0"} and notes == [] and len(fake.calls) == 2


def test_azure_notebook_conda_file_builds_with_current_azureml_sdk(tmp_path):
    """Azure's deploy-to-cloud notebook environment (azureml-sdk, numpy, scikit-learn, nothing pinned):
    uv alone settles it on azureml-sdk 1.0.23 (2019), whose dependencies do not build on this Python;
    pip's choice is the newest azureml-sdk, and so is ours."""
    spec = load_spec(AZURE_SPEC)
    log = tmp_path / "build.log"
    built = materialise(spec, tmp_path / "envs", log_path=log, installer="uv")
    code = ("import json, importlib.metadata as m; print(json.dumps({n: m.version(n) for n in "
            "('azureml-sdk', 'azureml-core', 'numpy', 'scikit-learn')}))")
    versions = json.loads(subprocess.run([str(built.python), "-c", code], capture_output=True, text=True,
                                         env=built.environ(), check=True, timeout=120).stdout)
    newest = read_pins(_newest_alone(built.python, "azureml-sdk", tmp_path))
    assert versions["azureml-sdk"] == newest["azureml-sdk"], log.read_text()[-3000:]
    assert int(versions["azureml-core"].split(".")[1]) >= 60
    text = log.read_text()
    assert "# amlocal: uv settled azureml-sdk at 1.0." in text  # what uv alone would have installed


def _newest_alone(python: Path, name: str, folder: Path) -> Path:
    from environments.build import uv_executable
    (folder / "one.txt").write_text(name + "\n")
    subprocess.run([uv_executable() or "uv", "pip", "compile", "--no-config", "--no-deps", "--python",
                    str(python), "-q", "-o", str(folder / "newest.txt"), str(folder / "one.txt")],
                   check=True, timeout=300)
    return folder / "newest.txt"


@pytest.mark.parametrize("version", ["3.8", "3.10", "3.12"])
def test_a_spec_pinning_another_installed_python_builds_with_it(tmp_path, version):
    """pyenv's installed versions count as this machine's Pythons (Azure's samples pin 3.7-3.12)."""
    from environments.interpreters import find_interpreters
    from environments.parsing import parse_conda_yaml
    if not any(i.satisfies(version) for i in find_interpreters()):
        pytest.fail(f"no Python {version} here: {find_interpreters()}")
    built = materialise(parse_conda_yaml(f"dependencies:\n  - python={version}\n  - pip\n"), tmp_path / "envs")
    done = subprocess.run([str(built.python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == version
