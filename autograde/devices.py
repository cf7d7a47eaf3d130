"""Which devices a check runs on, and how to catch code that hard-codes one.

On a machine without a GPU, code that writes `device='cpu'` or calls `.cuda()`
would pass every CPU check and then break on the grader's GPU. Running it on
the `meta` device (tensors with shapes but no data) exposes that anywhere: every
tensor the code makes or uses must stay on `meta`.
"""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode

META = torch.device("meta")


def cuda_device() -> torch.device | None:
    """The GPU to check on, or None where there is none."""
    return torch.device("cuda") if torch.cuda.is_available() else None


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
