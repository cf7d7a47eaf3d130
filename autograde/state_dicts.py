"""Checks for an exercise that maps the course's parameters into a PyTorch layer's state dict.

The student's dict is loaded into a real layer (`nn.GRU`, `nn.LSTM`, ...), which must then
compute exactly what the course's independent from-scratch reference computes on the same
parameters. When it does not, a chapter's list of known wrong mappings (blocks in another
order, a bias counted twice...) is loaded the same way; the one that reproduces the
student's numbers names the mistake.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from autograde.engine import Check, plain, unplain
from autograde.mistakes import Mistake, diagnose
from autograde.recurrent import CASES, FLOAT64_TOL, Forward, RecurrentSpec, make_trial, same_result
from autograde.verdict import CheckFailed, calling, passed, quiet

KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")

Mistakes = Callable[[list], Iterable[Mistake]]  # params -> each wrong mapping, planted as a function of params


def planted(problem: str, hint: str | None, wrong: dict) -> Mistake:
    """A wrong mapping of the given parameters: what the student's function would have returned."""
    return Mistake(problem, hint, lambda params: wrong)


@dataclass(frozen=True)
class StateDictExercise:
    exercise: str  # e.g. "Exercise 4 (to_torch_gru_layout)"
    name: str  # the student's function
    layer: type[nn.RNNBase]
    blocks: int  # 3 for a GRU, 4 for an LSTM
    spec: RecurrentSpec  # makes the parameters the student's function receives
    reference: Forward  # the course's from-scratch layer on those parameters
    mistakes: Mistakes
    computes: str  # what a right dict makes the layer compute, e.g. "the course's LSTM"
    layout_hint: str  # how the blocks are stacked, for a wrong dict no mistake explains


def probe(ex: StateDictExercise, fn: Callable[[list], dict]) -> dict:
    """The student's state dict for the first case's parameters, as plain data."""
    params = [p.detach() for p in make_trial(ex.spec, CASES[0]).params]
    try:
        with calling(ex.exercise, ex.name):
            return {"got": plain(fn([p.clone() for p in params]))}
    except CheckFailed as failure:
        return {"failed": failure.problem, "hint": failure.hint}


def judge(ex: StateDictExercise, seen: dict) -> None:
    """Load the state dict into a real layer and compare it with the course's from-scratch reference."""
    from autograde import torch_layers  # judge only: the sandbox's probes import this module without it

    if "failed" in seen:
        raise CheckFailed(ex.exercise, seen["failed"], seen["hint"])
    got = unplain(seen["got"])
    case = CASES[0]
    V, H, n = case.vocab, case.hidden, ex.blocks
    layer = ex.layer.__name__
    trial = make_trial(ex.spec, case)
    params = [p.detach() for p in trial.params]
    if not isinstance(got, dict):
        raise CheckFailed(
            ex.exercise,
            f"`{ex.name}` must return a dict (a state dict), got {type(got).__name__}.",
            "return {'weight_ih_l0': ..., 'weight_hh_l0': ..., 'bias_ih_l0': ..., 'bias_hh_l0': ...}.",
        )
    missing = [k for k in KEYS if k not in got]
    extra = [k for k in got if k not in KEYS]
    if missing:
        hint = (
            f"nn.{layer} has two biases, both of shape ({n}H,)." if any(k.startswith("bias") for k in missing) else None
        )
        raise CheckFailed(ex.exercise, f"the state dict has no {', '.join(missing)}.", hint)
    if extra:
        raise CheckFailed(
            ex.exercise,
            f"nn.{layer}({V}, {H}) has no parameter named {', '.join(map(repr, extra))}.",
            f"its parameters are {', '.join(KEYS)}.",
        )
    shapes = {"weight_ih_l0": (n * H, V), "weight_hh_l0": (n * H, H), "bias_ih_l0": (n * H,), "bias_hh_l0": (n * H,)}
    for key, shape in shapes.items():
        t = got[key]
        if not isinstance(t, torch.Tensor):
            raise CheckFailed(ex.exercise, f"{key} is a {type(t).__name__}, not a tensor.")
        if tuple(t.shape) != shape:
            hint = (
                f"transpose it: nn.{layer} stores ({n}H, inputs) and computes x @ weight.T."
                if tuple(t.shape) == shape[::-1]
                else f"stack the {n} blocks along the first dimension."
            )
            raise CheckFailed(
                ex.exercise, f"{key} has shape {tuple(t.shape)}, expected {shape} for V={V}, H={H}.", hint
            )
    W_hq, b_q = params[-2], params[-1]
    # The reference is the independent from-scratch layer, not the grader's own mapping.
    with quiet(), torch.no_grad():
        expected = ex.reference(trial.inputs, trial.state, params)
        result = torch_layers.load(ex.layer, got, trial.inputs, trial.state, W_hq, b_q)
        if same_result(result, expected, FLOAT64_TOL):
            passed(ex.exercise, f"nn.{layer} with your state dict computes exactly {ex.computes} (float64).")
            return
        found = diagnose(
            list(ex.mistakes(params)),
            lambda m: same_result(
                result, torch_layers.load(ex.layer, m.plant(params), trial.inputs, trial.state, W_hq, b_q), FLOAT64_TOL
            ),
            combine=False,
        )
    if found:
        raise CheckFailed(ex.exercise, found.problem, found.hint)
    raise CheckFailed(ex.exercise, f"nn.{layer} with your state dict does not compute {ex.computes}.", ex.layout_hint)


def check(ex: StateDictExercise, fn: Callable[[list], dict]) -> None:
    judge(ex, probe(ex, fn))


def state_dict_check(ex: StateDictExercise, doc: str = "") -> Check:
    return Check(lambda fn: probe(ex, fn), lambda seen: judge(ex, seen), doc)
