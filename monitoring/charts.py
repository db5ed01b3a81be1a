"""The participant-count chart, drawn on the server as a small SVG (no chart library)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from django.utils import timezone
from django.utils.html import escape

WIDTH = 600
HEIGHT = 140
PAD_LEFT = 36
PAD_RIGHT = 10
PAD_TOP = 10
PAD_BOTTOM = 24
# Beyond this many steps the line is thinned (the shape stays, the SVG stays small).
MAX_POINTS = 600
# Stretches of time a room's joins and leaves are summed into when read in bulk.
CHART_BUCKETS = 300


def participant_count_series(
    *,
    spans: Iterable[tuple[datetime, datetime | None]],
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[tuple[datetime, int]]:
    """Step points (time, participants present) from each participant's joined/left times.

    Built from the participant rows rather than the raw event stream, so duplicate or
    lost webhooks (healed by the reconciler) cannot skew the curve.
    """
    changes: list[tuple[datetime, int]] = []
    for joined_at, left_at in spans:
        if joined_at is None:
            continue
        changes.append((joined_at, 1))
        if left_at is not None:
            changes.append((max(left_at, joined_at), -1))
    # Leaves sort before joins at the same instant so the count never overshoots.
    changes.sort(key=lambda change: (change[0], change[1]))
    levels = []
    count = 0
    for moment, delta in changes:
        count = max(count + delta, 0)
        levels.append((moment, count))
    return participant_count_steps(levels=levels, start=start, end=end)


def participant_count_steps(
    *,
    levels: Iterable[tuple[datetime, int]],
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[tuple[datetime, int]]:
    """Step points from the count after each change, in time order: after every join
    and leave, or (what the database sums for large rooms, so the chart costs the same
    at any size) each of ``CHART_BUCKETS`` stretches of time's peak and last count."""
    levels = list(levels)
    points: list[tuple[datetime, int]] = []
    if start is not None and (not levels or start <= levels[0][0]):
        points.append((start, 0))
    for moment, count in levels:
        count = max(count, 0)
        if points and points[-1][0] == moment:
            points[-1] = (moment, count)
        else:
            points.append((moment, count))
    finish = end or timezone.now()
    if points and finish > points[-1][0]:
        points.append((finish, points[-1][1]))
    return points


def _thin(points: Sequence[tuple[datetime, int]]) -> list[tuple[datetime, int]]:
    if len(points) <= MAX_POINTS:
        return list(points)
    step = len(points) / MAX_POINTS
    kept = [points[int(i * step)] for i in range(MAX_POINTS)]
    kept[-1] = points[-1]
    return kept


def participant_count_svg(*, points: Sequence[tuple[datetime, int]]) -> str:
    """An accessible step chart; text in it is escaped (it only ever holds numbers and times)."""
    if len(points) < 2:
        return (
            f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'width="{WIDTH}" height="{HEIGHT}" aria-label="No participants yet">'
            f'<text x="{WIDTH / 2:.0f}" y="{HEIGHT / 2:.0f}" text-anchor="middle" '
            'class="chart-empty">No participants yet</text></svg>'
        )
    points = _thin(points)
    first, last = points[0][0], points[-1][0]
    span = max((last - first).total_seconds(), 1.0)
    peak = max(max(count for _, count in points), 1)
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(moment: datetime) -> float:
        return PAD_LEFT + (moment - first).total_seconds() / span * plot_w

    def y(count: int) -> float:
        return PAD_TOP + plot_h - count / peak * plot_h

    coords: list[str] = []
    previous: int | None = None
    for moment, count in points:
        if previous is not None:
            coords.append(f"{x(moment):.1f},{y(previous):.1f}")
        coords.append(f"{x(moment):.1f},{y(count):.1f}")
        previous = count
    local_first = timezone.localtime(first)
    local_last = timezone.localtime(last)
    label = escape(
        f"Participants over time: peak {peak}, now {points[-1][1]}, "
        f"from {local_first:%H:%M} to {local_last:%H:%M}"
    )
    return (
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" aria-label="{label}">'
        f"<title>{label}</title>"
        f'<line class="chart-axis" x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" '
        f'x2="{WIDTH - PAD_RIGHT}" y2="{PAD_TOP + plot_h}"/>'
        f'<line class="chart-axis" x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" '
        f'y2="{PAD_TOP + plot_h}"/>'
        f'<text class="chart-label" x="{PAD_LEFT - 4}" y="{PAD_TOP + 8}" '
        f'text-anchor="end">{peak}</text>'
        f'<text class="chart-label" x="{PAD_LEFT - 4}" y="{PAD_TOP + plot_h}" '
        'text-anchor="end">0</text>'
        f'<text class="chart-label" x="{PAD_LEFT}" y="{HEIGHT - 6}">'
        f"{escape(f'{local_first:%H:%M:%S}')}</text>"
        f'<text class="chart-label" x="{WIDTH - PAD_RIGHT}" y="{HEIGHT - 6}" '
        f'text-anchor="end">{escape(f"{local_last:%H:%M:%S}")}</text>'
        f'<polyline class="chart-line" fill="none" points="{" ".join(coords)}"/>'
        "</svg>"
    )
