"""The seeds the checks draw their inputs from, salted by the grader.

The course is public, and so are the checks' seeds: a student could compute the reference's
answers to every input at home and hand in a table of them. So each grading batch draws a
secret salt (`fresh()`), the sandbox's probes draw their inputs with it (RNN_COURSE_SALT) and the
judge regenerates the same inputs with it (`salted(salt)`, in the grader's own process); a
table made for other inputs then fails. With no salt (a student's own kernel) it is 0 and every
seed is the course's own: the self-checks give the verdicts and messages they always gave.

Every seed a check's inputs are drawn from goes through `seed`; a seed that only drives the
student's code (say, to see whether it samples) need not.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterator
from contextvars import ContextVar

import torch

SALT = "RNN_COURSE_SALT"  # the sandbox's salt, set by the grader
_given: ContextVar[int | None] = ContextVar("salt", default=None)


def salt() -> int:
    """The judge's salt where `salted` set one, else the sandbox's, else 0."""
    given = _given.get()
    if given is not None:
        return given
    try:
        return int(os.environ.get(SALT, "0"))
    except ValueError:  # the student's code may write anything there; the judge uses its own
        return 0


def seed(base: int) -> int:
    """The course's seed `base` under the current salt: itself under salt 0."""
    s = salt()
    if s == 0:
        return base
    digest = hashlib.sha256(f"{s}:{base}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1  # manual_seed takes up to 2**63 - 1


def generator(base: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed(base))


def fresh() -> int:
    """A batch's salt: secret, never 0."""
    return secrets.randbits(62) + 1


@contextlib.contextmanager
def salted(value: int) -> Iterator[None]:
    """Judge with `value` as the salt (in this thread), whatever the environment says."""
    token = _given.set(value)
    try:
        yield
    finally:
        _given.reset(token)
