"""The peephole LSTM (Gers and Schmidhuber, 2000): the course's reference, its planted mistakes,
and how a student's model is run on the reference's weights.

No PyTorch layer has peepholes, so the reference is the course's own `PeepholeLSTM`; the tests
hold it to `nn.LSTM` when its peephole weights are zero. The gates see the memory through one
weight per unit (the paper's diagonal form):

    I = sigmoid(z_I + w_ci * C_{t-1}),  F = sigmoid(z_F + w_cf * C_{t-1}),
    C_t = F * C_{t-1} + I * tanh(z_C),  O = sigmoid(z_O + w_co * C_t),  h_t = O * tanh(C_t)

with z = [x_t, h_{t-1}] @ W + b in the course's block order [I | F | O | C~].

A student's model is found by its parameters' shapes, whatever their names: W (D + H, 4H),
b (4H,), and the peepholes as three vectors of H values (in the order I, F, O) or one (3, H)
tensor. Three (H, H) matrices are the mistake of full peephole matrices: the check loads the
reference's vectors into their diagonals, and names the mistake by the shape.
"""

from __future__ import annotations

import torch
from torch import nn

from autograde import judge_only
from autograde.verdict import CheckFailed

PeepholeLSTM = judge_only.function("autograde.bigram_lstm.references:PeepholeLSTM")  # the reference


def _roles(model: nn.Module, D: int, H: int, label: str) -> tuple[dict[str, torch.Tensor], str]:
    """The student's parameters by role ({"W", "b", "w_ci", "w_cf", "w_co"} or "peep" (3, H)), and
    the peepholes' form: "vectors" or "matrices"."""
    params = list(model.parameters())
    found: dict[str, torch.Tensor] = {}
    for role, shape in (("W", (D + H, 4 * H)), ("b", (4 * H,))):
        matches = [p for p in params if tuple(p.shape) == shape]
        if len(matches) != 1:
            raise CheckFailed(
                label,
                f"the model needs exactly one parameter of shape {shape} ({role}); it has {len(matches)}.",
                "keep the W and b that the skeleton's __init__ builds.",
            )
        found[role] = matches[0]
    rest = [p for p in params if not any(p is q for q in found.values())]
    shapes = [tuple(p.shape) for p in rest]
    if shapes == [(H,)] * 3:
        found.update(zip(("w_ci", "w_cf", "w_co"), rest))
        return found, "vectors"
    if shapes == [(3, H)]:
        found["peep"] = rest[0]
        return found, "vectors"
    if shapes == [(H, H)] * 3:
        found.update(zip(("w_ci", "w_cf", "w_co"), rest))
        return found, "matrices"
    raise CheckFailed(
        label,
        f"besides W and b the model's parameters have the shapes {shapes}; the peepholes are "
        f"three vectors of H = {H} values (w_ci, w_cf, w_co, in that order).",
        "nn.Parameter(torch.zeros(num_hiddens)) for each of the three.",
    )


def run(cls, args, label: str) -> dict:
    """Build the student's model, load the case's weights into it, run it: plain data back."""
    (D, H), X, state, weights, loss_weights = args
    with torch.enable_grad():
        model = cls(D, H).to(X.dtype)
        roles, form = _roles(model, D, H, label)
        with torch.no_grad():
            roles["W"].copy_(weights["W"])
            roles["b"].copy_(weights["b"])
            if "peep" in roles:
                roles["peep"].copy_(weights["peep"])
            else:
                for k, name in enumerate(("w_ci", "w_cf", "w_co")):
                    w = weights["peep"][k]
                    roles[name].copy_(w if form == "vectors" else torch.diag(w))
        out = model(X.clone(), tuple(s.clone() for s in state))
        if not (
            isinstance(out, (tuple, list))
            and len(out) == 2
            and isinstance(out[0], torch.Tensor)
            and isinstance(out[1], (tuple, list))
            and len(out[1]) == 2
        ):
            raise CheckFailed(label, "forward must return a pair (Y, (H, C)).", "end with `return Y, (H, C)`.")
        Y, (h, c) = out
        T, B = X.shape[:2]
        if tuple(Y.shape) != (T, B, H) or tuple(h.shape) != (B, H) or tuple(c.shape) != (B, H):
            raise CheckFailed(
                label,
                f"forward returned Y {tuple(Y.shape)}, H {tuple(h.shape)}, C {tuple(c.shape)}; "
                f"expected ({T}, {B}, {H}), ({B}, {H}), ({B}, {H}).",
            )
        (Y * loss_weights[0]).sum().add((h * loss_weights[1]).sum()).add((c * loss_weights[2]).sum()).backward()

    def grad(name):
        g = roles[name].grad
        return None if g is None else (g.detach() if form == "vectors" or g.dim() < 2 else torch.diagonal(g).clone())

    if "peep" in roles:
        peep_grad = None if roles["peep"].grad is None else roles["peep"].grad.detach()
    else:
        parts = [grad(n) for n in ("w_ci", "w_cf", "w_co")]
        peep_grad = None if any(p is None for p in parts) else torch.stack(parts)
    return {
        "Y": Y.detach(),
        "H": h.detach(),
        "C": c.detach(),
        "peepholes": form,
        "grads": {"W": grad("W"), "b": grad("b"), "peepholes": peep_grad},
    }
