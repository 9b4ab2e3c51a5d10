"""amlocal's stand-in for the `azureml` package, used inside a run where azureml-core is not
installed: the names real training scripts import, with the run object amlocal gives them.
Whatever needs Azure itself raises a UserErrorException naming what amlocal offers instead."""
