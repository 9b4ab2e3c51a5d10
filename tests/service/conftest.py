"""Fixtures for the service tests."""
from __future__ import annotations

import pytest

from tests.conftest import Service, free_port
from tests.service.test_deployments_support import kill_leftovers


@pytest.fixture
def svc(tmp_path):
    """A real service whose deployments' scoring servers are stopped after the test."""
    service = Service(tmp_path / "ws", free_port()).start()
    yield service
    service.stop()
    kill_leftovers(service.workspace)
