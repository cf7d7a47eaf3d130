"""The LSTM chapter's diagrams, drawn with the course's kit (autograde/drawing.py), like every
chapter's autograde/<chapter>/figures.py.

- `lstm_cell()`: one LSTM cell, its gates and the update equations;
- `unrolled(steps, layers)`: an LSTM unrolled over time, one or more layers.

Each function returns a pyplot figure and leaves it open. A notebook shows the
figure at the end of the cell as it shows any plot; end the line with `;`
(`lstm_cell();`) so that the returned value is not shown a second time. Outside
a notebook, save it with `fig.savefig("cell.svg")` (or .png, .pdf) and close it
with `plt.close(fig)`.
"""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from autograde import drawing as draw
from autograde.drawing import (
    CELL_EDGE,
    CELL_FACE,
    HIDDEN_COLOR,
    INPUT_COLOR,
    MEMORY_COLOR,
    NOTE_COLOR,
    POINTWISE_EDGE,
    SIGMOID_EDGE,
    SIGMOID_FACE,
    TANH_EDGE,
    TANH_FACE,
    Point,
)

__all__ = ["lstm_cell", "unrolled"]

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


# ---------------------------------------------------------------- one cell


def lstm_cell() -> Figure:
    """One LSTM cell: memory line on top, hidden line below, four gates, and the equations."""
    fig, ax = draw.canvas(xlim=(-2.6, 13.8), ylim=(-6.6, 7.7))

    draw.cell_frame(ax, CELL_LEFT, CELL_RIGHT, CELL_BOTTOM, CELL_TOP, gid="lstm-cell")

    # The four gates, each fed by [X_t, H_{t-1}] from the line below.
    sigmoid = dict(face=SIGMOID_FACE, edge=SIGMOID_EDGE)
    draw.box(ax, (FORGET_X, GATE_Y), GATE_W, GATE_H, r"$\sigma$", gid="gate-forget", **sigmoid)
    draw.box(ax, (INPUT_X, GATE_Y), GATE_W, GATE_H, r"$\sigma$", gid="gate-input", **sigmoid)
    draw.box(ax, (CANDIDATE_X, GATE_Y), GATE_W, GATE_H, "tanh", gid="gate-candidate", face=TANH_FACE, edge=TANH_EDGE)
    draw.box(ax, (OUTPUT_X, GATE_Y), GATE_W, GATE_H, r"$\sigma$", gid="gate-output", **sigmoid)

    # Pointwise operations.
    draw.circle(ax, (FORGET_X, MEMORY_Y), NODE_R, r"$\times$", gid="op-forget")
    draw.circle(ax, (ADD_X, MEMORY_Y), NODE_R, "+", gid="op-add")
    draw.circle(ax, (ADD_X, PRODUCT_Y), NODE_R, r"$\times$", gid="op-input")
    draw.circle(ax, (TANH_X, PRODUCT_Y), TANH_R, "tanh", face=TANH_FACE, edge=TANH_EDGE, fontsize=11, gid="op-tanh")
    draw.circle(ax, (TANH_X, GATE_Y), NODE_R, r"$\times$", gid="op-output")

    # Memory line: C_{t-1} -> forget * -> + -> C_t, with a branch down to tanh.
    draw.arrow(ax, [(LINE_LEFT, MEMORY_Y), (FORGET_X - NODE_R, MEMORY_Y)], MEMORY_COLOR)
    draw.arrow(ax, [(FORGET_X + NODE_R, MEMORY_Y), (ADD_X - NODE_R, MEMORY_Y)], MEMORY_COLOR)
    draw.arrow(ax, [(ADD_X + NODE_R, MEMORY_Y), (LINE_RIGHT, MEMORY_Y)], MEMORY_COLOR)
    draw.dot(ax, (TANH_X, MEMORY_Y), MEMORY_COLOR)
    draw.arrow(ax, [(TANH_X, MEMORY_Y), (TANH_X, PRODUCT_Y + TANH_R)], MEMORY_COLOR)
    draw.label(ax, (LINE_LEFT - 0.15, MEMORY_Y), r"$C_{t-1}$", ha="right")
    draw.label(ax, (LINE_RIGHT + 0.15, MEMORY_Y), r"$C_t$", ha="left")

    # H_{t-1} comes in at the bottom left, X_t joins it from below, and the
    # line feeds every gate.
    gate_bottom = GATE_Y - GATE_H / 2
    draw.arrow(ax, [(LINE_LEFT, BUS_Y), (OUTPUT_X, BUS_Y), (OUTPUT_X, gate_bottom)], HIDDEN_COLOR)
    for x in (FORGET_X, INPUT_X, CANDIDATE_X):
        draw.dot(ax, (x, BUS_Y), HIDDEN_COLOR)
        draw.arrow(ax, [(x, BUS_Y), (x, gate_bottom)], HIDDEN_COLOR)
    draw.arrow(ax, [(X_IN_X, -1.3), (X_IN_X, BUS_Y)], INPUT_COLOR)
    draw.label(ax, (LINE_LEFT - 0.15, BUS_Y), r"$H_{t-1}$", ha="right")
    draw.label(ax, (X_IN_X, -1.4), r"$X_t$", va="top")

    # Gate outputs into the pointwise operations.
    gate_top = GATE_Y + GATE_H / 2
    draw.arrow(ax, [(FORGET_X, gate_top), (FORGET_X, MEMORY_Y - NODE_R)], SIGMOID_EDGE)
    draw.arrow(ax, [(INPUT_X, gate_top), (INPUT_X, PRODUCT_Y), (ADD_X - NODE_R, PRODUCT_Y)], SIGMOID_EDGE)
    draw.arrow(ax, [(CANDIDATE_X, gate_top), (CANDIDATE_X, PRODUCT_Y), (ADD_X + NODE_R, PRODUCT_Y)], TANH_EDGE)
    draw.arrow(ax, [(ADD_X, PRODUCT_Y + NODE_R), (ADD_X, MEMORY_Y - NODE_R)], POINTWISE_EDGE)
    draw.arrow(ax, [(OUTPUT_X + GATE_W / 2, GATE_Y), (TANH_X - NODE_R, GATE_Y)], SIGMOID_EDGE)
    draw.arrow(ax, [(TANH_X, PRODUCT_Y - TANH_R), (TANH_X, GATE_Y + NODE_R)], TANH_EDGE)
    draw.label(ax, (FORGET_X + 0.15, (gate_top + MEMORY_Y) / 2), r"$F_t$", ha="left")
    draw.label(ax, (INPUT_X - 0.15, (gate_top + PRODUCT_Y) / 2), r"$I_t$", ha="right")
    draw.label(ax, (CANDIDATE_X + 0.15, (gate_top + PRODUCT_Y) / 2), r"$\tilde{C}_t$", ha="left")
    draw.label(ax, ((OUTPUT_X + GATE_W / 2 + TANH_X - NODE_R) / 2, GATE_Y + 0.12), r"$O_t$", va="bottom")

    # H_t leaves at the bottom right.
    draw.arrow(ax, [(TANH_X, GATE_Y - NODE_R), (TANH_X, BUS_Y), (LINE_RIGHT, BUS_Y)], HIDDEN_COLOR)
    draw.label(ax, (LINE_RIGHT + 0.15, BUS_Y), r"$H_t$", ha="left")

    draw.legend(ax, tanh_x=3.9, pointwise_x=7.9, y=-2.6)
    _equations(ax, top=-3.5)
    return fig


def _equations(ax: Axes, top: float) -> None:
    """The gate equations on the left, the state updates on the right."""
    step = 0.82
    for i, equation in enumerate(GATE_EQUATIONS):
        draw.label(ax, (-1.6, top - i * step), equation, ha="left", fontsize=13)
    for i, equation in enumerate(STATE_EQUATIONS):
        draw.label(ax, (7.4, top - i * step), equation, ha="left", fontsize=13)


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
    steps = draw.positive_int("steps", steps)
    layers = draw.positive_int("layers", layers)

    left = -CELL_W / 2 - EDGE_LENGTH - 2.3  # room for "h_0 = 0"
    right = (steps - 1) * STEP_DX + CELL_W / 2 + EDGE_LENGTH + 0.8
    bottom = -CELL_H / 2 - IO_LENGTH - 0.8
    top = (layers - 1) * LAYER_DY + CELL_H / 2 + IO_LENGTH + 0.8
    fig, ax = draw.canvas(xlim=(left, right), ylim=(bottom, top))

    for layer in range(1, layers + 1):
        for step in range(1, steps + 1):
            draw.box(
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
        draw.arrow(ax, [start, (x, y - CELL_H / 2)], INPUT_COLOR)
        draw.label(ax, (x, start[1] - 0.1), rf"$x_{{{step}}}$", va="top")
        for layer in range(1, layers):
            x, y = _centre(layer, step)
            draw.arrow(ax, [(x, y + CELL_H / 2), (x, y + LAYER_DY - CELL_H / 2)], HIDDEN_COLOR)
            draw.label(ax, (x + 0.12, y + LAYER_DY / 2), rf"$h^{{({layer})}}_{{{step}}}$", ha="left")
        x, y = _centre(layers, step)
        end = (x, y + CELL_H / 2 + IO_LENGTH)
        draw.arrow(ax, [(x, y + CELL_H / 2), end], HIDDEN_COLOR)
        draw.label(ax, (x, end[1] + 0.1), rf"$h^{{({layers})}}_{{{step}}}$", va="bottom")

    draw.label(ax, (left + 0.2, bottom + 0.5), "inputs", ha="left", fontsize=12, color=NOTE_COLOR, style="italic")
    draw.label(ax, (left + 0.2, top - 0.5), "outputs", ha="left", fontsize=12, color=NOTE_COLOR, style="italic")
    return fig


def _state_arrows(ax: Axes, layer: int, steps: int) -> None:
    """(h, c) along one layer: from zeros, between steps, and out of the last step."""
    x, y = _centre(layer, 1)
    c_y, h_y = y + STATE_OFFSET, y - STATE_OFFSET
    start = x - CELL_W / 2 - EDGE_LENGTH
    draw.arrow(ax, [(start, c_y), (x - CELL_W / 2, c_y)], MEMORY_COLOR)
    draw.arrow(ax, [(start, h_y), (x - CELL_W / 2, h_y)], HIDDEN_COLOR)
    draw.label(ax, (start - 0.1, c_y + 0.05), rf"$c^{{({layer})}}_0 = 0$", ha="right", fontsize=13)
    draw.label(ax, (start - 0.1, h_y - 0.05), rf"$h^{{({layer})}}_0 = 0$", ha="right", fontsize=13)

    for step in range(1, steps + 1):
        x, y = _centre(layer, step)
        start = x + CELL_W / 2
        end = start + (EDGE_LENGTH if step == steps else STEP_DX - CELL_W)
        middle = (start + end) / 2
        draw.arrow(ax, [(start, c_y), (end, c_y)], MEMORY_COLOR)
        draw.arrow(ax, [(start, h_y), (end, h_y)], HIDDEN_COLOR)
        draw.label(ax, (middle, c_y + 0.08), rf"$c^{{({layer})}}_{{{step}}}$", va="bottom")
        draw.label(ax, (middle, h_y - 0.08), rf"$h^{{({layer})}}_{{{step}}}$", va="top")
