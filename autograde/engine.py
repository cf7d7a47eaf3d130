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

from autograde.devices import FLOAT32_TOL, META, accelerator, check_on_meta
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


def _no_verdict(fn: Callable, case: Case, got: Any, want: Any) -> CheckFailed | None:
    return None


def _no_crash_verdict(case: Case, args: tuple, exc: Exception) -> CheckFailed | None:
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
    run: Callable[[Callable, tuple], Any] = _call  # a function on a case's arguments -> what is compared
    read: Callable[[Any, Case], Any] = lambda got, case: got  # checks the result's type and shape
    suspect: Callable[[Callable, Case, Any, Any], CheckFailed | None] = _no_verdict  # (fn, ...): before the mistakes
    crash: Callable[[Case, tuple, Exception], CheckFailed | None] = _no_crash_verdict  # a crash it can explain
    combine: bool = True  # try pairs of mistakes too
    meta_inputs: str = "every input"  # for the verdict: what was put on `meta`
    meta_hint: str = "compute on the inputs' device; never write 'cpu' or .cuda()."
    meta_allowed: tuple[str, ...] = ("_to_copy",)  # e.g. handing a number back to the CPU
    meta: bool = True  # False: the exercise cannot run on `meta` at all (e.g. it needs values)
    same_float32: Callable[[Any, Any], bool] | None = None  # on the accelerator; default: `same`


def _student(ex: Exercise, fn: Callable, args: tuple, case: Case | None = None) -> Any:
    with calling(ex.label, ex.name):
        try:
            return ex.run(fn, args)
        except Exception as exc:  # the student's code may raise anything
            known = ex.crash(case, args, exc) if case is not None else None
            if known is not None:
                raise known from None
            raise


def _reference(ex: Exercise, f: Callable, args: tuple) -> Any:
    with quiet():
        return ex.run(f, args)


def check_case(ex: Exercise, fn: Callable, case: Case) -> None:
    got = ex.read(_student(ex, fn, case.make(CPU, None), case), case)
    want = _reference(ex, ex.reference, case.make(CPU, None))
    if ex.same(got, want):
        return
    problem = ex.suspect(fn, case, got, want)
    if problem is not None:
        raise problem
    with quiet(), torch.no_grad():
        found = diagnose(ex.mistakes, lambda m: ex.same(got, ex.run(m.plant, case.make(CPU, None))), ex.combine)
    if found is not None:
        raise CheckFailed(ex.label, f"{case.label}: {found.problem}", found.hint)
    raise ex.explain(case, got, want)


def check_devices(ex: Exercise, fn: Callable, cases: Sequence[Case]) -> str:
    """Run the device-following cases on `meta` and on the accelerator; say where, for the ✓ line."""
    cases = [c for c in cases if c.on_devices]
    where = "on the CPU"
    if ex.meta and cases:
        args = cases[0].make(META, torch.float32)  # made outside the watch: only the student's code is watched
        on_meta = check_on_meta(ex.label, ex.name, lambda: _student(ex, fn, args), ex.meta_inputs, ex.meta_hint,
                                ex.meta_allowed)
        where += " (and no hard-coded device, on `meta`)" if on_meta else ""
    acc = accelerator()
    if acc is None or not cases:
        return where
    same = ex.same_float32 or ex.same
    for case in cases:
        got = ex.read(_student(ex, fn, case.make(acc.device, torch.float32)), case)
        want = _reference(ex, ex.reference, case.make(CPU, None))
        if not same(got, want):
            raise CheckFailed(ex.label, f"on {acc.name} in float32, {case.label}, `{ex.name}` gives a different "
                              "result although the CPU gives the right one.",
                              "make every tensor on the inputs' device (device=..., torch.zeros_like); look for an "
                              "operation that behaves differently in float32.")
    return f"on the CPU and on {acc.name} (float32)"


def check(ex: Exercise, fn: Callable, what: str) -> None:
    """Every case, then the devices; `what` says on the ✓ line what was compared."""
    cases = ex.cases()
    for case in cases:
        check_case(ex, fn, case)
    where = check_devices(ex, fn, cases)
    passed(ex.label, f"{what}, {where}.")


def close(a: torch.Tensor, b: torch.Tensor, tol: dict | None = None) -> bool:
    """Same shape and values, whatever device or dtype `a` is on (`b` is the float64 truth)."""
    tol = tol or FLOAT32_TOL
    return a.shape == b.shape and torch.allclose(a.detach().cpu().to(b.dtype), b.detach().cpu(), **tol)
