"""The service's refusals as the SDK's exceptions, with the service's (Azure's) message."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from ...client import ClientError
from ..exceptions import AzureMLException, UserErrorException


@contextmanager
def azure_errors(kind: type[AzureMLException] = UserErrorException,
                 not_found: type[AzureMLException] | None = None,
                 prefix: str = "") -> Iterator[None]:
    """Turn a ClientError into `kind` (`not_found` for a 404) carrying its message."""
    try:
        yield
    except ClientError as err:
        cls = not_found if (not_found is not None and err.status == 404) else kind
        raise cls(prefix + err.message) from err
