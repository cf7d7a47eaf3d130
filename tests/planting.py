"""Running a solution notebook's own code in tests, planting bugs in it, and reading verdicts.

A planted bug is an edit of the solution's code: when the solution changes and an edit no
longer applies, the test fails instead of silently testing nothing.
"""

from __future__ import annotations

import collections
import functools
import linecache
import math

import pytest
import torch

from autograde.verdict import FAIL, PASS, CheckFailed

from conftest import solution_notebook
from notebooks import solution_code

# The names the notebooks' set-up cells import and the solution cells use.
NOTEBOOK_IMPORTS = {"torch": torch, "nn": torch.nn, "F": torch.nn.functional, "math": math, "collections": collections}


def define(source: str, name: str, namespace: dict | None = None):
    """Run a solution cell's code and return the function it defines."""
    namespace = {**NOTEBOOK_IMPORTS, **(namespace or {})}
    filename = f"<solution {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # as Jupyter does
    exec(compile(source, filename, "exec"), namespace)
    return namespace[name]


class Solution:
    """The solution cells of solutions/<chapter>.ipynb, by grade id (the function's name).

    As in the notebook, a solution cell sees the functions the solution cells above it define
    (ngram_perplexity calls count_ngrams); `namespace` adds anything else it needs.
    """

    def __init__(self, chapter: str, namespace: dict | None = None):
        self.code = solution_code(solution_notebook(chapter))
        self.namespace = dict(namespace or {})
        for grade_id, source in self.code.items():  # in notebook order
            self.namespace[grade_id] = define(source, grade_id, self.namespace)

    def define(self, grade_id: str):
        return define(self.code[grade_id], grade_id, self.namespace)

    def plant(self, grade_id: str, *edits: tuple[str, str]):
        """The solution of `grade_id` with each (old, new) edit applied; every edit must apply."""
        source = self.code[grade_id]
        for old, new in edits:
            assert old in source, f"the planted bug no longer applies to solutions/: {old!r}"
            source = source.replace(old, new)
        return define(source, grade_id, self.namespace)


@functools.cache
def solution(chapter: str) -> Solution:
    return Solution(chapter)


# Edits that apply to every solution cell (a function whose body is one solution region).
STUB = ("    ### BEGIN SOLUTION", "    raise NotImplementedError()\n    ### BEGIN SOLUTION")
CRASH = ("    ### BEGIN SOLUTION", "    1 / 0\n    ### BEGIN SOLUTION")


def short(failure: CheckFailed) -> CheckFailed:
    """`failure`, asserting that Jupyter shows it as one ✗ line and at most one hint line."""
    lines = failure._render_traceback_()
    assert lines[0].startswith(f"{FAIL} {failure.exercise}: ") and failure.problem, lines
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("  hint: ") and failure.hint), lines
    return failure


def verdict(check, fn) -> CheckFailed:
    """The CheckFailed that `check(fn)` must raise; it must be short."""
    with pytest.raises(CheckFailed) as info:
        check(fn)
    return short(info.value)


def named(check, fn, words: str) -> CheckFailed:
    """The verdict of `check(fn)`, which must fail and say `words`."""
    failure = verdict(check, fn)
    assert words in str(failure), str(failure)
    return failure


# A passing check prints one ✓ line, or one per part for a check of several parts.
PARTS = {"check_fused_lstm": 3}  # forward, gradients, devices


def passes(checks, fn, capsys) -> None:
    """Every check passes `fn`, each printing its ✓ lines and nothing else."""
    capsys.readouterr()
    for check in checks:
        check(fn)
        printed = capsys.readouterr().out.splitlines()
        expected = PARTS.get(check.__name__, 1)
        assert len(printed) == expected, (check.__name__, printed)
        assert all(line.startswith(f"{PASS} Exercise ") for line in printed), (check.__name__, printed)
