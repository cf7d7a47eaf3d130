"""Other formulations of the fused LSTM, measured beside the solution's with `run.py --candidates`.

Each candidate is a drop-in `fused_lstm(inputs, state, params)` for the course's fused parameters
`[W_x (V, 4H), W_h (H, 4H), b (4H,), W_hq (H, V), b_q (V,)]` (gate blocks [I | F | O | C~]), used
with the solution notebook's `get_fused_lstm_params` and `init_lstm_state`. All are from-scratch
LSTMs: plain tensor operations, no nn.LSTM, no torch._VF, and each works for any float inputs
(nothing relies on the inputs being one-hot). `run.py` runs the course's own
`check_fused_lstm` on each before timing it.
"""

from __future__ import annotations

import torch


def chunked(inputs, state, params):
    """The solution's structure, one gate per chunk: each line reads like an equation."""
    W_x, W_h, b, W_hq, b_q = params
    H, C = state
    hidden_states = []
    for gates_x in inputs @ W_x + b:  # (B, 4H): the input part, all steps at once
        I, F, O, C_tilde = torch.addmm(gates_x, H, W_h).chunk(4, dim=1)
        C = torch.sigmoid(F) * C + torch.sigmoid(I) * torch.tanh(C_tilde)
        H = torch.sigmoid(O) * torch.tanh(C)
        hidden_states.append(H)
    return torch.cat(hidden_states) @ W_hq + b_q, (H, C)


def chunked_wt(inputs, state, params):
    """`chunked`, multiplying by W_h stored transposed (nn.Linear's layout) for the loop.

    With W_hT = W_h.T contiguous, autograd's two per-step products in the backward pass become
    dGates @ W_hT (for H) and dGates.T @ H (for W_hT) instead of dGates @ W_h.T and H.T @ dGates:
    operand layouts that MKL multiplies faster with two threads (profiled on the 2-core AMD EPYC:
    116 vs 152 us and 149 vs 260 us per step). Same numbers; on one thread it makes no difference.
    """
    W_x, W_h, b, W_hq, b_q = params
    H, C = state
    W_hT = W_h.T.contiguous()  # (4H, H), copied once per call
    hidden_states = []
    for gates_x in inputs @ W_x + b:
        I, F, O, C_tilde = torch.addmm(gates_x, H, W_hT.T).chunk(4, dim=1)
        C = torch.sigmoid(F) * C + torch.sigmoid(I) * torch.tanh(C_tilde)
        H = torch.sigmoid(O) * torch.tanh(C)
        hidden_states.append(H)
    return torch.cat(hidden_states) @ W_hq + b_q, (H, C)


def solution_wt(inputs, state, params):
    """The solution's `fused_lstm` with two lines changed: W_h is copied once into nn.Linear's layout
    (4H, H) and the loop multiplies by its transpose. Same numbers; a faster backward on two CPU
    threads (see `chunked_wt`)."""
    W_x, W_h, b, W_hq, b_q = params
    H, C = state
    n = H.shape[1]
    inputs_part = inputs @ W_x + b  # (T, B, 4H): every step at once
    W_hT = W_h.T.contiguous()  # (4H, H): W_h as nn.Linear stores it
    hidden_states = []
    for x_part in inputs_part:  # (B, 4H), one time step
        gates = x_part + H @ W_hT.T  # = x_part + H @ W_h
        I, F, O = torch.sigmoid(gates[:, : 3 * n]).chunk(3, dim=1)
        C_tilde = torch.tanh(gates[:, 3 * n :])
        C = F * C + I * C_tilde
        H = O * torch.tanh(C)
        hidden_states.append(H)
    outputs = torch.cat(hidden_states, dim=0) @ W_hq + b_q  # (T*B, V): all steps at once
    return outputs, (H, C)


def solution_wt_addmm(inputs, state, params):
    """`solution_wt` with the step's sum and product in one call, torch.addmm."""
    W_x, W_h, b, W_hq, b_q = params
    H, C = state
    n = H.shape[1]
    inputs_part = inputs @ W_x + b
    W_hT = W_h.T.contiguous()
    hidden_states = []
    for x_part in inputs_part:
        gates = torch.addmm(x_part, H, W_hT.T)  # = x_part + H @ W_h
        I, F, O = torch.sigmoid(gates[:, : 3 * n]).chunk(3, dim=1)
        C_tilde = torch.tanh(gates[:, 3 * n :])
        C = F * C + I * C_tilde
        H = O * torch.tanh(C)
        hidden_states.append(H)
    outputs = torch.cat(hidden_states, dim=0) @ W_hq + b_q
    return outputs, (H, C)


class _Recurrence(torch.autograd.Function):
    """The LSTM's loop with backpropagation through time written by hand.

    forward: the precomputed input part of the gates (T, B, 4H), H_0, C_0 and W_h -> every
    H_t (T, B, H) and the last (H, C). backward: the same loop in reverse; the gradient of W_h
    is one (H, T*B) @ (T*B, 4H) product after the loop instead of T small ones.
    """

    @staticmethod
    def forward(ctx, gates_x, H, C, W_h):
        T, B, four_n = gates_x.shape
        n = four_n // 4
        acts = torch.empty_like(gates_x)  # I, F, O, C~ of every step
        Hs, Cs = gates_x.new_empty(T + 1, B, n), gates_x.new_empty(T + 1, B, n)
        tanh_Cs = gates_x.new_empty(T, B, n)
        Hs[0], Cs[0] = H, C
        for t in range(T):
            a = torch.addmm(gates_x[t], Hs[t], W_h, out=acts[t])
            torch.sigmoid(a[:, : 3 * n], out=a[:, : 3 * n])
            torch.tanh(a[:, 3 * n :], out=a[:, 3 * n :])
            I, F, O, C_tilde = a.chunk(4, dim=1)
            torch.addcmul(F * Cs[t], I, C_tilde, out=Cs[t + 1])
            torch.tanh(Cs[t + 1], out=tanh_Cs[t])
            torch.mul(O, tanh_Cs[t], out=Hs[t + 1])
        ctx.save_for_backward(W_h, acts, Cs, Hs, tanh_Cs)
        return Hs[1:], Hs[T].clone(), Cs[T].clone()

    @staticmethod
    def backward(ctx, dHs, dH_last, dC_last):
        W_h, acts, Cs, Hs, tanh_Cs = ctx.saved_tensors
        W_hT = W_h.T.contiguous()
        dH = dHs[-1] if dH_last is None else dHs[-1] + dH_last
        dC = torch.zeros_like(Cs[0]) if dC_last is None else dC_last.clone()
        d_gates = torch.empty_like(acts)
        for t in reversed(range(acts.shape[0])):
            I, F, O, C_tilde = acts[t].chunk(4, dim=1)
            tanh_C = tanh_Cs[t]
            dC.addcmul_(dH * O, 1 - tanh_C * tanh_C)  # H_t = O * tanh(C_t)
            dI, dF, dO, dC_tilde = d_gates[t].chunk(4, dim=1)
            torch.mul(dC * C_tilde, I - I * I, out=dI)  # sigmoid' = s (1 - s)
            torch.mul(dC * Cs[t], F - F * F, out=dF)
            torch.mul(dH * tanh_C, O - O * O, out=dO)
            torch.mul(dC * I, 1 - C_tilde * C_tilde, out=dC_tilde)  # tanh' = 1 - t^2
            dC.mul_(F)  # C_t = F * C_{t-1} + ...
            dH = torch.mm(d_gates[t], W_hT)  # through H_{t-1} @ W_h
            if t > 0:
                dH += dHs[t - 1]
        dW_h = Hs[:-1].reshape(-1, Hs.shape[2]).T @ d_gates.reshape(-1, d_gates.shape[2])
        return d_gates, dH, dC, dW_h


def manual_bptt(inputs, state, params):
    """Input part and output layer by autograd, the recurrence by `_Recurrence` (BPTT by hand)."""
    W_x, W_h, b, W_hq, b_q = params
    H, C = state
    hidden_states, H, C = _Recurrence.apply(inputs @ W_x + b, H, C, W_h)
    return hidden_states.reshape(-1, hidden_states.shape[2]) @ W_hq + b_q, (H, C)


# name shown in the results -> the function
CANDIDATES = {
    "fused_lstm, solution + W_h.T": solution_wt,
    "fused_lstm, solution + W_h.T + addmm": solution_wt_addmm,
    "fused_lstm, chunked + addmm": chunked,
    "fused_lstm, chunked + W_h.T": chunked_wt,
    "fused_lstm, BPTT by hand": manual_bptt,
}
