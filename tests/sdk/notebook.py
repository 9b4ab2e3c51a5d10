"""Run a notebook's code cells as Jupyter would, with only its `azureml` imports prefixed.

`prefix_imports` is the one edit the README asks of a user, done mechanically: a line
`from azureml.X import Y` becomes `from amlocal.azureml.X import Y`, `import azureml.X as Z`
becomes `import amlocal.azureml.X as Z`, and `import azureml.X` becomes `from amlocal import
azureml` (the name `azureml` stays bound; submodules load on use). No other line changes.

The runner stands in for the Jupyter kernel's own parts: `%%writefile F` writes the cell to F,
`%%time` runs the cell, `%matplotlib inline` is skipped (matplotlib draws with Agg), and a cell
ending in an expression shows that value's repr, as the notebook's output would.
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FROM = re.compile(r"^(\s*)from azureml\.")
IMPORT_AS = re.compile(r"^(\s*)import azureml\.(\S+)(\s+as\s+\w+.*)$")
IMPORT = re.compile(r"^(\s*)import azureml(\.\S+)?\s*(#.*)?$")


def prefix_imports(source: str) -> str:
    """The user's one edit, on every line that imports azureml; other lines stay as they are."""
    out = []
    for line in source.split("\n"):
        if FROM.match(line):
            line = FROM.sub(r"\1from amlocal.azureml.", line, count=1)
        elif IMPORT_AS.match(line):
            line = IMPORT_AS.sub(r"\1import amlocal.azureml.\2\3", line, count=1)
        elif IMPORT.match(line):
            line = IMPORT.sub(r"\1from amlocal import azureml", line, count=1)
        out.append(line)
    return "\n".join(out)


def code_cells(path: Path) -> list[str]:
    """The notebook's code cells, in order."""
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


@dataclass
class Kernel:
    """One namespace for a notebook's cells, and what each cell printed and showed."""

    cwd: Path
    namespace: dict = field(default_factory=lambda: {"__name__": "__main__"})
    outputs: list[str] = field(default_factory=list)

    def run(self, source: str) -> str:
        """Run one cell (imports prefixed); return what it printed and showed."""
        source = prefix_imports(source)
        first, _, rest = source.partition("\n")
        if first.startswith("%%writefile"):
            (self.cwd / first.split(maxsplit=1)[1].strip()).write_text(rest, encoding="utf-8")
            self.outputs.append("")
            return ""
        if first.startswith("%%time"):
            source = rest
        source = "\n".join(line for line in source.split("\n") if not line.startswith("%"))
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            shown = self._exec(source)
            if shown is not None:
                print(repr(shown))
        self.outputs.append(buffer.getvalue())
        return buffer.getvalue()

    def _exec(self, source: str) -> Any:
        tree = ast.parse(source)
        last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        if last is not None:
            tree.body.pop()
        exec(compile(tree, "<cell>", "exec"), self.namespace)
        if last is None:
            return None
        return eval(compile(ast.Expression(last.value), "<cell>", "eval"), self.namespace)
