"""The concise-API chapter's figures, drawn with the course's kit (autograde/drawing.py).

- `stacked_bidirectional(steps)`: a 2-layer bidirectional LSTM unrolled over `steps` steps,
  with the slice of `output` and `h_n` that each state is;
- `accuracy_by_length(lengths, results)`: the many-to-one task's test accuracy against the
  sequence's length, one line per model.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from autograde import drawing as draw
from autograde.drawing import HIDDEN_COLOR, INPUT_COLOR, MEMORY_COLOR, NOTE_COLOR

__all__ = ["stacked_bidirectional", "accuracy_by_length"]

FORWARD_FACE, FORWARD_EDGE = "#d0ebff", HIDDEN_COLOR  # the forward direction's cells
BACKWARD_FACE, BACKWARD_EDGE = "#ffe3e3", "#c92a2a"  # the backward direction's cells
STEP_DX = 3.2  # between time steps
OFFSET = 0.62  # forward cells sit left of the step's axis, backward cells right of it
ROW_Y = {(0, "f"): 1.9, (0, "b"): 3.1, (1, "f"): 5.5, (1, "b"): 6.7}  # (layer, direction) -> y
JOIN_Y = {0: 4.3, 1: 7.9}  # where a layer's two directions are concatenated
CELL_W, CELL_H, JOIN_R = 1.0, 0.7, 0.28


def stacked_bidirectional(steps: int = 3) -> Figure:
    """nn.LSTM(num_layers=2, bidirectional=True) unrolled: which slice of output and h_n each state is."""
    steps = draw.positive_int("steps", steps)
    right = STEP_DX * (steps - 1)
    fig, ax = draw.canvas((-4.4, right + 2.3), (-0.1, 9.4))
    for (layer, direction), y in ROW_Y.items():
        forward = direction == "f"
        face, edge = (FORWARD_FACE, FORWARD_EDGE) if forward else (BACKWARD_FACE, BACKWARD_EDGE)
        dx = -OFFSET if forward else OFFSET
        draw.label(
            ax,
            (-4.35, y),
            f"layer {layer + 1}\n{'forward' if forward else 'backward'}",
            ha="left",
            fontsize=11,
            color=edge,
        )
        for t in range(steps):
            draw.box(
                ax, (STEP_DX * t + dx, y), CELL_W, CELL_H, "→" if forward else "←", face=face, edge=edge, fontsize=14
            )
        for t in range(steps - 1):  # the state (h, c) handed on, in the direction's reading order
            a, b = STEP_DX * t + dx + CELL_W / 2, STEP_DX * (t + 1) + dx - CELL_W / 2
            draw.arrow(ax, [(a, y), (b, y)] if forward else [(b, y), (a, y)], MEMORY_COLOR)
        row = 2 * layer + (0 if forward else 1)
        # the final state: at the last step for the forward direction, at step 0 for the backward one
        if forward:
            draw.label(
                ax,
                (right + dx + CELL_W / 2 + 0.12, y),
                f"h_n[{row}]",
                ha="left",
                fontsize=12,
                color=edge,
                fontweight="bold",
            )
        else:
            draw.label(
                ax,
                (-OFFSET - CELL_W / 2 - 0.15, y),
                f"h_n[{row}]",
                ha="right",
                fontsize=12,
                color=edge,
                fontweight="bold",
            )
    for t in range(steps):
        x = STEP_DX * t
        draw.label(ax, (x, 0.35), f"x[{t}]", fontsize=13, color=INPUT_COLOR)
        draw.arrow(ax, [(x - 0.2, 0.6), (x - OFFSET, ROW_Y[0, "f"] - CELL_H / 2)], INPUT_COLOR)
        draw.arrow(ax, [(x + 0.2, 0.6), (x + OFFSET, ROW_Y[0, "b"] - CELL_H / 2)], INPUT_COLOR)
        for layer in (0, 1):
            join = (x, JOIN_Y[layer])
            draw.circle(ax, join, JOIN_R, "")
            draw.arrow(ax, [(x - OFFSET, ROW_Y[layer, "f"] + CELL_H / 2), (x - 0.2, JOIN_Y[layer] - 0.2)], HIDDEN_COLOR)
            draw.arrow(ax, [(x + OFFSET, ROW_Y[layer, "b"] + CELL_H / 2), (x + 0.2, JOIN_Y[layer] - 0.2)], HIDDEN_COLOR)
        draw.arrow(ax, [(x - 0.2, JOIN_Y[0] + 0.2), (x - OFFSET, ROW_Y[1, "f"] - CELL_H / 2)], HIDDEN_COLOR)
        draw.arrow(ax, [(x + 0.2, JOIN_Y[0] + 0.2), (x + OFFSET, ROW_Y[1, "b"] - CELL_H / 2)], HIDDEN_COLOR)
        draw.arrow(ax, [(x, JOIN_Y[1] + JOIN_R), (x, 8.45)], HIDDEN_COLOR)
        draw.label(ax, (x, 8.9), f"output[{t}]", fontsize=12, color=HIDDEN_COLOR)
    draw.circle(ax, (right + 0.75, 0.35), JOIN_R, "")
    draw.label(ax, (right + 1.15, 0.35), "[→ | ←]", ha="left", fontsize=12, color=NOTE_COLOR)
    return fig


def accuracy_by_length(lengths, results: dict[str, list[float]], chance: float | None = None) -> Figure:
    """Test accuracy (0 to 1) against sequence length, one line per model name in `results`; a dashed
    line at `chance`, the accuracy of a guess."""
    styles = {"nn.RNN": ("#c92a2a", "s"), "nn.LSTM": (HIDDEN_COLOR, "o")}
    fig, ax = plt.subplots(figsize=(6.4, 3.4), layout="constrained")
    for name, accuracies in results.items():
        color, marker = styles.get(name, (NOTE_COLOR, "^"))
        ax.plot(list(lengths), accuracies, marker=marker, color=color, linewidth=2, label=name)
    if chance is not None:
        ax.axhline(chance, color=NOTE_COLOR, linestyle="--", linewidth=1)
        ax.text(max(lengths), chance + 0.03, "chance", ha="right", fontsize=11, color=NOTE_COLOR)
    ax.set_xlabel("sequence length (steps between the token and the answer)", fontsize=11)
    ax.set_ylabel("test accuracy", fontsize=11)
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=11)
    return fig
