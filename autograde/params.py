"""Checks for functions that make parameters or states (d2l's get_params / init_state)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from autograde.devices import META
from autograde.engine import Check
from autograde.verdict import CheckFailed, calling, passed


@dataclass(frozen=True)
class Expected:
    """One tensor a factory must return: its name, shape, and how it is initialised."""

    name: str
    shape: tuple[int, ...]
    init: str  # "normal(0, 0.01)" weights, "zeros"


def _shape(shape) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


# ---------------------------------------------------------------------------
# The probe: calls the factory (on the CPU and on `meta`) and describes what came back as plain data


def describe(got) -> dict:
    """What a factory returned: its type and, for a list or tuple, each item's type, shape, dtype,
    trainability, device, values (off `meta`) and which earlier item it is the same tensor as."""
    if isinstance(got, torch.Tensor) or not isinstance(got, (list, tuple)):
        return {"type": type(got).__name__}
    items: list[dict] = []
    seen: dict[int, int] = {}
    for i, t in enumerate(got):
        if not isinstance(t, torch.Tensor):
            items.append({"type": type(t).__name__})
            continue
        same = seen.get(t.data_ptr()) if t.numel() > 0 and t.device.type != "meta" else None
        seen.setdefault(t.data_ptr(), i)
        items.append(
            {
                "type": "Tensor",
                "shape": tuple(t.shape),
                "dtype": str(t.dtype),
                "device": t.device.type,
                "requires_grad": bool(t.requires_grad),
                "is_leaf": bool(t.is_leaf),
                "same_as": same,
                "value": None if t.device.type == "meta" else t.detach().cpu().clone(),
            }
        )
    return {"type": type(got).__name__, "items": items}


def _failure(failure: CheckFailed) -> dict:
    return {"failed": failure.problem, "hint": failure.hint}


def probe(exercise: str, fn_name: str, fn: Callable, sizes: tuple[int, int]) -> dict:
    """Call `fn(*sizes, device)` on the CPU, then on `meta` (a hard-coded device shows anywhere)."""
    seen: dict = {}
    for where, device in (("cpu", torch.device("cpu")), ("meta", META)):
        try:
            with calling(exercise, fn_name):
                seen[where] = describe(fn(*sizes, device))
        except CheckFailed as failure:
            seen[where] = _failure(failure)
            break
    return seen


# ---------------------------------------------------------------------------
# The judges


def _raise_if_failed(exercise: str, record) -> None:
    if isinstance(record, dict) and "failed" in record:
        raise CheckFailed(exercise, record["failed"], record["hint"])


def _check_list(exercise: str, fn_name: str, got: dict, expected: list[Expected], what: str) -> list[dict]:
    names = ", ".join(e.name for e in expected)
    if "items" not in got:
        raise CheckFailed(
            exercise,
            f"`{fn_name}` must return a list of {len(expected)} tensors, got {got['type']}.",
            f"return [{names}].",
        )
    items = got["items"]
    if len(items) != len(expected):
        raise CheckFailed(exercise, f"`{fn_name}` returned {len(items)} {what}, expected {len(expected)}: [{names}].")
    for e, t in zip(expected, items):
        if t["type"] != "Tensor":
            raise CheckFailed(exercise, f"{e.name} is a {t['type']}, not a tensor.")
    return items


def _check_devices(exercise: str, seen: dict, names: list[str]) -> None:
    """Asked for the `meta` device, every tensor must come back there."""
    _raise_if_failed(exercise, seen.get("meta"))
    for name, t in zip(names, seen["meta"].get("items", [])):
        if t.get("device") != "meta":
            raise CheckFailed(
                exercise,
                f"asked for device {META}, {name} came back on {t.get('device')}: the device is hard-coded.",
                "pass device=device to every torch.zeros / torch.randn.",
            )


def judge_parameter_factory(
    exercise: str, fn_name: str, seen: dict, sizes: tuple[int, int], expected: list[Expected]
) -> None:
    _raise_if_failed(exercise, seen["cpu"])
    items = _check_list(exercise, fn_name, seen["cpu"], expected, "tensors")
    for e, t in zip(expected, items):
        if tuple(t["shape"]) != e.shape:
            hint = None
            if tuple(t["shape"]) == e.shape[::-1] and len(e.shape) == 2:
                hint = "it is transposed: d2l multiplies from the right, X @ W, so W has shape (inputs, outputs)."
            raise CheckFailed(
                exercise,
                f"{e.name} has shape {_shape(t['shape'])}, expected {_shape(e.shape)} (for the sizes {sizes}).",
                hint,
            )
        if t["dtype"] != str(torch.float32):
            raise CheckFailed(exercise, f"{e.name} is {t['dtype']}; parameters are float32 (PyTorch's default).")
        if not t["requires_grad"]:
            raise CheckFailed(
                exercise,
                f"{e.name} is not trainable: requires_grad is False.",
                "call param.requires_grad_(True) on every parameter.",
            )
        if not t["is_leaf"]:
            raise CheckFailed(
                exercise,
                f"{e.name} is not a leaf tensor, so the optimizer never sees its gradient.",
                "scale first, then set requires_grad: (torch.randn(...) * 0.01).requires_grad_(True).",
            )
    for e, t in zip(expected, items):
        if t["same_as"] is not None:
            raise CheckFailed(
                exercise,
                f"{e.name} and {expected[t['same_as']].name} are the same tensor.",
                "make each parameter separately: every gate needs its own weights.",
            )
    for e, t in zip(expected, items):
        value = t["value"]
        if e.init == "zeros" and not torch.all(value == 0):
            raise CheckFailed(exercise, f"{e.name} is not zero; biases start at zero.", "use torch.zeros.")
        if e.init.startswith("normal"):
            mean, std = value.mean().item(), value.std().item()
            if abs(mean) > 0.003 and std < 0.006:
                raise CheckFailed(
                    exercise,
                    f"{e.name} has mean {mean:.4f}: it looks uniform, not normal.",
                    "use torch.randn(...) * 0.01 (torch.rand is uniform on [0, 1)).",
                )
            if not 0.006 < std < 0.014 or abs(mean) > 0.003:
                raise CheckFailed(
                    exercise,
                    f"{e.name} has mean {mean:.4f} and standard deviation {std:.4f}; "
                    "expected weights drawn from normal(0, 0.01).",
                    "torch.randn(shape) * 0.01.",
                )
    _check_devices(exercise, seen, [e.name for e in expected])
    passed(
        exercise,
        f"{len(expected)} {'tensor' if len(expected) == 1 else 'tensors'} with the right shapes and "
        "initialisation, trainable, on the requested device.",
    )


def judge_state_factory(
    exercise: str, fn_name: str, seen: dict, sizes: tuple[int, int], names: tuple[str, ...]
) -> None:
    _raise_if_failed(exercise, seen["cpu"])
    got = seen["cpu"]
    if "items" not in got:
        raise CheckFailed(
            exercise,
            f"`{fn_name}` must return a tuple ({', '.join(names)},), got {got['type']}.",
            f"return ({', '.join(names)},)" if len(names) == 1 else f"return ({', '.join(names)}).",
        )
    expected = [Expected(n, tuple(sizes), "zeros") for n in names]
    items = _check_list(exercise, fn_name, got, expected, "states")
    for e, t in zip(expected, items):
        if tuple(t["shape"]) != e.shape:
            raise CheckFailed(
                exercise,
                f"{e.name} has shape {_shape(t['shape'])}, expected (batch_size, num_hiddens) = {_shape(e.shape)}.",
            )
        if t["dtype"] != str(torch.float32):
            raise CheckFailed(exercise, f"{e.name} is {t['dtype']}, expected float32.")
        if not torch.all(t["value"] == 0):
            raise CheckFailed(exercise, f"{e.name} is not all zeros; every sequence starts from a zero state.")
    if len(items) > 1 and items[1]["same_as"] == 0:
        raise CheckFailed(exercise, f"{names[0]} and {names[1]} are the same tensor.", "make two tensors.")
    _check_devices(exercise, seen, list(names))
    what = (
        f"{names[0]} is a zero {_shape(sizes)} float32 tensor"
        if len(names) == 1
        else f"{', '.join(names)} are zero {_shape(sizes)} float32 tensors"
    )
    passed(exercise, f"{what} on the requested device.")


# ---------------------------------------------------------------------------
# The self-checks: probe and judge in one process


def check_parameter_factory(
    exercise: str, fn_name: str, fn: Callable, sizes: tuple[int, int], expected: list[Expected]
) -> None:
    """Call `fn(*sizes, device)` and check shapes, initialisation, trainability and device."""
    judge_parameter_factory(exercise, fn_name, probe(exercise, fn_name, fn, sizes), sizes, expected)


def check_state_factory(
    exercise: str, fn_name: str, fn: Callable, sizes: tuple[int, int], names: tuple[str, ...]
) -> None:
    """Call `fn(batch_size, num_hiddens, device)`: a tuple of zero (B, H) float32 tensors."""
    judge_state_factory(exercise, fn_name, probe(exercise, fn_name, fn, sizes), sizes, names)


def parameter_factory_check(
    exercise: str, fn_name: str, sizes: tuple[int, int], expected: list[Expected], doc: str = ""
) -> Check:
    return Check(
        lambda fn: probe(exercise, fn_name, fn, sizes),
        lambda seen: judge_parameter_factory(exercise, fn_name, seen, sizes, expected),
        doc,
    )


def state_factory_check(
    exercise: str, fn_name: str, sizes: tuple[int, int], names: tuple[str, ...], doc: str = ""
) -> Check:
    return Check(
        lambda fn: probe(exercise, fn_name, fn, sizes),
        lambda seen: judge_state_factory(exercise, fn_name, seen, sizes, names),
        doc,
    )
