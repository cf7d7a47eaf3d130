"""`nn.Module`s as exercises: a class the student wrote, checked against the course's reference.

Students name their layers as they like (`self.embed`, `self.word_embeddings`...) and may build
one `nn.LSTM` or a stack of `nn.LSTMCell`s. So the check finds the layers by what they are,
not by their names: the reference's and the student's layers of each kind are paired in the
order they were registered, the reference's weights are copied into the student's, and both
models then run on the same inputs, where outputs and the gradient of every weight must agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from autograde.verdict import CheckFailed

# The kinds of layer a course model is made of, in the order a verdict names them.
KINDS: tuple[type[nn.Module], ...] = (nn.Embedding, nn.LSTM, nn.GRU, nn.RNN, nn.LSTMCell, nn.GRUCell, nn.RNNCell,
                                      nn.Linear)


def layers(model: nn.Module, kind: type[nn.Module]) -> list[nn.Module]:
    """The model's layers of exactly this kind, in the order they were registered."""
    return [m for m in model.modules() if type(m) is kind]


def _lstm_as_cells(lstm: nn.LSTM) -> list[dict[str, torch.Tensor]]:
    """nn.LSTM's weights as the state dicts of one nn.LSTMCell per layer and direction."""
    directions = 2 if lstm.bidirectional else 1
    cells = []
    for layer in range(lstm.num_layers):
        for d in range(directions):
            suffix = f"l{layer}" + ("_reverse" if d else "")
            cells.append({name: getattr(lstm, f"{name}_{suffix}") for name in
                          ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if hasattr(lstm, f"{name}_{suffix}")})
    return cells


@dataclass(frozen=True)
class Pairing:
    """Which student layer took which reference weights: (reference tensor, student tensor, where)."""

    tensors: list[tuple[torch.Tensor, torch.Tensor, str]]


def _describe(m: nn.Module) -> str:
    return f"nn.{type(m).__name__}({m.extra_repr()})"


def load_reference(exercise: str, reference: nn.Module, student: nn.Module) -> Pairing:
    """Copy the reference's weights into the student's layers of the same kinds; say what does not fit.

    An `nn.LSTM` of the reference may be matched by the student's `nn.LSTMCell`s (one per layer
    and direction, in that order).
    """
    pairs: list[tuple[torch.Tensor, torch.Tensor, str]] = []
    for kind in KINDS:
        ours, theirs = layers(reference, kind), layers(student, kind)
        if not ours:
            continue
        if kind is nn.LSTM and not theirs and layers(student, nn.LSTMCell):
            cells = layers(student, nn.LSTMCell)
            weights = [w for lstm in ours for w in _lstm_as_cells(lstm)]  # type: ignore[arg-type]
            if len(cells) != len(weights):
                raise CheckFailed(exercise, f"your model has {len(cells)} nn.LSTMCell(s); the model asked for needs "
                                  f"{len(weights)} (one per layer and direction).")
            for i, (cell, w) in enumerate(zip(cells, weights)):
                for name, tensor in w.items():
                    pairs.append((tensor, getattr(cell, name), f"nn.LSTMCell {i + 1}'s {name}"))
            continue
        if len(theirs) != len(ours):
            have = f"{len(theirs)}" if theirs else "no"
            raise CheckFailed(exercise, f"your model has {have} nn.{kind.__name__} layer(s); the model asked for has "
                              f"{len(ours)}: {', '.join(_describe(m) for m in ours)}.",
                              "build the layers the exercise names, each once, in __init__.")
        for i, (a, b) in enumerate(zip(ours, theirs)):
            mine, yours = dict(a.named_parameters()), dict(b.named_parameters())
            if mine.keys() != yours.keys() or any(mine[k].shape != yours[k].shape for k in mine):
                raise CheckFailed(exercise, f"your nn.{kind.__name__} number {i + 1} is {_describe(b)}; expected "
                                  f"{_describe(a)}.", "check its sizes and options against the exercise.")
            pairs.extend((mine[k], yours[k], f"nn.{kind.__name__} {i + 1}'s {k}") for k in mine)
    with torch.no_grad():
        for ours_t, theirs_t, _ in pairs:
            theirs_t.copy_(ours_t)
    return Pairing(pairs)


def same_model(exercise: str, make_reference: Callable[[], nn.Module], make_student: Callable[[], nn.Module],
               inputs: Sequence[torch.Tensor], tol: dict,
               output: Callable = lambda out: out) -> tuple[torch.Tensor, torch.Tensor, Pairing]:
    """Build both, give the student's the reference's weights, run both on `inputs`.

    Returns the two outputs (`output` picks the tensor to compare from what forward returns) and
    the pairing, whose tensors then hold the gradients of a random weighting of the outputs.
    """
    reference, student = make_reference().double(), make_student().double()
    pairing = load_reference(exercise, reference, student)
    want = output(reference(*[x.clone() for x in inputs]))
    got = output(student(*[x.clone() for x in inputs]))
    if isinstance(got, torch.Tensor) and got.shape == want.shape and torch.allclose(got.double(), want, **tol):
        weights = torch.randn(want.shape, generator=torch.Generator().manual_seed(7), dtype=want.dtype)
        (want * weights).sum().backward()
        (got * weights).sum().backward()
    return got, want, pairing


def gradient_problem(exercise: str, pairing: Pairing, tol: dict) -> CheckFailed | None:
    """The first weight whose gradient differs from the reference's, named by layer."""
    for ours, theirs, where in pairing.tensors:
        if ours.grad is None:
            continue
        if theirs.grad is None:
            return CheckFailed(exercise, f"{where} is never used: no gradient reached it.",
                               "every layer you build must take part in forward.")
        if not torch.allclose(theirs.grad, ours.grad, **tol):
            return CheckFailed(exercise, f"the outputs are right but the gradient of {where} differs.",
                               "something stops or changes the gradient (.detach(), .data, an in-place op?).")
    return None
