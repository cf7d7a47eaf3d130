"""Perplexity from a model's outputs: exp of the mean cross-entropy, checked against PyTorch."""

from __future__ import annotations

import math

import torch

from autograde import engine, judge_only, seeds
from autograde.engine import Case
from autograde.verdict import CheckFailed

EXERCISE = "Exercise 5 (perplexity)"


def _case(label, logits, targets, on_devices=True) -> Case:
    def make(device, dtype):
        return logits.to(device, dtype or logits.dtype), targets.to(device)

    return Case(label, make, on_devices)


def _cases():
    gen = seeds.generator(0)
    out = []
    for n, v, scale in ((12, 7, 1.0), (35 * 2, 28, 3.0), (5, 4, 0.1)):
        logits = torch.randn(n, v, generator=gen, dtype=torch.float64) * scale
        targets = torch.randint(v, (n,), generator=gen)
        out.append(_case(f"for {n} tokens, {v} classes (float64)", logits, targets))
    # float32 scores of a confident model, up to 120: exp(120) overflows float32, so only a stable
    # log-softmax gets them right. The model is right on all but 3 tokens, as a confident model
    # is: whatever the salt draws, the perplexity itself (exp of the mean loss) stays far inside
    # float32, which a model wrong on most tokens (a mean loss over 88.7) would not.
    logits = torch.randn(30, 28, generator=gen)
    logits = logits / logits.abs().max() * 120
    targets = logits.argmax(dim=1)
    wrong = torch.randperm(30, generator=gen)[:3]
    targets[wrong] = torch.randint(28, (3,), generator=gen)
    out.append(_case("for 30 tokens with large float32 scores (up to 120)", logits, targets, on_devices=False))
    return out


def _value(result, case: Case):
    if isinstance(result, torch.Tensor):
        if result.numel() != 1:
            raise CheckFailed(
                EXERCISE,
                f"{case.label}, `perplexity` returned a tensor of shape {tuple(result.shape)}; it returns one number.",
                "average over all the tokens: F.cross_entropy(logits, targets) with its default reduction='mean'.",
            )
        return float(result.detach().cpu())
    if isinstance(result, (int, float)):
        return float(result)
    raise CheckFailed(
        EXERCISE,
        f"`perplexity` returned a {type(result).__name__}; it returns a number (a float or a 0-dimensional tensor).",
    )


def _close(a, b, rel=1e-5):
    return (math.isinf(a) and math.isinf(b)) or math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def _overflow(case: Case, got: float, want: float, observed) -> CheckFailed | None:
    if case.make(engine.CPU, None)[0].dtype == torch.float32 and (math.isnan(got) or math.isinf(got)):
        return CheckFailed(
            EXERCISE,
            f"{case.label}, got {got}: the computation overflows.",
            "exp of a large score overflows in float32; F.cross_entropy (or log_softmax) "
            "computes log-probabilities stably.",
        )
    return None


def _explain(case: Case, got: float, want: float) -> CheckFailed:
    return CheckFailed(
        EXERCISE,
        f"{case.label}, got {got:.6g}, expected exp(F.cross_entropy(logits, targets)) = {want:.6g}.",
        "perplexity = exp(mean over tokens of -log softmax(logits)[target]).",
    )


PERPLEXITY = engine.Exercise(
    label=EXERCISE,
    name="perplexity",
    reference=judge_only.function("autograde.rnn_scratch.references:perplexity_of_logits"),
    cases=_cases,
    same=_close,
    explain=_explain,
    mistakes=judge_only.sequence("autograde.rnn_scratch.references:PERPLEXITY_MISTAKES"),
    read=_value,
    suspect=_overflow,
    combine=False,
    meta_inputs="the inputs",
    meta_allowed=("_to_copy",),  # float(result) hands the number back to the CPU
    same_float32=lambda a, b: _close(a, b, rel=1e-4),
)


check = engine.exercise_check(
    PERPLEXITY,
    f"equals exp(F.cross_entropy(logits, targets)) on {len(_cases())} inputs",
    "Exercise 5: exp(F.cross_entropy(logits, targets)).",
)
