"""What the commands print: `--json`, the one table printer, field lists, and the error line."""
from __future__ import annotations

import json
import sys
from typing import Any, Iterable, TextIO

import click

json_option = click.option("--json", "as_json", is_flag=True,
                           help="print the result as JSON")


class CommandError(click.ClickException):
    """`amlocal: error: <message>` on stderr and exit code 1 (a refusal, a bad input)."""

    def show(self, file: TextIO | None = None) -> None:
        click.echo(f"amlocal: error: {self.format_message()}", file=file, err=True)


class InvalidSpec(CommandError):
    """Caught before anything is sent (a sweep's expressions or policy): exit code 2."""

    exit_code = 2


def exit_with(code: int) -> None:
    """End the command with `code` and no further message (what it printed says why)."""
    if code:
        click.get_current_context().exit(code)


def print_json(value: Any) -> None:
    """--json output."""
    json.dump(value, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def table_lines(rows: Iterable[dict], columns: list[str]) -> list[str]:
    """A plain aligned table (upper-case header, two spaces between columns) as lines."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]
    head = "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths))
    return [head] + ["  ".join(v.ljust(w) for v, w in zip(line, widths)) for line in cells]


def print_table(rows: Iterable[dict], columns: list[str], out: TextIO | None = None) -> None:
    out = out or sys.stdout
    out.write("\n".join(table_lines(rows, columns)) + "\n")


def print_fields(record: dict, keys: Iterable[str], width: int = 0) -> None:
    """`key: value` lines, keys right-aligned to `width`."""
    for key in keys:
        print(f"{key:>{width}}: {record.get(key)}")
