"""Checks for functions that make parameters or states (d2l's get_params / init_state)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from autograde.devices import META
from autograde.verdict import CheckFailed, calling


@dataclass(frozen=True)
class Expected:
    """One tensor a factory must return: its name, shape, and how it is initialised."""

    name: str
    shape: tuple[int, ...]
    init: str  # "normal(0, 0.01)" weights, "zeros"


def _shape(shape) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def _check_list(exercise: str, fn_name: str, got, expected: list[Expected], what: str):
    names = ", ".join(e.name for e in expected)
    if isinstance(got, torch.Tensor) or not isinstance(got, (list, tuple)):
        raise CheckFailed(exercise, f"`{fn_name}` must return a list of {len(expected)} tensors, got {type(got).__name__}.",
                          f"return [{names}].")
    if len(got) != len(expected):
        raise CheckFailed(exercise, f"`{fn_name}` returned {len(got)} {what}, expected {len(expected)}: [{names}].")
    for e, t in zip(expected, got):
        if not isinstance(t, torch.Tensor):
            raise CheckFailed(exercise, f"{e.name} is a {type(t).__name__}, not a tensor.")


def check_parameter_factory(exercise: str, fn_name: str, fn: Callable, sizes: tuple[int, int],
                            expected: list[Expected]) -> None:
    """Call `fn(*sizes, device)` and check shapes, initialisation, trainability and device."""
    with calling(exercise, fn_name):
        got = fn(*sizes, torch.device("cpu"))
    _check_list(exercise, fn_name, got, expected, "tensors")
    for e, t in zip(expected, got):
        if tuple(t.shape) != e.shape:
            hint = None
            if tuple(t.shape) == e.shape[::-1] and len(e.shape) == 2:
                hint = "it is transposed: d2l multiplies from the right, X @ W, so W has shape (inputs, outputs)."
            raise CheckFailed(exercise, f"{e.name} has shape {_shape(t.shape)}, expected {_shape(e.shape)} "
                              f"(for the sizes {sizes}).", hint)
        if t.dtype != torch.float32:
            raise CheckFailed(exercise, f"{e.name} is {t.dtype}; parameters are float32 (PyTorch's default).")
        if not t.requires_grad:
            raise CheckFailed(exercise, f"{e.name} is not trainable: requires_grad is False.",
                              "call param.requires_grad_(True) on every parameter.")
        if not t.is_leaf:
            raise CheckFailed(exercise, f"{e.name} is not a leaf tensor, so the optimizer never sees its gradient.",
                              "scale first, then set requires_grad: (torch.randn(...) * 0.01).requires_grad_(True).")
    seen: dict[int, str] = {}
    for e, t in zip(expected, got):
        if t.data_ptr() in seen and t.numel() > 0:
            raise CheckFailed(exercise, f"{e.name} and {seen[t.data_ptr()]} are the same tensor.",
                              "make each parameter separately: every gate needs its own weights.")
        seen[t.data_ptr()] = e.name
    for e, t in zip(expected, got):
        t = t.detach()
        if e.init == "zeros" and not torch.all(t == 0):
            raise CheckFailed(exercise, f"{e.name} is not zero; biases start at zero.", "use torch.zeros.")
        if e.init.startswith("normal"):
            mean, std = t.mean().item(), t.std().item()
            if abs(mean) > 0.003 and std < 0.006:
                raise CheckFailed(exercise, f"{e.name} has mean {mean:.4f}: it looks uniform, not normal.",
                                  "use torch.randn(...) * 0.01 (torch.rand is uniform on [0, 1)).")
            if not 0.006 < std < 0.014 or abs(mean) > 0.003:
                raise CheckFailed(exercise, f"{e.name} has mean {mean:.4f} and standard deviation {std:.4f}; "
                                  "expected weights drawn from normal(0, 0.01).", "torch.randn(shape) * 0.01.")
    _check_on_meta(exercise, fn_name, fn, sizes, [e.name for e in expected])
    print(f"\u2713 {exercise}: {len(expected)} {'tensor' if len(expected) == 1 else 'tensors'} with the right "
          f"shapes and initialisation, trainable, on the requested device.")


def check_state_factory(exercise: str, fn_name: str, fn: Callable, sizes: tuple[int, int],
                        names: tuple[str, ...]) -> None:
    """Call `fn(batch_size, num_hiddens, device)`: a tuple of zero (B, H) float32 tensors."""
    with calling(exercise, fn_name):
        got = fn(*sizes, torch.device("cpu"))
    if isinstance(got, torch.Tensor) or not isinstance(got, (tuple, list)):
        raise CheckFailed(exercise, f"`{fn_name}` must return a tuple ({', '.join(names)},), got {type(got).__name__}.",
                          f"return ({', '.join(names)},)" if len(names) == 1 else f"return ({', '.join(names)}).")
    expected = [Expected(n, tuple(sizes), "zeros") for n in names]
    _check_list(exercise, fn_name, got, expected, "states")
    for e, t in zip(expected, got):
        if tuple(t.shape) != e.shape:
            raise CheckFailed(exercise, f"{e.name} has shape {_shape(t.shape)}, expected (batch_size, num_hiddens) "
                              f"= {_shape(e.shape)}.")
        if t.dtype != torch.float32:
            raise CheckFailed(exercise, f"{e.name} is {t.dtype}, expected float32.")
        if not torch.all(t == 0):
            raise CheckFailed(exercise, f"{e.name} is not all zeros; every sequence starts from a zero state.")
    if len(got) > 1 and got[0].data_ptr() == got[1].data_ptr():
        raise CheckFailed(exercise, f"{names[0]} and {names[1]} are the same tensor.", "make two tensors.")
    _check_on_meta(exercise, fn_name, fn, sizes, list(names))
    what = (f"{names[0]} is a zero {_shape(sizes)} float32 tensor" if len(names) == 1 else
            f"{', '.join(names)} are zero {_shape(sizes)} float32 tensors")
    print(f"\u2713 {exercise}: {what} on the requested device.")


def _check_on_meta(exercise: str, fn_name: str, fn: Callable, sizes, names) -> None:
    """Ask for the `meta` device: a hard-coded device shows on any machine."""
    with calling(exercise, fn_name):
        got = fn(*sizes, META)
    for name, t in zip(names, got):
        if t.device.type != "meta":
            raise CheckFailed(exercise, f"asked for device {META}, {name} came back on {t.device}: the device is "
                              "hard-coded.", "pass device=device to every torch.zeros / torch.randn.")
