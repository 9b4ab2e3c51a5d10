"""Parameter types the commands share: KEY=VALUE pairs and NAME[:VERSION] references."""
from __future__ import annotations

from typing import Any

import click


class KeyValue(click.ParamType):
    """KEY=VALUE as a (key, value) pair; a bare KEY is (KEY, "") (dict(...) of a multiple
    option gives the tags or properties)."""

    name = "key=value"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value
        key, _, text = str(value).partition("=")
        return key, text


class Reference(click.ParamType):
    """NAME[:VERSION] as (name, version); the version defaults to "latest" unless required."""

    name = "name[:version]"

    def __init__(self, need_version: bool = False):
        self.need_version = need_version

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value
        name, sep, version = str(value).rpartition(":")
        if sep:
            return name, version
        if self.need_version:
            self.fail(f"give the version too: {value}:VERSION", param, ctx)
        return str(value), "latest"


KEY_VALUE = KeyValue()
REFERENCE = Reference()
VERSIONED = Reference(need_version=True)
