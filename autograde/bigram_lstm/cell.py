"""The fused-gate LSTM of the chapter, its ground truth (`nn.LSTM`) and its planted mistakes.

`fused_lstm(X, state, params)` runs an LSTM over embedded inputs X (T, B, D) from the state
(H, C), each (B, H), with params = [W, b]: W of shape (D + H, 4H) multiplies the row
[x_t, h_{t-1}] (input first, then state) and b has shape (4H,). The column blocks of W and b,
each H wide, belong to the gates in the course's order [I | F | O | C~]. It returns
(Y (T, B, H), (H, C)): every step's hidden state, as `nn.LSTM` returns them, and the last state.

With a projection (LSTMP, Sak et al. 2014), params = [W, b, W_hr]: the memory C has N units,
W_hr (N, P) projects h_t = (O * tanh(C_t)) @ W_hr to P values, and W has shape (D + P, 4N),
since the state it reads is the projected one. Its truth is `nn.LSTM(D, N, proj_size=P)` with
weight_hr_l0 = W_hr.T.

PyTorch's `nn.LSTM(D, H)` computes the same thing with weight_ih_l0 = W[:D].T and
weight_hh_l0 = W[D:].T, rows reordered to its (i, f, g, o), b as bias_ih_l0 and zeros as
bias_hh_l0: that is the ground truth.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

JUDGE_ONLY = True  # the truth and the planted mistakes: never in the grading sandbox

COURSE_ORDER = "ifoc"  # the course's [I | F | O | C~]
TORCH_ORDER = "ifco"  # nn.LSTM's (i, f, g, o) in the course's letters (g is the candidate C~)


def _blocks(t: torch.Tensor, order: str, dim: int) -> torch.Tensor:
    """The four gate blocks of `t`, from the course's order into `order`."""
    parts = dict(zip(COURSE_ORDER, t.chunk(4, dim=dim)))
    return torch.cat([parts[g] for g in order], dim=dim)


def torch_weights(params, input_size: int) -> dict[str, torch.Tensor]:
    """[W, b] (or [W, b, W_hr]) in nn.LSTM's layout (differentiable with respect to them)."""
    W, b = params[:2]
    W_torch = _blocks(W, TORCH_ORDER, dim=1)
    weights = {
        "weight_ih_l0": W_torch[:input_size].T,
        "weight_hh_l0": W_torch[input_size:].T,
        "bias_ih_l0": _blocks(b, TORCH_ORDER, dim=0),
        "bias_hh_l0": torch.zeros_like(b),
    }
    if len(params) == 3:
        weights["weight_hr_l0"] = params[2].T
    return weights


def torch_lstm(X, state, params):
    """Ground truth: nn.LSTM (with proj_size when params has W_hr); (Y (T, B, P or H), (H, C))."""
    D, N = X.shape[-1], state[1].shape[-1]
    proj = {"proj_size": params[2].shape[1]} if len(params) == 3 else {}
    module = nn.LSTM(D, N, device="meta", **proj)  # no storage: every tensor comes from the weights
    Y, (h, c) = functional_call(module, torch_weights(params, D), (X, tuple(s.unsqueeze(0) for s in state)))
    return Y, (h.squeeze(0), c.squeeze(0))


ACTS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "none": lambda x: x}


def scratch_lstm(
    X,
    state,
    params,
    *,
    order: str = COURSE_ORDER,
    rows: str = "xh",
    h_act: str = "tanh",
    c_act: str = "tanh",
    gate_act: str = "sigmoid",
    cell: str = "standard",
    use_given_state: bool = True,
    returned: str = "last",
    out_from: str = "H",
    detach: tuple = (),
):
    """A second, independent fused LSTM, with optional planted mistakes.

    order:    the order in which the code reads W's column blocks (e.g. nn.LSTM's "ifco")
    rows:     "xh" (W's rows: input, then state) | "hx" (state first)
    h_act:    the function in H = O * h_act(C); c_act: the candidate's activation;
    gate_act: the gates' activation
    cell:     "standard" C = F*C + I*C~ | "no forget" C = C + I*C~
    use_given_state: False starts from zeros; returned: "last" | "initial" | "swapped"
    out_from: "H" or "C" (what Y holds at each step); detach: states detached between steps
    """
    W, b = params[:2]
    W_hr = params[2] if len(params) == 3 else None
    H0, C0 = state
    if not use_given_state:
        H0, C0 = torch.zeros_like(H0), torch.zeros_like(C0)
    H, C = H0, C0
    n = C.shape[-1]
    ys = []
    for x in X:
        z = (torch.cat([x, H], dim=1) if rows == "xh" else torch.cat([H, x], dim=1)) @ W + b
        parts = dict(zip(order, z.split(n, dim=1)))
        I, F, O = (ACTS[gate_act](parts[g]) for g in "ifo")
        C_tilde = ACTS[c_act](parts["c"])
        C = C + I * C_tilde if cell == "no forget" else F * C + I * C_tilde
        H = O * ACTS[h_act](C)
        H = H if W_hr is None else H @ W_hr
        ys.append(H if out_from == "H" else C)
        H = H.detach() if "H" in detach else H
        C = C.detach() if "C" in detach else C
    final = {"last": (H, C), "initial": (H0, C0), "swapped": (C, H)}[returned]
    return torch.stack(ys), final
