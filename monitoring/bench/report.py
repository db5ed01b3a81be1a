"""The measuring commands' tables: aligned text, one row per figure."""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.5 = median, 0.99 = p99); NaN if empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def verdict(met: bool | None) -> str:
    return "-" if met is None else "yes" if met else "NO"


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        first, *rest = row
        lines.append(
            "  ".join(
                [first.ljust(widths[0])]
                + [v.rjust(w) for v, w in zip(rest, widths[1:], strict=True)]
            )
        )
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


class LoadSampler:
    """Samples the machine's 1-minute load average every few seconds while a run lasts."""

    def __init__(self, every: float = 2.0) -> None:
        import threading

        self.samples: list[float] = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._every = every
        self._thread = threading.Thread(target=self._run, daemon=True, name="loadavg")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self.samples.append(os.getloadavg()[0])

    def summary(self) -> str:
        self._stop.set()
        self.samples.append(os.getloadavg()[0])
        mean = sum(self.samples) / len(self.samples)
        return (
            f"load average (1 min) during the run: min {min(self.samples):.2f}, "
            f"mean {mean:.2f}, max {max(self.samples):.2f} ({len(self.samples)} samples); "
            f"now {load_average()} on {os.cpu_count()} cores"
        )
