"""Settings are declared once: parsed from a mapping, refused with the variable's name, read
nowhere else, and the README's table is the declaration's."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.settings import SettingsError, load_settings, settings_table
from tests.conftest import REPO


def test_defaults_and_types_from_a_mapping(tmp_path):
    settings = load_settings({"AMLOCAL_WORKSPACE": str(tmp_path), "AMLOCAL_MAX_CONCURRENT_RUNS": "7",
                              "AMLOCAL_CANCEL_GRACE_S": "0.5", "AMLOCAL_URL": "http://127.0.0.1:1"})
    assert settings.workspace == tmp_path.resolve() and settings.max_concurrent_runs == 7
    assert settings.cancel_grace_s == 0.5 and settings.url == "http://127.0.0.1:1"
    assert load_settings({}).workspace == Path("amlocal-workspace").resolve()
    assert load_settings({}, workspace=tmp_path).workspace == tmp_path.resolve()


@pytest.mark.parametrize("variable, raw", [("AMLOCAL_MAX_CONCURRENT_RUNS", "four"),
                                           ("AMLOCAL_CANCEL_GRACE_S", "-1"),
                                           ("AMLOCAL_INTROSPECT_TIMEOUT_S", "soon")])
def test_a_bad_value_names_its_variable(variable, raw):
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: raw})


def test_the_azure_principal_needs_all_six_variables():
    names = ["SUBSCRIPTION_ID", "RESOURCE_GROUP", "WORKSPACE_NAME", "TENANT_ID", "CLIENT_ID",
             "CLIENT_SECRET"]
    full = {f"AMLOCAL_AZURE_{n}": n.lower() for n in names}
    assert load_settings(full).azure_service_principal["client_secret"] == "client_secret"
    assert load_settings({**full, "AMLOCAL_AZURE_TENANT_ID": ""}).azure_service_principal is None


def test_the_readme_table_is_the_declaration():
    assert settings_table() in (REPO / "README.md").read_text(encoding="utf-8")


READS = re.compile(r"""environ(?:\.get\(|\[|\.setdefault\()\s*["']AMLOCAL_(?!SCORING_KEYS)""")


def test_no_other_module_reads_an_amlocal_variable():
    readers = [str(path.relative_to(REPO)) for path in (REPO / "service").rglob("*.py")
               if path.name != "settings.py" and READS.search(path.read_text(encoding="utf-8"))]
    assert readers == []
    assert READS.search('os.environ.get("AMLOCAL_URL")')  # the check can fail
