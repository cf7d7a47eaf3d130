"""The course's diagram kit: one palette and the shapes every chapter's figures are drawn with.

A colour means the same thing in every figure of the course (autograde/<chapter>/figures.py).
Sizes are in data units; `canvas` makes one data unit INCHES_PER_UNIT inches, so text and
shapes keep their proportions.

Plots (d2l's training curves, the chapters' own comparisons) take their colours from
PLOT_COLORS, the Okabe-Ito palette, which readers with any kind of colour vision can tell
apart; `plot_style()`, called by every notebook's set-up cell, makes it matplotlib's default
and sets font sizes that stay legible at the size the website shows the figures.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path

Point = tuple[float, float]

# One palette for both figures: a colour means the same thing everywhere.
SIGMOID_FACE, SIGMOID_EDGE = "#ffd8a8", "#d9480f"  # sigmoid gates I, F, O
TANH_FACE, TANH_EDGE = "#c3fae8", "#0b7285"  # tanh: candidate memory, tanh(C_t)
POINTWISE_FACE, POINTWISE_EDGE = "#fff0f6", "#a61e4d"  # elementwise * and +
CELL_FACE, CELL_EDGE = "#f1f3f5", "#868e96"  # the cell's frame; cells when unrolled
MEMORY_COLOR = "#212529"  # the memory C (c)
HIDDEN_COLOR = "#1864ab"  # the hidden state H (h)
INPUT_COLOR = "#2b8a3e"  # the input X (x)
NOTE_COLOR = "#495057"  # captions and side notes

# Plots: the Okabe-Ito palette (blue, vermillion, bluish green, reddish purple, orange, sky
# blue, black), in that order: the first lines of a plot are the easiest to tell apart.
PLOT_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
# Text sizes in points for plots. The website shows a plot at its own size (a 7.6-inch-wide
# figure fills the text column at 1280 px), so 10 pt is about 13 px on screen.
PLOT_FONT_SIZES = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
}
# The widest a plot should be drawn, in inches: the website's text column at 1280 px.
PLOT_MAX_WIDTH = 7.6

LINE_WIDTH = 1.8
ARROW_HEAD = 14  # arrow head size in points

# A diagram's scale: inches per data unit. Text sizes are in points, so a
# figure's size follows its data extent to keep text and shapes in proportion.
INCHES_PER_UNIT = 0.56


def plot_style() -> None:
    """The course's look for every plot drawn after it: PLOT_COLORS and PLOT_FONT_SIZES."""
    from cycler import cycler

    plt.rcParams.update(PLOT_FONT_SIZES)
    plt.rcParams["axes.prop_cycle"] = cycler(color=PLOT_COLORS)


def canvas(xlim: Point, ylim: Point) -> tuple[Figure, Axes]:
    """A white figure whose one axes fills it, one data unit = INCHES_PER_UNIT."""
    width = (xlim[1] - xlim[0]) * INCHES_PER_UNIT
    height = (ylim[1] - ylim[0]) * INCHES_PER_UNIT
    # layout="none": a style that turns on constrained layout must not move the axes.
    fig = plt.figure(figsize=(width, height), facecolor="white", layout="none")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return fig, ax


def box(
    ax: Axes,
    center: Point,
    width: float,
    height: float,
    text: str = "",
    *,
    face: str,
    edge: str,
    fontsize: float = 15,
    rounding: float = 0.15,
    zorder: float = 3,
    gid: str | None = None,
) -> FancyBboxPatch:
    """A rounded box centred on `center`, with `text` in its middle."""
    x, y = center
    patch = FancyBboxPatch(
        (x - width / 2, y - height / 2),
        width,
        height,
        boxstyle=f"round,pad=0,rounding_size={rounding}",
        facecolor=face,
        edgecolor=edge,
        linewidth=LINE_WIDTH,
        zorder=zorder,
        gid=gid,
    )
    ax.add_patch(patch)
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=4)
    return patch


def cell_frame(ax: Axes, left: float, right: float, bottom: float, top: float, gid: str) -> None:
    """The rounded frame a cell diagram (LSTM, GRU) draws its gates inside."""
    box(
        ax,
        ((left + right) / 2, (bottom + top) / 2),
        right - left,
        top - bottom,
        face=CELL_FACE,
        edge=CELL_EDGE,
        rounding=0.4,
        zorder=0,
        gid=gid,
    )


def circle(
    ax: Axes,
    center: Point,
    radius: float,
    text: str,
    *,
    face: str = POINTWISE_FACE,
    edge: str = POINTWISE_EDGE,
    fontsize: float = 15,
    gid: str | None = None,
) -> Circle:
    """A pointwise operation: a circle with its symbol inside."""
    patch = Circle(center, radius, facecolor=face, edgecolor=edge, linewidth=LINE_WIDTH, zorder=3, gid=gid)
    ax.add_patch(patch)
    if text:
        ax.text(*center, text, ha="center", va="center", fontsize=fontsize, zorder=4)
    return patch


def arrow(ax: Axes, points: Sequence[Point], color: str) -> FancyArrowPatch:
    """A polyline through `points` with its head exactly on the last point."""
    patch = FancyArrowPatch(
        path=Path(points),
        arrowstyle="-|>",
        mutation_scale=ARROW_HEAD,
        color=color,
        linewidth=LINE_WIDTH,
        joinstyle="miter",
        capstyle="butt",
        zorder=2,
    )
    ax.add_patch(patch)
    return patch


def dot(ax: Axes, point: Point, color: str) -> None:
    """Marks where a line splits in two."""
    ax.add_patch(Circle(point, 0.09, color=color, zorder=2.5))


def label(
    ax: Axes, point: Point, text: str, *, ha: str = "center", va: str = "center", fontsize: float = 14, **style
) -> None:
    ax.text(*point, text, ha=ha, va=va, fontsize=fontsize, zorder=4, **style)


def positive_int(name: str, value: object) -> int:
    if isinstance(value, bool):  # bool is an int, but unrolled(True) is a mistake
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be a positive integer, got {value!r}") from None
    if number < 1:
        raise ValueError(f"{name} must be a positive integer (1 or more), got {number}")
    return number


def legend(ax: Axes, y: float, tanh_x: float, pointwise_x: float) -> None:
    """Swatches for the three kinds of node, in one row: sigmoid from x = -1.3, then tanh, then pointwise."""
    box(ax, (-1.3, y), 0.6, 0.42, face=SIGMOID_FACE, edge=SIGMOID_EDGE)
    label(ax, (-0.8, y), r"sigmoid layer ($\sigma$)", ha="left", fontsize=12, color=NOTE_COLOR)
    box(ax, (tanh_x, y), 0.6, 0.42, face=TANH_FACE, edge=TANH_EDGE)
    label(ax, (tanh_x + 0.5, y), "tanh layer", ha="left", fontsize=12, color=NOTE_COLOR)
    circle(ax, (pointwise_x, y), 0.24, "")
    label(ax, (pointwise_x + 0.5, y), "elementwise operation", ha="left", fontsize=12, color=NOTE_COLOR)
