"""Which devices a check runs on, and how to catch code that hard-codes one.

On a machine without a GPU, code that writes `device='cpu'` or calls `.cuda()`
would pass every CPU check and then break on the grader's GPU. Running it on
the `meta` device (tensors with shapes but no data) exposes that anywhere: every
tensor the code makes or uses must stay on `meta`.

Where there is an accelerator (CUDA, MPS, XPU: whatever `torch.accelerator` finds), the
checks also run the student's code there in float32 and compare with the float64 CPU
truth. RNN_COURSE_ACCELERATOR=cpu makes the CPU in float32 stand in for one, so that
machines without a GPU (CI) exercise those paths and their tolerances too.

Whether the probe found an accelerator is never a probe record's word (the student's code runs in
the process that writes it, and could say "none" to skip a check it fails there): the judge holds
the record to the accelerator it expects, `expected_accelerator()`, which is this process's own in
a self-check and, in grading, the one the grader's sandbox gave the probes (`expecting`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from autograde.verdict import CheckFailed

META = torch.device("meta")
STAND_IN = "RNN_COURSE_ACCELERATOR"  # "cpu": the CPU in float32 stands in for an accelerator
# float32 on an accelerator against the float64 CPU truth, on values of order 1 over a few steps.
FLOAT32_TOL = dict(rtol=1e-3, atol=2e-4)


@dataclass(frozen=True)
class Accelerator:
    device: torch.device
    name: str  # as a verdict says it: "CUDA", "MPS", "the CPU standing in for an accelerator"


def accelerator() -> Accelerator | None:
    """The accelerator to check on in float32, or None where there is none."""
    if os.environ.get(STAND_IN, "") == "cpu":
        return Accelerator(torch.device("cpu"), "the CPU standing in for an accelerator")
    if not torch.accelerator.is_available():
        return None
    device = torch.accelerator.current_accelerator()
    assert device is not None
    return Accelerator(torch.device(device.type), device.type.upper())


_expected: ContextVar[str | None] = ContextVar("expected_accelerator")


def expected_accelerator() -> str | None:
    """The name of the accelerator the probe must have run on, as the judge sees it: the grader's
    word where `expecting` gave it, else this process's own (a self-check probes and judges here)."""
    try:
        return _expected.get()
    except LookupError:
        acc = accelerator()
        return None if acc is None else acc.name


@contextlib.contextmanager
def expecting(name: str | None) -> Iterator[None]:
    """Judge records of probes that ran where `name` is the accelerator (None: where there is none)."""
    token = _expected.set(name)
    try:
        yield
    finally:
        _expected.reset(token)


def judged_accelerator(exercise: str, claimed: Any, runs_there: bool = True) -> str | None:
    """The accelerator whose results the judge must find in the record, which `claimed` it ran on:
    `expected_accelerator()` (None where the exercise has nothing to run there: `runs_there`
    False). A record that claims another, or none where one is expected, was not the probe's, or
    the student's code would skip the accelerator's check where it fails there."""
    expected = expected_accelerator() if runs_there else None
    if claimed == expected:
        return expected
    if expected is None:
        problem = f"the record says the check ran on {claimed}, which the grading machine does not have"
    elif claimed is None:
        problem = f"the check was not run on {expected}, which the grading machine has"
    else:
        problem = f"the check was run on {claimed}, not on {expected}, which the grading machine has"
    raise CheckFailed(exercise, problem + " (was the record changed?)")


def where_checked(name: str | None, on_meta: bool = True) -> str:
    """The devices a passing check names, for its ✓ line; `name`: the accelerator it was judged on."""
    meta = "on the meta device" if on_meta else "on the CPU (your code uses an operation the meta device lacks)"
    if name is None:
        return f"{meta} (no GPU here: an accelerator is checked where the grader has one)"
    return f"{meta} and on {name} (float32)"


def _tensors(tree):
    if isinstance(tree, torch.Tensor):
        yield tree
    elif isinstance(tree, (list, tuple)):
        for item in tree:
            yield from _tensors(item)
    elif isinstance(tree, dict):
        for item in tree.values():
            yield from _tensors(item)


class ForeignDeviceLog(TorchDispatchMode):
    """Records every operation that makes or uses a tensor off the expected device.

    Zero-dimensional CPU tensors are allowed: PyTorch mixes those with any device.
    """

    def __init__(self, expected: torch.device = META):
        super().__init__()
        self.expected = expected
        self.foreign: list[tuple[str, str]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        op = func.__name__.split(".")[0]
        # Before the call: moving a meta tensor to the CPU raises, and must still be seen.
        target = kwargs.get("device")
        if target is not None and torch.device(target).type != self.expected.type:
            self.foreign.append((op, torch.device(target).type))
        out = func(*args, **kwargs)
        for tensor in (*_tensors(args), *_tensors(kwargs), *_tensors(out)):
            if tensor.device.type != self.expected.type and tensor.dim() > 0:
                self.foreign.append((op, tensor.device.type))
                break
        return out


def tensors_in(tree) -> list[torch.Tensor]:
    return list(_tensors(tree))


def check_on_meta(
    exercise: str,
    name: str,
    run: Callable[[], Any],
    inputs: str = "every input",
    hint: str = "make new tensors on the inputs' device, e.g. torch.zeros(..., device=X.device) or "
    "torch.zeros_like(H); never write 'cpu' or .cuda().",
    allowed: tuple[str, ...] = (),
) -> bool:
    """Run the student's code (`run`, with `inputs` on `meta`); fail if it reaches for another device.

    True when the code ran on `meta`; False when it could not for a reason of its own (an
    `if` on a value, `.item()`: meta tensors have none), in which case it is judged on the CPU
    only. `allowed` names operations that may leave `meta` (e.g. `_to_copy` to hand a number back).
    """
    log = ForeignDeviceLog(META)
    failure: CheckFailed | None = None
    result = None
    try:
        with log:
            result = run()
    except CheckFailed as exc:
        failure = exc
    foreign = [(op, where) for op, where in log.foreign if op not in allowed]
    if foreign or (failure is not None and "device" in failure.problem.lower()):
        op, where = foreign[0] if foreign else ("?", "another device")
        raise CheckFailed(
            exercise,
            f"`{name}` hard-codes a device: with {inputs} on the `meta` device (a stand-in "
            f"for any GPU) it made or used a tensor on {where} (in `{op}`).",
            hint,
        ) from None
    if failure is not None:
        return False
    stray = [t for t in tensors_in(result) if t.device.type != "meta"]
    if stray:
        raise CheckFailed(
            exercise,
            f"`{name}` returned a tensor on {stray[0].device} for inputs on another device.",
            "keep every result on the inputs' device.",
        )
    return True
