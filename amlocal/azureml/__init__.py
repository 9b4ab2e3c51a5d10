"""Azure ML SDK v1 (`azureml.*`), pointed at amlocal: `from amlocal.azureml.core import Run`.

Submodules load on first use, so `from amlocal import azureml` stands for `import azureml.core`
and `azureml.core.VERSION` works unchanged. A name or module of the SDK that amlocal does not
mirror raises NotImplementedError naming what to use instead, never AttributeError.
"""
from __future__ import annotations

from ._base import install_unmirrored_finder, lazy_submodules

__getattr__ = lazy_submodules(__name__, ("core", "train", "widgets", "telemetry", "exceptions"))
install_unmirrored_finder(__name__)
