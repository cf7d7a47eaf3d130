"""The chapter's diagram: a recurrent network, folded and unrolled over time.

`rnn_unrolled(steps)` returns a pyplot figure and leaves it open; in a notebook end the line
with `;` (`rnn_unrolled();`). It draws with the course's palette (autograde.drawing).
"""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch
from matplotlib.path import Path

from autograde import drawing as draw
from autograde.drawing import (
    ARROW_HEAD,
    CELL_EDGE,
    CELL_FACE,
    HIDDEN_COLOR,
    INPUT_COLOR,
    LINE_WIDTH,
    NOTE_COLOR,
)

__all__ = ["rnn_unrolled"]

OUTPUT_COLOR = "#862e9c"  # the outputs O_t
CELL_W, CELL_H = 1.7, 1.1
STEP_DX = 3.2  # distance between neighbouring cells when unrolled
IO = 1.2  # length of the input and output arrows
FOLDED_X = 0.0  # the folded network's cell
FIRST_X = 5.4  # the first unrolled cell


def _io(ax, x: float, t: str) -> None:
    """The input arrow into and the output arrow out of the cell at x."""
    draw.arrow(ax, [(x, -CELL_H / 2 - IO), (x, -CELL_H / 2)], INPUT_COLOR)
    draw.label(ax, (x, -CELL_H / 2 - IO - 0.1), rf"$X_{{{t}}}$", va="top")
    draw.arrow(ax, [(x, CELL_H / 2), (x, CELL_H / 2 + IO)], OUTPUT_COLOR)
    draw.label(ax, (x, CELL_H / 2 + IO + 0.1), rf"$O_{{{t}}}$", va="bottom")


def rnn_unrolled(steps: int = 3) -> Figure:
    """Left: one RNN layer whose hidden state loops back. Right: the same layer unrolled over `steps`.

    Cells have gid "rnn-cell-folded" and "rnn-cell-t{step}".
    """
    steps = draw.positive_int("steps", steps)
    last_x = FIRST_X + (steps - 1) * STEP_DX
    fig, ax = draw.canvas(xlim=(-1.6, last_x + CELL_W / 2 + 2.6), ylim=(-4.9, 3.2))

    # Folded: one cell, its state fed back to itself through a delay.
    draw.box(
        ax, (FOLDED_X, 0), CELL_W, CELL_H, "RNN", face=CELL_FACE, edge=CELL_EDGE, fontsize=13, gid="rnn-cell-folded"
    )
    _io(ax, FOLDED_X, "t")
    right, top = FOLDED_X + CELL_W / 2, CELL_H / 2
    loop = FancyArrowPatch(
        path=Path(
            [
                (right, 0.15),
                (right + 0.9, 0.15),
                (right + 0.9, top + 0.55),
                (FOLDED_X + 0.45, top + 0.55),
                (FOLDED_X + 0.45, top),
            ]
        ),
        arrowstyle="-|>",
        mutation_scale=ARROW_HEAD,
        color=HIDDEN_COLOR,
        linewidth=LINE_WIDTH,
        zorder=2,
    )
    ax.add_patch(loop)
    draw.label(ax, (right + 1.0, top + 0.2), r"$H_{t-1}$", ha="left", fontsize=13)
    draw.label(ax, (FOLDED_X + CELL_W / 2 + 1.55, 0), "=", fontsize=22)

    # Unrolled: the same cell at every step, the state handed on from step to step.
    start = FIRST_X - CELL_W / 2 - 1.2
    draw.arrow(ax, [(start, 0), (FIRST_X - CELL_W / 2, 0)], HIDDEN_COLOR)
    draw.label(ax, (start + 0.6, 0.1), r"$H_0$", va="bottom", fontsize=13)
    for step in range(1, steps + 1):
        x = FIRST_X + (step - 1) * STEP_DX
        draw.box(
            ax, (x, 0), CELL_W, CELL_H, "RNN", face=CELL_FACE, edge=CELL_EDGE, fontsize=13, gid=f"rnn-cell-t{step}"
        )
        _io(ax, x, str(step))
        end = x + CELL_W / 2 + (STEP_DX - CELL_W if step < steps else 1.3)
        draw.arrow(ax, [(x + CELL_W / 2, 0), (end, 0)], HIDDEN_COLOR)
        draw.label(ax, ((x + CELL_W / 2 + end) / 2, 0.1), rf"$H_{{{step}}}$", va="bottom", fontsize=13)

    draw.label(
        ax,
        (FIRST_X - 1.4, -3.55),
        r"$H_t = \tanh(X_t W_{xh} + H_{t-1} W_{hh} + b_h)$,   $O_t = H_t W_{hq} + b_q$",
        ha="left",
        fontsize=13,
    )
    draw.label(
        ax,
        (FIRST_X - 1.4, -4.35),
        "the same weights at every step; only the hidden state changes",
        ha="left",
        fontsize=12,
        color=NOTE_COLOR,
        style="italic",
    )
    return fig
