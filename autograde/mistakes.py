"""Mistakes students make, and finding the one that reproduces a student's result.

A `Mistake` is what is wrong, a hint, and how to plant it: `plant` computes what the
exercise's reference computes with that one slip. Most plants are `functools.partial`s of
one reference with keyword options (`partial(scratch_lstm, acts={"i": "tanh"})`); such
mistakes combine by merging their options, which is how the diagnosis finds a student who
made two slips at once, or the same slip on every gate.

`diagnose` tries, in order: each mistake alone; then every pair of combinable mistakes. The
first whose planted result matches the student's names the mistake.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from itertools import chain, combinations
from typing import Any, NamedTuple


class Mistake(NamedTuple):
    """A known slip: what is wrong, what to try, and the reference with the slip planted."""

    problem: str
    hint: str | None
    plant: Callable[..., Any]


def mistake(reference: Callable[..., Any], problem: str, hint: str | None = None, **options: Any) -> Mistake:
    """The mistake that `reference(..., **options)` plants."""
    return Mistake(problem, hint, partial(reference, **options))


def _merge(a: dict, b: dict) -> dict | None:
    """The options of both mistakes at once, or None when they contradict each other."""
    merged = dict(a)
    for key, value in b.items():
        if key not in merged:
            merged[key] = value
        elif isinstance(merged[key], dict) and isinstance(value, dict):
            inner = _merge(merged[key], value)
            if inner is None:
                return None
            merged[key] = inner
        elif merged[key] != value:
            return None
    return merged


def _options(m: Mistake) -> tuple[Callable, dict] | None:
    if isinstance(m.plant, partial) and not m.plant.args:
        return m.plant.func, dict(m.plant.keywords)
    return None


def together(problem: str, hint: str | None, members: Sequence[Mistake]) -> Mistake:
    """One mistake made of several planted at once, e.g. the same slip on every gate."""
    parts = [_options(m) for m in members]
    if any(p is None for p in parts) or len({p[0] for p in parts if p}) != 1:
        raise ValueError("only mistakes planted as options of one reference combine")
    merged: dict | None = {}
    for _, options in parts:  # type: ignore[misc]
        merged = _merge(merged, options) if merged is not None else None
    if merged is None:
        raise ValueError(f"these mistakes contradict each other: {[m.problem for m in members]}")
    return Mistake(problem, hint, partial(parts[0][0], **merged))  # type: ignore[index]


def pairs(mistakes: Sequence[Mistake]) -> Iterator[Mistake]:
    """Every two combinable mistakes planted together, named as both."""
    for a, b in combinations(mistakes, 2):
        oa, ob = _options(a), _options(b)
        if oa is None or ob is None or oa[0] is not ob[0]:
            continue
        merged = _merge(oa[1], ob[1])
        if merged is None or merged in (oa[1], ob[1]):  # contradictory, or one already holds the other
            continue
        hint = "; ".join(h for h in (a.hint, b.hint) if h) or None
        yield Mistake(
            f"two mistakes at once: {_clause(a.problem)}; and {_clause(b.problem)}", hint, partial(oa[0], **merged)
        )


def _clause(problem: str) -> str:
    return problem[:-1] if problem.endswith(".") else problem


def diagnose(
    mistakes: Sequence[Mistake], reproduces: Callable[[Mistake], bool], combine: bool = True
) -> Mistake | None:
    """The first mistake whose planted result `reproduces` the student's, alone, then in pairs.

    `reproduces(m)` runs `m.plant` on the same inputs the student's code got and compares. A
    plant that cannot run on these inputs (it raises) does not reproduce anything.
    """
    candidates: Iterable[Mistake] = chain(mistakes, pairs(mistakes)) if combine else mistakes
    for m in candidates:
        try:
            if reproduces(m):
                return m
        except Exception:  # noqa: BLE001 - a planted bug may not run on every input
            continue
    return None
