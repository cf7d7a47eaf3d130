"""The chapter's model, the course's reference for the dropout exercise, and how dropout is
told apart by behaviour.

`BigramLSTM(vocab_size, embed_size, num_hiddens, dropout)`: an embedding, the fused LSTM and a
linear classifier; `forward(ids (T, B), state (H, C)) -> (logits (T*B, vocab), (H, C))`.
Dropout as in Zaremba et al. (2014): on the two non-recurrent connections (the embedding into
the cell, the cell's output into the classifier), never on the state carried from step to
step; in training only, the kept values scaled by 1 / (1 - p). The keyword options of the
reference plant the mistakes students make.

What `fingerprint` measures needs no knowledge of how the student wrote the model, only that
it has an `nn.Embedding` and an `nn.Linear` classifier (the exercise's skeleton builds both):

- eval(): the model with dropout p must compute what the same weights compute with p = 0;
- with every embedding row set to zero, dropout on the input has nothing to drop, so in
  training the returned state must still equal the p = 0 model's (else the state is dropped);
- with real embeddings, the state must differ from the p = 0 model's (dropout on the input);
- with zero embeddings, the logits must differ (dropout between the cell and the classifier),
  and since they are an affine function of the dropped hidden states, solving for those
  shows each one kept as h / (1 - p) or set to 0: the rescaling, exactly, for any mask.

Why it cannot flake: every random draw is seeded inside `fingerprint` (torch.random.fork_rng,
so the student's own random state is left alone), so a verdict is the same on every run; and
each judgement holds for every dropout mask except a mask that keeps or drops all of 36 or
more values at once (probability at most 2 * 0.5 ** 36 ~ 3e-11 with p = 0.5), so a correct
model written differently (other draws, other order) passes too.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from autograde import judge_only, seeds
from autograde.verdict import CheckFailed

TOL: dict = dict(rtol=1e-9, atol=1e-10)  # float64, the same weights: only dropout may make a difference

BigramLSTM = judge_only.function("autograde.bigram_lstm.references:BigramLSTM")  # the course's model


def _same(a, b) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, **TOL)


def _call(model, ids, state, exercise: str, shapes: tuple[int, int, int, int]):
    """The model's (logits, (H, C)) in float64, checked for structure and shape."""
    T, B, V, H = shapes
    out = model(ids.clone(), tuple(s.clone() for s in state))
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and isinstance(out[0], torch.Tensor)):
        raise CheckFailed(
            exercise, "forward must return a pair (logits, (H, C)).", "end forward with `return logits, state`."
        )
    logits, new_state = out
    if tuple(logits.shape) != (T * B, V):
        raise CheckFailed(
            exercise,
            f"the logits have shape {tuple(logits.shape)}; for {T} steps of a batch of {B} "
            f"and {V} classes they are (T*B, V) = ({T * B}, {V}).",
            "reshape the classifier's output: logits.reshape(-1, vocab_size).",
        )
    if not (
        isinstance(new_state, (tuple, list))
        and len(new_state) == 2
        and all(isinstance(s, torch.Tensor) and tuple(s.shape) == (B, H) for s in new_state)
    ):
        raise CheckFailed(
            exercise,
            f"the returned state must be a pair (H, C) of tensors of shape (B, H) = ({B}, {H}).",
            "return the state fused_lstm returns.",
        )
    return logits.detach(), tuple(s.detach() for s in new_state)


def _classifier(model, V: int, H: int) -> nn.Linear | None:
    found = [m for m in model.modules() if type(m) is nn.Linear and (m.in_features, m.out_features) == (H, V)]
    return found[0] if len(found) == 1 else None


def _scale(model, logits_p, logits_0, p: float, V: int, H: int) -> str:
    """How the kept hidden values are scaled: "1/(1-p)", "1" (not rescaled) or "other"."""
    linear = _classifier(model, V, H)
    if linear is None:
        return "unknown"
    W = linear.weight.detach()
    bias = linear.bias.detach() if linear.bias is not None else torch.zeros(V, dtype=W.dtype)
    dropped = torch.linalg.lstsq(W, (logits_p - bias).T).solution  # (H, T*B): the dropped hidden states
    kept = torch.linalg.lstsq(W, (logits_0 - bias).T).solution  # the same without dropout
    ratio = dropped[kept.abs() > 1e-3] / kept[kept.abs() > 1e-3]
    zero = ratio.abs() < 1e-6
    if ratio.numel() < 36 or zero.all():
        return "other"
    for name, factor in (("1/(1-p)", 1 / (1 - p)), ("1", 1.0)):
        if ((ratio - factor).abs() < 1e-6 * factor).logical_or(zero).all() and not (~zero).all():
            return name
    return "other"


def fingerprint(cls, args, exercise: str) -> dict[str, str]:
    """What the model's dropout does, as plain data (strings); see the module's docstring."""
    (V, E, H, p), ids, state = args
    T, B = ids.shape
    shapes = (T, B, V, H)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = cls(V, E, H, p)
        plain = cls(V, E, H, 0.0)
        gen = seeds.generator(1)
        model = model.double()
        with torch.no_grad():
            for w in model.parameters():
                w.copy_(torch.randn(w.shape, generator=gen, dtype=torch.float64) * 0.5)
        plain = plain.double()
        plain.load_state_dict(model.state_dict())
        silent = copy.deepcopy(model), copy.deepcopy(plain)  # the same, every embedding row zero
        with torch.no_grad():
            for m in silent:
                for layer in m.modules():
                    if type(layer) is nn.Embedding:
                        layer.weight.zero_()
        out: dict[str, str] = {}
        with torch.no_grad():
            model.eval(), plain.eval()
            first, second, want = (_call(m, ids, state, exercise, shapes) for m in (model, model, plain))
            if _same(first[0], want[0]) and all(_same(a, b) for a, b in zip(first[1], want[1])):
                out["eval"] = "off"
            else:
                out["eval"] = "random" if not _same(first[0], second[0]) else "changed"
            model.train(), plain.train()
            got, want = _call(model, ids, state, exercise, shapes), _call(plain, ids, state, exercise, shapes)
            out["state"] = "fixed" if all(_same(a, b) for a, b in zip(got[1], want[1])) else "random"
            for m in silent:
                m.train()
            got, want = (_call(m, ids, state, exercise, shapes) for m in silent)
            fixed_state = all(_same(a, b) for a, b in zip(got[1], want[1]))
            out["state without input"] = "fixed" if fixed_state else "random"
            out["logits without input"] = "fixed" if _same(got[0], want[0]) else "random"
            out["scale"] = (
                _scale(silent[0], got[0], want[0], p, V, H)
                if fixed_state and out["logits without input"] == "random"
                else "n/a"
            )
    return out
