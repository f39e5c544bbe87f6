"""Report figures as inline SVG strings (matplotlib, no pyplot global state).

Every figure uses the Okabe-Ito colour-blind-safe palette, text kept as SVG text (smaller,
searchable, sharp in print), and a fixed hash salt so the same input gives the same bytes.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

#: Okabe & Ito (2008), distinguishable under the common colour-vision deficiencies.
OKABE_ITO: Final[tuple[str, ...]] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)
INK: Final = "#1f2933"
MUTED: Final = "#8a94a0"
OVERALL_COLOUR: Final = "#D55E00"
LIMIT_COLOUR: Final = "#009E73"

METRIC_LABELS: Final[dict[str, str]] = {
    "auroc": "AUROC",
    "tpr": "Sensitivity (TPR)",
    "fpr": "False-positive rate",
    "tnr": "Specificity (TNR)",
    "ppv": "PPV",
    "npv": "NPV",
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "brier": "Brier score",
    "ece": "ECE",
    "prevalence": "Prevalence",
    "selection_rate": "Selection rate",
    "dice": "Dice",
    "hd95": "HD95",
    "mae": "MAE",
    "bias": "Bias",
}

_RC: Final[Any] = {  # Any: matplotlib types rc keys as a Literal union
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9.5,
    "axes.edgecolor": "#c3cad3",
    "axes.labelcolor": INK,
    "xtick.color": INK,
    "ytick.color": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def metric_label(name: str) -> str:
    """Readable label of a metric name."""
    return METRIC_LABELS.get(name, name.replace("_", " "))


def _to_svg(fig: Figure, salt: str) -> str:
    buffer = io.StringIO()
    rc: Any = {**_RC, "svg.hashsalt": salt}
    with matplotlib.rc_context(rc):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    # Inline SVG in HTML: drop the XML declaration and DOCTYPE, keep <svg ...>...</svg>.
    text = text[text.index("<svg") :]
    return text.replace("<svg ", f'<svg role="img" aria-label="{salt}" ', 1)


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(_RC):
        return Figure(figsize=(width, height), layout="constrained")


@dataclass(frozen=True)
class ForestRow:
    """One group of a forest plot.

    ``values`` maps metric -> (value, ci_low, ci_high); a ``None`` value draws nothing.
    ``label`` already carries the group size and base rate (or their suppression).
    """

    label: str
    values: dict[str, tuple[float | None, float | None, float | None]]
    judged: bool = True


@dataclass(frozen=True)
class ForestPlot:
    """Inputs of one attribute's forest plot."""

    attribute: str
    metrics: tuple[str, ...]
    rows: tuple[ForestRow, ...]
    overall: dict[str, float | None]
    limits: dict[str, list[float]] = field(default_factory=dict)


def _span(plot: ForestPlot, metric: str) -> tuple[float, float]:
    # Zoom on the data (CIs, overall, limits) so gaps are readable; never beyond [0, 1].
    points = [v for row in plot.rows for v in row.values.get(metric, ()) if v is not None]
    points += [v for v in (plot.overall.get(metric),) if v is not None]
    points += plot.limits.get(metric, [])
    if not points:
        return 0.0, 1.0
    low, high = min(points), max(points)
    pad = max(0.02, 0.08 * (high - low))
    # A little room beyond 0 and 1 so markers on the bound stay whole.
    return max(-0.015, low - pad), min(1.015, high + pad) if high <= 1.0 else high + pad


def forest_svg(plot: ForestPlot) -> str:
    """Forest plot: one panel per metric, one row per group, CI whiskers, overall line."""
    n_rows = max(1, len(plot.rows))
    n_cols = len(plot.metrics)
    fig = _figure(2.3 * n_cols + 2.2, 0.42 * n_rows + 1.1)
    axes = fig.subplots(1, n_cols, sharey=True, squeeze=False)[0]
    positions = np.arange(n_rows)[::-1]
    for col, (ax, metric) in enumerate(zip(axes, plot.metrics, strict=True)):
        for y, row in zip(positions, plot.rows, strict=True):
            value, low, high = row.values.get(metric, (None, None, None))
            if value is None:
                ax.text(
                    0.5,
                    y,
                    "suppressed" if not row.values else "n/a",
                    ha="center",
                    va="center",
                    color=MUTED,
                    fontsize=8,
                    transform=ax.get_yaxis_transform(),  # x in axes units, y in data units
                )
                continue
            colour = OKABE_ITO[0] if row.judged else MUTED
            if low is not None and high is not None:
                ax.hlines(y, low, high, color=colour, linewidth=2.2)
            ax.plot(
                [value],
                [y],
                marker="o" if row.judged else "D",
                markersize=6,
                color=colour,
                markerfacecolor=colour if row.judged else "white",
            )
        overall = plot.overall.get(metric)
        if overall is not None:
            ax.axvline(overall, color=OVERALL_COLOUR, linestyle="--", linewidth=1.2)
        for limit in plot.limits.get(metric, []):
            ax.axvline(limit, color=LIMIT_COLOUR, linestyle=":", linewidth=1.6)
        ax.set_xlim(*_span(plot, metric))
        ax.set_title(metric_label(metric), fontsize=10, color=INK, loc="left")
        ax.grid(axis="x", color="#e6e9ed", linewidth=0.8)
        ax.set_axisbelow(True)
        ax.tick_params(axis="y", length=0)
        if col == 0:
            ax.set_yticks(positions, [row.label for row in plot.rows])
        ax.set_ylim(-0.7, n_rows - 0.3)
    return _to_svg(fig, f"forest plot: {plot.attribute}")


@dataclass(frozen=True)
class Curve:
    """A curve of one group: ``x``/``y`` points and a legend label."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    sizes: Sequence[float] = ()


def roc_svg(attribute: str, curves: Sequence[Curve]) -> str:
    """ROC curves of every group of one attribute on one square axis."""
    fig = _figure(4.6, 4.2)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color=MUTED, linestyle=":", linewidth=1)
    styles = ("-", "--", "-.", (0, (1, 1)))
    for i, curve in enumerate(curves):
        ax.plot(
            curve.x,
            curve.y,
            color=OKABE_ITO[i % len(OKABE_ITO)],
            linestyle=styles[(i // len(OKABE_ITO)) % len(styles)],
            linewidth=1.8,
            label=curve.label,
            drawstyle="steps-post",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("False-positive rate (1 - specificity)")
    ax.set_ylabel("Sensitivity (TPR)")
    ax.set_title(f"ROC by {attribute}", fontsize=10, loc="left")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return _to_svg(fig, f"ROC curves: {attribute}")


def reliability_svg(attribute: str, curves: Sequence[Curve]) -> str:
    """Reliability diagrams, one small panel per group: observed rate vs mean score per bin."""
    n = max(1, len(curves))
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    fig = _figure(2.5 * cols + 0.4, 2.5 * rows + 0.3)
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        if i >= len(curves):
            ax.set_axis_off()
            continue
        curve = curves[i]
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        ax.plot([0, 1], [0, 1], color=MUTED, linestyle=":", linewidth=1)
        sizes = np.asarray(curve.sizes, dtype=float) if len(curve.sizes) else np.ones(len(curve.x))
        area = 12 + 90 * sizes / max(float(sizes.max(initial=1.0)), 1.0)
        ax.plot(curve.x, curve.y, color=colour, linewidth=1.4)
        ax.scatter(curve.x, curve.y, s=area, color=colour, zorder=3, edgecolors="white")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_title(curve.label, fontsize=9, loc="left")
        if i % cols == 0:
            ax.set_ylabel("Observed positive rate")
        if i // cols == rows - 1:
            ax.set_xlabel("Mean predicted score")
    return _to_svg(fig, f"reliability diagrams: {attribute}")


@dataclass(frozen=True)
class HeatCell:
    """A cell of an intersection heat map; ``value`` None draws a hatched grey cell."""

    value: float | None
    text: str


def heat_scale(values: Sequence[float | None]) -> tuple[float, float]:
    """Colour range of a metric's heat maps: 0.5-1, widened to any value outside it.

    One range for every map of a metric (the report passes all of their values), so equal
    colours mean equal values across panels; 0-1 would wash out the gaps that matter.
    """
    finite = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if not finite.size:
        return 0.5, 1.0
    vmin = min(0.5, float(np.floor(finite.min() * 10) / 10))
    vmax = max(1.0, float(np.ceil(finite.max() * 10) / 10))
    return vmin, vmax


def _tick(label: str, width: int = 14) -> str:
    return "\n".join(textwrap.wrap(label, width, break_long_words=True)) or label


def heatmap_svg(
    attribute: str,
    *,
    metric: str,
    rows: Sequence[str],
    cols: Sequence[str],
    cells: Sequence[Sequence[HeatCell]],
    scale: tuple[float, float] | None = None,
) -> str:
    """Heat map of one metric over a two-attribute intersection (cividis colour scale).

    ``scale`` is the colour range shared by every map of the metric (:func:`heat_scale`).
    Cells are sized for three lines of 9 pt text; column labels wrap and tilt so long group
    names never overlap.
    """
    first, _, second = attribute.partition(" | ")
    longest = max((len(c) for c in cols), default=4)
    fig = _figure(1.35 * len(cols) + 2.6, 0.78 * len(rows) + 1.4 + 0.06 * min(longest, 28))
    ax = fig.subplots()
    data = np.array(
        [[np.nan if c.value is None else c.value for c in row] for row in cells], dtype=float
    )
    cmap = matplotlib.colormaps["cividis"].with_extremes(bad="#eceff2")
    vmin, vmax = scale if scale is not None else heat_scale(list(data[np.isfinite(data)]))
    image = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            if cell.value is None:
                ax.add_patch(
                    Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, hatch="//", edgecolor="#c3cad3")
                )
                colour = INK
            else:
                colour = "white" if (cell.value - vmin) / (vmax - vmin) < 0.55 else INK
            ax.text(c, r, cell.text, ha="center", va="center", fontsize=9, color=colour)
    ax.set_xticks(range(len(cols)), [_tick(c) for c in cols])
    ax.set_yticks(range(len(rows)), [_tick(r, 20) for r in rows])
    if longest > 8:
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    ax.tick_params(length=0, labelsize=9)
    ax.set_xlabel(second)
    ax.set_ylabel(first)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(f"{metric_label(metric)} by {first} × {second}", fontsize=10, loc="left")
    fig.colorbar(image, ax=ax, shrink=0.8, label=metric_label(metric))
    return _to_svg(fig, f"heat map: {attribute}")
