"""The one table that maps conda package names to PyPI names (and names conda-only packages)."""

# Conda packages whose PyPI distribution has another name. Names absent from both tables are
# assumed to be the same on PyPI, which holds for the large majority (scikit-learn, numpy, joblib).
CONDA_TO_PYPI: dict[str, str] = {
    "py-xgboost": "xgboost",
    "py-xgboost-cpu": "xgboost",
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "pytorch-lightning": "lightning",
    "msgpack-python": "msgpack",
    "pytables": "tables",
    "matplotlib-base": "matplotlib",
    "py-opencv": "opencv-python",
    "python-graphviz": "graphviz",
    "pyqt": "pyqt5",
    "tensorflow-base": "tensorflow",
    "typing_extensions": "typing-extensions",
}

# Native libraries and runtime pieces that exist only as conda packages: a pip-built environment
# cannot provide them, so a spec naming one needs conda or mamba on the machine.
CONDA_ONLY: frozenset[str] = frozenset({
    "_libgcc_mutex", "_openmp_mutex", "libgcc", "libgcc-ng", "libgomp", "libstdcxx-ng",
    "libstdcxx", "ld_impl_linux-64", "mkl", "mkl-service", "mkl_fft", "mkl_random",
    "intel-openmp", "blas", "libblas", "libcblas", "liblapack", "libopenblas", "openblas",
    "cudatoolkit", "cudnn", "nccl", "ca-certificates", "openssl", "libffi", "ncurses",
    "readline", "sqlite", "tk", "xz", "zlib", "bzip2", "libuuid", "tzdata", "libzlib",
})

# Conda packages that a virtual environment already has, so they are not installed again.
PROVIDED_BY_VENV: frozenset[str] = frozenset({"python", "pip"})


def is_conda_only(conda_name: str) -> bool:
    """Tell whether a conda package has no PyPI equivalent."""
    return conda_name.lower() in CONDA_ONLY


def pypi_name(conda_name: str) -> str:
    """Return the PyPI distribution name for a conda package name."""
    name = conda_name.lower()
    return CONDA_TO_PYPI.get(name, name)
