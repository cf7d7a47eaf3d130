"""The ground truth of the chapter's exercises: PyTorch's own layer on the course's weights, and
the course's weights in PyTorch's layout (judge only: the grading sandbox does not have this
module, see `autograde.judge_only`).
"""

from __future__ import annotations

from itertools import permutations

import torch
from torch import nn

from autograde import state_dicts, torch_layers
from autograde.gru import layout
from autograde.gru.layout import TORCH_ORDER, split

JUDGE_ONLY = True


def to_torch_layout(params, order=TORCH_ORDER) -> dict:
    """PyTorch-form parameters -> the state dict of `nn.GRU(V, H)` (differentiable)."""
    blocks, b_hh, _, _ = split(params)
    if b_hh is None:
        raise ValueError("to_torch_layout takes PyTorch's form (12 tensors); see d2l_to_torch_form")
    zeros = torch.zeros_like(b_hh)
    return {
        "weight_ih_l0": torch.cat([blocks[g][0] for g in order], dim=1).T,
        "weight_hh_l0": torch.cat([blocks[g][1] for g in order], dim=1).T,
        "bias_ih_l0": torch.cat([blocks[g][2] for g in order]),
        "bias_hh_l0": torch.cat([b_hh if g == "h" else zeros for g in order]),
    }


def torch_gru(inputs, state, params):
    """Ground truth for PyTorch's form: nn.GRU with the course's weights, then the output layer.

    Returns d2l's `(outputs (T*B, V), (H,))`; differentiable with respect to `params`.
    """
    _, _, W_hq, b_q = split(params)
    return torch_layers.run(nn.GRU, to_torch_layout(params), inputs, state, W_hq, b_q)


_LETTERS = {"r": "r", "z": "z", "h": "n"}


def torch_layout_mistakes(params):
    """Known wrong mappings, each with what to tell the student."""
    for order in permutations(layout.BLOCKS):
        if order == layout.TORCH_ORDER:
            continue
        shown = ", ".join(_LETTERS[g] for g in order)
        hint = (
            "that is the course's order (Z, R, H~); nn.GRU puts the reset gate first: (r, z, n), n being H~."
            if order == layout.BLOCKS
            else "nn.GRU stacks (r, z, n), n being the candidate H~."
        )
        yield state_dicts.planted(f"the blocks are stacked as ({shown}).", hint, to_torch_layout(params, order))
    right = to_torch_layout(params)
    H = params[9].shape[0]
    b_xh, b_hh = params[8], params[9]
    gates_ih = right["bias_ih_l0"][: 2 * H]
    zeros = torch.zeros_like(b_hh)
    outside = dict(right, bias_ih_l0=torch.cat([gates_ih, b_xh + b_hh]), bias_hh_l0=torch.cat([zeros, zeros, zeros]))
    yield state_dicts.planted(
        "b_hh is in bias_ih_l0: there it is added outside the reset gate.",
        "nn.GRU computes n = tanh(W_in x + b_in + r * (W_hn h + b_hn)): b_hh belongs in the n block of "
        "bias_hh_l0, b_xh in that of bias_ih_l0.",
        outside,
    )
    swapped = dict(right, bias_ih_l0=torch.cat([gates_ih, b_hh]), bias_hh_l0=torch.cat([zeros, zeros, b_xh]))
    yield state_dicts.planted(
        "b_xh and b_hh are swapped: b_hh must be the one inside the reset gate.",
        "bias_ih_l0's n block is b_in (outside r), bias_hh_l0's is b_hn (inside r): b_xh and b_hh, in that order.",
        swapped,
    )
    twice = dict(right, bias_hh_l0=torch.cat([gates_ih, b_hh]))
    yield state_dicts.planted(
        "the gates' biases are counted twice: nn.GRU adds bias_ih_l0 and bias_hh_l0.",
        "put b_r and b_z in one of them and zeros in the other (or split them).",
        twice,
    )
    yield state_dicts.planted(
        "b_hh is missing: bias_hh_l0's n block must be b_hh.",
        "the n block of bias_hh_l0 sits inside r * (...).",
        dict(right, bias_hh_l0=torch.cat([zeros, zeros, zeros])),
    )
    yield state_dicts.planted(
        "the biases are missing.",
        "bias_ih_l0 stacks b_r, b_z, b_xh; bias_hh_l0's n block is b_hh.",
        dict(right, bias_ih_l0=torch.zeros_like(right["bias_ih_l0"]), bias_hh_l0=torch.zeros_like(right["bias_hh_l0"])),
    )
