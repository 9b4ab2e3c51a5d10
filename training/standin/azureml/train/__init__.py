"""azureml.train inside an amlocal run."""
