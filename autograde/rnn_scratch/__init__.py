"""Checks for the chapter "Recurrent neural networks".

Each function takes the student's function, prints one line when it is right and raises
`CheckFailed` naming the mistake when it is not. The notebook's test cells call these and
nothing else, so nbgrader's feedback shows no hidden test.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from autograde import engine, judge_only, recurrent
from autograde import params as factory
from autograde.recurrent import RecurrentSpec
from autograde.rnn_scratch import clipping, generation, layout, ngram
from autograde.rnn_scratch import perplexity as perplexity_checks
from autograde.rnn_scratch.clipping import CLIPPING
from autograde.rnn_scratch.generation import PREDICT
from autograde.rnn_scratch.perplexity import PERPLEXITY
from autograde.verdict import CheckFailed

__all__ = [
    # the exercises on the engine's skeleton, whose known mistakes tests/test_chapters.py names
    "CLIPPING",
    "COUNT_NGRAMS",
    "NGRAM_PERPLEXITY",
    "PERPLEXITY",
    "PREDICT",
    "check_count_ngrams",
    "check_ngram_perplexity",
    "check_get_rnn_params",
    "check_init_rnn_state",
    "check_rnn_forward",
    "check_rnn_gradients",
    "check_rnn_devices",
    "check_grad_clipping",
    "check_perplexity",
    "check_predict",
]

# ---------------------------------------------------------------------------
# Exercise 1: n-grams

_EX1 = "Exercise 1 (count_ngrams)"
_EX1B = "Exercise 1 (ngram_perplexity)"

# Small hand-made texts: (label, train, test, n, vocab_size, alpha)
_ABRA = list("abracadabra")
_IDS = [0, 1, 2, 0, 1, 3, 0, 1, 2, 2, 0]
HAND_MADE = (
    ("train 'abracadabra', test 'abracadabra', n=2, V=5, alpha=1", _ABRA, _ABRA, 2, 5, 1.0),
    ("train 'abracadabra', test 'cadabra', n=1, V=5, alpha=1", _ABRA, list("cadabra"), 1, 5, 1.0),
    ("train 'abracadabra', test 'abraca', n=3, V=6, alpha=0.5", _ABRA, list("abraca"), 3, 6, 0.5),
    (f"train {_IDS}, test [0, 1, 2, 1, 0, 3, 3], n=2, V=4, alpha=0.1", _IDS, [0, 1, 2, 1, 0, 3, 3], 2, 4, 0.1),
    (f"train {_IDS}, test [1, 3, 0, 1, 2], n=3, V=5, alpha=2", _IDS, [1, 3, 0, 1, 2], 3, 5, 2.0),
)
# n-gram counting: (label, tokens, n)
COUNT_CASES = (
    ("'abracadabra', n=1", _ABRA, 1),
    ("'abracadabra', n=2", _ABRA, 2),
    ("'abracadabra', n=3", _ABRA, 3),
    (f"{_IDS}, n=4", _IDS, 4),
    ("'abc', n=3 (one window)", list("abc"), 3),
    ("'ab', n=3 (too short)", list("ab"), 3),
)
# Each plants one slip in the reference; the first that matches names the mistake (judge only).
NGRAM_MISTAKES = judge_only.sequence("autograde.rnn_scratch.references:NGRAM_MISTAKES")


def _same_value(got: float, planted: float) -> bool:
    return (math.isinf(got) and math.isinf(planted)) or math.isclose(got, planted, rel_tol=1e-6)


def _real_cases():
    train, held_out = ngram.train_and_held_out()
    return [
        (
            f"The Time Machine (train: its first {len(train):,} characters, test: its last {len(held_out):,}), "
            f"n={n}, V=28, alpha={alpha}",
            train,
            held_out,
            n,
            ngram.VOCAB_SIZE,
            alpha,
        )
        for n, alpha in ((1, 1.0), (2, 1.0), (3, 0.1), (5, 1.0))
    ]


def _count_cases() -> list[engine.Case]:
    train, _ = ngram.train_and_held_out()
    cases = [*COUNT_CASES, (f"The Time Machine's first {len(train):,} characters, n=3", train, 3)]
    return [
        engine.Case(f"for {label}", lambda device, dtype, t=tokens, n=n: (list(t), n), on_devices=False)
        for label, tokens, n in cases
    ]


def _counted(f, args) -> dict:
    """What a counting function returned, as plain data: a mapping's (key, count) pairs, or its type."""
    got = f(*args)
    if not isinstance(got, Mapping):
        return {"type": type(got).__name__}
    return {
        "type": type(got).__name__,
        "items": [(k if isinstance(k, (tuple, str, int)) else repr(k), v) for k, v in got.items() if v],
    }


def _read_counts(got: dict, case: engine.Case) -> dict:
    if "items" not in got:
        raise CheckFailed(
            _EX1,
            f"`count_ngrams` returned a {got['type']}; it returns a dict (or a Counter) from n-gram tuples to counts.",
            "collections.Counter(tuple(...) for ...).",
        )
    return dict(got["items"])


def _explain_counts(case: engine.Case, got: dict, want: dict) -> CheckFailed:
    n = case.make(engine.CPU, None)[1]
    keys = list(got)
    if keys and not all(isinstance(k, tuple) for k in keys):
        bad = next(k for k in keys if not isinstance(k, tuple))
        return CheckFailed(
            _EX1,
            f"{case.label}, a key is {bad!r} (a {type(bad).__name__}); each key is a tuple of {n} tokens.",
            "tuple(tokens[i:i + n]) (lists cannot be dict keys; strings lose the tokens' boundaries).",
        )
    lengths = {len(k) for k in keys}
    if keys and lengths != {n}:
        return CheckFailed(_EX1, f"{case.label}, the keys have {sorted(lengths)} tokens; an n-gram has n={n}.")
    missing = [k for k in want if k not in got]
    if sum(got.values()) == sum(want.values()) - 1:
        return CheckFailed(
            _EX1,
            f"{case.label}, {sum(got.values())} n-grams were counted, expected "
            f"{sum(want.values())}: the last window is missed.",
            "a text of L tokens has L - n + 1 windows: range(len(tokens) - n + 1).",
        )
    if missing:
        return CheckFailed(
            _EX1, f"{case.label}, the n-gram {missing[0]!r} is missing (it occurs {want[missing[0]]} times)."
        )
    wrong = next(k for k in got if got[k] != want.get(k, 0))
    return CheckFailed(
        _EX1, f"{case.label}, the n-gram {wrong!r} is counted {got[wrong]} times, expected {want.get(wrong, 0)}."
    )


COUNT_NGRAMS = engine.Exercise(
    label=_EX1,
    name="count_ngrams",
    reference=judge_only.function("autograde.rnn_scratch.references:count_ngrams"),
    cases=_count_cases,
    same=lambda a, b: a == b,
    explain=_explain_counts,
    run=_counted,
    read=_read_counts,
    meta=False,
)


check_count_ngrams = engine.exercise_check(
    COUNT_NGRAMS,
    f"the same counts as the reference on {len(_count_cases())} texts, The Time Machine included",
    "Exercise 1: {n-gram tuple: count} on hand-made sequences and on The Time Machine.",
)


def _ngram_case(label, train, test, n, V, alpha) -> engine.Case:
    return engine.Case(f"for {label}", lambda device, dtype: (list(train), list(test), n, V, alpha), on_devices=False)


def _ngram_cases() -> list[engine.Case]:
    return [_ngram_case(*c) for c in (*HAND_MADE, *_real_cases())]


def _ngram_value(result, case: engine.Case) -> float:
    try:
        return float(result)
    except (TypeError, ValueError):
        raise CheckFailed(
            _EX1B, f"`ngram_perplexity` returned a {type(result).__name__}; it returns a number."
        ) from None


def _ngram_crash(case: engine.Case, args: tuple, exc: Exception) -> CheckFailed | None:
    if not isinstance(exc, (ZeroDivisionError, OverflowError)):
        return None
    hint = (
        "a context never seen in training has count 0: smoothing (+ alpha * V) keeps the denominator positive."
        if isinstance(exc, ZeroDivisionError)
        else "exp of a sum over thousands of tokens overflows: perplexity is exp of the mean."
    )
    return CheckFailed(_EX1B, f"{case.label}, `ngram_perplexity` raised {type(exc).__name__}: {exc}.", hint)


def _ngram_explain(case: engine.Case, got: float, want: float) -> CheckFailed:
    if math.isinf(got) or math.isnan(got):
        return CheckFailed(
            _EX1B,
            f"{case.label}, the perplexity is {got}, expected {want:.6g}.",
            "with alpha > 0 every probability is positive and the perplexity finite.",
        )
    return CheckFailed(
        _EX1B,
        f"{case.label}, got {got:.6g}, expected {want:.6g}.",
        "P(w | c) = (N(c, w) + alpha) / (sum over w' of N(c, w') + alpha * V), scored at every "
        "t >= n-1; perplexity = exp(mean of -ln P).",
    )


NGRAM_PERPLEXITY = engine.Exercise(
    label=_EX1B,
    name="ngram_perplexity",
    reference=judge_only.function("autograde.rnn_scratch.references:perplexity"),
    cases=_ngram_cases,
    same=_same_value,
    explain=_ngram_explain,
    mistakes=NGRAM_MISTAKES,
    read=_ngram_value,
    crash=_ngram_crash,
    combine=False,
    meta=False,
)


check_ngram_perplexity = engine.exercise_check(
    NGRAM_PERPLEXITY,
    f"the same perplexity as the reference on {len(HAND_MADE)} hand-made cases and "
    f"{len(_real_cases())} n-gram models of The Time Machine",
    "Exercise 1: the add-alpha n-gram model's perplexity, hand-made cases and The Time Machine.",
)

# ---------------------------------------------------------------------------
# Exercises 2 and 3: the scratch RNN

_SIZES = (30, 20)  # vocab_size, num_hiddens for the factories: V != H shows transposes


def _random_params(case, dtype, device, gen):
    return layout.random_params(case.vocab, case.hidden, gen, dtype)


RNN = RecurrentSpec(
    exercise="Exercise 3 (rnn)",
    name="rnn",
    truth_name="nn.RNN",
    state_names=("H",),
    param_names=layout.PARAM_NAMES,
    make_params=_random_params,
    truth=judge_only.function("autograde.rnn_scratch.references:torch_rnn"),
    mistakes=judge_only.sequence("autograde.rnn_scratch.flaws:FORWARD_MISTAKES"),
    gradient_mistakes=judge_only.sequence("autograde.rnn_scratch.flaws:GRADIENT_MISTAKES"),
)


check_get_rnn_params = factory.parameter_factory_check(
    "Exercise 2 (get_rnn_params)",
    "get_rnn_params",
    _SIZES,
    [
        factory.Expected("W_xh", _SIZES, "normal"),
        factory.Expected("W_hh", (_SIZES[1],) * 2, "normal"),
        factory.Expected("b_h", (_SIZES[1],), "zeros"),
        factory.Expected("W_hq", _SIZES[::-1], "normal"),
        factory.Expected("b_q", (_SIZES[0],), "zeros"),
    ],
    "Exercise 2: [W_xh (V, H), W_hh (H, H), b_h (H,), W_hq (H, V), b_q (V,)].",
)

check_init_rnn_state = factory.state_factory_check(
    "Exercise 2 (init_rnn_state)",
    "init_rnn_state",
    (3, 20),
    ("H",),
    "Exercise 2: a tuple (H,) with H zeros of shape (batch_size, num_hiddens).",
)

check_rnn_forward = recurrent.forward_check(
    RNN, "Exercise 3: outputs and final H against nn.RNN with the same weights."
)

check_rnn_gradients = recurrent.gradients_check(
    RNN, "Exercise 3: the gradient of all five parameters against nn.RNN's."
)

check_rnn_devices = recurrent.devices_check(
    RNN, "Exercise 3: no hard-coded device (meta), and right on an accelerator where there is one."
)

# ---------------------------------------------------------------------------
# Exercises 4 to 6


check_grad_clipping = clipping.check

check_perplexity = perplexity_checks.check

check_predict = generation.check


engine.name_checks(globals())
