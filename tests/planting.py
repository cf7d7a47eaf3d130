"""Running a solution notebook's own code in tests, and planting bugs in it.

A planted bug is an edit of the solution's code: when the solution changes and an edit no
longer applies, the test fails instead of silently testing nothing.
"""

from __future__ import annotations

import linecache

import pytest
import torch

from autograde.verdict import CheckFailed
from conftest import solution_notebook
from notebooks import solution_code


def define(source: str, name: str, namespace: dict | None = None):
    """Run a solution cell's code and return the function it defines."""
    namespace = {"torch": torch, "nn": torch.nn, **(namespace or {})}
    filename = f"<solution {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # as Jupyter does
    exec(compile(source, filename, "exec"), namespace)
    return namespace[name]


class Solution:
    """The solution cells of solutions/<chapter>.ipynb, by grade id (the function's name).

    `namespace` holds what the notebook's earlier cells define that a solution cell uses.
    """

    def __init__(self, chapter: str, namespace: dict | None = None):
        self.code = solution_code(solution_notebook(chapter))
        self.namespace = namespace or {}

    def define(self, grade_id: str):
        return define(self.code[grade_id], grade_id, self.namespace)

    def plant(self, grade_id: str, *edits: tuple[str, str]):
        """The solution of `grade_id` with each (old, new) edit applied; every edit must apply."""
        source = self.code[grade_id]
        for old, new in edits:
            assert old in source, f"the planted bug no longer applies to solutions/: {old!r}"
            source = source.replace(old, new)
        return define(source, grade_id, self.namespace)


STUB = ("    ### BEGIN SOLUTION", "    raise NotImplementedError()\n    ### BEGIN SOLUTION")


def verdict(check, fn) -> CheckFailed:
    """The CheckFailed that `check(fn)` must raise."""
    with pytest.raises(CheckFailed) as info:
        check(fn)
    return info.value
