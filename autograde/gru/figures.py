"""The GRU chapter's diagrams, drawn with matplotlib in the course's palette (autograde.drawing).

- `gru_cell()`: one GRU cell in d2l's form: the two gates, the reset product, the candidate
  state and the Z / 1 - Z mix, with the equations;
- `reset_placement()`: where the reset gate acts in the candidate state, d2l's form beside
  PyTorch's (nn.GRU).

Each function returns a pyplot figure and leaves it open; in a notebook end the line with `;`
(`gru_cell();`) so that the returned value is not shown a second time.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from autograde import drawing as draw
from autograde.drawing import (
    HIDDEN_COLOR,
    INPUT_COLOR,
    LINE_WIDTH,
    NOTE_COLOR,
    POINTWISE_EDGE,
    SIGMOID_EDGE,
    SIGMOID_FACE,
    TANH_EDGE,
    TANH_FACE,
)

__all__ = ["gru_cell", "reset_placement"]

# Rows (y) and columns (x) of the cell.
TOP_Y, Z_ROUTE_Y, MID_Y, GATE_Y, BUS_Y, X_LINE_Y = 6.6, 5.65, 4.1, 2.5, 1.0, 0.35
TAP_X, X_IN_X, Z_X, R_X, RESET_X, CAND_X, ZMUL_X, ONE_MINUS_X, PLUS_X = 0.5, 1.2, 2.2, 4.2, 5.8, 7.6, 8.8, 10.0, 11.2
GATE_W, GATE_H = 1.3, 0.9
NODE_R = 0.36
CROSSING_GAP = 0.22  # half the gap in a line that passes under another
CELL_LEFT, CELL_RIGHT, CELL_BOTTOM, CELL_TOP = 0.0, 12.0, 0.0, 7.3
LINE_LEFT, LINE_RIGHT = -1.2, 13.4

EQUATIONS = (
    r"$R_t = \sigma(X_t W_{xr} + H_{t-1} W_{hr} + b_r)$",
    r"$Z_t = \sigma(X_t W_{xz} + H_{t-1} W_{hz} + b_z)$",
    r"$\tilde{H}_t = \tanh(X_t W_{xh} + (R_t \odot H_{t-1}) W_{hh} + b_h)$",
    r"$H_t = Z_t \odot H_{t-1} + (1 - Z_t) \odot \tilde{H}_t$",
)


def gru_cell() -> Figure:
    """One GRU cell (d2l's form): H_{t-1} along the top, the gates below, H_t out on the right."""
    fig, ax = draw.canvas(xlim=(-2.8, 15.0), ylim=(-6.3, 7.9))
    draw.cell_frame(ax, CELL_LEFT, CELL_RIGHT, CELL_BOTTOM, CELL_TOP, gid="gru-cell")

    sigmoid = dict(face=SIGMOID_FACE, edge=SIGMOID_EDGE)
    draw.box(ax, (Z_X, GATE_Y), GATE_W, GATE_H, r"$\sigma$", gid="gate-update", **sigmoid)
    draw.box(ax, (R_X, GATE_Y), GATE_W, GATE_H, r"$\sigma$", gid="gate-reset", **sigmoid)
    draw.box(ax, (CAND_X, GATE_Y), GATE_W, GATE_H, "tanh", gid="candidate", face=TANH_FACE, edge=TANH_EDGE)
    draw.circle(ax, (RESET_X, MID_Y), NODE_R, r"$\times$", gid="op-reset")
    draw.circle(ax, (ZMUL_X, TOP_Y), NODE_R, r"$\times$", gid="op-keep")
    draw.circle(ax, (ONE_MINUS_X, Z_ROUTE_Y), NODE_R, "1\u2212", fontsize=12, gid="op-one-minus")
    draw.circle(ax, (ONE_MINUS_X, MID_Y), NODE_R, r"$\times$", gid="op-take")
    draw.circle(ax, (PLUS_X, TOP_Y), NODE_R, "+", gid="op-add")

    # The state line: H_{t-1} -> Z * H_{t-1} -> + -> H_t, tapped twice before the product.
    draw.arrow(ax, [(LINE_LEFT, TOP_Y), (ZMUL_X - NODE_R, TOP_Y)], HIDDEN_COLOR)
    draw.arrow(ax, [(ZMUL_X + NODE_R, TOP_Y), (PLUS_X - NODE_R, TOP_Y)], HIDDEN_COLOR)
    draw.arrow(ax, [(PLUS_X + NODE_R, TOP_Y), (LINE_RIGHT, TOP_Y)], HIDDEN_COLOR)
    draw.label(ax, (LINE_LEFT - 0.15, TOP_Y), r"$H_{t-1}$", ha="right")
    draw.label(ax, (LINE_RIGHT + 0.15, TOP_Y), r"$H_t$", ha="left")

    # H_{t-1} down to the gates' input line, which X_t joins from below.
    gate_bottom, gate_top = GATE_Y - GATE_H / 2, GATE_Y + GATE_H / 2
    draw.dot(ax, (TAP_X, TOP_Y), HIDDEN_COLOR)
    draw.arrow(ax, [(TAP_X, TOP_Y), (TAP_X, BUS_Y), (R_X, BUS_Y), (R_X, gate_bottom)], HIDDEN_COLOR)
    draw.dot(ax, (Z_X, BUS_Y), HIDDEN_COLOR)
    draw.arrow(ax, [(Z_X, BUS_Y), (Z_X, gate_bottom)], HIDDEN_COLOR)
    draw.arrow(ax, [(X_IN_X, -1.3), (X_IN_X, BUS_Y)], INPUT_COLOR)
    draw.dot(ax, (X_IN_X, X_LINE_Y), INPUT_COLOR)
    draw.arrow(ax, [(X_IN_X, X_LINE_Y), (CAND_X, X_LINE_Y), (CAND_X, gate_bottom)], INPUT_COLOR)
    draw.label(ax, (X_IN_X, -1.4), r"$X_t$", va="top")

    # The reset gate scales H_{t-1}; the product feeds the candidate.
    # The tap to the reset product passes under the update gate's line: a gap marks the crossing.
    draw.dot(ax, (RESET_X, TOP_Y), HIDDEN_COLOR)
    ax.plot(
        [RESET_X, RESET_X],
        [TOP_Y, Z_ROUTE_Y + CROSSING_GAP],
        color=HIDDEN_COLOR,
        linewidth=LINE_WIDTH,
        solid_capstyle="butt",
        zorder=2,
    )
    draw.arrow(ax, [(RESET_X, Z_ROUTE_Y - CROSSING_GAP), (RESET_X, MID_Y + NODE_R)], HIDDEN_COLOR)
    draw.arrow(ax, [(R_X, gate_top), (R_X, MID_Y), (RESET_X - NODE_R, MID_Y)], SIGMOID_EDGE)
    draw.arrow(ax, [(RESET_X, MID_Y - NODE_R), (RESET_X, GATE_Y), (CAND_X - GATE_W / 2, GATE_Y)], POINTWISE_EDGE)
    draw.label(ax, (R_X - 0.15, (gate_top + MID_Y) / 2), r"$R_t$", ha="right")

    # The update gate: Z_t keeps the old state, 1 - Z_t takes the candidate.
    draw.arrow(ax, [(Z_X, gate_top), (Z_X, Z_ROUTE_Y), (ZMUL_X, Z_ROUTE_Y), (ZMUL_X, TOP_Y - NODE_R)], SIGMOID_EDGE)
    draw.dot(ax, (ZMUL_X, Z_ROUTE_Y), SIGMOID_EDGE)
    draw.arrow(ax, [(ZMUL_X, Z_ROUTE_Y), (ONE_MINUS_X - NODE_R, Z_ROUTE_Y)], SIGMOID_EDGE)
    draw.arrow(ax, [(ONE_MINUS_X, Z_ROUTE_Y - NODE_R), (ONE_MINUS_X, MID_Y + NODE_R)], SIGMOID_EDGE)
    draw.label(ax, (Z_X + 0.8, Z_ROUTE_Y + 0.1), r"$Z_t$", va="bottom")
    draw.label(ax, (ONE_MINUS_X + 0.15, (Z_ROUTE_Y + MID_Y) / 2), r"$1 - Z_t$", ha="left", fontsize=12)

    # The candidate into the mix.
    draw.arrow(ax, [(CAND_X, gate_top), (CAND_X, MID_Y), (ONE_MINUS_X - NODE_R, MID_Y)], TANH_EDGE)
    draw.label(ax, (CAND_X - 0.15, (gate_top + MID_Y) / 2), r"$\tilde{H}_t$", ha="right")
    draw.arrow(ax, [(ONE_MINUS_X + NODE_R, MID_Y), (PLUS_X, MID_Y), (PLUS_X, TOP_Y - NODE_R)], POINTWISE_EDGE)

    draw.legend(ax, y=-2.4, tanh_x=4.2, pointwise_x=8.4)
    for i, equation in enumerate(EQUATIONS):
        draw.label(ax, (-1.6, -3.4 - i * 0.78), equation, ha="left", fontsize=13)
    draw.label(ax, (14.6, -3.4), r"$\odot$: elementwise product", ha="right", fontsize=12, color=NOTE_COLOR)
    return fig


# ---------------------------------------------------------------- reset placement

ROW_DY = 3.6
STEP = 2.6  # between the centres of neighbouring parts of a row


def reset_placement() -> Figure:
    """The candidate state in d2l's form (top) and PyTorch's (bottom): where R_t acts."""
    fig, ax = draw.canvas(xlim=(-2.4, 13.8), ylim=(-ROW_DY - 2.0, 2.1))
    rows = (
        ("d2l: reset, then multiply", 0.0, "d2l", r"$X_t W_{xh} + b_h$"),
        ("nn.GRU: multiply, then reset", -ROW_DY, "torch", r"$X_t W_{xh} + b_{xh}$"),
    )
    for title, y, form, x_part in rows:
        _row(ax, y, title, form, x_part)
    return fig


def _row(ax, y: float, title: str, form: str, x_part: str) -> None:
    xs = [1.7 + k * STEP for k in range(4)]  # reset or product, product or reset, +, tanh
    draw.label(ax, (-2.2, y + 1.45), title, ha="left", fontsize=13, color=NOTE_COLOR, style="italic")
    draw.label(ax, (-0.6, y), r"$H_{t-1}$", ha="right")
    product_w = 1.5 if form == "d2l" else 2.3
    parts = ("reset", "product") if form == "d2l" else ("product", "reset")
    edges = []
    for x, part in zip(xs[:2], parts):
        if part == "reset":
            draw.circle(ax, (x, y), NODE_R, r"$\odot$", gid=f"{form}-reset")
            draw.arrow(ax, [(x, y + 1.2), (x, y + NODE_R)], SIGMOID_EDGE)
            draw.label(ax, (x + 0.15, y + 0.95), r"$R_t$", ha="left")
            edges.append((x - NODE_R, x + NODE_R))
        else:
            text = r"$\cdot\, W_{hh}$" if form == "d2l" else r"$\cdot\, W_{hh} + b_{hh}$"
            draw.box(
                ax, (x, y), product_w, 0.8, text, face="white", edge=HIDDEN_COLOR, fontsize=13, gid=f"{form}-product"
            )
            edges.append((x - product_w / 2, x + product_w / 2))
    draw.circle(ax, (xs[2], y), NODE_R, "+", gid=f"{form}-add")
    edges.append((xs[2] - NODE_R, xs[2] + NODE_R))
    draw.box(ax, (xs[3], y), GATE_W, GATE_H, "tanh", face=TANH_FACE, edge=TANH_EDGE, gid=f"{form}-tanh")
    edges.append((xs[3] - GATE_W / 2, xs[3] + GATE_W / 2))
    draw.arrow(ax, [(-0.5, y), (edges[0][0], y)], HIDDEN_COLOR)
    for (_, right), (left, _) in zip(edges, edges[1:]):
        draw.arrow(ax, [(right, y), (left, y)], HIDDEN_COLOR)
    draw.arrow(ax, [(xs[2], y - 1.2), (xs[2], y - NODE_R)], INPUT_COLOR)
    draw.label(ax, (xs[2], y - 1.3), x_part, va="top", fontsize=13)
    draw.arrow(ax, [(edges[3][1], y), (edges[3][1] + 1.3, y)], TANH_EDGE)
    draw.label(ax, (edges[3][1] + 1.45, y), r"$\tilde{H}_t$", ha="left")
    formula = (
        r"$\tilde{H}_t = \tanh(X_t W_{xh} + (R_t \odot H_{t-1}) W_{hh} + b_h)$"
        if form == "d2l"
        else r"$\tilde{H}_t = \tanh(X_t W_{xh} + b_{xh} + R_t \odot (H_{t-1} W_{hh} + b_{hh}))$"
    )
    draw.label(ax, (13.4, y + 1.45), formula, ha="right", fontsize=12, color=NOTE_COLOR)
