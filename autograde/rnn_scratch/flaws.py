"""A from-scratch RNN that can be told to make one mistake, and the catalogue of mistakes.

`scratch_rnn` with no options is a second, independent RNN (the tests hold it to nn.RNN).
Each entry of `catalogue()` plants one mistake; when a student's numbers equal a planted
mistake's, the verdict names it.
"""

from __future__ import annotations

import torch

from autograde.mistakes import Mistake, mistake, together
from autograde.recurrent import BATCH_MAJOR, d2l_rows, state_mistakes

JUDGE_ONLY = True

ACTS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "none": lambda x: x}


def scratch_rnn(
    inputs,
    state,
    params,
    *,
    act="tanh",
    transpose_hh=False,
    carry=True,
    use_given_state=True,
    returned="last",
    output_layer=True,
    output_bias=True,
    hidden_bias=True,
    time_major=True,
    detach=False,
    detach_returned=True,
):
    """d2l's `rnn(inputs, state, params)`, with optional planted mistakes.

    act: the hidden layer's activation; transpose_hh: H @ W_hh.T; carry: False restarts every
    step from the given state; use_given_state: False starts from zeros; returned: "last" or
    "initial"; output_layer: False returns the hidden states; output_bias / hidden_bias: False
    leaves out b_q / b_h; time_major: False orders the rows batch-major; detach: H is detached
    inside the loop (detach_returned: the returned H is the detached one).
    """
    W_xh, W_hh, b_h, W_hq, b_q = params
    (H0,) = state
    if not use_given_state:
        H0 = torch.zeros_like(H0)
    H = H0
    recurrent = W_hh.T if transpose_hh else W_hh
    outputs = []
    for X in inputs:
        H_new = ACTS[act](X @ W_xh + H @ recurrent + (b_h if hidden_bias else 0))
        if output_layer:
            outputs.append(H_new @ W_hq + (b_q if output_bias else 0))
        else:
            outputs.append(H_new)
        H = H_new if carry else H0
        if detach:
            H = H.detach()
    Y = d2l_rows(outputs, time_major)  # (T*B, V)
    last = H if detach and detach_returned else H_new
    return Y, ((last,) if returned == "last" else (H0,))


def catalogue() -> tuple[list[Mistake], list[Mistake]]:
    """(forward mistakes, gradient-only mistakes)."""

    def flaw(problem, hint=None, **planted):
        return mistake(scratch_rnn, problem, hint, **planted)

    no_bias = [
        flaw("the output bias b_q is missing.", "O_t = H_t @ W_hq + b_q.", output_bias=False),
        flaw("the hidden bias b_h is missing.", "H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h).", hidden_bias=False),
    ]
    forward = [
        flaw(
            "the hidden state uses a sigmoid where tanh belongs.",
            "H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h): tanh, with values in [-1, 1].",
            act="sigmoid",
        ),
        flaw(
            "the hidden state uses a ReLU where tanh belongs.",
            "H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h) (nn.RNN's default nonlinearity is tanh).",
            act="relu",
        ),
        flaw(
            "the tanh is missing: the hidden state is a linear function of the input and the state.",
            "H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h).",
            act="none",
        ),
        flaw(
            "W_hh is transposed: the state is multiplied by W_hh.T.",
            "d2l multiplies from the right, H @ W_hh, with W_hh of shape (H, H) = (from, to).",
            transpose_hh=True,
        ),
        flaw(
            "the state is not carried between time steps: every step starts again from the initial state.",
            "assign the new hidden state back to H inside the loop, so the next step uses it.",
            carry=False,
        ),
        *state_mistakes(flaw, ("H",)),
        *no_bias,
        together(
            "both biases are missing: neither b_h nor b_q is added.",
            "H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h) and O_t = H_t @ W_hq + b_q.",
            no_bias,
        ),
        flaw(*BATCH_MAJOR, time_major=False),
    ]
    cut = (
        "the gradient is cut between time steps: H is detached inside the loop.",
        "do not .detach() H (or use H.data) inside the loop: d2l.train_ch8 detaches between minibatches itself.",
    )
    gradient = [flaw(*cut, detach=True), flaw(*cut, detach=True, detach_returned=False)]
    return forward, gradient


FORWARD_MISTAKES, GRADIENT_MISTAKES = catalogue()
