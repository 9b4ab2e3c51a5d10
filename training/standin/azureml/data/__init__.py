"""azureml.data inside an amlocal run."""
from .dataset_factory import TabularDataset

__all__ = ["TabularDataset"]
