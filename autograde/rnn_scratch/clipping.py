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

from autograde import engine, judge_only, seeds
from autograde.verdict import CheckFailed

EXERCISE = "Exercise 4 (grad_clipping)"
TOL = dict(rtol=1e-5, atol=1e-12)  # clip_grad_norm_ divides by norm + 1e-6


def _global_norm(grads):
    return torch.sqrt(sum((g.double() ** 2).sum() for g in grads))


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
        gen = seeds.generator(seed)
        params = [torch.randn(s, generator=gen, dtype=dtype).requires_grad_(True) for s in shapes]
        _grads(params, gen, scale, skip)
        return ScratchNet(params), params, theta

    return make


def _module(seed, scale, theta):
    def make():
        gen = seeds.generator(seed)
        net = ModuleNet(gen)
        trainable = [p for n, p in net.named_parameters() if p.requires_grad and n != "unused"]
        _grads(trainable, gen, scale)
        net.frozen.grad = torch.full_like(net.frozen, 3.0)  # a gradient nobody should clip or count
        return net, [p for p in net.parameters() if p.requires_grad], theta

    return make


def _exactly_at_theta():
    params = [
        torch.zeros(2, dtype=torch.float64, requires_grad=True),
        torch.zeros(1, dtype=torch.float64, requires_grad=True),
    ]
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
# The check: on the engine's skeleton. What is compared is every parameter's value and
# gradient after the call, so that a changed parameter or a gradient given to a parameter
# that had none shows as plainly as a wrong factor.


def _copies(tensors):
    return [None if t is None else t.detach().clone() for t in tensors]


def _same(got, want) -> bool:
    return all(
        (g is None and w is None)
        or (
            g is not None
            and w is not None
            and g.shape == w.shape
            and torch.allclose(g.detach().cpu().double(), w.cpu().double(), **TOL)
        )
        for g, w in zip(got, want)
    )


def _all_params(net):
    return list(net.parameters()) if isinstance(net, nn.Module) else list(net.params)


def _clipped(net):
    """The parameters d2l's grad_clipping clips: those that require a gradient."""
    return [p for p in _all_params(net) if p.requires_grad]


def _run(f, args) -> dict:
    """What a clipping function left behind, beside what it was given (plain data)."""
    net, theta = args
    everything = _all_params(net)
    before_values, before_grads = _copies(everything), _copies([p.grad for p in everything])
    ids = {id(p) for p in _clipped(net)}
    f(net, theta)
    frozen = next((i for i, p in enumerate(everything) if not p.requires_grad), None)
    return {
        "values": _copies(everything),
        "grads": _copies([p.grad for p in everything]),
        "before_values": before_values,
        "before_grads": before_grads,
        "clipped": [id(p) in ids and g is not None for p, g in zip(everything, before_grads)],  # should be clipped
        "frozen": frozen,
        "theta": theta,
    }


def _same_after(got: dict, want: dict) -> bool:
    return _same(got["values"], want["values"]) and _same(got["grads"], want["grads"])


def _case(label, make) -> engine.Case:
    def args(device, dtype):
        net, _, theta = make()
        if device.type != "cpu" or dtype is not None:
            params = [p.detach().to(device, dtype or p.dtype).requires_grad_(p.requires_grad) for p in _all_params(net)]
            for p, q in zip(params, _all_params(net)):
                p.grad = (
                    None
                    if q.grad is None
                    else (
                        torch.empty(p.shape, device=device)
                        if device.type == "meta"
                        else q.grad.to(device, dtype or q.grad.dtype)
                    )
                )
            net = ScratchNet(params)
        return net, theta

    return engine.Case(f"on {label}", args, on_devices=not label.startswith("an nn.Module"))


def _cases():
    return [_case(c.label, c.make) for c in CASES]


def _suspect(case: engine.Case, got: dict, want: dict, observed) -> CheckFailed | None:
    """What the gradients' shape and the untouched tensors tell before any mistake is tried."""
    if not _same(got["values"], got["before_values"]):
        return CheckFailed(
            EXERCISE,
            f"{case.label}, the parameters themselves changed.",
            "scale p.grad, not p (or p.data): the optimizer updates the parameters afterwards.",
        )
    if any(b is None and g is not None for g, b in zip(got["grads"], got["before_grads"])):
        return CheckFailed(
            EXERCISE,
            f"{case.label}, a parameter whose .grad was None got a gradient.",
            "skip parameters whose .grad is None.",
        )
    if got["frozen"] is not None:
        i = got["frozen"]
        if not torch.equal(got["grads"][i], got["before_grads"][i]):
            return CheckFailed(
                EXERCISE,
                f"{case.label}, the gradient of a parameter with requires_grad=False was clipped too.",
                "for an nn.Module clip [p for p in net.parameters() if p.requires_grad].",
            )
        norm = float(_global_norm([b for b in got["before_grads"] if b is not None]))  # the frozen one included
        factor = min(1.0, got["theta"] / norm)
        pairs = [(g, b) for g, b, c in zip(got["grads"], got["before_grads"], got["clipped"]) if c]
        if _same([g for g, _ in pairs], [b * factor for _, b in pairs]):
            return CheckFailed(
                EXERCISE,
                f"{case.label}, the norm counts a parameter with requires_grad=False.",
                "for an nn.Module use [p for p in net.parameters() if p.requires_grad].",
            )
    after = [g for g, c in zip(got["grads"], got["clipped"]) if c]
    before = [b for b, c in zip(got["before_grads"], got["clipped"]) if c]
    if _same(after, before):
        return CheckFailed(
            EXERCISE,
            f"{case.label}, the gradients were not changed: p.grad still holds the unclipped values.",
            "d2l's optimizer reads p.grad after the call: change it in place, "
            "e.g. p.grad *= factor (or p.grad.mul_(factor)).",
        )
    return None


def _explain(case: engine.Case, got: dict, want: dict) -> CheckFailed:
    got_norm = float(_global_norm([g for g, c in zip(got["grads"], got["clipped"]) if c]))
    want_norm = float(_global_norm([g for g, c in zip(want["grads"], want["clipped"]) if c]))
    return CheckFailed(
        EXERCISE,
        f"{case.label}, the gradients differ from torch.nn.utils.clip_grad_norm_'s "
        f"(global norm after clipping {got_norm:.4g}, expected {want_norm:.4g}).",
        "g <- min(1, theta / ||g||) * g, with ||g|| the norm of all gradients together.",
    )


def _crash(case: engine.Case, args: tuple, exc: Exception) -> CheckFailed | None:
    """A crash on a missing gradient, named (calling()'s verdict would only say TypeError)."""
    if (
        isinstance(exc, (TypeError, AttributeError))
        and "NoneType" in str(exc)
        and any(p.grad is None for p in _all_params(args[0]))
    ):
        return CheckFailed(
            EXERCISE,
            f"{case.label}, `grad_clipping` crashed on a parameter without a gradient ({type(exc).__name__}: {exc}).",
            "skip the parameters whose .grad is None: a parameter that did not take part in the loss has none.",
        )
    return None


CLIPPING = engine.Exercise(
    label=EXERCISE,
    name="grad_clipping",
    reference=judge_only.function("autograde.rnn_scratch.references:clip_in_place"),
    cases=_cases,
    same=_same_after,
    explain=_explain,
    mistakes=judge_only.sequence("autograde.rnn_scratch.references:CLIPPING_MISTAKES"),
    run=_run,
    suspect=_suspect,
    crash=_crash,
    combine=False,
    meta_inputs="every gradient",
    meta_allowed=("_to_copy",),  # float(norm) for the factor hands a number back to the CPU
    meta_hint="compute on the gradients' own device; never write 'cpu' or .cuda().",
    same_float32=lambda a, b: _same_loose(a, b),
)


def _same_loose(got: dict, want: dict) -> bool:
    return all(
        (g is None and w is None) or torch.allclose(g.double().cpu(), w.double().cpu(), rtol=1e-4, atol=1e-6)
        for g, w in zip(got["grads"], want["grads"])
    )


check = engine.exercise_check(
    CLIPPING,
    f"the gradients match torch.nn.utils.clip_grad_norm_ ({len(CASES)} cases: "
    "clipping, no clipping, norm exactly theta, a None gradient, an nn.Module), changed in place",
    "Exercise 4: against torch.nn.utils.clip_grad_norm_, in place, None gradients skipped.",
)
