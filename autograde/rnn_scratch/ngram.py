"""n-gram language models: counts, add-alpha smoothing and perplexity (the chapter's baseline).

The model of order n predicts token w_t from the n-1 tokens before it:

    P(w | c) = (N(c, w) + alpha) / (sum_w' N(c, w') + alpha * V)

where N(c, w) counts the n-gram (c..., w) in the training text and V is the vocabulary size.
Its perplexity on a test text scores every position t >= n-1 (those with a full context):

    perplexity = exp(-(1 / #positions) * sum_t ln P(w_t | w_{t-n+1} ... w_{t-1}))

The reference and its planted mistakes are judge-only (`autograde.rnn_scratch.references`);
this module holds what a probe needs: the book's characters.
"""

from __future__ import annotations

import re
from functools import lru_cache

from autograde.data import time_machine_source

TRAIN_TOKENS = 10_000  # d2l's load_data_time_machine keeps the book's first 10,000 characters
HELD_OUT_TOKENS = 10_000  # the held-out text: the book's last 10,000 characters
VOCAB_SIZE = 28  # d2l's character vocabulary: 26 letters, space and <unk>


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
