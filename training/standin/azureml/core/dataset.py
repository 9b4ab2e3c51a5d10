"""azureml.core.dataset inside an amlocal run: tabular files read with pandas."""
from .._amlocal import AzureObject
from ..data.dataset_factory import FileDatasetFactory, TabularDatasetFactory


class Dataset(AzureObject):
    """`Dataset.Tabular.from_delimited_files(path)` works on paths and URLs the run can read;
    registered datasets (`get_by_name`, `get_by_id`) need Azure."""

    advice = ("amlocal has no registered datasets: ship the data in the snapshot and read it with "
              "Dataset.Tabular.from_delimited_files('data.csv') or pandas.")
    Tabular = TabularDatasetFactory
    File = FileDatasetFactory
