"""The one skeleton every check follows.

    cases -> call the student's code (`calling` turns a crash into a verdict)
          -> read what came back (type, shape: `read`)
          -> compare with the reference on the same case (`same`)
          -> on a mismatch, what the answer's shape alone tells (`suspect`), then the known
             mistakes, alone and in pairs, each planted in the reference and run on the same
             case (`autograde.mistakes.diagnose`), then a fallback that says how it differs (`explain`)
          -> devices: the `meta` device (a hard-coded device shows on any machine), then the
             accelerator in float32 against the float64 CPU reference, where there is one.

An `Exercise` says how; `check(exercise, fn)` does it. The student's function, the reference
and every planted mistake take the same arguments, which a `Case` makes afresh for each call
(student code may change what it is given). The recurrent checks (`autograde.recurrent`)
follow the same steps for d2l's `forward_fn(inputs, state, params)`, with gradients besides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from autograde.devices import FLOAT32_TOL, META, accelerator, check_on_meta, judged_accelerator
from autograde.mistakes import Mistake, diagnose
from autograde.verdict import CheckFailed, calling, passed, quiet

CPU = torch.device("cpu")


@dataclass(frozen=True)
class Case:
    """One input. `label` is how a verdict names it ("for the prefix 'the '"); `make(device, dtype)`
    returns fresh arguments there (dtype None: the case's own)."""

    label: str
    make: Callable[..., tuple]
    on_devices: bool = True  # also run on `meta` and the accelerator


def _call(f: Callable, args: tuple) -> Any:
    return f(*args)


def _no_verdict(case: Case, got: Any, want: Any, seen: Any) -> CheckFailed | None:
    return None


def _no_crash_verdict(case: Case, args: tuple, exc: Exception) -> CheckFailed | None:
    return None


def _nothing_more(fn: Callable, case: Case, args: tuple) -> Any:
    return None


@dataclass(frozen=True)
class Exercise:
    label: str  # "Exercise 5 (perplexity)": how verdicts name it
    name: str  # the student's function, as verdicts quote it
    reference: Callable  # takes what the student's function takes
    cases: Callable[[], Sequence[Case]]
    same: Callable[[Any, Any], bool]  # the student's result against the reference's (float64, CPU)
    explain: Callable[[Case, Any, Any], CheckFailed]  # a mismatch that no mistake names
    mistakes: Sequence[Mistake] = ()  # each plants a slip in `reference`
    # Probe side (runs the student's code; returns plain data):
    run: Callable[[Callable, tuple], Any] = _call  # a function on a case's arguments -> what is compared
    crash: Callable[[Case, tuple, Exception], CheckFailed | None] = _no_crash_verdict  # a crash it can explain
    observe: Callable[[Callable, Case, tuple], Any] = _nothing_more  # more calls the judge may want to see
    # Judge side (never runs the student's code):
    read: Callable[[Any, Case], Any] = lambda got, case: got  # checks the result's type and shape
    suspect: Callable[[Case, Any, Any, Any], CheckFailed | None] = _no_verdict  # (case, got, want, observed)
    combine: bool = True  # try pairs of mistakes too
    meta_inputs: str = "every input"  # for the verdict: what was put on `meta`
    meta_hint: str = "compute on the inputs' device; never write 'cpu' or .cuda()."
    meta_allowed: tuple[str, ...] = ()  # operations that may leave `meta`, e.g. ("_to_copy",) to hand a number back
    meta: bool = True  # False: the exercise cannot run on `meta` at all (e.g. it needs values)
    same_float32: Callable[[Any, Any], bool] | None = None  # on the accelerator; default: `same`


# ---------------------------------------------------------------------------
# Plain data: all that crosses from the probe to the judge


class Opaque:
    """Stands, on the judge's side, for an object the student's code returned that is not plain data."""

    def __init__(self, type_name: str):
        self.type_name = type_name


def plain(x: Any) -> Any:
    """`x` as data `torch.load(weights_only=True)` reads back: tensors (detached, on the CPU), numbers,
    strings, None, and lists, tuples and dicts of these. Anything else becomes {"__opaque__": its type}."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu() if x.device.type != "meta" else torch.empty(x.shape, dtype=x.dtype, device="meta")
    if x is None or type(x) in (bool, int, float, str):
        return x
    if isinstance(x, torch.Size):  # a shape is a tuple of ints
        return tuple(int(n) for n in x)
    if type(x) in (list, tuple):
        return type(x)(plain(v) for v in x)
    if type(x) is dict and all(type(k) in (str, int) for k in x):
        return {k: plain(v) for k, v in x.items()}
    return {"__opaque__": type(x).__name__}


def unplain(x: Any) -> Any:
    """The judge's view of plain data: opaque objects become instances of a class of the same name,
    so that a verdict can say what the student's code returned ("returned a Foo")."""
    if isinstance(x, dict):
        if set(x) == {"__opaque__"}:
            return type(str(x["__opaque__"]), (Opaque,), {})(str(x["__opaque__"]))
        return {k: unplain(v) for k, v in x.items()}
    if type(x) in (list, tuple):
        return type(x)(unplain(v) for v in x)
    return x


def _failure(failure: CheckFailed) -> dict:
    return {"failed": failure.problem, "hint": failure.hint}


def _raise_if_failed(ex: Exercise, record: Any) -> None:
    if isinstance(record, dict) and "failed" in record:
        raise CheckFailed(ex.label, record["failed"], record["hint"])


# ---------------------------------------------------------------------------
# The probe: runs the student's code, and nothing else that judges


def _student(ex: Exercise, fn: Callable, args: tuple, case: Case | None = None) -> Any:
    with calling(ex.label, ex.name):
        try:
            return ex.run(fn, args)
        except Exception as exc:  # the student's code may raise anything
            known = ex.crash(case, args, exc) if case is not None else None
            if known is not None:
                raise known from None
            raise


def probe(ex: Exercise, fn: Callable) -> dict:
    """What the student's code returns on every case, on `meta` and on the accelerator, as plain data.

    A call that fails ends the probe (the judge stops at the first failure anyway) and is
    recorded as {"failed": problem, "hint": hint}.
    """
    cases = ex.cases()
    seen: dict[str, Any] = {"cases": [], "meta": None, "accelerator": None, "fast": []}
    for case in cases:
        try:
            args = case.make(CPU, None)
            got = plain(_student(ex, fn, args, case))
            seen["cases"].append({"got": got, "observed": plain(ex.observe(fn, case, case.make(CPU, None)))})
        except CheckFailed as failure:
            seen["cases"].append(_failure(failure))
            return seen
    device_cases = [c for c in cases if c.on_devices]
    if ex.meta and device_cases:
        args = device_cases[0].make(META, torch.float32)  # made outside the watch: only the student's code is watched
        try:
            seen["meta"] = check_on_meta(
                ex.label, ex.name, lambda: _student(ex, fn, args), ex.meta_inputs, ex.meta_hint, ex.meta_allowed
            )
        except CheckFailed as failure:
            seen["meta"] = _failure(failure)
            return seen
    acc = accelerator()
    if acc is not None and device_cases:
        seen["accelerator"] = acc.name
        for case in device_cases:
            try:
                seen["fast"].append({"got": plain(_student(ex, fn, case.make(acc.device, torch.float32), case))})
            except CheckFailed as failure:
                seen["fast"].append(_failure(failure))
                return seen
    return seen


# ---------------------------------------------------------------------------
# The judge: compares what the probe saw with the reference, and never calls the student's code


def _reference(ex: Exercise, f: Callable, args: tuple) -> Any:
    with quiet():
        return plain(ex.run(f, args))


def judge_case(ex: Exercise, case: Case, record: dict) -> None:
    _raise_if_failed(ex, record)
    got = ex.read(unplain(record["got"]), case)
    want = ex.read(_reference(ex, ex.reference, case.make(CPU, None)), case)
    if ex.same(got, want):
        return
    problem = ex.suspect(case, got, want, unplain(record["observed"]))
    if problem is not None:
        raise problem
    with quiet():  # gradients stay on: a mistake may show only in them
        found = diagnose(
            ex.mistakes,
            lambda m: ex.same(got, ex.read(_reference(ex, m.plant, case.make(CPU, None)), case)),
            ex.combine,
        )
    if found is not None:
        raise CheckFailed(ex.label, f"{case.label}: {found.problem}", found.hint)
    raise ex.explain(case, got, want)


def judge(ex: Exercise, seen: dict, what: str) -> None:
    """The verdict on what `probe` saw: raises CheckFailed naming the mistake, or prints the ✓ line."""
    cases = ex.cases()
    for case, record in zip(cases, seen["cases"]):
        judge_case(ex, case, record)  # a failure recorded by the probe ends the judging here
    if len(seen["cases"]) != len(cases):
        raise CheckFailed(ex.label, f"`{ex.name}` was not run on every case.")
    where = "on the CPU"
    if seen["meta"] is not None:
        _raise_if_failed(ex, seen["meta"])
        where += " (and no hard-coded device, on `meta`)" if seen["meta"] else ""
    device_cases = [c for c in cases if c.on_devices]
    acc = judged_accelerator(ex.label, seen["accelerator"], runs_there=bool(device_cases))
    if acc is not None:
        same = ex.same_float32 or ex.same
        if len(seen["fast"]) != len(device_cases) and not (seen["fast"] and "failed" in seen["fast"][-1]):
            raise CheckFailed(ex.label, f"`{ex.name}` was not run on every case on {acc}.")
        for case, record in zip(device_cases, seen["fast"]):
            _raise_if_failed(ex, record)
            got = ex.read(unplain(record["got"]), case)
            if not same(got, ex.read(_reference(ex, ex.reference, case.make(CPU, None)), case)):
                raise CheckFailed(
                    ex.label,
                    f"on {acc} in float32, {case.label}, `{ex.name}` gives a "
                    "different result although the CPU gives the right one.",
                    "make every tensor on the inputs' device (device=..., torch.zeros_like); look for "
                    "an operation that behaves differently in float32.",
                )
        where = f"on the CPU and on {acc} (float32)"
    passed(ex.label, f"{what}, {where}.")


def check(ex: Exercise, fn: Callable, what: str) -> None:
    """A self-check: probe and judge in one process (grading runs them apart); `what` goes on the ✓ line."""
    judge(ex, probe(ex, fn), what)


# ---------------------------------------------------------------------------
# A graded check, as a notebook's check cell calls it and as the grader splits it


class Check:
    """What a check cell calls: `check(fn)` runs the probe and the judge in the student's process.

    The grader runs them apart: `probe(fn)` where the student's code runs (it returns plain data,
    which is all that leaves that process), `judge(seen)` in a process that never runs student code.
    """

    def __init__(self, probe: Callable[[Callable], Any], judge: Callable[[Any], None], doc: str = ""):
        self.probe, self.judge = probe, judge
        self.__doc__ = doc
        self.__name__ = "check"  # `name_checks` gives it the name a check cell imports it by

    def __call__(self, fn: Callable) -> None:
        self.judge(self.probe(fn))

    def __repr__(self) -> str:
        return f"<check: {self.__doc__}>"


def name_checks(namespace: dict) -> None:
    """Give each Check of a chapter's package the name its check cells import it by."""
    for name, value in namespace.items():
        if isinstance(value, Check) and name.startswith("check_"):
            value.__name__ = name


def exercise_check(ex: Exercise, what: str | Callable[[], str], doc: str = "") -> Check:
    """The check of an `Exercise`; `what` (or what it returns, when the ✓ line depends on the
    training budget) says on the ✓ line what was compared."""
    return Check(lambda fn: probe(ex, fn), lambda seen: judge(ex, seen, what() if callable(what) else what), doc)


def checks_in_turn(*parts: Check, doc: str = "") -> Check:
    """Several checks as one cell: the first that fails gives the verdict."""

    def judge_all(seen: list) -> None:
        for part, record in zip(parts, seen):
            part.judge(record)

    return Check(lambda fn: [part.probe(fn) for part in parts], judge_all, doc)


def close(a: torch.Tensor, b: torch.Tensor, tol: dict | None = None) -> bool:
    """Same shape and values, whatever device or dtype `a` is on (`b` is the float64 truth)."""
    tol = tol or FLOAT32_TOL
    return a.shape == b.shape and torch.allclose(a.detach().cpu().to(b.dtype), b.detach().cpu(), **tol)
