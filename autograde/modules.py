"""`nn.Module`s as exercises: a class the student wrote, checked against the course's reference.

Students name their layers as they like (`self.embed`, `self.word_embeddings`...) and may build
one `nn.LSTM` or a stack of `nn.LSTMCell`s. So the check finds the layers by what they are,
not by their names: the reference's and the student's layers of each kind are paired in the
order they were registered, the reference's weights are copied into the student's, and both
models then run on the same inputs, where outputs and the gradient of every weight must agree.

The weights travel as plain data (`weights_by_kind`), so that the student's model can be run
where no reference code is (a grading sandbox) and judged elsewhere.
"""

from __future__ import annotations

import torch
from torch import nn

from autograde.verdict import CheckFailed

# The kinds of layer a course model is made of, in the order a verdict names them.
KINDS: tuple[type[nn.Module], ...] = (
    nn.Embedding,
    nn.LSTM,
    nn.GRU,
    nn.RNN,
    nn.LSTMCell,
    nn.GRUCell,
    nn.RNNCell,
    nn.Linear,
)


def layers(model: nn.Module, kind: type[nn.Module]) -> list[nn.Module]:
    """The model's layers of exactly this kind, in the order they were registered."""
    return [m for m in model.modules() if type(m) is kind]


Weights = dict[str, list[dict[str, torch.Tensor]]]  # kind name -> each layer's parameters, in order


def weights_by_kind(model: nn.Module) -> Weights:
    """A model's parameters as plain data: for each kind of layer, each layer's tensors in order.

    This is what crosses from the judge (which builds the reference) to the probe (which runs
    the student's model): tensors only, no reference code.
    """
    out: Weights = {}
    for kind in KINDS:
        found = layers(model, kind)
        if found:
            out[kind.__name__] = [{k: v.detach().clone() for k, v in m.named_parameters()} for m in found]
    return out


def _describe(m: nn.Module) -> str:
    return f"nn.{type(m).__name__}({m.extra_repr()})"


def _shapes(params: dict[str, torch.Tensor]) -> str:
    return ", ".join(f"{k} {tuple(v.shape)}" for k, v in params.items())


def load_weights(exercise: str, student: nn.Module, weights: Weights) -> dict[str, nn.Parameter]:
    """Copy `weights` into the student's layers of the same kinds; say what does not fit.

    An `nn.LSTM` may be matched by the student's `nn.LSTMCell`s (one per layer and direction,
    in that order). Returns the student's parameters by where they took their weights from,
    e.g. "nn.LSTM 1's weight_hh_l0", so that gradients can be compared by the same names.
    """
    pairs: list[tuple[torch.Tensor, nn.Parameter, str]] = []
    kinds = {k.__name__: k for k in KINDS}
    for kind_name, wanted in weights.items():
        kind = kinds[kind_name]
        theirs = layers(student, kind)
        if kind is nn.LSTM and not theirs and layers(student, nn.LSTMCell):
            cells = layers(student, nn.LSTMCell)
            per_cell = [(j, cell) for j, w in enumerate(wanted, 1) for cell in _lstm_as_cells(w)]
            if len(cells) != len(per_cell):
                raise CheckFailed(
                    exercise,
                    f"your model has {len(cells)} nn.LSTMCell(s); the model asked for needs "
                    f"{len(per_cell)} (one per layer and direction).",
                )
            for i, (cell, (j, w)) in enumerate(zip(cells, per_cell)):
                names = [n for n, _ in cell.named_parameters()]
                shapes = {base: t for base, (_, t) in w.items()}
                if sorted(names) != sorted(w) or any(getattr(cell, n).shape != shapes[n].shape for n in names):
                    raise CheckFailed(
                        exercise,
                        f"your nn.LSTMCell number {i + 1} is {_describe(cell)}; its weights "
                        f"should have the shapes {_shapes(shapes)}.",
                    )
                # Named as the nn.LSTM's own weights, so that gradients compare by the same names.
                pairs.extend((w[n][1], getattr(cell, n), f"nn.LSTM {j}'s {w[n][0]}") for n in names)
            continue
        if len(theirs) != len(wanted):
            have = f"{len(theirs)}" if theirs else "no"
            raise CheckFailed(
                exercise,
                f"your model has {have} nn.{kind_name} layer(s); the model asked for has {len(wanted)}.",
                "build the layers the exercise names, each once, in __init__.",
            )
        for i, (m, w) in enumerate(zip(theirs, wanted)):
            mine = dict(m.named_parameters())
            if mine.keys() != w.keys() or any(mine[k].shape != w[k].shape for k in w):
                raise CheckFailed(
                    exercise,
                    f"your nn.{kind_name} number {i + 1} is {_describe(m)}; its weights "
                    f"should have the shapes {_shapes(w)}.",
                    "check its sizes and options against the exercise.",
                )
            pairs.extend((w[k], mine[k], f"nn.{kind_name} {i + 1}'s {k}") for k in w)
    with torch.no_grad():
        for source, target, _ in pairs:
            target.copy_(source.to(target.device, target.dtype))
    return {where: target for _, target, where in pairs}


def _lstm_as_cells(params: dict[str, torch.Tensor]) -> list[dict[str, tuple[str, torch.Tensor]]]:
    """One nn.LSTM's weights (weight_ih_l0, weight_ih_l0_reverse, ...) per layer and direction, in
    nn.LSTMCell's names: {"weight_ih": ("weight_ih_l0", tensor), ...}."""
    cells: dict[str, dict[str, tuple[str, torch.Tensor]]] = {}
    for name, tensor in params.items():
        base, _, suffix = name.partition("_l")  # "weight_ih", "0_reverse"
        cells.setdefault(suffix, {})[base] = (name, tensor)
    order = sorted(cells, key=lambda s: (int(s.split("_")[0]), s.endswith("reverse")))
    return [cells[s] for s in order]


def gradients(params: dict[str, nn.Parameter]) -> dict[str, torch.Tensor | None]:
    """Each parameter's gradient by where its weights came from (None: no gradient reached it)."""
    return {where: None if p.grad is None else p.grad.detach().clone() for where, p in params.items()}


def gradient_problem(
    exercise: str, got: dict[str, torch.Tensor | None], want: dict[str, torch.Tensor | None], tol: dict
) -> CheckFailed | None:
    """The first weight whose gradient differs from the reference's, named by layer."""
    for where, truth in want.items():
        if truth is None:
            continue
        mine = got.get(where)
        if mine is None:
            return CheckFailed(
                exercise,
                f"{where} is never used: no gradient reached it.",
                "every layer you build must take part in forward.",
            )
        if mine.shape != truth.shape or not torch.allclose(mine.detach().cpu().to(truth.dtype), truth, **tol):
            return CheckFailed(
                exercise,
                f"the outputs are right but the gradient of {where} differs.",
                "something stops or changes the gradient (.detach(), .data, an in-place op?).",
            )
    return None


def run_model(
    exercise: str,
    model: nn.Module,
    weights: Weights,
    inputs: tuple,
    loss_weights: torch.Tensor | None,
    output=lambda out: out,
) -> dict:
    """Load `weights` into `model` (built by the caller), run it, and return plain data:
    {"output": the tensor `output` picks from what forward returned, "grads": each weight's gradient
    of sum(output * loss_weights)} (no gradients when `loss_weights` is None or the shapes differ)."""
    params = load_weights(exercise, model, weights)
    out = output(model(*inputs))
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(exercise, f"forward returned a {type(out).__name__}; it returns a tensor.")
    if loss_weights is not None and out.shape == loss_weights.shape and out.requires_grad:
        (out * loss_weights.to(out.device, out.dtype)).sum().backward()
    return {"output": out.detach(), "grads": gradients(params)}
