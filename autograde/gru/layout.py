"""The GRU's parameters in the course's two forms, and in PyTorch's layout.

d2l's form (exercises 1 and 2), blocks in the order Z, R, H~:
    [W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q]
    H~ = tanh(X W_xh + (R * H) W_hh + b_h): the reset gate scales H *before* the product.
PyTorch's form (exercises 3 and 4), the same blocks with the candidate's bias split in two:
    [W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_xh, b_hh, W_hq, b_q]
    H~ = tanh(X W_xh + b_xh + R * (H W_hh + b_hh)): the reset gate scales the product *after* it,
    bias b_hh included. A gate needs one bias only: PyTorch's two (b_i* + b_h*) add up to it.
W_x* (V, H), W_h* (H, H), b_* (H,), W_hq (H, V), b_q (V,).
`nn.GRU` stacks rows (r, z, n), n being the candidate, transposed, with two biases:
weight_ih_l0 (3H, V), weight_hh_l0 (3H, H), bias_ih_l0 (3H,), bias_hh_l0 (3H,).
"""

from __future__ import annotations

import torch

BLOCKS = ("z", "r", "h")  # the course's order; "h" is the candidate state H~
TORCH_ORDER = ("r", "z", "h")  # nn.GRU's (r, z, n) in the course's letters
BLOCK_NAMES = {"z": "update gate Z", "r": "reset gate R", "h": "candidate state H~"}

PARAM_NAMES = ("W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r", "W_xh", "W_hh", "b_h", "W_hq", "b_q")
TORCH_FORM_NAMES = ("W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r", "W_xh", "W_hh", "b_xh", "b_hh", "W_hq", "b_q")


def split(params) -> tuple[dict, torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """({'z': (W_xz, W_hz, b_z), 'r': ..., 'h': (W_xh, W_hh, b_h or b_xh)}, b_hh or None, W_hq, b_q).

    Takes either form: 11 tensors (d2l's) or 12 (PyTorch's, with b_hh).
    """
    params = list(params)
    blocks = {g: tuple(params[3 * k : 3 * k + 3]) for k, g in enumerate(BLOCKS)}
    if len(params) == len(TORCH_FORM_NAMES):
        return blocks, params[9], params[10], params[11]
    if len(params) == len(PARAM_NAMES):
        return blocks, None, params[9], params[10]
    raise ValueError(f"a GRU has 11 (d2l's form) or 12 (PyTorch's form) parameters, got {len(params)}")


def random_params(
    vocab: int, hidden: int, gen: torch.Generator, dtype=torch.float64, scale=0.5, form: str = "d2l"
) -> list:
    """Parameters of either form, large enough that every nonlinearity matters, biases non-zero."""
    shapes = [(vocab, hidden), (hidden, hidden), (hidden,)] * 3
    if form == "torch":
        shapes.append((hidden,))  # b_hh
    shapes += [(hidden, vocab), (vocab,)]
    return [torch.randn(s, generator=gen, dtype=dtype) * scale for s in shapes]


def d2l_to_torch_form(params) -> list:
    """d2l's 11 tensors as PyTorch's form: b_h becomes b_xh and b_hh is zero (differentiable)."""
    params = list(params)
    return params[:9] + [torch.zeros_like(params[8])] + params[9:]
