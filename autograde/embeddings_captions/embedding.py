"""Exercises 1 and 2: an embedding is a lookup table.

`embed_by_matmul(ids, weight)`: one-hot vectors times the weight matrix, checked against
`F.embedding` (the same numbers as `nn.Embedding`) for ids of any shape, and its gradient
against the embedding's.

`caption_embedding(num_embeddings, embedding_dim, pad_id, max_norm)`: the `nn.Embedding` a
caption model needs, checked by what it does (its shape, its <pad> row at the start, its lookups,
its gradient and the rows `max_norm` renormalises in place) against the one the course builds.
"""

from __future__ import annotations

import torch
from torch import nn

from autograde import engine, judge_only, seeds
from autograde.engine import Case
from autograde.verdict import CheckFailed

EMBED_LABEL = "Exercise 1 (embed_by_matmul)"
LAYER_LABEL = "Exercise 2 (caption_embedding)"
TOL = dict(rtol=1e-7, atol=1e-9)


def _tensor_close(a, b, tol=None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return engine.close(a, b, tol or TOL)


# ---------------------------------------------------------------------------
# Exercise 1: embed_by_matmul

embed_reference = judge_only.function("autograde.embeddings_captions.references:embed_reference")
EMBED_MISTAKES = judge_only.sequence("autograde.embeddings_captions.references:EMBED_MISTAKES")


def _embed_case(label: str, ids: torch.Tensor, vocab: int, dim: int, seed: int) -> Case:
    gen = seeds.generator(seed)
    weight = torch.randn(vocab, dim, generator=gen, dtype=torch.float64)
    loss_weights = torch.randn(*ids.shape, dim, generator=gen, dtype=torch.float64)

    def make(device, dtype):
        dtype = dtype or torch.float64
        return ids.to(device), weight.to(device, dtype), loss_weights.to(device, dtype)

    return Case(f"for ids of shape {tuple(ids.shape)} and a weight of shape ({vocab}, {dim})", make)


def _embed_cases() -> list[Case]:
    g = seeds.generator(7)
    return [
        _embed_case("square", torch.tensor([[0, 5, 2, 5], [3, 1, 4, 0]]), 6, 6, 0),  # square: a transpose shows
        _embed_case("1-d", torch.tensor([4, 0, 6, 6, 2]), 7, 3, 1),
        _embed_case("0-d", torch.tensor(3), 5, 2, 2),
        # the largest id is not the last row: F.one_hot must be told the width
        _embed_case("3-d", torch.randint(0, 7, (2, 3, 2), generator=g), 9, 4, 3),
    ]


def _embed_run(f, args):
    with torch.enable_grad():  # the engine runs the planted mistakes under no_grad: gradients are compared too
        return _embed_with_grad(f, args)


def _embed_with_grad(f, args):
    ids, weight, loss_weights = args
    weight = weight.detach().clone().requires_grad_(True)
    out = f(ids.clone(), weight)
    if isinstance(out, torch.Tensor) and out.shape == loss_weights.shape and out.requires_grad:
        (out * loss_weights.to(out.dtype)).sum().backward()
    return {"output": out.detach() if isinstance(out, torch.Tensor) else out, "grad": weight.grad}


def _embed_read(got, case: Case):
    if not isinstance(got["output"], torch.Tensor):
        raise CheckFailed(
            EMBED_LABEL,
            f"`embed_by_matmul` returned a {type(got['output']).__name__}; it returns a tensor.",
            "F.one_hot(ids, num_classes=...) @ weight is one.",
        )
    return got


def _embed_same(got, want, tol=None) -> bool:
    return _tensor_close(got["output"], want["output"], tol) and _tensor_close(got["grad"], want["grad"], tol)


def _embed_explain(case: Case, got, want) -> CheckFailed:
    out, right = got["output"], want["output"]
    if out.shape != right.shape:
        return CheckFailed(
            EMBED_LABEL,
            f"{case.label}, the result has shape {tuple(out.shape)}; expected ids.shape + (E,) = {tuple(right.shape)}.",
            "one one-hot row per id, times weight: F.one_hot(ids, num_classes=weight.shape[0]) @ weight.",
        )
    if out.dtype != right.dtype:
        return CheckFailed(
            EMBED_LABEL,
            f"{case.label}, the result is {out.dtype}; weight is {right.dtype}.",
            "convert the one-hot vectors to weight's dtype: .to(weight.dtype).",
        )
    if _tensor_close(out, right):
        return CheckFailed(
            EMBED_LABEL,
            f"{case.label}, the values are right but the gradient of weight differs from nn.Embedding's.",
            "multiply the one-hot vectors by weight itself, so that autograd "
            "sends each output's gradient back to its row.",
        )
    return CheckFailed(
        EMBED_LABEL,
        f"{case.label}, the values differ from nn.Embedding's lookup.",
        "F.one_hot(ids, num_classes=weight.shape[0]).to(weight.dtype) @ weight.",
    )


def _embed_crash(case: Case, args: tuple, exc: Exception) -> CheckFailed | None:
    text = str(exc)
    ids, weight, _ = args
    if isinstance(exc, RuntimeError) and ("dtype" in text or "Long" in text or "same type" in text):
        return CheckFailed(
            EMBED_LABEL,
            f"{case.label}, the one-hot vectors and weight have different dtypes "
            f"(RuntimeError: {text.splitlines()[0]}).",
            "F.one_hot gives int64: convert it with .to(weight.dtype) before the product.",
        )
    if isinstance(exc, RuntimeError) and "smaller than num_classes" in text:
        return CheckFailed(
            EMBED_LABEL,
            f"{case.label}, F.one_hot was given too few classes for these ids: the "
            "one-hot vectors need one entry per row of weight.",
            "F.one_hot(ids, num_classes=weight.shape[0]): weight has one row per id.",
        )
    if isinstance(exc, RuntimeError) and "cannot be multiplied" in text:
        narrow = ids.numel() > 0 and int(ids.max()) + 1 < weight.shape[0]
        if narrow:
            return CheckFailed(
                EMBED_LABEL,
                f"{case.label}, the one-hot vectors do not have one entry per row of "
                "weight: without num_classes, F.one_hot makes only ids.max() + 1 columns.",
                "F.one_hot(ids, num_classes=weight.shape[0]).",
            )
        return CheckFailed(
            EMBED_LABEL,
            f"{case.label}, the one-hot matrix and weight cannot be multiplied ({text.splitlines()[0]}).",
            "one-hot vectors of width num_embeddings = "
            "weight.shape[0], times weight of shape (num_embeddings, embedding_dim).",
        )
    return None


EMBED = engine.Exercise(
    label=EMBED_LABEL,
    name="embed_by_matmul",
    reference=embed_reference,
    cases=_embed_cases,
    same=_embed_same,
    explain=_embed_explain,
    mistakes=EMBED_MISTAKES,
    run=_embed_run,
    read=_embed_read,
    crash=_embed_crash,
    meta_inputs="the ids and weight",
    same_float32=lambda a, b: _embed_same(a, b, engine.FLOAT32_TOL),
)


check_embed_by_matmul = engine.exercise_check(
    EMBED,
    f"the same embeddings as nn.Embedding for {len(_embed_cases())} shapes of "
    "ids (0-d to 3-d) and the same gradient for weight",
    "Exercise 1: one-hot times weight equals nn.Embedding's lookup, values and gradient.",
)


# ---------------------------------------------------------------------------
# Exercise 2: caption_embedding

layer_reference = judge_only.function("autograde.embeddings_captions.references:layer_reference")
LAYER_MISTAKES = judge_only.sequence("autograde.embeddings_captions.references:LAYER_MISTAKES")


def _layer_case(V: int, E: int, pad: int, max_norm: float, ids: list[list[int]], seed: int) -> Case:
    gen = seeds.generator(seed)
    weight = torch.randn(V, E, generator=gen, dtype=torch.float64) * max_norm * 0.9
    weight[pad] = 0  # as nn.Embedding starts it
    ids_t = torch.tensor(ids)
    loss_weights = torch.randn(*ids_t.shape, E, generator=gen, dtype=torch.float64)

    def make(device, dtype):
        dtype = dtype or torch.float64
        return V, E, pad, max_norm, weight.to(device, dtype), ids_t.to(device), loss_weights.to(device, dtype)

    return Case(f"for num_embeddings={V}, embedding_dim={E}, pad_id={pad}, max_norm={max_norm}", make)


def _layer_cases() -> list[Case]:
    return [
        _layer_case(10, 4, 3, 1.0, [[0, 5, 7, 1, 3, 3], [0, 9, 5, 5, 1, 3]], 0),
        _layer_case(12, 3, 11, 0.5, [[0, 4, 4, 4, 1], [0, 8, 2, 1, 11]], 1),
        _layer_case(6, 6, 5, 2.0, [[2, 0, 5], [1, 4, 5]], 2),
    ]


def _layer_run(f, args):
    with torch.enable_grad():  # the engine runs the planted mistakes under no_grad: gradients are compared too
        return _layer_with_grad(f, args)


def _layer_with_grad(f, args):
    V, E, pad, max_norm, weight, ids, loss_weights = args
    with torch.device(weight.device):
        layer = f(V, E, pad, max_norm)
    if not isinstance(layer, nn.Embedding):
        return {"kind": type(layer).__name__}
    layer = layer.to(weight.dtype)
    got: dict[str, object] = {"kind": "module", "shape": list(layer.weight.shape)}
    if tuple(layer.weight.shape) != tuple(weight.shape):
        return got
    pad_row = layer.weight.detach()[pad].clone()
    got["pad_row_zero"] = bool((pad_row == 0).all())
    with torch.no_grad():
        layer.weight.copy_(weight)
    out = layer(ids.clone())
    if isinstance(out, torch.Tensor) and out.shape == loss_weights.shape and out.requires_grad:
        (out * loss_weights).sum().backward()
    grad = layer.weight.grad
    got["sparse"] = bool(grad is not None and grad.is_sparse)
    got["grad"] = None if grad is None else (grad.to_dense() if grad.is_sparse else grad).detach().clone()
    got["output"] = out.detach() if isinstance(out, torch.Tensor) else None
    got["weight_after"] = layer.weight.detach().clone()
    return got


def _layer_read(got, case: Case):
    if got["kind"] != "module":
        raise CheckFailed(
            LAYER_LABEL,
            f"`caption_embedding` returned a {got['kind']}; it returns the layer, an nn.Embedding.",
            "return nn.Embedding(num_embeddings, embedding_dim, ...).",
        )
    return got


def _layer_same(got, want, tol=None) -> bool:
    if got.keys() != want.keys():
        return False
    for key, value in want.items():
        if isinstance(value, torch.Tensor) or value is None:
            if not _tensor_close(got[key], value, tol):
                return False
        elif got[key] != value:
            return False
    return True


def _layer_explain(case: Case, got, want) -> CheckFailed:
    if got["shape"] != want["shape"]:
        return CheckFailed(
            LAYER_LABEL,
            f"{case.label}, the table's weight has shape {tuple(got['shape'])}; "
            f"expected (num_embeddings, embedding_dim) = {tuple(want['shape'])}.",
        )
    if not got["pad_row_zero"]:
        return CheckFailed(
            LAYER_LABEL,
            f"{case.label}, the <pad> row does not start at zero.",
            "nn.Embedding(..., padding_idx=pad_id) starts that row at zero.",
        )
    if (
        got["grad"] is not None
        and want["grad"] is not None
        and not _tensor_close(got["grad"][case.make(engine.CPU, None)[2]], want["grad"][case.make(engine.CPU, None)[2]])
    ):
        return CheckFailed(
            LAYER_LABEL,
            f"{case.label}, a gradient reaches the <pad> row.",
            "padding_idx=pad_id keeps the <pad> row out of training.",
        )
    return CheckFailed(
        LAYER_LABEL,
        f"{case.label}, the layer does not behave like nn.Embedding(num_embeddings, "
        "embedding_dim, padding_idx=pad_id, max_norm=max_norm).",
        "compare its lookups, its gradient and its rows after a lookup with that layer's.",
    )


LAYER = engine.Exercise(
    label=LAYER_LABEL,
    name="caption_embedding",
    reference=layer_reference,
    cases=_layer_cases,
    same=_layer_same,
    explain=_layer_explain,
    mistakes=LAYER_MISTAKES,
    run=_layer_run,
    read=_layer_read,
    combine=True,
    meta=False,
    same_float32=lambda a, b: _layer_same(a, b, dict(rtol=1e-4, atol=1e-5)),
)


check_caption_embedding = engine.exercise_check(
    LAYER,
    f"behaves like the course's nn.Embedding in {len(_layer_cases())} "
    "settings: its shape, the <pad> row (zero, no gradient), lookups, gradients and max_norm",
    "Exercise 2: the nn.Embedding with padding_idx and max_norm that a spec asks for.",
)
