"""The chapter's text as 27 symbols, and the reference batch generator of bigram ids.

The Time Machine is lower-cased and every run of characters that are not letters (spaces,
punctuation, digits, line breaks) becomes one space, so the text has 27 symbols: space
(id 0) and a-z (ids 1-26), as in the Udacity assignment. A bigram, two characters side by
side, has the id 27 * first + second, one of 27 * 27 = 729.

`bigram_batches` with no options is the course's reference generator; its keyword options
plant the mistakes students make.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

import torch

from autograde.data import time_machine_source

SYMBOLS = 27  # space and a-z
BIGRAMS = SYMBOLS * SYMBOLS  # 729
VALID_SIZE = 10_000  # characters kept apart for validation: the text's first 10,000


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


def bigram_batches(
    ids,
    batch_size: int,
    num_unrollings: int,
    *,
    carry: bool | str = True,
    stride: int = 2,
    spread: str = "segments",
    emit: str = "bigram",
    transpose: bool = False,
) -> Iterator:
    """Batches of bigram ids, (num_unrollings + 1, batch_size) each, with optional planted mistakes.

    carry:     False starts every batch with a fresh step instead of the previous batch's last one;
               "lost" does too, after drawing a first step that no batch holds
    stride:    how far a cursor moves per step (2: bigrams do not overlap; 1: they overlap)
    spread:    "segments" (cursor b at b * (n // batch_size)) | "together" (every cursor at 0) |
               "adjacent" (cursor b at 2 * b: the rows read neighbouring bigrams)
    emit:      "bigram" (27 * first + second) | "chars" (the first character's id) |
               "swapped" (27 * second + first)
    transpose: True yields (batch_size, num_unrollings + 1)
    """
    ids = torch.as_tensor(ids).reshape(-1).to(torch.int64).cpu()
    n = len(ids)
    segment = n // batch_size
    start = {"segments": segment, "together": 0, "adjacent": 2}[spread]
    cursors = torch.arange(batch_size) * start % n

    def step() -> torch.Tensor:
        nonlocal cursors
        first, second = ids[cursors], ids[(cursors + 1) % n]
        out = {"bigram": SYMBOLS * first + second, "chars": first, "swapped": SYMBOLS * second + first}[emit]
        cursors = (cursors + stride) % n
        return out

    last = step() if carry else torch.empty(0)  # carry="lost": drawn, then never used
    while True:
        steps = (
            [last] + [step() for _ in range(num_unrollings)]
            if carry is True
            else [step() for _ in range(num_unrollings + 1)]
        )
        last = steps[-1]
        batch = torch.stack(steps)
        yield batch.T.contiguous() if transpose else batch
