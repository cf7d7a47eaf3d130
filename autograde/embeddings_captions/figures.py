"""The chapter's figures: pictures with their captions, training curves, and captions the model wrote.

Each function draws one matplotlib figure sized for the book's column (6.9 inches wide) and
returns it, leaving it open for the notebook to show; in a notebook end the line with `;`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from autograde.drawing import HIDDEN_COLOR, INPUT_COLOR, NOTE_COLOR, SIGMOID_EDGE

__all__ = ["scene_grid", "training_curves", "caption_grid"]

WIDTH = 6.9  # inches: the book's text column
RIGHT, WRONG = INPUT_COLOR, "#c92a2a"
CURVE_COLORS = (HIDDEN_COLOR, SIGMOID_EDGE, INPUT_COLOR, NOTE_COLOR)


def _image(ax, image: torch.Tensor) -> None:
    """An image (3, H, W), uint8 or floats in [0, 1]."""
    array = image.detach().cpu()
    array = array.float() / 255 if array.dtype == torch.uint8 else array.float()
    ax.imshow(array.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#ced4da")


def _wrap(text: str, width: int = 22) -> str:
    return "\n".join(textwrap.wrap(text, width)) or "(nothing)"


def scene_grid(images: torch.Tensor, captions: Sequence[str], columns: int = 4) -> Figure:
    """The first `len(captions)` images, each with its caption below it."""
    n = len(captions)
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(WIDTH, 2.5 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_axis_off()
            continue
        _image(ax, images[i])
        ax.set_xlabel(_wrap(captions[i]), fontsize=10, linespacing=1.1)
    fig.tight_layout(w_pad=0.6, h_pad=0.6)
    return fig


def training_curves(histories: Mapping[str, Mapping[str, Sequence[float]]]) -> Figure:
    """Loss per epoch: {model: {"training": [...], "validation": [...]}}, one colour per model."""
    fig, ax = plt.subplots(figsize=(WIDTH, 3.2))
    for (name, history), color in zip(histories.items(), CURVE_COLORS):
        for part, style in (("training", "-"), ("validation", "--")):
            values = history[part]
            ax.plot(
                range(1, len(values) + 1), values, style, color=color, marker="o", markersize=3, label=f"{name}, {part}"
            )
    ax.set_xlabel("epoch", fontsize=11)
    ax.set_ylabel("cross-entropy per word", fontsize=11)
    ax.tick_params(labelsize=10)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=10, frameon=False)
    fig.tight_layout()
    return fig


def caption_grid(images: torch.Tensor, truths: Sequence[str], written: Sequence[str], columns: int = 4) -> Figure:
    """Each image with the caption the model wrote (green when it is the true one, red otherwise)
    and, where it differs, the true caption."""
    n = len(truths)
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(WIDTH, 3.1 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_axis_off()
            continue
        _image(ax, images[i])
        right = written[i] == truths[i]
        mark = "\u2713" if right else "\u2717"
        ax.set_title(
            f"{mark} {_wrap(written[i])}", fontsize=10, color=RIGHT if right else WRONG, loc="left", linespacing=1.1
        )
        if not right:
            ax.set_xlabel(f"true: {_wrap(truths[i], 20)}", fontsize=10, color=NOTE_COLOR, linespacing=1.1)
    fig.tight_layout(w_pad=0.6, h_pad=0.8)
    return fig
