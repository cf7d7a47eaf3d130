"""Gradient clipping by global norm, checked against `torch.nn.utils.clip_grad_norm_`.

d2l's signature: `grad_clipping(net, theta)`. `net` is an `nn.Module` (clip its parameters that
require a gradient) or a scratch model with a `.params` list. Concatenate every gradient into
one vector g and replace it, in place, by min(1, theta / ||g||) * g. A parameter whose .grad
is None has no gradient to clip and is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from autograde.devices import META, ForeignDeviceLog, cuda_device
from autograde.verdict import CheckFailed, calling, passed, quiet

EXERCISE = "Exercise 4 (grad_clipping)"
TOL = dict(rtol=1e-5, atol=1e-12)  # clip_grad_norm_ divides by norm + 1e-6


def _global_norm(grads):
    return torch.sqrt(sum((g.double() ** 2).sum() for g in grads))


def clip(grads: list, theta: float) -> list:
    """The reference: the clipped copies of `grads` (entries may be None)."""
    present = [g for g in grads if g is not None]
    if not present:
        return list(grads)
    factor = min(1.0, theta / float(_global_norm(present)))
    return [None if g is None else g * factor for g in grads]


# ---------------------------------------------------------------------------
# Mistakes: each maps (gradients, theta) to what a student's code would leave in p.grad


def _per_parameter(grads, theta):
    return [g * min(1.0, theta / float(g.norm())) for g in grads]


def _factor(fn):
    def planted(grads, theta):
        norm = float(_global_norm(grads))
        return [g * fn(norm, theta) for g in grads]
    return planted


def _sum_of_norms(grads, theta):
    norm = sum(float(g.norm()) for g in grads)
    return [g * min(1.0, theta / norm) for g in grads]


MISTAKES: tuple[tuple[str, str, Callable], ...] = (
    ("each parameter's gradient is clipped by its own norm; the norm must be global, over all gradients "
     "together.", "norm = sqrt(sum over ALL parameters of (p.grad ** 2).sum()), then scale every p.grad by "
     "theta / norm.", _per_parameter),
    ("the norm is the sum of the gradients' norms; the global norm is the square root of the sum of squares.",
     "norm = torch.sqrt(sum((p.grad ** 2).sum() for p in params)).", _sum_of_norms),
    ("the square root is missing: the gradients are scaled by theta / ||g||^2.",
     "norm = torch.sqrt(sum((p.grad ** 2).sum() for p in params)).",
     _factor(lambda n, t: min(1.0, t / n ** 2))),
    ("the gradients are always scaled to norm theta, even when their norm is below theta.",
     "clip only when the norm exceeds theta: factor = min(1, theta / norm).", _factor(lambda n, t: t / n)),
    ("the factor is upside down: the gradients are scaled by norm / theta.", "scale by theta / norm.",
     _factor(lambda n, t: n / t if n > t else 1.0)),
    ("theta is left out: the gradients are scaled by 1 / norm.", "scale by theta / norm.",
     _factor(lambda n, t: 1.0 / n if n > t else 1.0)),
    ("each element is clamped to [-theta, theta]; that is clipping by value, not by norm.",
     "compute the global norm and scale all the gradients by the same factor.",
     lambda grads, theta: [g.clamp(-theta, theta) for g in grads]),
)


# ---------------------------------------------------------------------------
# Test nets and cases


class ScratchNet:
    """Stands in for d2l.RNNModelScratch: not an nn.Module, parameters in `.params`."""

    def __init__(self, params):
        self.params = params


class ModuleNet(nn.Module):
    """A small module: a recurrent layer, an output layer, an unused and a frozen parameter."""

    def __init__(self, gen: torch.Generator, dtype=torch.float64):
        super().__init__()
        self.rnn = nn.RNN(3, 4).to(dtype)
        self.linear = nn.Linear(4, 3).to(dtype)
        self.unused = nn.Parameter(torch.zeros(2, dtype=dtype))  # never gets a .grad
        self.frozen = nn.Parameter(torch.ones(5, dtype=dtype), requires_grad=False)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=dtype))


@dataclass
class Case:
    label: str
    make: Callable[[], tuple[object, list, float]]  # -> (net, clipped params, theta)


def _grads(params, gen, scale, skip=()):
    for i, p in enumerate(params):
        p.grad = None if i in skip else torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale


def _scratch(seed, scale, theta, skip=(), dtype=torch.float64, shapes=((5, 4), (4, 4), (4,), (4, 5), (5,))):
    def make():
        gen = torch.Generator().manual_seed(seed)
        params = [torch.randn(s, generator=gen, dtype=dtype).requires_grad_(True) for s in shapes]
        _grads(params, gen, scale, skip)
        return ScratchNet(params), params, theta
    return make


def _module(seed, scale, theta):
    def make():
        gen = torch.Generator().manual_seed(seed)
        net = ModuleNet(gen)
        trainable = [p for n, p in net.named_parameters() if p.requires_grad and n != "unused"]
        _grads(trainable, gen, scale)
        net.frozen.grad = torch.full_like(net.frozen, 3.0)  # a gradient nobody should clip or count
        return net, [p for p in net.parameters() if p.requires_grad], theta
    return make


def _exactly_at_theta():
    params = [torch.zeros(2, dtype=torch.float64, requires_grad=True), torch.zeros(1, dtype=torch.float64,
                                                                                    requires_grad=True)]
    params[0].grad = torch.tensor([3.0, 0.0], dtype=torch.float64)
    params[1].grad = torch.tensor([4.0], dtype=torch.float64)  # ||g|| = 5 exactly
    return ScratchNet(params), params, 5.0


CASES = (
    Case("a scratch model whose gradients are too large (theta = 1, as in d2l)", _scratch(0, 2.0, 1.0)),
    Case("a scratch model whose gradients are too large (theta = 2.5)", _scratch(1, 3.0, 2.5)),
    Case("gradients whose norm is below theta (nothing to clip)", _scratch(2, 0.05, 1.0)),
    Case("gradients whose norm is exactly theta (nothing to clip)", _exactly_at_theta),
    Case("a parameter whose .grad is None", _scratch(3, 2.0, 1.0, skip=(1,))),
    Case("an nn.Module (clip the parameters that require a gradient)", _module(4, 2.0, 1.0)),
)


# ---------------------------------------------------------------------------
# The check


def _copies(tensors):
    return [None if t is None else t.detach().clone() for t in tensors]


def _same(got, want) -> bool:
    return all((g is None and w is None) or (g is not None and w is not None and g.shape == w.shape
                                              and torch.allclose(g.detach().cpu().double(), w.cpu().double(), **TOL))
               for g, w in zip(got, want))


def _all_params(net):
    return list(net.parameters()) if isinstance(net, nn.Module) else list(net.params)


def _run_case(fn, case: Case) -> None:
    net, clipped, theta = case.make()
    everything = _all_params(net)
    before_values = _copies(everything)
    before_grads = _copies([p.grad for p in everything])
    with quiet():  # the ground truth: PyTorch's own clipping, on copies
        copies = [p.detach().clone().requires_grad_(True) for p in clipped]
        for c, p in zip(copies, clipped):
            c.grad = None if p.grad is None else p.grad.detach().clone()
        torch.nn.utils.clip_grad_norm_(copies, theta)
        truth = [c.grad for c in copies]
    try:
        with calling(EXERCISE, "grad_clipping"):
            fn(net, theta)
    except CheckFailed as failure:
        if any(g is None for g in before_grads) and "NoneType" in failure.problem:
            raise CheckFailed(EXERCISE, f"on {case.label}, `grad_clipping` crashed on a parameter without a gradient "
                              f"({failure.problem.split(' raised ', 1)[-1]}).",
                              "skip the parameters whose .grad is None: a parameter that did not take part in the "
                              "loss has none.") from None
        raise
    after_grads = [p.grad for p in everything]
    ids = {id(p) for p in clipped}
    expected = [truth[[id(q) for q in clipped].index(id(p))] if id(p) in ids else g
                for p, g in zip(everything, before_grads)]
    if not _same([p.detach() for p in everything], before_values):
        raise CheckFailed(EXERCISE, f"on {case.label}, the parameters themselves changed.",
                          "scale p.grad, not p (or p.data): the optimizer updates the parameters afterwards.")
    for p, g, b in zip(everything, after_grads, before_grads):
        if b is None and g is not None:
            raise CheckFailed(EXERCISE, f"on {case.label}, a parameter whose .grad was None got a gradient.",
                              "skip parameters whose .grad is None.")
    if _same(after_grads, expected):
        return
    if isinstance(net, nn.Module):
        frozen = net.frozen
        frozen_before = next(b for p, b in zip(everything, before_grads) if p is frozen)
        if not torch.equal(frozen.grad, frozen_before):
            raise CheckFailed(EXERCISE, f"on {case.label}, the gradient of a parameter with requires_grad=False "
                              "was clipped too.", "for an nn.Module clip [p for p in net.parameters() if "
                              "p.requires_grad].")
        norm = float(_global_norm([b for b in before_grads if b is not None]))  # the frozen one included
        factor = min(1.0, theta / norm)
        trainable = [(g, b) for p, g, b in zip(everything, after_grads, before_grads) if id(p) in ids and b is not None]
        if _same([g for g, _ in trainable], [b * factor for _, b in trainable]):
            raise CheckFailed(EXERCISE, f"on {case.label}, the norm counts a parameter with requires_grad=False.",
                              "for an nn.Module use [p for p in net.parameters() if p.requires_grad].")
    clipped_before = [b for p, b in zip(everything, before_grads) if id(p) in ids and b is not None]
    clipped_after = [g for p, g, b in zip(everything, after_grads, before_grads) if id(p) in ids and b is not None]
    if _same(clipped_after, clipped_before):
        raise CheckFailed(EXERCISE, f"on {case.label}, the gradients were not changed: p.grad still holds the "
                          "unclipped values.", "d2l's optimizer reads p.grad after the call: change it in place, "
                          "e.g. p.grad *= factor (or p.grad.mul_(factor)).")
    for problem, hint, mistake in MISTAKES:
        with quiet():
            planted = mistake(clipped_before, theta)
        if _same(clipped_after, planted):
            raise CheckFailed(EXERCISE, f"on {case.label}: {problem}", hint)
    got_norm = float(_global_norm([g for g in clipped_after if g is not None]))
    want_norm = float(_global_norm([g for g, p in zip(expected, everything) if id(p) in ids and g is not None]))
    raise CheckFailed(EXERCISE, f"on {case.label}, the gradients differ from torch.nn.utils.clip_grad_norm_'s "
                      f"(global norm after clipping {got_norm:.4g}, expected {want_norm:.4g}).",
                      "g <- min(1, theta / ||g||) * g, with ||g|| the norm of all gradients together.")


def _check_meta(fn) -> None:
    _net, params, theta = _scratch(5, 2.0, 1.0, dtype=torch.float32)()
    meta = [p.detach().to(META).requires_grad_(True) for p in params]
    for p in meta:
        p.grad = torch.empty(p.shape, device=META)
    log = ForeignDeviceLog(META)
    try:
        with log, calling(EXERCISE, "grad_clipping"):
            fn(ScratchNet(meta), theta)
    except CheckFailed:
        pass  # an `if norm > theta:` needs values, which meta tensors lack: judged on the CPU
    foreign = [(op, where) for op, where in log.foreign if op != "_to_copy"]  # moving a result out is fine
    if foreign:
        op, where = foreign[0]
        raise CheckFailed(EXERCISE, f"`grad_clipping` hard-codes a device: with every gradient on the `meta` device "
                          f"(a stand-in for any GPU) it made or used a tensor on {where} (in `{op}`).",
                          "compute on the gradients' own device; never write 'cpu' or .cuda().")


def _check_cuda(fn, device) -> None:
    for case in CASES[:3]:
        _net, clipped, theta = case.make()
        want = clip([p.grad for p in clipped], theta)
        gpu = [p.detach().to(device, torch.float32).requires_grad_(True) for p in clipped]
        for p, q in zip(gpu, clipped):
            p.grad = None if q.grad is None else q.grad.to(device, torch.float32)
        with calling(EXERCISE, "grad_clipping"):
            fn(ScratchNet(gpu), theta)
        if not all((p.grad is None and w is None) or torch.allclose(p.grad.double().cpu(), w, rtol=1e-4, atol=1e-6)
                   for p, w in zip(gpu, want)):
            raise CheckFailed(EXERCISE, f"on CUDA in float32, on {case.label}, the gradients differ from the right "
                              "ones although they match on the CPU.")


def check(fn) -> None:
    for case in CASES:
        _run_case(fn, case)
    _check_meta(fn)
    gpu = cuda_device()
    where = "on the CPU and on CUDA" if gpu is not None else "on the CPU (and no hard-coded device, on `meta`)"
    if gpu is not None:
        _check_cuda(fn, gpu)
    passed(EXERCISE, f"the gradients match torch.nn.utils.clip_grad_norm_ ({len(CASES)} cases: clipping, no "
                     f"clipping, norm exactly theta, a None gradient, an nn.Module), changed in place, {where}.")
