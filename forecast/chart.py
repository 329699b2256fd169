"""The forecast's timeline as a chart, to answer "is a limit the bottleneck?".

Panels over the same hours:

- top: nodes in maintenance (preparing, approved, in progress), stacked by zone;
- then one row per limit, in its own colour: what it has in use (filled) and what it
  allows (dashed). Where the fill reaches the line, that limit holds the queue back.

The hours when a limit's window is closed are shaded in that limit's colour, in its
row and in the top panel, whose legend names the limit ("zone-c: window closed").
Counts are whole nodes, so the y-axes tick at integers. SVG or PNG by the file's
suffix. Drawn with matplotlib, an optional dependency (`pip install
repairman[forecast]`), imported only here and only when a chart is asked for.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from forecast.simulation import Forecast


class ChartError(Exception):
    """The chart cannot be drawn; `str()` is one line."""


def draw(result: Forecast, path: Path, *, title: str = "") -> None:
    if path.suffix.lower() not in (".svg", ".png"):
        raise ChartError(f"{path}: a chart is written as .svg or .png")
    pyplot = _pyplot()
    figure = figure_of(result, title=title)
    try:
        figure.savefig(path)
    except OSError as error:
        raise ChartError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        pyplot.close(figure)


def _pyplot() -> Any:
    try:
        import matplotlib  # noqa: PLC0415 - optional, and heavy

        matplotlib.use("Agg")
        from matplotlib import pyplot  # noqa: PLC0415
    except ImportError:
        raise ChartError(
            "drawing a chart needs matplotlib: pip install 'repairman[forecast]'"
        ) from None
    return pyplot


def figure_of(result: Forecast, *, title: str = "") -> Any:
    """The chart as a matplotlib Figure (the caller saves and closes it)."""
    pyplot = _pyplot()
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415 - with pyplot

    zones = sorted({zone for _, counts in result.active_by_zone for zone in counts})
    names = sorted({name for _, allowed in result.allowed for name in allowed})
    figure, panels = pyplot.subplots(
        1 + len(names),
        1,
        figsize=(11, 4 + 1.2 * len(names)),
        sharex=True,
        layout="constrained",
        height_ratios=(3, *([1] * len(names))),
        squeeze=False,
    )
    nodes, rows = panels[0][0], [row[0] for row in panels[1:]]
    # Zones take the first colours of the cycle, limits the next: a limit is never
    # mistaken for a zone of the same colour.
    cycle = pyplot.rcParams["axes.prop_cycle"].by_key()["color"]
    colour = {name: cycle[(len(zones) + i) % len(cycle)] for i, name in enumerate(names)}
    times = [moment for moment, _ in result.active_by_zone]
    if times:
        series = [[counts.get(zone, 0) for _, counts in result.active_by_zone] for zone in zones]
        nodes.stackplot(times, series, labels=[f"zone {z}" for z in zones], step="post", alpha=0.85)
    closed = _closed_spans(result)
    for name, row in zip(names, rows, strict=True):
        moments = [moment for moment, _ in result.in_use]
        used = [uses.get(name, 0) for _, uses in result.in_use]
        row.fill_between(moments, used, step="post", color=colour[name], alpha=0.5, lw=0)
        row.step(
            [moment for moment, _ in result.allowed],
            [allowed.get(name) for _, allowed in result.allowed],
            where="post",
            color=colour[name],
            linestyle="--",
        )
        row.set_ylabel(name, rotation=0, ha="right", va="center")
    for name, spans in closed.items():
        row = rows[names.index(name)] if name in names else None
        for index, (start, end) in enumerate(spans):
            for axes in (nodes, row) if row is not None else (nodes,):
                axes.axvspan(
                    start,
                    end,
                    color=colour.get(name, "0.5"),
                    alpha=0.15,
                    zorder=0,
                    label=f"{name}: window closed" if index == 0 and axes is nodes else None,
                )
    for axes in (nodes, *rows):
        axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4 if axes in rows else 8))
        axes.set_ylim(bottom=0)
        axes.grid(axis="y", alpha=0.3)
    nodes.set_ylabel("nodes in maintenance")
    if rows:
        rows[0].set_title(
            "each limit: in use (filled), what it allows (dashed); shaded while its window "
            "is closed",
            fontsize="small",
        )
    (rows[-1] if rows else nodes).set_xlabel("time (UTC)")
    hours = result.makespan / 3600
    nodes.set_title(
        title
        or f"Forecast: {len(result.requests)} requests, makespan {hours:.1f} h"
        + ("" if result.finished else " (unfinished)")
    )
    if zones or closed:
        nodes.legend(loc="upper right", fontsize="small")
    figure.autofmt_xdate()
    return figure


def _closed_spans(result: Forecast) -> dict[str, list[tuple[datetime, datetime]]]:
    """Per limit with windows, the spans of passes during which they were closed."""
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    opened: dict[str, datetime] = {}
    previous = None
    for moment, closed in result.windows_closed:
        for name in closed:
            opened.setdefault(name, moment)
        for name in [n for n in opened if n not in closed]:
            spans.setdefault(name, []).append((opened.pop(name), moment))
        previous = moment
    if previous is not None:
        for name, start in opened.items():
            spans.setdefault(name, []).append((start, previous))
    return spans
