"""The scratch RNN's parameters in the course's layout, and in `nn.RNN`'s.

Course layout (d2l's): [W_xh (V, H), W_hh (H, H), b_h (H,), W_hq (H, V), b_q (V,)], used as
    H_t = tanh(X_t @ W_xh + H_{t-1} @ W_hh + b_h),   O_t = H_t @ W_hq + b_q.
`nn.RNN(V, H)` computes h_t = tanh(x_t @ weight_ih_l0.T + bias_ih_l0 + h_{t-1} @ weight_hh_l0.T
+ bias_hh_l0): its weights are the course's transposed, and it has two biases (one is zero here).
"""

from __future__ import annotations

import torch

PARAM_NAMES = ("W_xh", "W_hh", "b_h", "W_hq", "b_q")


def random_params(vocab: int, hidden: int, gen: torch.Generator, dtype=torch.float64, scale=0.5) -> list:
    """Parameters large enough that tanh bends, with non-zero biases (so a missing one shows)."""
    shapes = [(vocab, hidden), (hidden, hidden), (hidden,), (hidden, vocab), (vocab,)]
    return [torch.randn(s, generator=gen, dtype=dtype) * scale for s in shapes]
