"""Exercise 3: the features a many-to-one model reads, from `output` and `h_n`.

The truth is `h_n` of a real nn.LSTM: its last layer's rows, forward direction first. The
planted mistakes read `output` or `h_n` the ways students do, as keyword options of `features`.
"""

from __future__ import annotations

import torch

JUDGE_ONLY = True  # a reference and its planted mistakes: never in the grading sandbox


def from_h_n(output, h_n, bidirectional=False, batch_first=False):
    """The reference: the last layer's final states, forward then backward, side by side."""
    D = 2 if bidirectional else 1
    N, H_out = h_n.shape[-2], h_n.shape[-1]
    last = h_n.view(-1, D, N, H_out)[-1]  # (D, N, H_out)
    return torch.cat(list(last), dim=1)  # (N, D*H_out)


def features(
    output,
    h_n,
    bidirectional=False,
    batch_first=False,
    *,
    source="h_n",
    layer="last",
    order="forward first",
    axis="time",
    join="cat",
):
    """What a student's code reads; each keyword option plants one slip."""
    D = 2 if bidirectional else 1
    if source == "output":  # the last time step of `output`, along `axis`
        time_axis = 1 if batch_first else 0
        if axis == "batch":
            time_axis = 1 - time_axis
        return output.select(time_axis, -1)
    if source == "h_n[-1]":
        return h_n[-1]
    N, H_out = h_n.shape[-2], h_n.shape[-1]
    rows = h_n.view(-1, D, N, H_out)[-1 if layer == "last" else 0]  # (D, N, H_out)
    if order == "backward first":
        rows = rows.flip(0)
    if join == "reshape":
        return rows.reshape(N, D * H_out)
    return torch.cat(list(rows), dim=1)
