"""Checks for the chapter "Recurrent neural networks".

Each function takes the student's function, prints one line when it is right and raises
`CheckFailed` naming the mistake when it is not. The notebook's test cells call these and
nothing else, so nbgrader's feedback shows no hidden test.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from autograde import engine, recurrent
from autograde import params as factory
from autograde.mistakes import Mistake, mistake
from autograde.recurrent import RecurrentSpec
from autograde.rnn_scratch import clipping, generation, layout, ngram
from autograde.rnn_scratch import perplexity as perplexity_checks
from autograde.rnn_scratch.clipping import CLIPPING
from autograde.rnn_scratch.flaws import catalogue
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


def _slip(problem: str, hint: str, **options) -> Mistake:
    return mistake(ngram.perplexity, problem, hint, **options)


# Each plants one slip in the reference, ngram.perplexity; the first that matches names the mistake.
NGRAM_MISTAKES = (
    _slip(
        "no smoothing: alpha is not added, so an n-gram never seen in training gets probability 0.",
        "P(w | c) = (N(c, w) + alpha) / (sum over w' of N(c, w') + alpha * V).",
        smooth=False,
    ),
    _slip(
        "the denominator adds alpha instead of alpha * V, so the probabilities over the vocabulary do not sum to 1.",
        "each of the V tokens gets alpha extra counts: add alpha * V to the context's count.",
        denominator="alpha",
    ),
    _slip(
        "the denominator adds V instead of alpha * V.",
        "add alpha * V: alpha extra counts for each of the V tokens.",
        denominator="V",
    ),
    _slip(
        "only the numerator is smoothed: the denominator needs + alpha * V.",
        "P(w | c) = (N(c, w) + alpha) / (sum over w' of N(c, w') + alpha * V).",
        denominator="none",
    ),
    _slip(
        "V is taken as the number of distinct tokens in the training text; use the vocabulary size you are given.",
        "tokens the training text never shows are still in the vocabulary: use vocab_size.",
        vocab="seen",
    ),
    _slip(
        "the context is one token short: this is the model of order n-1.",
        "the context of w_t is the n-1 tokens before it: tokens[t-n+1:t].",
        order="n-1",
    ),
    _slip(
        "the context is one token short: this is the model of order n-1.",
        "the context of w_t is the n-1 tokens before it: tokens[t-n+1:t].",
        order="n-1",
        start="n-1",
    ),
    _slip(
        "the context is one token too long: this is the model of order n+1.",
        "the context of w_t is the n-1 tokens before it: tokens[t-n+1:t].",
        order="n+1",
    ),
    _slip(
        "the context is off by one: it ends at w_{t-2}, one token before the one it should end at.",
        "the context of w_t is tokens[t-n+1:t], which ends with w_{t-1}.",
        shift=1,
    ),
    _slip(
        "the first position with a full context (t = n-1) is not scored.",
        "score every t from n-1 to len(test)-1.",
        start="n",
    ),
    _slip(
        "the context's count includes the last n-1 training tokens, which no token follows, so the probabilities "
        "do not sum to 1.",
        "count the context as the number of n-grams that start with it: the sum over w' of N(c, w').",
        context_counts="n-1 grams",
    ),
    _slip(
        "the logarithm is in base 2 but the exponential in base e: the bases must match.",
        "use math.log (natural log) with math.exp, as the definition does.",
        log=math.log2,
    ),
    _slip(
        "the exponential is missing: that is the mean cross-entropy (in nats), not the perplexity.",
        "perplexity = exp(mean of -ln P).",
        exponent="none",
    ),
    _slip(
        "the exponential is missing, and the logarithm is in base 2: that is the cross-entropy in bits.",
        "perplexity = exp(mean of -ln P).",
        exponent="none",
        log=math.log2,
    ),
    _slip(
        "it is the exponential of the summed negative log-probability; perplexity uses the mean.",
        "divide the sum by the number of scored positions before taking exp.",
        reduce="sum",
    ),
    _slip(
        "the mean divides by len(test), not by the number of scored positions (len(test) - n + 1).",
        "only positions with a full context are scored; divide by how many there are.",
        divide_by="tokens",
    ),
)


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
    reference=ngram.count_ngrams,
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
    reference=ngram.perplexity,
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


_forward_flaws, _gradient_flaws = catalogue()
RNN = RecurrentSpec(
    exercise="Exercise 3 (rnn)",
    name="rnn",
    truth_name="nn.RNN",
    state_names=("H",),
    param_names=layout.PARAM_NAMES,
    make_params=_random_params,
    truth=layout.torch_rnn,
    mistakes=_forward_flaws,
    gradient_mistakes=_gradient_flaws,
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
