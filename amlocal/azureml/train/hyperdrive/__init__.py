"""azureml.train.hyperdrive: HyperDrive on amlocal's sweeps (README: "Hyperparameter sweeps")."""
from ..._base import lazy_submodules
from .parameter_expressions import (choice, lognormal, loguniform, normal,  # noqa: F401
                                    qlognormal, qloguniform, qnormal, quniform, randint, uniform)
from .policy import (BanditPolicy, EarlyTerminationPolicy, MedianStoppingPolicy,  # noqa: F401
                     NoTerminationPolicy, TruncationSelectionPolicy)
from .run import HyperDriveRun, PrimaryMetricGoal  # noqa: F401
from .runconfig import HyperDriveConfig  # noqa: F401
from .sampling import (BayesianParameterSampling, GridParameterSampling,  # noqa: F401
                       HyperParameterSampling, RandomParameterSampling)

__getattr__ = lazy_submodules(__name__, ("parameter_expressions", "policy", "run", "runconfig",
                                         "sampling"))
