"""n-gram language models: counts, add-alpha smoothing and perplexity (the chapter's baseline).

The model of order n predicts token w_t from the n-1 tokens before it:

    P(w | c) = (N(c, w) + alpha) / (sum_w' N(c, w') + alpha * V)

where N(c, w) counts the n-gram (c..., w) in the training text and V is the vocabulary size.
Its perplexity on a test text scores every position t >= n-1 (those with a full context):

    perplexity = exp(-(1 / #positions) * sum_t ln P(w_t | w_{t-n+1} ... w_{t-1}))

`perplexity` with no options is the course's reference (the tests hold it to an exact
computation with fractions); its keyword options plant the mistakes students make.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Hashable, Sequence
from functools import lru_cache

from autograde.data import time_machine_source

TRAIN_TOKENS = 10_000  # d2l's load_data_time_machine keeps the book's first 10,000 characters
HELD_OUT_TOKENS = 10_000  # the held-out text: the book's last 10,000 characters
VOCAB_SIZE = 28  # d2l's character vocabulary: 26 letters, space and <unk>


def count_ngrams(tokens: Sequence[Hashable], n: int) -> Counter:
    """{(t_i, ..., t_{i+n-1}): how often it occurs} over every window of n tokens."""
    tokens = list(tokens)
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def perplexity(
    train,
    test,
    n: int,
    vocab_size: int,
    alpha: float = 1.0,
    *,
    order: int | str | None = None,
    denominator: str = "alpha*V",
    context_counts: str = "ngrams",
    shift: int = 0,
    start: int | str | None = None,
    log=math.log,
    reduce: str = "mean",
    exponent: str = "e",
    divide_by: str = "positions",
    vocab: str = "given",
    smooth: bool = True,
) -> float:
    """The add-alpha n-gram model's perplexity on `test`, with optional planted mistakes.

    order:          the model's order actually used ("n-1" or "n+1": the context is one token off)
    denominator:    "alpha*V" (right) | "alpha" | "V" | "none"
    context_counts: "ngrams" (right: sum of N(c, w) over w) | "n-1 grams" (counts of the context
                    anywhere in the text, including the last n-1 tokens)
    shift:          1 looks up the n-1 tokens that end one step early (w_{t-n} ... w_{t-2})
    start:          the first scored position (default: the first with a full context; "n-1", "n"...)
    log:            math.log (right) or math.log2
    reduce:         "mean" (right) or "sum"; exponent: "e" (right) | "2" | "none"
    divide_by:      "positions" (right) or "tokens" (len(test))
    vocab:          "given" (right) or "seen" (V = number of distinct training tokens)
    smooth:         False leaves alpha out (no smoothing)
    """
    train, test = list(train), list(test)
    relative = {"n-1": n - 1, "n": n, "n+1": n + 1}
    order = n if order is None else relative.get(order, order)  # type: ignore[call-overload]
    start = relative.get(start, start) if isinstance(start, str) else start
    if order < 1:
        raise ValueError(f"no model of order {order}")
    alpha = alpha if smooth else 0.0
    V = vocab_size if vocab == "given" else len(set(train))
    grams = count_ngrams(train, order)
    if context_counts == "ngrams":
        contexts: Counter = Counter()
        for gram, count in grams.items():
            contexts[gram[:-1]] += count
    else:
        contexts = count_ngrams(train, order - 1)
    extra = {"alpha*V": alpha * V, "alpha": alpha, "V": V, "none": 0}[denominator]
    first = order - 1 + shift if start is None else start
    first = max(first, order - 1 + shift)
    positions = range(first, len(test))
    total = 0.0
    for t in positions:
        context = tuple(test[t - order + 1 - shift : t - shift]) if order > 1 else ()
        numerator = grams[context + (test[t],)] + alpha
        denom = contexts[context] + extra
        if numerator <= 0 or denom <= 0:
            return math.inf
        total -= log(numerator / denom)
    count = len(positions) if divide_by == "positions" else len(test)
    value = total / count if reduce == "mean" else total
    if exponent == "none":
        return value
    try:
        return math.exp(value) if exponent == "e" else 2.0**value
    except OverflowError:
        return math.inf


# ---------------------------------------------------------------------------
# The Time Machine as characters, tokenised as d2l does


@lru_cache(maxsize=1)
def time_machine_chars() -> tuple[str, ...]:
    """The whole book as d2l tokenises it: letters and spaces, lower case, lines joined."""
    with open(time_machine_source(), encoding="utf-8") as f:
        lines = [re.sub("[^A-Za-z]+", " ", line).strip().lower() for line in f]
    return tuple(ch for line in lines for ch in line)


def train_and_held_out() -> tuple[list[str], list[str]]:
    """The first 10,000 characters (what d2l trains on) and the last 10,000."""
    chars = time_machine_chars()
    return list(chars[:TRAIN_TOKENS]), list(chars[-HELD_OUT_TOKENS:])
