"""A from-scratch LSTM that can be told to make one mistake, and the catalogue of mistakes.

`scratch_lstm` with no options is a second, independent LSTM (it is not checked
against itself: the tests hold it to nn.LSTM). Each entry of `catalogue()` plants
one mistake students make; when a student's numbers equal a planted mistake's,
the verdict names it.
"""

from __future__ import annotations

from itertools import combinations, permutations

import torch

from autograde.lstm_scratch.layout import GATE_NAMES, GATES, gates, unfuse
from autograde.mistakes import Mistake, mistake, together
from autograde.recurrent import BATCH_MAJOR, d2l_rows, state_mistakes

JUDGE_ONLY = True

ACTS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "none": lambda x: x}


def scratch_lstm(
    inputs,
    state,
    params,
    *,
    use=None,
    acts=None,
    cell="standard",
    h_act="tanh",
    h_from="new C",
    carry=("H", "C"),
    use_given_state=True,
    out_from="H",
    returned="last",
    time_major=True,
    detach=(),
    detach_returned=True,
    biases=None,
):
    """d2l's `lstm(inputs, state, params)`, with optional planted mistakes.

    use:   which gate's parameters each gate uses, e.g. {"i": "f", "f": "i"} swaps two gates
    acts:  activation per gate, default sigmoid for i, f, o and tanh for c
    cell:  "standard" C = F*C + I*C~ | "no forget" | "no input"
    h_act: the function in H = O * h_act(C); h_from: "new C" or "old C"
    carry: which states pass from step to step (the rest restart from the given state)
    out_from: "H", "C" or "nothing" (no output layer); returned: "last", "initial" or "swapped"
    detach: states detached between steps (cuts the gradient through time); detach_returned:
           whether the returned state is the detached one (detached at the end of the loop body)
    biases: which biases are added, e.g. {"i": False} leaves b_i out, {"q": False} b_q
    """
    use = {g: (use or {}).get(g, g) for g in GATES}
    bias = {**dict.fromkeys((*GATES, "q"), True), **(biases or {})}
    acts = {**{"i": "sigmoid", "f": "sigmoid", "o": "sigmoid", "c": "tanh"}, **(acts or {})}
    W = gates(params)
    W_hq, b_q = params[12], params[13]
    H0, C0 = state
    if not use_given_state:
        H0, C0 = torch.zeros_like(H0), torch.zeros_like(C0)
    H, C = H0, C0
    outputs = []
    for X in inputs:
        z = {g: X @ W[use[g]][0] + H @ W[use[g]][1] + (W[use[g]][2] if bias[g] else 0) for g in GATES}
        I, F, O, C_tilde = (ACTS[acts[g]](z[g]) for g in GATES)
        if cell == "standard":
            C_new = F * C + I * C_tilde
        elif cell == "no forget":
            C_new = C + I * C_tilde
        elif cell == "no input":
            C_new = F * C + C_tilde
        H_new = O * ACTS[h_act](C_new if h_from == "new C" else C)
        source = {"H": H_new, "C": C_new}
        outputs.append(source[out_from] @ W_hq + (b_q if bias["q"] else 0) if out_from in source else H_new)
        H = H_new if "H" in carry else H0
        C = C_new if "C" in carry else C0
        if "H" in detach:
            H = H.detach()
        if "C" in detach:
            C = C.detach()
    Y = d2l_rows(outputs, time_major)  # (T*B, V)
    # Detached at the end of the loop body, the returned state is detached too.
    last = (H if "H" in detach and detach_returned else H_new, C if "C" in detach and detach_returned else C_new)
    final = {"last": last, "initial": (H0, C0), "swapped": (C_new, H_new)}[returned]
    return Y, final


def fused_scratch_lstm(inputs, state, params, **planted):
    """`scratch_lstm` on the fused layout [W_x, W_h, b, W_hq, b_q]."""
    return scratch_lstm(inputs, state, unfuse(params), **planted)


def _name(g: str) -> str:
    return GATE_NAMES[g]


def _bias(g: str, fused: bool) -> str:
    if g == "q":
        return "b_q of the output layer"
    return f"block {GATES.index(g) + 1} of b (the {_name(g)})" if fused else f"b_{g} of the {_name(g)}"


def catalogue(fused: bool = False) -> tuple[list[Mistake], list[Mistake]]:
    """(forward mistakes, gradient-only mistakes) for the course's or the fused layout."""
    reference = fused_scratch_lstm if fused else scratch_lstm

    def flaw(problem, hint=None, **planted):
        return mistake(reference, problem, hint, **planted)

    def weights_of(g):
        if fused:
            return f"column block {GATES.index(g) + 1} of W_x, W_h and b"
        return f"W_x{g}, W_h{g} and b_{g}"

    order = "[I | F | O | C~]" if fused else "I, F, O, C~"
    forward = []
    for a, b in combinations(GATES, 2):
        problem = f"the {_name(a)} and the {_name(b)} are swapped."
        if (a, b) == ("i", "f"):  # C = F*C~ + I*C computes exactly this too
            problem = (
                "the input gate I and the forget gate F are swapped (or the forget gate is on the wrong "
                "term of C = F * C + I * C~)."
            )
        forward.append(
            flaw(
                problem,
                f"the {_name(a)} uses {weights_of(a)}; the {_name(b)} uses {weights_of(b)} (order {order}); "
                "F scales the previous memory C, I the candidate C~."
                if (a, b) == ("i", "f")
                else f"the {_name(a)} uses {weights_of(a)}; the {_name(b)} uses {weights_of(b)} (order {order}).",
                use={a: b, b: a},
            )
        )
    for perm in permutations(GATES):
        moved = [(g, p) for g, p in zip(GATES, perm) if g != p]
        if len(moved) > 2:  # swaps of two gates are above, with their own words
            uses = "; ".join(f"the {_name(g)} uses the weights of the {_name(p)}" for g, p in moved)
            forward.append(
                flaw(
                    f"the gates read each other's weights: {uses}.",
                    f"each gate uses its own weights, in the order {order}.",
                    use=dict(moved),
                )
            )
    sigmoids = "gates are sigmoids, with values in [0, 1]; only C~ and the output of the cell use tanh."
    tanh_gates = [
        flaw(f"the {_name(g)} uses tanh where a sigmoid belongs.", sigmoids, acts={g: "tanh"}) for g in ("i", "f", "o")
    ]
    forward += tanh_gates
    forward.append(together("every gate (I, F and O) uses tanh where a sigmoid belongs.", sigmoids, tanh_gates))
    forward.append(
        flaw(
            "the candidate memory C~ uses a sigmoid where tanh belongs.",
            "C~ = tanh(X W_xc + H W_hc + b_c), with values in [-1, 1].",
            acts={"c": "sigmoid"},
        )
    )
    forward.append(
        flaw(
            "the gates use tanh and the candidate a sigmoid: the activations are swapped.",
            "sigmoid for I, F, O; tanh for C~.",
            acts={"i": "tanh", "f": "tanh", "o": "tanh", "c": "sigmoid"},
        )
    )
    forward.append(
        flaw("the hidden state uses a sigmoid of C where tanh belongs.", "H = O * tanh(C).", h_act="sigmoid")
    )
    forward.append(flaw("the tanh in H = O * tanh(C) is missing.", "H = O * tanh(C), not O * C.", h_act="none"))
    forward.append(
        flaw(
            "H is computed from the previous step's C.",
            "update the memory first, C = F * C + I * C~, then H = O * tanh(C) with the new C.",
            h_from="old C",
        )
    )
    forward.append(
        flaw(
            "the forget gate is missing from the memory update.",
            "C = F * C + I * C~: F scales the previous memory.",
            cell="no forget",
        )
    )
    forward.append(flaw("the input gate is missing from the memory update.", "C = F * C + I * C~.", cell="no input"))
    forward.append(
        flaw(
            "the state is not carried between time steps: every step starts again from the initial state.",
            "update H and C inside the loop and use the new values at the next step.",
            carry=(),
        )
    )
    forward.append(
        flaw(
            "the memory C is not carried between time steps.",
            "assign the new memory back to C inside the loop.",
            carry=("H",),
        )
    )
    forward.append(
        flaw(
            "the hidden state H is not carried between time steps.",
            "assign the new hidden state back to H inside the loop.",
            carry=("C",),
        )
    )
    forward += state_mistakes(flaw, ("H", "C"))
    forward.append(
        flaw(
            "the returned state is (C, H); it must be (H, C).",
            "return `outputs, (H, C)`: the hidden state first, then the memory.",
            returned="swapped",
        )
    )
    forward.append(
        flaw(
            "the output layer reads the memory C; it must read the hidden state H.", "Y = H @ W_hq + b_q.", out_from="C"
        )
    )
    forward.append(flaw(*BATCH_MAJOR, time_major=False))
    no_bias = [
        flaw(
            f"the bias {_bias(g, fused)} is missing.",
            "every gate adds its bias: X @ W_x* + H @ W_h* + b_*." if g != "q" else "Y = H @ W_hq + b_q.",
            biases={g: False},
        )
        for g in (*GATES, "q")
    ]
    forward += no_bias
    forward.append(
        together(
            "no bias is added anywhere: the gates, the candidate and the output layer all leave their bias out.",
            "each of them adds its own: X @ W_x* + H @ W_h* + b_*, and Y = H @ W_hq + b_q.",
            no_bias,
        )
    )
    gradient = [
        flaw(
            "the gradient is cut between time steps: H and C are detached inside the loop.",
            "do not .detach() (or use .data) inside the loop: d2l.train_ch8 detaches between batches itself.",
            detach=("H", "C"),
        ),
        flaw(
            "the gradient is cut between time steps: H and C are detached inside the loop.",
            "do not .detach() (or use .data) inside the loop: d2l.train_ch8 detaches between batches itself.",
            detach=("H", "C"),
            detach_returned=False,
        ),
        flaw(
            "the gradient is cut between time steps: H is detached inside the loop.",
            "do not .detach() H (or use H.data) inside the loop.",
            detach=("H",),
        ),
        flaw(
            "the gradient is cut between time steps: C is detached inside the loop.",
            "do not .detach() C (or use C.data) inside the loop.",
            detach=("C",),
        ),
    ]
    return forward, gradient


FORWARD_MISTAKES, GRADIENT_MISTAKES = catalogue(fused=False)
FUSED_FORWARD_MISTAKES, FUSED_GRADIENT_MISTAKES = catalogue(fused=True)
