"""The ground truth of the chapter's exercises: PyTorch's own layer on the course's weights, and
the course's weights in PyTorch's layout (judge only: the grading sandbox does not have this
module, see `autograde.judge_only`).
"""

from __future__ import annotations

from itertools import permutations

import torch
from torch import nn

from autograde import state_dicts, torch_layers
from autograde.lstm_scratch import layout
from autograde.lstm_scratch.layout import TORCH_ORDER, gates

JUDGE_ONLY = True


def to_torch_layout(params, order=TORCH_ORDER) -> dict:
    """Course layout -> the state dict of `nn.LSTM(V, H)` (differentiable)."""
    g = gates(params)
    b = torch.cat([g[k][2] for k in order])
    return {
        "weight_ih_l0": torch.cat([g[k][0] for k in order], dim=1).T,
        "weight_hh_l0": torch.cat([g[k][1] for k in order], dim=1).T,
        "bias_ih_l0": b,
        "bias_hh_l0": torch.zeros_like(b),
    }


def torch_lstm(inputs, state, params):
    """Ground truth: nn.LSTM with the course's weights, then the output layer.

    Returns d2l's `(outputs (T*B, V), (H, C))`; differentiable with respect to `params`.
    """
    return torch_layers.run(nn.LSTM, to_torch_layout(params), inputs, state, params[12], params[13])


def torch_layout_mistakes(params):
    """Known wrong mappings, each with what to tell the student."""
    letters = {"i": "i", "f": "f", "c": "g", "o": "o"}
    for order in permutations(layout.GATES):
        if order == layout.TORCH_ORDER:
            continue
        shown = ", ".join(letters[g] for g in order)
        hint = (
            "that is the course's order (i, f, o, c~); nn.LSTM puts the candidate g third and the output gate "
            "last: (i, f, g, o)."
            if order == layout.GATES
            else "nn.LSTM stacks (i, f, g, o), g being C~."
        )
        yield state_dicts.planted(f"the gate blocks are stacked as ({shown}).", hint, to_torch_layout(params, order))
    right = to_torch_layout(params)
    twice = dict(right, bias_hh_l0=right["bias_ih_l0"])
    yield state_dicts.planted(
        "the bias is counted twice: nn.LSTM adds bias_ih_l0 and bias_hh_l0.",
        "put b in one of them and zeros in the other (or split it between them).",
        twice,
    )
    yield state_dicts.planted(
        "the biases are missing: nn.LSTM adds bias_ih_l0 + bias_hh_l0, which should sum to b.",
        "stack b_i, b_f, b_c, b_o into bias_ih_l0.",
        dict(right, bias_ih_l0=torch.zeros_like(right["bias_ih_l0"])),
    )


def fused_torch_lstm(inputs, state, fused):
    """Ground truth for the fused layout: the same nn.LSTM, the gates' columns split back."""
    return torch_lstm(inputs, state, layout.unfuse(fused))
