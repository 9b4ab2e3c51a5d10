"""amlocal: Azure ML's scikit-learn loop (train, track, register, deploy, score) on your own machine."""
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
# docker/ is no package: the scoring image's Dockerfile and requirements list are copied into the
# wheel as environments/scoring_image/, where environments/image_files.py finds them.
IMAGE_FILES = ("scoring.Dockerfile", "scoring-requirements.txt")


class BuildPyWithImage(build_py):
    """build_py, plus the scoring image's files as package data (not in editable installs,
    which read them from docker/ in the checkout)."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        dest = os.path.join(self.build_lib, "environments", "scoring_image")
        self.mkpath(dest)
        for name in IMAGE_FILES:
            self.copy_file(os.path.join(HERE, "docker", name), os.path.join(dest, name))


# The scoring container needs only these; docker/scoring-requirements.txt is the one list
# (the scoring image installs it too).
with open(os.path.join(HERE, "docker", "scoring-requirements.txt"), encoding="utf-8") as fh:
    SCORING_REQUIRES = [line.strip() for line in fh if line.strip() and not line.startswith("#")]

setup(
    name="amlocal",
    version="0.1.0",
    description=__doc__,
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["service", "service.*", "training", "training.*",
                                    "scoring", "scoring.*", "environments", "environments.*",
                                    "amlocal", "amlocal.*"]),
    include_package_data=True,
    package_data={
        "service.store": ["migrations/*.sql"],
        "service.dashboard": ["templates/*.html", "static/*"],  # the dashboard's pages and assets
        "training": ["*.py", "standin/azureml/*.py", "standin/azureml/*/*.py"],  # no __init__ above
        "scoring": ["*.py"],
        "environments": ["*.yml", "curated/*.yml", "curated/*.txt"],
    },
    install_requires=SCORING_REQUIRES + [
        "click>=8.1",
        "marshmallow>=3.20",
        "apispec[marshmallow]>=6.3",
        "requests>=2.31",
        "pathspec>=0.11",
        "pyyaml>=6.0",
        "filelock>=3.12",
        "optuna>=3.4",
        "uv>=0.4",
        "packaging>=23.0",
        "gevent>=24.10.1",  # the control API's workers: log followers wait without a thread
    ],
    extras_require={
        "azure": ["azureml-core>=1.60"],
        "ray": ["ray[default]>=2.60"],  # compute targets on a Ray cluster (the Jobs API client)
        "test": ["azureml-core>=1.60", "pytest>=8.0", "pytest-timeout>=2.2",
                 "pytest-xdist>=3.5",  # pytest.ini: the suite on two workers
                 "ray[default]>=2.60",  # tests/ray: a real two-node cluster on 127.0.0.1
                 "schemathesis>=4.0",
                 "hypothesis>=6.100",  # tests/scoring/test_batching.py's property test
                 "pillow>=10.0",  # Azure's binary-payloads sample (tests/samples/azure)
                 "matplotlib>=3.8", "tqdm>=4.66",  # the logging-api notebook (tests/sdk)
                 "selenium>=4.20"],  # the dashboard's browser tests (tests/dashboard)
    },
    cmdclass={"build_py": BuildPyWithImage},
    entry_points={
        "console_scripts": [
            "amlocal=service.cli.main:main",
            "amlocal-scoring=scoring.__main__:main",
        ]
    },
)
