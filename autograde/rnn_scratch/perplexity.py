"""Perplexity from a model's outputs: exp of the mean cross-entropy, checked against PyTorch."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from autograde import engine
from autograde.engine import Case
from autograde.mistakes import Mistake
from autograde.verdict import CheckFailed, quiet

EXERCISE = "Exercise 5 (perplexity)"


def truth(logits, targets) -> float:
    """exp(F.cross_entropy) in float64."""
    with quiet():
        return math.exp(float(F.cross_entropy(logits.double(), targets)))


def _ce(logits, targets, reduction="mean"):
    return float(F.cross_entropy(logits.double(), targets, reduction=reduction))


def _safe_exp(x):
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


MISTAKES = (
    Mistake(
        "the exponential is missing: that is the mean cross-entropy, not the perplexity.",
        "perplexity = exp(mean cross-entropy).",
        lambda l, t: _ce(l, t),
    ),
    Mistake(
        "it is the exponential of the summed cross-entropy; perplexity uses the mean over the tokens.",
        "F.cross_entropy averages by default (reduction='mean'); take exp of that.",
        lambda l, t: _safe_exp(_ce(l, t, "sum")),
    ),
    Mistake(
        "the log-probabilities are in base 2 (bits) but exponentiated with e.",
        "use the natural log throughout (F.cross_entropy does), then exp.",
        lambda l, t: _safe_exp(_ce(l, t) / math.log(2)),
    ),
    Mistake(
        "it is 2 to the power of the cross-entropy in nats: the bases do not match.",
        "F.cross_entropy uses the natural log, so exponentiate with e: torch.exp.",
        lambda l, t: 2.0 ** _ce(l, t),
    ),
    Mistake(
        "the sign is wrong: exp(-cross-entropy) is the geometric mean probability, 1 / perplexity.",
        "perplexity = exp(+ mean cross-entropy), at least 1.",
        lambda l, t: _safe_exp(-_ce(l, t)),
    ),
    Mistake(
        "softmax is applied twice: F.cross_entropy takes raw scores (logits) and applies log-softmax itself.",
        "pass the logits to F.cross_entropy directly.",
        lambda l, t: _safe_exp(_ce(torch.softmax(l.double(), dim=1), t)),
    ),
)


def _case(label, logits, targets, on_devices=True) -> Case:
    def make(device, dtype):
        return logits.to(device, dtype or logits.dtype), targets.to(device)

    return Case(label, make, on_devices)


def _cases():
    gen = torch.Generator().manual_seed(0)
    out = []
    for n, v, scale in ((12, 7, 1.0), (35 * 2, 28, 3.0), (5, 4, 0.1)):
        logits = torch.randn(n, v, generator=gen, dtype=torch.float64) * scale
        targets = torch.randint(v, (n,), generator=gen)
        out.append(_case(f"for {n} tokens, {v} classes (float64)", logits, targets))
    # float32 scores of a confident model: exp(120) overflows float32
    logits = torch.randn(30, 28, generator=gen) * 40
    targets = torch.randint(28, (30,), generator=gen)
    out.append(_case("for 30 tokens with large float32 scores (up to about 120)", logits, targets, on_devices=False))
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
    reference=truth,
    cases=_cases,
    same=_close,
    explain=_explain,
    mistakes=MISTAKES,
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
