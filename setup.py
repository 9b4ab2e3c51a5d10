"""amlocal: Azure ML's scikit-learn loop (train, track, register, deploy, score) on your own machine."""
import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))

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
                                    "scoring", "scoring.*", "environments", "environments.*"]),
    include_package_data=True,
    package_data={
        "service.store": ["migrations/*.sql"],
        "training": ["*.py", "runcontext/*.py", "runcontext/**/*.py"],
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
        "test": ["azureml-core>=1.60", "pytest>=8.0", "pytest-timeout>=2.2",
                 "schemathesis>=4.0",
                 "pillow>=10.0"],  # Azure's binary-payloads sample (tests/samples/azure)
    },
    entry_points={
        "console_scripts": [
            "amlocal=service.cli.main:main",
            "amlocal-scoring=scoring.__main__:main",
        ]
    },
)
