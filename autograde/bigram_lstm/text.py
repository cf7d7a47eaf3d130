"""The chapter's text as 27 symbols, and the reference batch generator of bigram ids.

The Time Machine is lower-cased and every run of characters that are not letters (spaces,
punctuation, digits, line breaks) becomes one space, so the text has 27 symbols: space
(id 0) and a-z (ids 1-26), as in the Udacity assignment. A bigram, two characters side by
side, has the id 27 * first + second, one of 27 * 27 = 729.

The reference generator, `bigram_batches`, is judge only (`autograde.bigram_lstm.references`).
"""

from __future__ import annotations

import re
from functools import lru_cache

import torch

from autograde import judge_only
from autograde.data import time_machine_source

SYMBOLS = 27  # space and a-z
BIGRAMS = SYMBOLS * SYMBOLS  # 729
VALID_SIZE = 10_000  # characters kept apart for validation: the text's first 10,000

bigram_batches = judge_only.function("autograde.bigram_lstm.references:bigram_batches")


def clean(raw: str) -> str:
    """Lower case; every run of non-letters becomes one space; no space at either end."""
    return re.sub("[^a-z]+", " ", raw.lower()).strip()


@lru_cache(maxsize=1)
def time_machine() -> str:
    return clean(time_machine_source().read_text(encoding="utf-8"))


def char2id(ch: str) -> int:
    return 0 if ch == " " else ord(ch) - ord("a") + 1


def id2char(i: int) -> str:
    return " " if i == 0 else chr(ord("a") + i - 1)


def char_ids(text: str) -> torch.Tensor:
    return torch.tensor([char2id(ch) for ch in text], dtype=torch.int64)
