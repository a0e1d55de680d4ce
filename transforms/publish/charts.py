"""Static charts for the publication's reports, as data URIs for an <img> tag.

Why static SVG in a data URI: the reports are opened offline, from a file, by auditors and
actuaries; a chart library from a CDN would render nothing there, and inline SVG markup would
need an escape bypass in the autoescaped templates. matplotlib (Agg, no display) draws each chart
once at publication time into an SVG whose text stays text; the template only places the URI.
Every chart draws figures the caller took from the published marts (or from counts the pipeline
records): nothing finer than what is published.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import matplotlib.pyplot as plt


@cache
def _pyplot() -> ModuleType:
    """pyplot, on the Agg backend with the reports' settings, imported with the first chart:
    the pipeline's tasks import the publication code, and only the publish task draws (the
    import alone took 0.4-0.7 s of every no-op run's start)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    pyplot.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "publication",
                            "font.size": 9, "axes.spines.top": False,
                            "axes.spines.right": False})
    return pyplot


ANNOTATE_CELLS = 200


def _uri(fig: plt.Figure) -> str:
    # fixed margins: matplotlib's constrained or tight layout draws each figure twice
    fig.subplots_adjust(left=0.16, right=0.86, bottom=0.22, top=0.88)
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    _pyplot().close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def heatmap(values: np.ndarray, rows: Sequence[object], cols: Sequence[object], *,
            title: str, xlabel: str, ylabel: str, fmt: str = "{:,.0f}") -> str:
    """A triangle (or any matrix) as a heatmap with each cell's value written in it; NaN
    cells (not yet developed, or suppressed) stay blank."""
    fig, ax = _pyplot().subplots(figsize=(1.0 + 0.9 * max(len(cols), 2),
                                    0.9 + 0.45 * max(len(rows), 2)))
    masked = np.ma.masked_invalid(values.astype(float))
    ax.imshow(masked, cmap="YlOrRd", aspect="auto")
    ax.set_xticks(range(len(cols)), [str(c) for c in cols])
    ax.set_yticks(range(len(rows)), [str(r) for r in rows])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    top = np.nanmax(values) if np.isfinite(values).any() else 0
    if values.size > ANNOTATE_CELLS:  # unreadable, and each label costs a text layout
        return _uri(fig)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            if np.isfinite(v):
                ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7,
                        color="white" if top and v > 0.6 * top else "black")
    return _uri(fig)


def grouped_bars(labels: Sequence[str], series: dict[str, Sequence[float]], *, title: str,
                 ylabel: str, line: tuple[str, Sequence[float], str] | None = None,
                 hline: tuple[float, str] | None = None) -> str:
    """Bars per label for each series, optionally a line on a second axis (e.g. frequency
    over exposure) and a horizontal reference line (e.g. k)."""
    wide = max(4.5, 0.7 * len(labels) * max(len(series), 1) + 1.5)
    fig, ax = _pyplot().subplots(figsize=(wide, 3.2))
    x = np.arange(len(labels))
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x, labels, rotation=30 if len(labels) > 5 else 0, ha="right"
                  if len(labels) > 5 else "center")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if hline is not None:
        ax.axhline(hline[0], color="#b00020", linestyle="--", linewidth=1, label=hline[1])
    handles, names = ax.get_legend_handles_labels()
    if line is not None:
        twin = ax.twinx()
        twin.plot(x, line[1], color="#333", marker="o", label=line[0])
        twin.set_ylabel(line[2])
        h2, n2 = twin.get_legend_handles_labels()
        handles, names = handles + h2, names + n2
    if len(names) > 1 or line is not None or hline is not None:
        ax.legend(handles, names, fontsize=8, loc="upper left")
    return _uri(fig)


def lines(xs: Sequence[object], series: dict[str, Sequence[float]], *, title: str,
          xlabel: str, ylabel: str) -> str:
    """One line per series (e.g. age-to-age factors by development period)."""
    fig, ax = _pyplot().subplots(figsize=(5.0, 3.0))
    for name, values in series.items():
        ax.plot([str(x) for x in xs], values, marker="o", label=name)
    ax.axhline(1.0, color="#999", linewidth=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if series:
        ax.legend(fontsize=8)
    return _uri(fig)


def flow(stages: Sequence[tuple[str, int]], *, title: str) -> str:
    """Horizontal bars of row counts along the pipeline (delivered, quarantined, ...)."""
    fig, ax = _pyplot().subplots(figsize=(6.0, 0.5 + 0.45 * len(stages)))
    names = [s for s, _ in stages][::-1]
    values = [n for _, n in stages][::-1]
    colours = ["#b00020" if "quarantined" in s else "#2a6f97" for s in names]
    bars = ax.barh(names, values, color=colours)
    ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=3, fontsize=8)
    ax.set_xlabel("rows")
    ax.set_title(title)
    ax.set_xlim(0, max(values + [1]) * 1.2)
    return _uri(fig)
