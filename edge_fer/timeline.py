"""The timeline plot of a video: per tracked face, each emotion's probability over media time.

Drawn with OpenCV and numpy (the runtime has no matplotlib): one panel per track, the panels sharing one
time axis (the whole video) so people can be compared moment by moment; lines in the overlay's colours
(:data:`edge_fer.drawing.COLORS`) on a dark ground, where all of them read, including neutral's light grey.
A line breaks where its track was not seen (a gap of more than one frame), so missing data does not look
like a steady emotion. The longest :data:`MAX_PANELS` tracks are drawn; the rest are named in a footer (the
summary JSON has them all).
"""

from __future__ import annotations

import itertools
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge_fer.atomic import write_bytes
from edge_fer.drawing import COLORS
from edge_fer.errors import EdgeFerError

if TYPE_CHECKING:
    from edge_fer.analysis import TrackSeries, VideoAnalysis

WIDTH = 1200
HEADER_H, PANEL_H, FOOTER_H = 64, 200, 34
MARGIN_L, MARGIN_R, PANEL_TOP, PANEL_BOTTOM = 64, 24, 26, 30
MAX_PANELS = 8
BACKGROUND, PLOT_BG, GRID, INK, DIM = (24, 24, 24), (40, 40, 40), (72, 72, 72), (230, 230, 230), (150, 150, 150)
UNREAD = (32, 32, 48)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_OTHER = (160, 160, 160)


#: Tick spacings (s) for videos of two minutes and more: whole minutes and hours read better than 1-2-5 steps.
CLOCK_STEPS = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def nice_step(span: float, target_ticks: int = 10) -> float:
    """A tick spacing giving about ``target_ticks`` ticks over ``span`` seconds: 1, 2 or 5 times a power of ten
    below two minutes, a clock step (:data:`CLOCK_STEPS`) from there on."""
    if span <= 0:
        return 1.0
    raw = span / target_ticks
    if span >= 120:
        return float(next((c for c in CLOCK_STEPS if c >= raw), CLOCK_STEPS[-1] * math.ceil(raw / CLOCK_STEPS[-1])))
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def tick_label(t: float, t_max: float) -> str:
    """Seconds on short videos (``2.5``), minutes:seconds from two minutes on (``12:30``), h:mm:ss from an hour."""
    if t_max < 120:
        return f"{t:g}"
    whole = round(t)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if t_max >= 3600 else f"{whole // 60}:{whole % 60:02d}"


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.5, color=INK, thick: int = 1) -> int:
    cv2.putText(img, text, org, _FONT, scale, color, thick, cv2.LINE_AA)
    return cv2.getTextSize(text, _FONT, scale, thick)[0][0]


def _legend(img: np.ndarray, labels: list[str], y: int) -> None:
    x = MARGIN_L
    for label in labels:
        color = COLORS.get(label, _OTHER)
        cv2.line(img, (x, y - 5), (x + 22, y - 5), color, 3, cv2.LINE_AA)
        x += 28 + _text(img, label, (x + 28, y), 0.5) + 22


def _segments(series: TrackSeries) -> list[slice]:
    """Runs of consecutive frames: a line is drawn through each run and broken between runs."""
    breaks = np.flatnonzero(np.diff(series.frames) > 1) + 1
    bounds = [0, *breaks.tolist(), len(series.frames)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


def _panel_ground(img: np.ndarray, top: int, t_max: float, step: float, readable_until: float | None) -> None:
    """The empty plot: ground, grid, axis labels; the part of a cut file that could not be read, hatched."""
    x0, x1 = MARGIN_L, WIDTH - MARGIN_R
    y0, y1 = top + PANEL_TOP, top + PANEL_H - PANEL_BOTTOM
    cv2.rectangle(img, (x0, y0), (x1, y1), PLOT_BG, cv2.FILLED)
    if readable_until is not None and readable_until < t_max:
        xc = round(x0 + readable_until / t_max * (x1 - x0))
        region = np.empty((y1 - y0, x1 - xc, 3), np.uint8)
        region[:] = UNREAD
        for x in range(-region.shape[0], region.shape[1], 14):  # OpenCV clips the diagonals to the region
            cv2.line(region, (x, region.shape[0]), (x + region.shape[0], 0), GRID, 1, cv2.LINE_AA)
        img[y0:y1, xc:x1] = region
        _text(img, "not readable", (xc + 8, y0 + 18), 0.45, DIM)
    for p in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = round(y1 - p * (y1 - y0))
        cv2.line(img, (x0, y), (x1, y), GRID, 1)
        if p in (0.0, 0.5, 1.0):
            _text(img, f"{p:.1f}", (x0 - 34, y + 5), 0.45, DIM)
    ticks = np.arange(0.0, t_max + 1e-9, step)
    for t in ticks:
        x = round(x0 + t / t_max * (x1 - x0))
        cv2.line(img, (x, y0), (x, y1), GRID, 1)
        text = tick_label(t, t_max)
        _text(img, text, (x - 4 * len(text), y1 + 18), 0.45, DIM)


def _panel(
    img: np.ndarray, top: int, series: TrackSeries, labels: list[str], t_max: float, title: str, step: float,
    readable_until: float | None,
) -> None:  # fmt: skip
    x0, x1 = MARGIN_L, WIDTH - MARGIN_R
    y0, y1 = top + PANEL_TOP, top + PANEL_H - PANEL_BOTTOM
    _panel_ground(img, top, t_max, step, readable_until)
    _text(img, title, (x0, top + 18), 0.5)
    xs = x0 + series.times / t_max * (x1 - x0)
    ys = y1 - np.clip(series.probs, 0.0, 1.0) * (y1 - y0)  # (N, C)
    for run in _segments(series):
        run_x, run_y = _per_column(xs[run], ys[run])
        for c, label in enumerate(labels):
            pts = np.round(np.stack([run_x, run_y[:, c]], axis=1) * 16).astype(np.int32)  # 4 fractional bits
            color = COLORS.get(label, _OTHER)
            if len(pts) == 1:
                cv2.circle(img, tuple(pts[0]), 2 * 16, color, cv2.FILLED, cv2.LINE_AA, shift=4)
            else:
                cv2.polylines(img, [pts], False, color, 2, cv2.LINE_AA, shift=4)


def _per_column(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Samples (N,) x and (N, C) y averaged per pixel column where a run has more samples than columns (long
    recordings: thousands of frames across ~1,100 pixels would draw as noise bands); unchanged otherwise."""
    columns = np.floor(xs).astype(np.int64)
    if len(np.unique(columns)) == len(columns):
        return xs, ys
    keys, inverse, counts = np.unique(columns, return_inverse=True, return_counts=True)
    sums = np.zeros((len(keys), ys.shape[1]))
    np.add.at(sums, inverse, ys)
    return keys + 0.5, sums / counts[:, None]


def render_timeline(analysis: VideoAnalysis, title: str = "") -> np.ndarray:
    """The plot as a BGR uint8 image: ``WIDTH`` wide, ``HEADER_H + panels * PANEL_H + FOOTER_H`` high
    (one panel per drawn track, at least one)."""
    labels = analysis.labels
    series = sorted(analysis.series(), key=lambda s: (-len(s.frames), s.track_id))
    shown = sorted(series[:MAX_PANELS], key=lambda s: s.track_id)
    summaries = {t.track_id: t for t in analysis.summary.tracks}
    s = analysis.summary
    readable_until = None if s.complete or not s.duration_promised_s else s.duration_s
    t_max = max(s.duration_s, s.duration_promised_s or 0.0, max((float(x.times[-1]) for x in series), default=0.0))
    t_max = max(t_max, 1e-3)
    step = nice_step(t_max)
    height = HEADER_H + max(1, len(shown)) * PANEL_H + FOOTER_H
    img = np.empty((height, WIDTH, 3), np.uint8)
    img[:] = BACKGROUND
    tracks = f"{len(series)} track" + ("" if len(series) == 1 else "s")
    head = f"{title or s.source}: {s.frames_read} frames, {s.duration_s:.2f} s, {tracks}"
    if readable_until is not None:
        head += f"; the file ended early ({s.frames_read} of {s.frames_promised} frames readable)"
    _text(img, head, (MARGIN_L, 24), 0.6, INK, 1)
    _legend(img, labels, 52)
    for i, one in enumerate(shown):
        summary = summaries.get(one.track_id)
        share = f" ({summary.top_share[summary.dominant]:.0%} of its frames)" if summary else ""
        dominant = f", mostly {summary.dominant}{share}" if summary else ""
        panel_title = (
            f"track #{one.track_id}: {one.times[0]:.2f}-{one.times[-1]:.2f} s, {len(one.frames)} frames{dominant}"
        )
        _panel(img, HEADER_H + i * PANEL_H, one, labels, t_max, panel_title, step, readable_until)
    if not shown:
        _panel_ground(img, HEADER_H, t_max, step, readable_until)
        _text(img, "no faces found", (WIDTH // 2 - 70, HEADER_H + PANEL_H // 2), 0.7, DIM, 1)
    hidden = len(series) - len(shown)
    foot = "probability (0-1) over media time (" + ("s" if t_max < 120 else "m:ss" if t_max < 3600 else "h:mm:ss") + ")"
    if hidden:
        foot += f"; {hidden} shorter tracks not drawn (in the summary JSON)"
    _text(img, foot, (MARGIN_L, height - 12), 0.5, DIM)
    return img


def write_timeline(analysis: VideoAnalysis, path: str | os.PathLike[str], title: str = "") -> Path:
    """Render the plot and write it to ``path`` as PNG, atomically."""
    ok, data = cv2.imencode(".png", render_timeline(analysis, title))
    if not ok:
        raise EdgeFerError(f"{path}: OpenCV could not encode the timeline PNG")
    return write_bytes(path, data.tobytes())
