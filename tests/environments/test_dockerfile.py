"""Dockerfile install steps for an environment spec."""
import subprocess

import pytest

from environments.curated import DEFAULT_SPEC
from environments.dockerfile import dockerfile_steps
from environments.parsing import load_spec, parse_conda_yaml, parse_pip_requirements
from environments.spec import EnvSpecError


def _run_lines(text: str) -> list[str]:
    return [line[len("RUN "):] for line in text.splitlines() if line.startswith("RUN ")]


def test_steps_create_a_venv_and_install_the_spec_s_packages():
    text = dockerfile_steps(load_spec(DEFAULT_SPEC), pip_cert="/tmp/build-ca.crt")
    assert "python3 python3-venv" in text  # a base without Python gets one
    assert "RUN python3 -m venv /opt/amlocal-env" in text
    install = _run_lines(text)[-1]
    assert install.startswith("PIP_CERT=/tmp/build-ca.crt /opt/amlocal-env/bin/pip install")
    assert "'scikit-learn>=1.3'" in install and "'numpy>=1.24'" in install
    assert "ENV VIRTUAL_ENV=/opt/amlocal-env PATH=/opt/amlocal-env/bin:$PATH" in text
    assert "ENV PIP_CERT" not in text  # the CA bundle is for the build step only
    for command in _run_lines(text):  # each RUN is valid shell
        subprocess.run(["sh", "-n", "-c", command], check=True)


def test_variables_become_env_lines_and_conda_only_packages_are_refused():
    spec = parse_conda_yaml('dependencies: [numpy]\nvariables:\n  GREETING: say "hi" $HOME\n',
                            check=False)
    assert 'ENV GREETING="say \\"hi\\" \\$HOME"' in dockerfile_steps(spec)
    with pytest.raises(EnvSpecError, match="conda-only"):
        dockerfile_steps(parse_conda_yaml("dependencies: [numpy, mkl]\n", check=False))


def test_run_steps_build_a_working_venv_when_executed(tmp_path):
    venv = tmp_path / "image-env"
    spec = parse_conda_yaml("dependencies:\n  - python=3.11\n  - pip:\n      - joblib\n")
    for command in _run_lines(dockerfile_steps(spec, venv=str(venv))):
        subprocess.run(["sh", "-c", command], check=True, capture_output=True, timeout=300)
    done = subprocess.run([str(venv / "bin" / "python"), "-c", "import joblib; print('ok')"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "ok"


def test_python_check_step_fails_on_a_mismatched_interpreter():
    spec = parse_conda_yaml("dependencies:\n  - python=3.9\n", check=False)
    check = _run_lines(dockerfile_steps(spec))[1]
    done = subprocess.run(["sh", "-c", check], capture_output=True, text=True)
    assert done.returncode != 0 and "spec wants python=3.9" in done.stderr


def test_a_pip_requirements_spec_gets_no_python_check():
    text = dockerfile_steps(parse_pip_requirements("joblib\n"))
    assert "sys.version_info" not in text and "'joblib'" not in text and " joblib" in text
