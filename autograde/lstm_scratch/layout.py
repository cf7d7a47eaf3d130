"""The LSTM's parameters in the course's layouts, and PyTorch's.

Course layout (d2l's, source 001), gates in the order I, F, O, C~:
    [W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q]
    W_x* (V, H), W_h* (H, H), b_* (H,), W_hq (H, V), b_q (V,)
Fused layout (exercise 4): the same gates side by side, column blocks [I | F | O | C~]:
    [W_x (V, 4H), W_h (H, 4H), b (4H,), W_hq, b_q]
PyTorch's `nn.LSTM` stacks rows (i, f, g, o), g being the candidate, transposed,
with two biases: weight_ih_l0 (4H, V), weight_hh_l0 (4H, H), bias_ih_l0, bias_hh_l0.
"""

from __future__ import annotations

import torch

GATES = ("i", "f", "o", "c")  # the course's order; "c" is the candidate memory C~
TORCH_ORDER = ("i", "f", "c", "o")  # nn.LSTM's (i, f, g, o) in the course's letters
GATE_NAMES = {"i": "input gate I", "f": "forget gate F", "o": "output gate O", "c": "candidate memory C~"}

PARAM_NAMES = (
    "W_xi",
    "W_hi",
    "b_i",
    "W_xf",
    "W_hf",
    "b_f",
    "W_xo",
    "W_ho",
    "b_o",
    "W_xc",
    "W_hc",
    "b_c",
    "W_hq",
    "b_q",
)
FUSED_NAMES = ("W_x", "W_h", "b", "W_hq", "b_q")


def gates(params) -> dict[str, tuple]:
    """{'i': (W_xi, W_hi, b_i), ...} from a course-layout list."""
    return {g: tuple(params[3 * k : 3 * k + 3]) for k, g in enumerate(GATES)}


def random_params(vocab: int, hidden: int, gen: torch.Generator, dtype=torch.float64, scale=0.5) -> list:
    """Course-layout parameters large enough that every nonlinearity matters, biases non-zero."""
    shapes = []
    for _ in GATES:
        shapes += [(vocab, hidden), (hidden, hidden), (hidden,)]
    shapes += [(hidden, vocab), (vocab,)]
    return [torch.randn(s, generator=gen, dtype=dtype) * scale for s in shapes]


def fuse(params) -> list:
    """Course layout -> fused layout."""
    g = gates(params)
    W_x = torch.cat([g[k][0] for k in GATES], dim=1)
    W_h = torch.cat([g[k][1] for k in GATES], dim=1)
    b = torch.cat([g[k][2] for k in GATES])
    return [W_x, W_h, b, params[12], params[13]]


def unfuse(fused) -> list:
    """Fused layout -> course layout (differentiable: gradients flow back to the fused tensors)."""
    W_x, W_h, b, W_hq, b_q = fused
    out = []
    for Wx, Wh, bb in zip(W_x.chunk(4, dim=1), W_h.chunk(4, dim=1), b.chunk(4)):
        out += [Wx, Wh, bb]
    return out + [W_hq, b_q]
