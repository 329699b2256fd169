"""The forecast's timeline as a chart: nodes in maintenance over time, stacked by zone,
with the hours when a limit's window is closed shaded. SVG or PNG by the file's
suffix. Drawn with matplotlib, an optional dependency (`pip install
repairman[forecast]`), imported only here and only when a chart is asked for.
"""

from __future__ import annotations

from pathlib import Path

from forecast.simulation import Forecast


class ChartError(Exception):
    """The chart cannot be drawn; `str()` is one line."""


def draw(result: Forecast, path: Path, *, title: str = "") -> None:
    if path.suffix.lower() not in (".svg", ".png"):
        raise ChartError(f"{path}: a chart is written as .svg or .png")
    try:
        import matplotlib  # noqa: PLC0415 - optional, and heavy

        matplotlib.use("Agg")
        from matplotlib import pyplot  # noqa: PLC0415
    except ImportError:
        raise ChartError(
            "drawing a chart needs matplotlib: pip install 'repairman[forecast]'"
        ) from None
    times = [moment for moment, _ in result.active_by_zone]
    zones = sorted({zone for _, counts in result.active_by_zone for zone in counts})
    figure, axes = pyplot.subplots(figsize=(11, 4.5), layout="constrained")
    if times:
        series = [[counts.get(zone, 0) for _, counts in result.active_by_zone] for zone in zones]
        axes.stackplot(times, series, labels=[f"zone {z}" for z in zones], step="post", alpha=0.85)
        closed_spans = _closed_spans(result)
        for index, (start, end) in enumerate(closed_spans):
            axes.axvspan(
                start,
                end,
                color="0.85",
                zorder=0,
                label="a window closed" if index == 0 else None,
            )
    axes.set_ylabel("nodes in maintenance")
    axes.set_xlabel("time (UTC)")
    hours = result.makespan / 3600
    axes.set_title(
        title
        or f"Forecast: {len(result.requests)} requests, makespan {hours:.1f} h"
        + ("" if result.finished else " (unfinished)")
    )
    axes.grid(axis="y", alpha=0.3)
    if zones:
        axes.legend(loc="upper right", fontsize="small")
    figure.autofmt_xdate()
    try:
        figure.savefig(path)
    except OSError as error:
        raise ChartError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        pyplot.close(figure)


def _closed_spans(result: Forecast) -> list[tuple[object, object]]:
    spans = []
    start = None
    previous = None
    for moment, closed in result.windows_closed:
        if closed and start is None:
            start = moment
        elif not closed and start is not None:
            spans.append((start, moment))
            start = None
        previous = moment
    if start is not None and previous is not None:
        spans.append((start, previous))
    return spans
