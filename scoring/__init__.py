"""amlocal's scoring container: Azure ML's inference-server contract served by gunicorn.

Nothing here imports the rest of amlocal: this package is what goes into the scoring image.
"""
import os

__version__ = "0.1.0"

_HERE = os.path.dirname(os.path.abspath(__file__))

# The no-code scikit-learn entry script; a no-code deployment runs it like any score.py.
NOCODE_ENTRY_SCRIPT = os.path.join(_HERE, "nocode.py")
# Micro-batching's per-deployment knobs: setting name -> the variable scoring/settings.py reads
# (a deployment's spec sets them; service/ may read these names, not the settings module).
BATCHING_VARIABLES = {"max_batch_rows": "AMLOCAL_MAX_BATCH_ROWS", "max_latency_ms": "AMLOCAL_MAX_LATENCY_MS"}
# The sample iris score.py (inference-schema decorated run()).
IRIS_ENTRY_SCRIPT = os.path.join(_HERE, "score.py")
