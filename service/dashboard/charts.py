"""Charts as server-made SVG: a line chart of metric series, and parallel coordinates of a
sweep's hyperparameters against its primary metric. No script is needed to see them."""
from __future__ import annotations

import math
from typing import Sequence

from markupsafe import Markup, escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#7f7f7f", "#bcbd22")
W, H, PAD = 560, 240, 40


def numbers(values: Sequence) -> list[float]:
    """The finite numbers of a series (others are skipped: a chart cannot place them)."""
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(float(v))]


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _scale(lo: float, hi: float, size: float, flip: bool = False):
    span = (hi - lo) or 1.0
    if flip:
        return lambda v: PAD + (size - 2 * PAD) * (1 - (v - lo) / span)
    return lambda v: PAD + (size - 2 * PAD) * (v - lo) / span


def line_chart(series: dict[str, Sequence], title: str) -> Markup:
    """One polyline per series (x = index), each value a circle with its value as a tooltip."""
    clean = {name: numbers(values) for name, values in series.items()}
    clean = {name: vals for name, vals in clean.items() if vals}
    if not clean:
        return Markup("")
    every = [v for vals in clean.values() for v in vals]
    lo, hi = min(every), max(every)
    longest = max(len(vals) for vals in clean.values())
    x = _scale(0, max(longest - 1, 1), W)
    y = _scale(lo, hi, H, flip=True)
    parts = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<line class="axis" x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}"/>',
             f'<line class="axis" x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{H - PAD}"/>',
             f'<text class="tick" x="{PAD - 4}" y="{PAD + 4}" text-anchor="end">{_fmt(hi)}</text>',
             f'<text class="tick" x="{PAD - 4}" y="{H - PAD}" text-anchor="end">{_fmt(lo)}</text>',
             f'<text class="tick" x="{W - PAD}" y="{H - PAD + 16}" text-anchor="end">'
             f'{longest - 1}</text>']
    for i, (name, vals) in enumerate(clean.items()):
        color = PALETTE[i % len(PALETTE)]
        points = " ".join(f"{x(j):.1f},{y(v):.1f}" for j, v in enumerate(vals))
        parts.append(f'<g class="series" data-series="{escape(name)}"><polyline fill="none" '
                     f'stroke="{color}" stroke-width="2" points="{points}"/>')
        parts += [f'<circle class="pt" cx="{x(j):.1f}" cy="{y(v):.1f}" r="3" fill="{color}">'
                  f'<title>{escape(name)}[{j}] = {_fmt(v)}</title></circle>'
                  for j, v in enumerate(vals)]
        parts.append("</g>")
        if len(clean) > 1:
            parts.append(f'<text class="legend" x="{PAD + 8}" y="{PAD + 14 * (i + 1)}" '
                         f'fill="{color}">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _axis_values(rows: list[dict], key: str) -> tuple[list, bool]:
    values = [row.get(key) for row in rows]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
                  if v is not None)
    return values, numeric


def parallel_coordinates(rows: list[dict], params: list[str], metric: str,
                         best_id: str | None) -> Markup:
    """One vertical axis per hyperparameter plus the metric; one line per child run."""
    axes = [*params, metric]
    if not rows or not axes:
        return Markup("")
    width = max(W, 140 * len(axes))
    xs = [PAD + (width - 2 * PAD) * i / max(len(axes) - 1, 1) for i in range(len(axes))]
    placers = []
    for key in axes:
        values, numeric = _axis_values(rows, key)
        present = [v for v in values if v is not None]
        if numeric and present:
            placers.append(("num", _scale(min(present), max(present), H, flip=True),
                            min(present), max(present)))
        else:
            cats = sorted({str(v) for v in present})
            index = {c: i for i, c in enumerate(cats)}
            span = max(len(cats) - 1, 1)
            placers.append(("cat", lambda v, index=index, span=span:
                            PAD + (H - 2 * PAD) * (1 - index[str(v)] / span), cats, None))
    parts = [f'<svg class="chart parallel" viewBox="0 0 {width} {H + 20}" width="{width}" '
             f'height="{H + 20}" role="img" '
             f'aria-label="hyperparameters and {escape(metric)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>Hyperparameters → {escape(metric)}'
             f'</title>']
    for x, key, placer in zip(xs, axes, placers):
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="{PAD}" x2="{x:.1f}" y2="{H - PAD}"/>'
                     f'<text class="tick" x="{x:.1f}" y="{H - PAD + 16}" text-anchor="middle">'
                     f'{escape(key)}</text>')
        if placer[0] == "num":
            parts.append(f'<text class="tick" x="{x + 3:.1f}" y="{PAD - 4}">{_fmt(placer[3])}'
                         f'</text><text class="tick" x="{x + 3:.1f}" y="{H - PAD - 2}">'
                         f'{_fmt(placer[2])}</text>')
        else:
            parts += [f'<text class="tick" x="{x + 3:.1f}" y="{placer[1](c) - 2:.1f}">'
                      f'{escape(c)}</text>' for c in placer[2]]
    for row in rows:
        points = []
        for x, key, placer in zip(xs, axes, placers):
            value = row.get(key)
            if value is not None:
                points.append(f"{x:.1f},{placer[1](value):.1f}")
        best = row.get("run_id") == best_id
        parts.append(f'<polyline class="pc-line{" best" if best else ""}" fill="none" '
                     f'data-run-id="{escape(row.get("run_id", ""))}" points="{" ".join(points)}">'
                     f'<title>{escape(row.get("run_id", ""))}</title></polyline>')
    parts.append("</svg>")
    return Markup("".join(parts))
