"""amlocal's Python client: the control API's HTTP client (`amlocal.client`) and `amlocal.azureml`,
Azure ML SDK v1's module paths and signatures pointed at an amlocal service, so that a v1
notebook runs by prefixing its imports with `amlocal.` (see the README's "Your Azure ML notebook
on amlocal"). It imports nothing of the service: it is what a notebook installs.
"""
