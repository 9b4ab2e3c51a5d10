"""azureml.data.dataset_factory inside an amlocal run: delimited files read with pandas."""
from __future__ import annotations

from typing import Any

from .._amlocal import AzureObject


class TabularDataset:
    """Delimited files as one table (what `to_pandas_dataframe()` reads)."""

    def __init__(self, paths: list[str], separator: str = ",", header: bool = True):
        self.paths, self.separator, self.header = paths, separator, header

    def to_pandas_dataframe(self, on_error: str = "null", out_of_range_datetime: str = "null") -> Any:
        """The rows of every file, in order."""
        import pandas as pd
        frames = [pd.read_csv(path, sep=self.separator, header=0 if self.header else None)
                  for path in self.paths]
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    def __repr__(self) -> str:
        return f"TabularDataset(paths={self.paths})"


class TabularDatasetFactory(AzureObject):
    """`from_delimited_files(path)` for local paths and URLs; the rest needs Azure."""

    advice = "amlocal reads delimited files only: ship the data in the snapshot."

    @staticmethod
    def from_delimited_files(path: Any, validate: bool = True, include_path: bool = False,
                             infer_column_types: bool = True, set_column_types: Any = None,
                             separator: str = ",", header: Any = True, **kwargs: Any) -> TabularDataset:
        """A tabular dataset of one or several delimited files (paths or URLs)."""
        paths = [path] if isinstance(path, str) else [str(p) for p in path]
        return TabularDataset(paths, separator, header not in (False, "NO_HEADERS", 0))


class FileDatasetFactory(AzureObject):
    """Importable; file datasets need Azure's datastores."""

    advice = "amlocal has no datastores: ship files in the snapshot and open them by path."
