"""The course's own diagrams, drawn with matplotlib.

- `lstm_cell()`: one LSTM cell, its gates and the update equations;
- `unrolled(steps, layers)`: an LSTM unrolled over time, one or more layers.

Each function returns a pyplot figure and leaves it open. A notebook shows the
figure at the end of the cell as it shows any plot; end the line with `;`
(`lstm_cell();`) so that the returned value is not shown a second time. Outside
a notebook, save it with `fig.savefig("cell.svg")` (or .png, .pdf) and close it
with `plt.close(fig)`.
"""

from __future__ import annotations

import operator
from typing import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path

__all__ = ["lstm_cell", "unrolled"]

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

LINE_WIDTH = 1.8
ARROW_HEAD = 14  # arrow head size in points

# A diagram's scale: inches per data unit. Text sizes are in points, so a
# figure's size follows its data extent to keep text and shapes in proportion.
INCHES_PER_UNIT = 0.56

# Where the first figure's cell parts sit: rows (y) and columns (x).
MEMORY_Y, PRODUCT_Y, GATE_Y, BUS_Y = 6.2, 4.4, 2.8, 1.0
FORGET_X, INPUT_X, CANDIDATE_X, OUTPUT_X, TANH_X = 1.8, 3.8, 5.8, 7.8, 9.6
ADD_X = (INPUT_X + CANDIDATE_X) / 2
X_IN_X = 0.8  # where X_t joins the H_{t-1} line
GATE_W, GATE_H = 1.3, 0.9
NODE_R = 0.36  # radius of the * and + nodes
TANH_R = 0.46  # the tanh node is wider: its label is four letters
CELL_LEFT, CELL_RIGHT, CELL_BOTTOM, CELL_TOP = 0.0, 10.8, 0.0, 7.2
LINE_LEFT, LINE_RIGHT = -1.2, 12.4  # where the state lines enter and leave

GATE_EQUATIONS = (
    r"$I_t = \sigma(X_t W_{xi} + H_{t-1} W_{hi} + b_i)$",
    r"$F_t = \sigma(X_t W_{xf} + H_{t-1} W_{hf} + b_f)$",
    r"$O_t = \sigma(X_t W_{xo} + H_{t-1} W_{ho} + b_o)$",
    r"$\tilde{C}_t = \tanh(X_t W_{xc} + H_{t-1} W_{hc} + b_c)$",
)
STATE_EQUATIONS = (
    r"$C_t = F_t \odot C_{t-1} + I_t \odot \tilde{C}_t$",
    r"$H_t = O_t \odot \tanh(C_t)$",
    r"$\odot$: elementwise product",
)


# ---------------------------------------------------------------- helpers


def _canvas(xlim: Point, ylim: Point) -> tuple[Figure, Axes]:
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


def _box(
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
    box = FancyBboxPatch(
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
    ax.add_patch(box)
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=4)
    return box


def _circle(
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
    circle = Circle(center, radius, facecolor=face, edgecolor=edge, linewidth=LINE_WIDTH, zorder=3, gid=gid)
    ax.add_patch(circle)
    if text:
        ax.text(*center, text, ha="center", va="center", fontsize=fontsize, zorder=4)
    return circle


def _arrow(ax: Axes, points: Sequence[Point], color: str) -> FancyArrowPatch:
    """A polyline through `points` with its head exactly on the last point."""
    arrow = FancyArrowPatch(
        path=Path(points),
        arrowstyle="-|>",
        mutation_scale=ARROW_HEAD,
        color=color,
        linewidth=LINE_WIDTH,
        joinstyle="miter",
        capstyle="butt",
        zorder=2,
    )
    ax.add_patch(arrow)
    return arrow


def _dot(ax: Axes, point: Point, color: str) -> None:
    """Marks where a line splits in two."""
    ax.add_patch(Circle(point, 0.09, color=color, zorder=2.5))


def _label(
    ax: Axes, point: Point, text: str, *, ha: str = "center", va: str = "center", fontsize: float = 14, **style
) -> None:
    ax.text(*point, text, ha=ha, va=va, fontsize=fontsize, zorder=4, **style)


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool):  # bool is an int, but unrolled(True) is a mistake
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be a positive integer, got {value!r}") from None
    if number < 1:
        raise ValueError(f"{name} must be a positive integer (1 or more), got {number}")
    return number


# ---------------------------------------------------------------- one cell


def lstm_cell() -> Figure:
    """One LSTM cell: memory line on top, hidden line below, four gates, and the equations."""
    fig, ax = _canvas(xlim=(-2.6, 13.8), ylim=(-6.6, 7.7))

    _box(
        ax,
        ((CELL_LEFT + CELL_RIGHT) / 2, (CELL_BOTTOM + CELL_TOP) / 2),
        CELL_RIGHT - CELL_LEFT,
        CELL_TOP - CELL_BOTTOM,
        face=CELL_FACE,
        edge=CELL_EDGE,
        rounding=0.4,
        zorder=0,
        gid="lstm-cell",
    )

    # The four gates, each fed by [X_t, H_{t-1}] from the line below.
    sigmoid = dict(face=SIGMOID_FACE, edge=SIGMOID_EDGE)
    _box(ax, (FORGET_X, GATE_Y), GATE_W, GATE_H, r"$\sigma$", gid="gate-forget", **sigmoid)
    _box(ax, (INPUT_X, GATE_Y), GATE_W, GATE_H, r"$\sigma$", gid="gate-input", **sigmoid)
    _box(ax, (CANDIDATE_X, GATE_Y), GATE_W, GATE_H, "tanh", gid="gate-candidate", face=TANH_FACE, edge=TANH_EDGE)
    _box(ax, (OUTPUT_X, GATE_Y), GATE_W, GATE_H, r"$\sigma$", gid="gate-output", **sigmoid)

    # Pointwise operations.
    _circle(ax, (FORGET_X, MEMORY_Y), NODE_R, r"$\times$", gid="op-forget")
    _circle(ax, (ADD_X, MEMORY_Y), NODE_R, "+", gid="op-add")
    _circle(ax, (ADD_X, PRODUCT_Y), NODE_R, r"$\times$", gid="op-input")
    _circle(ax, (TANH_X, PRODUCT_Y), TANH_R, "tanh", face=TANH_FACE, edge=TANH_EDGE, fontsize=11, gid="op-tanh")
    _circle(ax, (TANH_X, GATE_Y), NODE_R, r"$\times$", gid="op-output")

    # Memory line: C_{t-1} -> forget * -> + -> C_t, with a branch down to tanh.
    _arrow(ax, [(LINE_LEFT, MEMORY_Y), (FORGET_X - NODE_R, MEMORY_Y)], MEMORY_COLOR)
    _arrow(ax, [(FORGET_X + NODE_R, MEMORY_Y), (ADD_X - NODE_R, MEMORY_Y)], MEMORY_COLOR)
    _arrow(ax, [(ADD_X + NODE_R, MEMORY_Y), (LINE_RIGHT, MEMORY_Y)], MEMORY_COLOR)
    _dot(ax, (TANH_X, MEMORY_Y), MEMORY_COLOR)
    _arrow(ax, [(TANH_X, MEMORY_Y), (TANH_X, PRODUCT_Y + TANH_R)], MEMORY_COLOR)
    _label(ax, (LINE_LEFT - 0.15, MEMORY_Y), r"$C_{t-1}$", ha="right")
    _label(ax, (LINE_RIGHT + 0.15, MEMORY_Y), r"$C_t$", ha="left")

    # H_{t-1} comes in at the bottom left, X_t joins it from below, and the
    # line feeds every gate.
    gate_bottom = GATE_Y - GATE_H / 2
    _arrow(ax, [(LINE_LEFT, BUS_Y), (OUTPUT_X, BUS_Y), (OUTPUT_X, gate_bottom)], HIDDEN_COLOR)
    for x in (FORGET_X, INPUT_X, CANDIDATE_X):
        _dot(ax, (x, BUS_Y), HIDDEN_COLOR)
        _arrow(ax, [(x, BUS_Y), (x, gate_bottom)], HIDDEN_COLOR)
    _arrow(ax, [(X_IN_X, -1.3), (X_IN_X, BUS_Y)], INPUT_COLOR)
    _label(ax, (LINE_LEFT - 0.15, BUS_Y), r"$H_{t-1}$", ha="right")
    _label(ax, (X_IN_X, -1.4), r"$X_t$", va="top")

    # Gate outputs into the pointwise operations.
    gate_top = GATE_Y + GATE_H / 2
    _arrow(ax, [(FORGET_X, gate_top), (FORGET_X, MEMORY_Y - NODE_R)], SIGMOID_EDGE)
    _arrow(ax, [(INPUT_X, gate_top), (INPUT_X, PRODUCT_Y), (ADD_X - NODE_R, PRODUCT_Y)], SIGMOID_EDGE)
    _arrow(ax, [(CANDIDATE_X, gate_top), (CANDIDATE_X, PRODUCT_Y), (ADD_X + NODE_R, PRODUCT_Y)], TANH_EDGE)
    _arrow(ax, [(ADD_X, PRODUCT_Y + NODE_R), (ADD_X, MEMORY_Y - NODE_R)], POINTWISE_EDGE)
    _arrow(ax, [(OUTPUT_X + GATE_W / 2, GATE_Y), (TANH_X - NODE_R, GATE_Y)], SIGMOID_EDGE)
    _arrow(ax, [(TANH_X, PRODUCT_Y - TANH_R), (TANH_X, GATE_Y + NODE_R)], TANH_EDGE)
    _label(ax, (FORGET_X + 0.15, (gate_top + MEMORY_Y) / 2), r"$F_t$", ha="left")
    _label(ax, (INPUT_X - 0.15, (gate_top + PRODUCT_Y) / 2), r"$I_t$", ha="right")
    _label(ax, (CANDIDATE_X + 0.15, (gate_top + PRODUCT_Y) / 2), r"$\tilde{C}_t$", ha="left")
    _label(ax, ((OUTPUT_X + GATE_W / 2 + TANH_X - NODE_R) / 2, GATE_Y + 0.12), r"$O_t$", va="bottom")

    # H_t leaves at the bottom right.
    _arrow(ax, [(TANH_X, GATE_Y - NODE_R), (TANH_X, BUS_Y), (LINE_RIGHT, BUS_Y)], HIDDEN_COLOR)
    _label(ax, (LINE_RIGHT + 0.15, BUS_Y), r"$H_t$", ha="left")

    _legend(ax, y=-2.6)
    _equations(ax, top=-3.5)
    return fig


def _legend(ax: Axes, y: float) -> None:
    """Swatches for the three kinds of node, in one row."""
    _box(ax, (-1.3, y), 0.6, 0.42, face=SIGMOID_FACE, edge=SIGMOID_EDGE)
    _label(ax, (-0.8, y), r"sigmoid layer ($\sigma$)", ha="left", fontsize=12, color=NOTE_COLOR)
    _box(ax, (3.9, y), 0.6, 0.42, face=TANH_FACE, edge=TANH_EDGE)
    _label(ax, (4.4, y), "tanh layer", ha="left", fontsize=12, color=NOTE_COLOR)
    _circle(ax, (7.9, y), 0.24, "")
    _label(ax, (8.4, y), "elementwise operation", ha="left", fontsize=12, color=NOTE_COLOR)


def _equations(ax: Axes, top: float) -> None:
    """The gate equations on the left, the state updates on the right."""
    step = 0.82
    for i, equation in enumerate(GATE_EQUATIONS):
        _label(ax, (-1.6, top - i * step), equation, ha="left", fontsize=13)
    for i, equation in enumerate(STATE_EQUATIONS):
        _label(ax, (7.4, top - i * step), equation, ha="left", fontsize=13)


# ---------------------------------------------------------------- unrolled

CELL_W, CELL_H = 1.9, 1.2
STEP_DX, LAYER_DY = 3.6, 2.9  # distance between neighbouring cells' centres
STATE_OFFSET = 0.28  # c runs this far above a cell's middle, h this far below
IO_LENGTH = 1.1  # length of the input and output arrows
EDGE_LENGTH = 1.6  # length of the arrows into the first and out of the last cell


def _centre(layer: int, step: int) -> Point:
    """The middle of the cell for `layer` at time `step` (both from 1)."""
    return (step - 1) * STEP_DX, (layer - 1) * LAYER_DY


def unrolled(steps: int = 3, layers: int = 1) -> Figure:
    """An LSTM unrolled over `steps` time steps with `layers` stacked layers.

    Time runs left to right, layers bottom to top. Each layer starts from
    h_0 = c_0 = 0 and passes (h_t, c_t) to its next step; layer l's h_t is
    layer l+1's input at step t. Cells have gid "lstm-cell-l{layer}-t{step}".
    """
    steps = _positive_int("steps", steps)
    layers = _positive_int("layers", layers)

    left = -CELL_W / 2 - EDGE_LENGTH - 2.3  # room for "h_0 = 0"
    right = (steps - 1) * STEP_DX + CELL_W / 2 + EDGE_LENGTH + 0.8
    bottom = -CELL_H / 2 - IO_LENGTH - 0.8
    top = (layers - 1) * LAYER_DY + CELL_H / 2 + IO_LENGTH + 0.8
    fig, ax = _canvas(xlim=(left, right), ylim=(bottom, top))

    for layer in range(1, layers + 1):
        for step in range(1, steps + 1):
            _box(
                ax,
                _centre(layer, step),
                CELL_W,
                CELL_H,
                f"LSTM\nlayer {layer}",
                face=CELL_FACE,
                edge=CELL_EDGE,
                fontsize=12,
                gid=f"lstm-cell-l{layer}-t{step}",
            )
        _state_arrows(ax, layer, steps)

    for step in range(1, steps + 1):
        x, y = _centre(1, step)
        start = (x, y - CELL_H / 2 - IO_LENGTH)
        _arrow(ax, [start, (x, y - CELL_H / 2)], INPUT_COLOR)
        _label(ax, (x, start[1] - 0.1), rf"$x_{{{step}}}$", va="top")
        for layer in range(1, layers):
            x, y = _centre(layer, step)
            _arrow(ax, [(x, y + CELL_H / 2), (x, y + LAYER_DY - CELL_H / 2)], HIDDEN_COLOR)
            _label(ax, (x + 0.12, y + LAYER_DY / 2), rf"$h^{{({layer})}}_{{{step}}}$", ha="left")
        x, y = _centre(layers, step)
        end = (x, y + CELL_H / 2 + IO_LENGTH)
        _arrow(ax, [(x, y + CELL_H / 2), end], HIDDEN_COLOR)
        _label(ax, (x, end[1] + 0.1), rf"$h^{{({layers})}}_{{{step}}}$", va="bottom")

    _label(ax, (left + 0.2, bottom + 0.5), "inputs", ha="left", fontsize=12, color=NOTE_COLOR, style="italic")
    _label(ax, (left + 0.2, top - 0.5), "outputs", ha="left", fontsize=12, color=NOTE_COLOR, style="italic")
    return fig


def _state_arrows(ax: Axes, layer: int, steps: int) -> None:
    """(h, c) along one layer: from zeros, between steps, and out of the last step."""
    x, y = _centre(layer, 1)
    c_y, h_y = y + STATE_OFFSET, y - STATE_OFFSET
    start = x - CELL_W / 2 - EDGE_LENGTH
    _arrow(ax, [(start, c_y), (x - CELL_W / 2, c_y)], MEMORY_COLOR)
    _arrow(ax, [(start, h_y), (x - CELL_W / 2, h_y)], HIDDEN_COLOR)
    _label(ax, (start - 0.1, c_y + 0.05), rf"$c^{{({layer})}}_0 = 0$", ha="right", fontsize=13)
    _label(ax, (start - 0.1, h_y - 0.05), rf"$h^{{({layer})}}_0 = 0$", ha="right", fontsize=13)

    for step in range(1, steps + 1):
        x, y = _centre(layer, step)
        start = x + CELL_W / 2
        end = start + (EDGE_LENGTH if step == steps else STEP_DX - CELL_W)
        middle = (start + end) / 2
        _arrow(ax, [(start, c_y), (end, c_y)], MEMORY_COLOR)
        _arrow(ax, [(start, h_y), (end, h_y)], HIDDEN_COLOR)
        _label(ax, (middle, c_y + 0.08), rf"$c^{{({layer})}}_{{{step}}}$", va="bottom")
        _label(ax, (middle, h_y - 0.08), rf"$h^{{({layer})}}_{{{step}}}$", va="top")
