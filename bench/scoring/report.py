"""From raw samples to medians, a markdown table, ours/azmlinfsrv ratios and the issue's targets."""
from __future__ import annotations

import statistics
from typing import Iterable

# Figures kept per (server, workers); load figures are named "<load>.<figure>".
FIGURES = ("rows1_c16.rps", "rows1000_c16.rps", "rows1_c1.p50_ms", "rows1_c1.p99_ms",
           "rows1000_c16.p99_ms", "worker_rss_mib", "tree_rss_mib", "startup_s")
ERRORS = ("non_2xx", "socket_errors")

TARGET_RPS_RATIO = 1.5
TARGET_P50_MS = 0.5
# azmlinfsrv's p50 (1 conn, 1 row) on the machine PEERS.md was measured on, where the 0.5 ms target
# was set. PEERS.md asks for ratios from one run, so the target is also checked scaled by how much
# slower this machine runs azmlinfsrv in the same run: 0.5 ms × (azmlinfsrv p50 here / there).
PEERS_MD_AZML_P50_MS = 0.55


def flatten(sample: dict) -> dict[str, float]:
    """One sample's figures as a flat mapping ("rows1_c16.rps" -> value)."""
    flat = {key: value for key, value in sample.items() if isinstance(value, (int, float))}
    for load, figures in sample.get("loads", {}).items():
        for name, value in figures.items():
            flat[f"{load}.{name}"] = value
    return flat


def medians(samples: Iterable[dict]) -> dict[tuple[str, int], dict[str, float]]:
    """Median of each figure over repetitions, per (server, workers); error counts are summed."""
    grouped: dict[tuple[str, int], list[dict[str, float]]] = {}
    for sample in samples:
        grouped.setdefault((sample["server"], sample["workers"]), []).append(flatten(sample))
    result = {}
    for key, flats in grouped.items():
        row: dict[str, float] = {"repetitions": len(flats)}
        for name in flats[0]:
            values = [flat[name] for flat in flats if name in flat]
            if name.split(".")[-1] in ERRORS:
                row[name] = sum(values)
            else:
                row[name] = statistics.median(values)
        result[key] = row
    return result


def _errors(row: dict[str, float], load: str) -> str:
    """A marker when a load saw non-2xx answers or socket errors (its figures are then suspect)."""
    bad = sum(row.get(f"{load}.{name}", 0) for name in ERRORS)
    return f" ⚠{int(bad)} errors" if bad else ""


def markdown_table(table: dict[tuple[str, int], dict[str, float]], order: list[str]) -> str:
    """The medians as a markdown table, servers in `order`, 1 then 2 workers."""
    lines = ["| server | workers | 1 row, 16 conns (req/s) | 1000 rows, 16 conns (req/s) | "
             "p50 / p99, 1 conn, 1 row (ms) | p99 1000 rows (ms) | server CPU µs/req, 1 row / "
             "1000 rows | worker RSS, sum (MiB) | start-up (s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for (server, workers) in sorted(table, key=lambda k: (order.index(k[0]), k[1])):
        row = table[(server, workers)]
        lines.append(
            f"| {server} | {workers} | {row['rows1_c16.rps']:,.0f}{_errors(row, 'rows1_c16')} | "
            f"{row['rows1000_c16.rps']:,.0f}{_errors(row, 'rows1000_c16')} | "
            f"{row['rows1_c1.p50_ms']:.2f} / {row['rows1_c1.p99_ms']:.2f}{_errors(row, 'rows1_c1')} | "
            f"{row['rows1000_c16.p99_ms']:.1f} | {row.get('rows1_c16.cpu_us_per_req', 0):.0f} / "
            f"{row.get('rows1000_c16.cpu_us_per_req', 0):.0f} | {row['worker_rss_mib']:.0f} | "
            f"{row['startup_s']:.2f} |")
    return "\n".join(lines)


def ratios(table: dict[tuple[str, int], dict[str, float]], ours: str, peer: str
           ) -> dict[int, dict[str, float]]:
    """ours/peer per worker count for req/s, p50, CPU per request and worker RSS."""
    result = {}
    for (server, workers), row in table.items():
        other = table.get((peer, workers))
        if server != ours or other is None:
            continue
        result[workers] = {name: row[name] / other[name] for name in
                           ("rows1_c16.rps", "rows1000_c16.rps", "rows1_c1.p50_ms",
                            "rows1_c16.cpu_us_per_req", "rows1000_c16.cpu_us_per_req",
                            "worker_rss_mib") if other.get(name) and name in row}
    return result


def _times(figures: dict[str, float], name: str) -> str:
    """A ratio as "0.42×", or a dash when a run lacked the figure."""
    return f"{figures[name]:.2f}×" if name in figures else "–"


def ratio_lines(table: dict[tuple[str, int], dict[str, float]],
                pairs: list[tuple[str, str]]) -> list[str]:
    """Markdown rows of ours/azmlinfsrv ratios for each pair present in the table."""
    lines = ["| ours / peer | workers | 1 row, 16 conns req/s | 1000 rows req/s | p50 1 conn | "
             "CPU/req 1 row | CPU/req 1000 rows | worker RSS |", "|---|---|---|---|---|---|---|---|"]
    for ours, peer in pairs:
        for workers, figures in sorted(ratios(table, ours, peer).items()):
            lines.append(f"| {ours} / {peer} | {workers} | {figures['rows1_c16.rps']:.2f}× | "
                         f"{figures['rows1000_c16.rps']:.2f}× | {figures['rows1_c1.p50_ms']:.2f}× "
                         f"| {_times(figures, 'rows1_c16.cpu_us_per_req')} | "
                         f"{_times(figures, 'rows1000_c16.cpu_us_per_req')} | "
                         f"{figures['worker_rss_mib']:.2f}× |")
    return lines


def target_checks(table: dict[tuple[str, int], dict[str, float]],
                  pairs: list[tuple[str, str]]) -> list[tuple[str, bool]]:
    """The issue's speed targets, one (description, met) per ours variant, peer and worker count."""
    checks = []
    for ours, peer in pairs:
        for workers, figures in sorted(ratios(table, ours, peer).items()):
            for load, label in (("rows1_c16.rps", "1 row/16 conns"),
                                ("rows1000_c16.rps", "1000 rows")):
                ratio = figures[load]
                checks.append((f"{ours} {label} ≥ {TARGET_RPS_RATIO}× {peer} ({workers}w): "
                               f"{ratio:.2f}×", ratio >= TARGET_RPS_RATIO))
    peer_of = dict(pairs)
    for (server, workers), row in sorted(table.items()):
        if server not in peer_of:
            continue
        p50 = row["rows1_c1.p50_ms"]
        checks.append((f"{server} p50 < {TARGET_P50_MS} ms at 1 conn, 1 row ({workers}w): "
                       f"{p50:.3f} ms", p50 < TARGET_P50_MS))
        peer_row = table.get((peer_of[server], workers))
        if peer_row:
            scaled = TARGET_P50_MS * peer_row["rows1_c1.p50_ms"] / PEERS_MD_AZML_P50_MS
            checks.append((f"{server} p50 < {scaled:.3f} ms, the target scaled to this machine by "
                           f"{peer_of[server]}'s p50 ({workers}w): {p50:.3f} ms", p50 < scaled))
    return checks


def render(table: dict[tuple[str, int], dict[str, float]], order: list[str],
           pairs: list[tuple[str, str]]) -> str:
    """The whole markdown report: medians, ratios, targets."""
    parts = [markdown_table(table, order), ""]
    present = [(o, p) for o, p in pairs if any(k[0] == o for k in table)
               and any(k[0] == p for k in table)]
    if present:
        parts += ratio_lines(table, present) + [""]
        parts += [f"- [{'x' if met else ' '}] {text}" for text, met in target_checks(table, present)]
    return "\n".join(parts)
