"""A from-scratch GRU, in either form, that can be told to make one mistake; and the catalogues.

`scratch_gru` with no options is the course's reference GRU:

- with d2l's 11 parameters it computes d2l's form, H~ = tanh(X W_xh + (R * H) W_hh + b_h).
  PyTorch has no layer that computes this, so the tests hold it to nn.GRU where the two forms
  coincide (a diagonal W_hh) and to an independent computation in general;
- with PyTorch's 12 parameters it computes nn.GRU's form,
  H~ = tanh(X W_xh + b_xh + R * (H W_hh + b_hh)); the tests hold it to nn.GRU.

Each entry of `catalogue(form)` plants one mistake students make; when a student's numbers
equal a planted mistake's, the verdict names it.
"""

from __future__ import annotations

from itertools import permutations

import torch

from autograde.gru.layout import BLOCK_NAMES, BLOCKS, split
from autograde.mistakes import Mistake, mistake, together
from autograde.recurrent import BATCH_MAJOR, d2l_rows, state_mistakes

JUDGE_ONLY = True

ACTS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "none": lambda x: x}
DEFAULT_ACTS = {"z": "sigmoid", "r": "sigmoid", "h": "tanh"}


def scratch_gru(
    inputs,
    state,
    params,
    *,
    reset=None,
    hh_bias="inside",
    use=None,
    acts=None,
    update="standard",
    carry=True,
    use_given_state=True,
    out_from="H",
    returned="last",
    time_major=True,
    detach=False,
    detach_returned=True,
    biases=None,
):
    """`gru(inputs, state, params)` in d2l's form (11 params) or PyTorch's (12), with optional mistakes.

    reset:   where the reset gate acts in the candidate: "before" the product, (R * H) W_hh (d2l's
             form, the default with 11 params); "after" it, R * (H W_hh + b_hh) (PyTorch's, the
             default with 12); "none" (no reset gate); "all" (it scales the input's part too)
    hh_bias: PyTorch's form only, where b_hh goes: "inside" R * (...), "outside" it, or "none"
    use:     which block's parameters each block uses, e.g. {"z": "r", "r": "z"} swaps the gates
    acts:    activation per block, default sigmoid for z and r, tanh for h
    update:  "standard" H = Z*H + (1-Z)*H~ | "reversed" H = (1-Z)*H + Z*H~ | "no 1-Z" H = Z*H + H~
    carry:   whether H passes from step to step (else every step restarts from the given state)
    out_from: "H", "candidate" (H~) or "nothing" (no output layer); returned: "last", "initial" or
             "candidate"; detach: H detached between steps; detach_returned: whether the returned H
             is the detached one (detached at the end of the loop body)
    biases:  which biases are added, e.g. {"z": False} leaves b_z out, {"q": False} b_q ("h" is b_h
             in d2l's form, b_xh and b_hh in PyTorch's)
    """
    blocks, b_hh, W_hq, b_q = split(params)
    bias = {**dict.fromkeys((*BLOCKS, "q"), True), **(biases or {})}
    if reset is None:
        reset = "before" if b_hh is None else "after"
    use = {g: (use or {}).get(g, g) for g in BLOCKS}
    acts = {**DEFAULT_ACTS, **(acts or {})}
    if b_hh is None or hh_bias == "none" or use["h"] != "h" or not bias["h"]:
        b_hh = None
    (H0,) = state
    if not use_given_state:
        H0 = torch.zeros_like(H0)
    H = H0
    outputs = []
    for X in inputs:
        W = {g: blocks[use[g]] for g in BLOCKS}
        Z = ACTS[acts["z"]](X @ W["z"][0] + H @ W["z"][1] + (W["z"][2] if bias["z"] else 0))
        R = ACTS[acts["r"]](X @ W["r"][0] + H @ W["r"][1] + (W["r"][2] if bias["r"] else 0))
        W_xh, W_hh, b_xh = W["h"]
        x_part = X @ W_xh + (b_xh if bias["h"] else 0)
        inside = b_hh if b_hh is not None and hh_bias == "inside" else 0
        outside = b_hh if b_hh is not None and hh_bias == "outside" else 0
        if reset == "before":
            h_part = (R * H) @ W_hh + R * inside
        elif reset == "after":
            h_part = R * (H @ W_hh + inside)
        elif reset == "none":
            h_part = H @ W_hh + inside
        elif reset == "all":
            x_part, h_part = R * x_part, R * (H @ W_hh + inside)
        H_tilde = ACTS[acts["h"]](x_part + h_part + outside)
        if update == "standard":
            H_new = Z * H + (1 - Z) * H_tilde
        elif update == "reversed":
            H_new = (1 - Z) * H + Z * H_tilde
        elif update == "no 1-Z":
            H_new = Z * H + H_tilde
        source = {"H": H_new, "candidate": H_tilde}
        outputs.append(source[out_from] @ W_hq + (b_q if bias["q"] else 0) if out_from in source else H_new)
        H = H_new if carry else H0
        if detach:
            H = H.detach()
    Y = d2l_rows(outputs, time_major)  # (T*B, V)
    last = H if detach and detach_returned else H_new
    final = {"last": last, "initial": H0, "candidate": H_tilde}[returned]
    return Y, (final,)


def _name(g: str) -> str:
    return BLOCK_NAMES[g]


def catalogue(form: str = "d2l") -> tuple[list[Mistake], list[Mistake]]:
    """(forward mistakes, gradient-only mistakes) for d2l's form ("d2l") or PyTorch's ("torch")."""

    def flaw(problem, hint=None, **planted):
        return mistake(scratch_gru, problem, hint, **planted)

    d2l = form == "d2l"
    candidate = (
        "H~ = tanh(X @ W_xh + (R * H) @ W_hh + b_h)" if d2l else "H~ = tanh(X @ W_xh + b_xh + R * (H @ W_hh + b_hh))"
    )
    graded = "this exercise grades d2l's form" if d2l else "this exercise grades PyTorch's form"
    forward = []

    # Reset gate: where it acts.
    if d2l:
        forward.append(
            flaw(
                f"the reset gate is applied after the product with W_hh, R * (H @ W_hh), as nn.GRU does; {graded}.",
                f"d2l's candidate resets H first, then multiplies: {candidate}.",
                reset="after",
            )
        )
        forward.append(
            flaw(
                "the reset gate scales the input's part too: tanh(R * (X @ W_xh + H @ W_hh + b_h)).",
                f"R only touches the previous state: {candidate}.",
                reset="all",
            )
        )
    else:
        forward.append(
            flaw(
                f"the reset gate is applied before the product with W_hh, (R * H) @ W_hh, as d2l does; {graded}.",
                f"PyTorch multiplies first, then resets, b_hh included: {candidate}.",
                reset="before",
                hh_bias="outside",
            )
        )
        forward.append(
            flaw(
                f"the reset gate is applied before the product with W_hh, (R * H) @ W_hh + R * b_hh, as d2l does; "
                f"{graded}.",
                f"PyTorch multiplies first, then resets: {candidate}.",
                reset="before",
            )
        )
        forward.append(
            flaw(
                "b_hh is added outside the reset gate: R * (H @ W_hh) + b_hh.",
                f"in PyTorch's form b_hh sits inside: {candidate}. (That is why nn.GRU has two biases.)",
                hh_bias="outside",
            )
        )
        forward.append(flaw("b_hh is not used.", f"{candidate}.", hh_bias="none"))
        forward.append(
            flaw(
                "the reset gate scales the input's part too: tanh(R * (X @ W_xh + b_xh + H @ W_hh + b_hh)).",
                f"R only touches the state's part: {candidate}.",
                reset="all",
            )
        )
    forward.append(flaw("the reset gate is missing: the candidate uses H unreset.", f"{candidate}.", reset="none"))

    # Which weights each block uses.
    names = "W_x*, W_h*, b_*"
    forward.append(
        flaw(
            "the update gate Z and the reset gate R are swapped: each uses the other's weights.",
            "Z uses W_xz, W_hz, b_z and R uses W_xr, W_hr, b_r; the list starts with Z's three "
            "(nn.GRU's order r, z, n is not the course's).",
            use={"z": "r", "r": "z"},
        )
    )
    # One block copied from another (a line pasted and not edited).
    for g, p in permutations(BLOCKS, 2):
        if d2l or "h" not in (g, p):  # in PyTorch's form the candidate has one tensor more than a gate
            forward.append(
                flaw(
                    f"the {_name(g)} uses the weights of the {_name(p)}.",
                    f"each block uses its own {names}: the {_name(g)} W_x{g}, W_h{g}, b_{g}"
                    + (" (b_xh and b_hh for H~)." if g == "h" and not d2l else "."),
                    use={g: p},
                )
            )
    if d2l:  # in PyTorch's form the candidate has one tensor more than a gate: no such mix-up
        for perm in permutations(BLOCKS):
            moved = [(g, p) for g, p in zip(BLOCKS, perm) if g != p]
            if moved and set(dict(moved)) != {"z", "r"}:
                uses = "; ".join(f"the {_name(g)} uses the weights of the {_name(p)}" for g, p in moved)
                forward.append(
                    flaw(
                        f"the blocks read each other's weights: {uses}.",
                        f"each block uses its own {names}, in the order Z, R, H~.",
                        use=dict(moved),
                    )
                )

    # Activations.
    sigmoids = "gates are sigmoids, with values in [0, 1]; only the candidate H~ uses tanh."
    tanh_gates = [
        flaw("the update gate Z uses tanh where a sigmoid belongs.", sigmoids, acts={"z": "tanh"}),
        flaw("the reset gate R uses tanh where a sigmoid belongs.", sigmoids, acts={"r": "tanh"}),
    ]
    forward += tanh_gates
    forward.append(together("both gates, Z and R, use tanh where a sigmoid belongs.", sigmoids, tanh_gates))
    forward.append(
        flaw(
            "the candidate state H~ uses a sigmoid where tanh belongs.",
            f"{candidate}, with values in [-1, 1].",
            acts={"h": "sigmoid"},
        )
    )
    forward.append(
        flaw(
            "the gates use tanh and the candidate a sigmoid: the activations are swapped.",
            "sigmoid for Z and R; tanh for H~.",
            acts={"z": "tanh", "r": "tanh", "h": "sigmoid"},
        )
    )
    forward.append(flaw("the tanh of the candidate state H~ is missing.", f"{candidate}.", acts={"h": "none"}))

    # The update.
    mix = "H = Z * H + (1 - Z) * H~" if d2l else "H = (1 - Z) * H~ + Z * H (nn.GRU writes h' = (1 - z) * n + z * h)"
    forward.append(
        flaw(
            "the update gate is reversed: Z and 1 - Z are swapped, H = (1 - Z) * H + Z * H~.",
            f"{mix}: Z close to 1 keeps the old state.",
            update="reversed",
        )
    )
    forward.append(flaw("the factor 1 - Z is missing: H = Z * H + H~.", f"{mix}.", update="no 1-Z"))

    # The loop and what comes back.
    forward.append(
        flaw(
            "the state is not carried between time steps: every step starts again from the initial state.",
            "assign the new H inside the loop so that the next step uses it.",
            carry=False,
        )
    )
    forward += state_mistakes(flaw, ("H",))
    forward.append(
        flaw(
            "the returned state is the last candidate H~, not the new hidden state H.",
            f"return H after the update {mix.split(' (')[0]}.",
            returned="candidate",
        )
    )
    forward.append(
        flaw(
            "the output layer reads the candidate H~; it must read the new hidden state H.",
            "Y = H @ W_hq + b_q, after the update.",
            out_from="candidate",
        )
    )
    forward.append(flaw(*BATCH_MAJOR, time_major=False))
    h_biases = "b_h" if d2l else "b_xh and b_hh"
    no_bias = [
        flaw(f"the bias {name} is missing.", hint, biases={g: False})
        for g, name, hint in (
            ("z", "b_z of the update gate Z", "Z = sigmoid(X @ W_xz + H @ W_hz + b_z)."),
            ("r", "b_r of the reset gate R", "R = sigmoid(X @ W_xr + H @ W_hr + b_r)."),
            ("h", f"{h_biases} of the candidate H~", f"{candidate}."),
            ("q", "b_q of the output layer", "Y = H @ W_hq + b_q."),
        )
    ]
    forward += no_bias
    forward.append(
        together(
            "no bias is added anywhere: the gates, the candidate and the output layer all leave their bias out.",
            f"each adds its own: Z and R their b_z and b_r, {candidate}, Y = H @ W_hq + b_q.",
            no_bias,
        )
    )
    cut = (
        "the gradient is cut between time steps: H is detached inside the loop.",
        "do not .detach() H (or use H.data) inside the loop: d2l.train_ch8 detaches between batches itself.",
    )
    gradient = [flaw(*cut, detach=True), flaw(*cut, detach=True, detach_returned=False)]
    return forward, gradient


D2L_FORWARD, D2L_GRADIENT = catalogue("d2l")
TORCH_FORWARD, TORCH_GRADIENT = catalogue("torch")
