"""What only the judge may hold: the references, the planted mistakes, the truth.

A module that computes a right answer to an exercise (a reference, a reference with a planted
mistake, an adapter that runs `nn.LSTM` & co. on the student's parameters) says so with
`JUDGE_ONLY = True` at its top. The grading sandbox gets a copy of the package without those
modules (`autograde.tools.grading.probe_package`): a notebook graded there cannot import a
reference and hand in its answers as its own.

So the check packages, which the sandbox's probes import, never import a judge-only module when
they are imported: they name what they need from one with `function` or `sequence`, which import
it the first time the judge calls or reads it. A probe that touched one would fail in the sandbox
(tests/test_grading.py grades the solutions there).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from typing import Any, overload

MARK = "JUDGE_ONLY"  # the module-level flag: `JUDGE_ONLY = True`


def _resolve(path: str) -> Any:
    module, _, name = path.partition(":")
    found = importlib.import_module(module)
    if getattr(found, MARK, False) is not True:
        # A stand-in for something the sandbox keeps would hide nothing: say so where it is made.
        raise ImportError(f"{module} is not marked {MARK}; import {name} from it directly")
    return getattr(found, name)


class function:  # noqa: N801 - used like the function it stands for
    """A judge-only function or class, "module:name", imported when first called."""

    def __init__(self, path: str):
        self.path = path

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _resolve(self.path)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<judge-only {self.path}>"


class sequence(Sequence):  # noqa: N801 - used like the tuple it stands for
    """A judge-only sequence (a catalogue of mistakes), "module:name", imported when first read."""

    def __init__(self, path: str):
        self.path = path

    def _items(self) -> Sequence:
        return _resolve(self.path)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence: ...
    def __getitem__(self, index):
        return self._items()[index]

    def __len__(self) -> int:
        return len(self._items())

    def __iter__(self) -> Iterator:
        return iter(self._items())

    def __repr__(self) -> str:
        return f"<judge-only {self.path}>"
