"""One blueprint per resource."""
from flask import current_app

from ..store import Store
from ..workspace import Workspace


def store() -> Store:
    """The app's store."""
    return current_app.config["STORE"]


def workspace() -> Workspace:
    """The app's workspace."""
    return current_app.config["WORKSPACE"]
