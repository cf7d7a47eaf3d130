"""PyTorch's own recurrent layers as ground truth for a from-scratch network in d2l's form.

A chapter maps the student's parameter list to the state dict of `nn.RNN`, `nn.GRU` or
`nn.LSTM` (one layer, time-major); `run` runs the real layer on those tensors with
`torch.func.functional_call`, so the result stays differentiable with respect to the
student's parameters, and adds d2l's output layer.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

JUDGE_ONLY = True  # runs the real layers on the student's layout: the truth of every recurrent exercise


def run(layer: type[nn.RNNBase], weights: dict, inputs: torch.Tensor, state: tuple, W_hq, b_q, **options):
    """`layer(V, H, **options)` with `weights` on inputs (T, B, V) from `state`, a tuple of (B, H).

    Returns d2l's `(outputs (T*B, V), new state)`: outputs are `H_t @ W_hq + b_q` for every
    step, time-major; the new state is a tuple shaped like `state`.
    """
    V, H = inputs.shape[-1], state[0].shape[-1]
    module = layer(V, H, device="meta", **options)  # no storage: every tensor comes from `weights`
    initial = tuple(s.unsqueeze(0) for s in state)  # (B, H) -> (num_layers=1, B, H)
    hs, final = functional_call(module, weights, (inputs, initial if len(initial) > 1 else initial[0]))
    final = final if isinstance(final, tuple) else (final,)
    return hs.reshape(-1, H) @ W_hq + b_q, tuple(s.squeeze(0) for s in final)


def load(layer: type[nn.RNNBase], state_dict: dict, inputs: torch.Tensor, state: tuple, W_hq, b_q):
    """Load a student's state dict into a real layer and run it (no gradient)."""
    V, H = inputs.shape[-1], state[0].shape[-1]
    module = layer(V, H).to(inputs.dtype)
    module.load_state_dict({k: v.detach().to(inputs.dtype) for k, v in state_dict.items()})
    initial = tuple(s.unsqueeze(0) for s in state)
    with torch.no_grad():
        hs, final = module(inputs, initial if len(initial) > 1 else initial[0])
    final = final if isinstance(final, tuple) else (final,)
    return hs.reshape(-1, H) @ W_hq + b_q, tuple(s.squeeze(0) for s in final)
