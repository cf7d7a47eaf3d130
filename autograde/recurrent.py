"""Checks for a from-scratch recurrent network in d2l's form.

d2l's `RNNModelScratch` calls `forward_fn(inputs, state, params)` with
inputs (T, B, V) one-hot, state a tuple of (B, H) tensors and params a list;
it expects `(outputs (T*B, V), new_state)` with the time steps concatenated
along dim 0. These checks hold a student's function to a ground truth (PyTorch's
own layer with the same weights) on several shapes and seeds:

- forward: outputs and final state, in float64 on the CPU;
- gradients: the gradient of every parameter, same setting;
- devices: on the `meta` device (catches hard-coded devices anywhere) and, where
  there is a GPU, on CUDA in float32 against the float64 CPU ground truth.

When the values are wrong, the exercise's known mistakes (`autograde.mistakes`: the
reference with a planted bug, alone or two at once) are run on the same input; the one
that reproduces the student's numbers names the mistake.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from autograde import seeds
from autograde.devices import (
    FLOAT32_TOL,
    META,
    accelerator,
    check_on_meta,
    judged_accelerator,
    tensors_in,
    where_checked,
)
from autograde.engine import Check, plain, unplain
from autograde.mistakes import Mistake, diagnose
from autograde.verdict import CheckFailed, calling, passed, quiet

Params = list
State = tuple
Forward = Callable[[torch.Tensor, State, Params], tuple]


@dataclass(frozen=True)
class Case:
    """One test input. V != H in most cases so that transposes show up."""

    steps: int  # T
    batch: int  # B
    vocab: int  # V
    hidden: int  # H
    seed: int


CASES = (Case(5, 3, 7, 4, 0), Case(1, 2, 5, 6, 1), Case(6, 2, 8, 8, 2))

FLOAT64_TOL = dict(rtol=1e-7, atol=1e-9)


def d2l_rows(outputs: Sequence[torch.Tensor], time_major: bool = True) -> torch.Tensor:
    """d2l's (T*B, V) outputs from the per-step (B, V) blocks, step t of sequence b at row t*B + b.

    time_major=False plants a common mistake: batch-major rows, step t of sequence b at row b*T + t.
    """
    Y = torch.stack(list(outputs))  # (T, B, V)
    return Y.reshape(-1, Y.shape[-1]) if time_major else Y.transpose(0, 1).reshape(-1, Y.shape[-1])


def state_mistakes(flaw: Callable[..., Mistake], state_names: Sequence[str]) -> list[Mistake]:
    """The slips every chapter's loop can make with the state it is given, worded once.

    `flaw(problem, hint, **options)` plants them in the chapter's reference, which takes
    `use_given_state=False` (start from zeros) and `returned="initial"`.
    """
    unpack = f"{state_names[0]}," if len(state_names) == 1 else ", ".join(state_names)
    return [
        flaw(
            "the state you are given is ignored: the steps start from zeros.",
            f"unpack it, `{unpack} = state`: d2l carries the state from one minibatch to the next.",
            use_given_state=False,
        ),
        flaw(
            "the returned state is the initial one, not the last step's.",
            f"return the {' and '.join(state_names)} computed at the last time step.",
            returned="initial",
        ),
    ]


# The mistake `d2l_rows(..., time_major=False)` plants, in every chapter's words.
BATCH_MAJOR = (
    "the outputs are batch-major: row b*T + t holds step t of sequence b.",
    "d2l expects time-major rows (step t of sequence b at row t*B + b): torch.cat(outputs, dim=0) over the steps.",
)


@dataclass
class RecurrentSpec:
    """What the generic checks need to know about one exercise."""

    exercise: str  # shown in verdicts, e.g. "Exercise 3 (lstm)"
    name: str  # the student's function name
    truth_name: str  # e.g. "nn.LSTM"
    state_names: tuple[str, ...]  # e.g. ("H", "C")
    param_names: tuple[str, ...]
    make_params: Callable[[Case, torch.dtype, torch.device, torch.Generator], Params]
    truth: Forward  # differentiable ground truth on the student's parameter layout
    mistakes: Sequence[Mistake] = field(default_factory=tuple)  # each plants a wrong forward
    gradient_mistakes: Sequence[Mistake] = field(default_factory=tuple)  # right outputs, wrong gradients


@dataclass
class Trial:
    """One case made concrete: the inputs, a state and parameters (leaves)."""

    case: Case
    inputs: torch.Tensor
    state: State
    params: Params

    def fresh_params(self) -> Params:
        return [p.detach().clone().requires_grad_(True) for p in self.params]

    def to(self, device: torch.device, dtype: torch.dtype) -> Trial:
        """The same numbers elsewhere. (Drawing again in another dtype would give other numbers.)"""
        return Trial(
            self.case,
            self.inputs.to(device, dtype),
            tuple(s.to(device, dtype) for s in self.state),
            [p.detach().to(device, dtype).requires_grad_(True) for p in self.params],
        )


def make_trial(spec: RecurrentSpec, case: Case, dtype=torch.float64, device=torch.device("cpu")) -> Trial:
    """The case's inputs, state and parameters: drawn in float64, then moved to `device` and `dtype`."""
    gen = seeds.generator(case.seed)
    tokens = torch.randint(case.vocab, (case.steps, case.batch), generator=gen)
    inputs = torch.nn.functional.one_hot(tokens, case.vocab).to(torch.float64)
    state = tuple(torch.randn(case.batch, case.hidden, generator=gen, dtype=torch.float64) for _ in spec.state_names)
    params = [p.to(torch.float64) for p in spec.make_params(case, torch.float64, torch.device("cpu"), gen)]
    return Trial(case, inputs, state, params).to(device, dtype)


# ---------------------------------------------------------------------------
# Calling the student's function and checking what comes back


def _call(spec: RecurrentSpec, fn: Forward, trial: Trial, params: Params):
    state = tuple(s.clone() for s in trial.state)
    with calling(spec.exercise, spec.name):
        result = fn(trial.inputs.clone(), state, params)
    return result


def _shape(t) -> str:
    return "(" + ", ".join(str(n) for n in t.shape) + ")"


def _unpack(spec: RecurrentSpec, result, trial: Trial) -> tuple[torch.Tensor, tuple]:
    """Check the structure, shapes and dtype of `(outputs, state)`; return them."""
    c, ex, n = trial.case, spec.exercise, spec.name
    names = ", ".join(spec.state_names)
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise CheckFailed(
            ex,
            f"`{n}` must return a pair `(outputs, ({names},))`, got {type(result).__name__}.",
            f"end with `return torch.cat(outputs, dim=0), ({names},)`.",
        )
    outputs, state = result
    if not isinstance(outputs, torch.Tensor):
        raise CheckFailed(
            ex,
            f"the outputs must be one tensor, got {type(outputs).__name__}.",
            "concatenate the per-step outputs: torch.cat(outputs, dim=0).",
        )
    if not (
        isinstance(state, (tuple, list))
        and len(state) == len(spec.state_names)
        and all(isinstance(s, torch.Tensor) for s in state)
    ):
        raise CheckFailed(
            ex,
            f"the returned state must be a tuple ({names}) of {len(spec.state_names)} tensor(s).",
            f"return `outputs, ({names},)`." if len(spec.state_names) == 1 else f"return `outputs, ({names})`.",
        )
    T, B, V, H = c.steps, c.batch, c.vocab, c.hidden
    if tuple(outputs.shape) != (T * B, V):
        if tuple(outputs.shape) == (T, B, V):
            problem, hint = (
                f"outputs have shape {_shape(outputs)} = (T, B, V); d2l expects (T*B, V).",
                "concatenate the steps: torch.cat(outputs, dim=0), not torch.stack.",
            )
        elif tuple(outputs.shape) == (T * B, H) and H != V:
            problem, hint = (
                f"outputs have shape {_shape(outputs)} = (T*B, H): the output layer is missing.",
                "each step's output is Y = H @ W_hq + b_q, of width V.",
            )
        elif tuple(outputs.shape) == (B * T, V) or tuple(outputs.shape) == (V, T * B):
            problem, hint = (
                f"outputs have shape {_shape(outputs)}, expected (T*B, V) = ({T * B}, {V}).",
                "one (B, V) block per step, stacked along dim 0.",
            )
        else:
            problem, hint = (
                f"outputs have shape {_shape(outputs)}, expected (T*B, V) = ({T * B}, {V}) "
                f"for T={T} steps, batch B={B}, vocabulary V={V}.",
                None,
            )
        raise CheckFailed(ex, problem, hint)
    for label, s in zip(spec.state_names, state):
        if tuple(s.shape) != (B, H):
            raise CheckFailed(ex, f"the returned {label} has shape {_shape(s)}, expected (B, H) = ({B}, {H}).")
    for label, t in (("outputs", outputs), *zip(spec.state_names, state)):
        if t.dtype != trial.inputs.dtype:
            raise CheckFailed(
                ex,
                f"the {label} are {t.dtype} although inputs and parameters are {trial.inputs.dtype}.",
                "a tensor made without dtype= is float32: make new tensors like the inputs "
                "(e.g. torch.zeros_like) instead.",
            )
    return outputs, tuple(state)


def _close(a: torch.Tensor, b: torch.Tensor, tol) -> bool:
    return a.shape == b.shape and torch.allclose(a.detach().to(b.dtype).cpu(), b.detach().cpu(), **tol)


def same_result(a, b, tol) -> bool:
    (ya, sa), (yb, sb) = a, b
    return _close(ya, yb, tol) and len(sa) == len(sb) and all(_close(x, y, tol) for x, y in zip(sa, sb))


def _first_bad_step(outputs, expected, case: Case, tol) -> int:
    per_step = zip(outputs.detach().cpu().split(case.batch), expected.detach().cpu().split(case.batch))
    for t, (a, b) in enumerate(per_step):
        if not torch.allclose(a.to(b.dtype), b, **tol):
            return t
    return -1


def _diagnose_forward(spec: RecurrentSpec, trial: Trial, got, expected) -> CheckFailed:
    """Name the mistake whose planted bug reproduces the student's numbers."""
    with quiet(), torch.no_grad():
        found = diagnose(
            spec.mistakes, lambda m: same_result(got, m.plant(trial.inputs, trial.state, trial.params), FLOAT64_TOL)
        )
    if found:
        return CheckFailed(spec.exercise, found.problem, found.hint)
    outputs, state = got
    c = trial.case
    if _close(outputs, expected[0], FLOAT64_TOL):
        bad = [n for n, a, b in zip(spec.state_names, state, expected[1]) if not _close(a, b, FLOAT64_TOL)]
        return CheckFailed(
            spec.exercise,
            f"the outputs match {spec.truth_name} but the returned {', '.join(bad)} does not.",
            f"return the {', '.join(spec.state_names)} of the last time step.",
        )
    t = _first_bad_step(outputs, expected[0], c, FLOAT64_TOL)
    hint = (
        "step 0 is right and a later step is not: look at how the state is updated and carried."
        if t > 0
        else "the first step is already wrong: compare each gate with its equation."
    )
    return CheckFailed(
        spec.exercise,
        f"the outputs differ from {spec.truth_name} with the same weights, first at time step {t} "
        f"of {c.steps} (T={c.steps}, B={c.batch}, V={c.vocab}, H={c.hidden}).",
        hint,
    )


def _judge_forward(spec: RecurrentSpec, trial: Trial, record: dict):
    """The student's result on one trial against the ground truth; fail with a diagnosis if they differ."""
    _raise_if_failed(spec, record)
    got = _unpack(spec, unplain(record["result"]), trial)
    with quiet():
        expected = spec.truth(trial.inputs, trial.state, trial.params)
    if not same_result(got, expected, FLOAT64_TOL):
        raise _diagnose_forward(spec, trial, got, expected)
    return got, expected


# ---------------------------------------------------------------------------
# Gradients


def _loss(result, weights):
    outputs, state = result
    return (outputs * weights[0]).sum() + sum((s * w).sum() for s, w in zip(state, weights[1:]))


def _loss_weights(spec: RecurrentSpec, case: Case) -> list[torch.Tensor]:
    """The random weighting of outputs and state whose gradients are compared (float64)."""
    gen = seeds.generator(1000 + case.seed)
    shapes = [(case.steps * case.batch, case.vocab)] + [(case.batch, case.hidden)] * len(spec.state_names)
    return [torch.randn(shape, generator=gen, dtype=torch.float64) for shape in shapes]


def _grads(forward: Forward, trial: Trial, weights) -> list:
    params = trial.fresh_params()
    with quiet():
        result = forward(trial.inputs, trial.state, params)
        weights = [w.to(result[0].device, result[0].dtype) for w in weights]
        _loss(result, weights).backward()
    return [p.grad for p in params]


def _gradient_problem(spec: RecurrentSpec, trial: Trial, record: dict) -> CheckFailed | None:
    """Compare the gradients the probe recorded (float64, CPU) with the truth's."""
    tol = FLOAT64_TOL
    if not record["requires_grad"]:
        return CheckFailed(
            spec.exercise,
            "the outputs carry no gradient: nothing connects them to the parameters.",
            "do not compute under torch.no_grad() and do not .detach() the parameters or outputs.",
        )
    _raise_if_failed(spec, record["grads"])
    weights = _loss_weights(spec, trial.case)
    student = record["grads"]
    truth = _grads(spec.truth, trial, weights)
    unused = [n for n, g, t in zip(spec.param_names, student, truth) if g is None and t is not None]
    if unused:
        return CheckFailed(
            spec.exercise,
            f"{', '.join(unused)} {'is' if len(unused) == 1 else 'are'} never used: "
            f"no gradient reached {'it' if len(unused) == 1 else 'them'}.",
            "every parameter must be used, through operations autograd can follow.",
        )
    wrong = [n for n, g, t in zip(spec.param_names, student, truth) if t is not None and not _close(g, t, tol)]
    if not wrong:
        return None

    def reproduces(m: Mistake) -> bool:
        flawed = _grads(m.plant, trial, weights)
        return all(
            (g is None and f is None) or (g is not None and f is not None and _close(g, f, FLOAT64_TOL))
            for g, f in zip(student, flawed)
        )

    found = diagnose(spec.gradient_mistakes, reproduces, combine=False)
    if found:
        return CheckFailed(spec.exercise, found.problem, found.hint)
    return CheckFailed(
        spec.exercise,
        f"the outputs are right but the gradients of {', '.join(wrong)} differ from {spec.truth_name}'s.",
        "something between the steps stops or changes the gradient (an in-place op, .detach(), .data?).",
    )


# ---------------------------------------------------------------------------
# The probe: calls the student's function and records, as plain data, what came back


def _failure(failure: CheckFailed) -> dict:
    return {"failed": failure.problem, "hint": failure.hint}


def _raise_if_failed(spec: RecurrentSpec, record) -> None:
    if isinstance(record, dict) and "failed" in record:
        raise CheckFailed(spec.exercise, record["failed"], record["hint"])


def _shaped_like_a_result(spec: RecurrentSpec, result, case: Case) -> bool:
    """(outputs, state) with d2l's shapes: only then is there a loss to differentiate."""
    return (
        isinstance(result, (tuple, list))
        and len(result) == 2
        and isinstance(result[0], torch.Tensor)
        and isinstance(result[1], (tuple, list))
        and len(result[1]) == len(spec.state_names)
        and all(isinstance(s, torch.Tensor) for s in result[1])
        and tuple(result[0].shape) == (case.steps * case.batch, case.vocab)
        and all(tuple(s.shape) == (case.batch, case.hidden) for s in result[1])
    )


def _run(spec: RecurrentSpec, fn: Forward, trial: Trial, gradients: bool) -> dict:
    """One call: what it returned, the devices of the tensors it returned and, with `gradients`,
    the gradient of every parameter under the course's loss weighting."""
    params = trial.fresh_params()
    result = _call(spec, fn, trial, params)
    record: dict = {"result": plain(result), "devices": [t.device.type for t in tensors_in(result)]}
    if gradients and _shaped_like_a_result(spec, result, trial.case):
        outputs = result[0]
        record["requires_grad"] = bool(outputs.requires_grad)
        if outputs.requires_grad:
            weights = [w.to(outputs.device, outputs.dtype) for w in _loss_weights(spec, trial.case)]
            try:
                with calling(spec.exercise, spec.name):
                    _loss(result, weights).backward()
                record["grads"] = [None if p.grad is None else p.grad.detach().cpu() for p in params]
            except CheckFailed as failure:
                record["grads"] = _failure(failure)
    return record


def _probe_cases(spec: RecurrentSpec, fn: Forward, gradients: bool) -> list:
    records = []
    for case in CASES:
        try:
            records.append(_run(spec, fn, make_trial(spec, case), gradients))
        except CheckFailed as failure:
            records.append(_failure(failure))
            break  # the judge stops at the first failure
    return records


def probe_forward(spec: RecurrentSpec, fn: Forward) -> dict:
    return {"cases": _probe_cases(spec, fn, gradients=False)}


def probe_gradients(spec: RecurrentSpec, fn: Forward) -> dict:
    return {"cases": _probe_cases(spec, fn, gradients=True)}


def probe_devices(spec: RecurrentSpec, fn: Forward) -> dict:
    """On `meta` (a hard-coded device shows anywhere) and on the accelerator, where there is one."""
    seen: dict = {"meta": None, "cpu": None, "accelerator": None, "fast": []}
    trial = make_trial(spec, CASES[0], dtype=torch.float32)
    meta = trial.to(META, torch.float32)
    try:
        seen["meta"] = check_on_meta(spec.exercise, spec.name, lambda: _call(spec, fn, meta, meta.params))
    except CheckFailed as failure:
        seen["meta"] = _failure(failure)
        return seen
    if not seen["meta"]:
        # A stub or a crash fails here as on the CPU; code that runs on the CPU but uses
        # something the meta device lacks (e.g. .item()) is judged on the CPU only.
        try:
            seen["cpu"] = _run(spec, fn, trial, gradients=False)
        except CheckFailed as failure:
            seen["cpu"] = _failure(failure)
            return seen
    acc = accelerator()
    if acc is not None:
        seen["accelerator"], seen["accelerator_type"] = acc.name, acc.device.type
        for case in CASES:
            try:
                seen["fast"].append(_run(spec, fn, make_trial(spec, case, torch.float32, acc.device), gradients=True))
            except CheckFailed as failure:
                seen["fast"].append(_failure(failure))
                break
    return seen


# ---------------------------------------------------------------------------
# The judges, and the three public checks (a self-check runs probe and judge in one process)


def _every_case(spec: RecurrentSpec, records: list, cases=CASES) -> list:
    """The records, one per case unless the probe stopped at a failure (a record cut short was not the probe's)."""
    if len(records) > len(cases) or (len(records) < len(cases) and not (records and "failed" in records[-1])):
        raise CheckFailed(spec.exercise, f"`{spec.name}` was not run on every case.")
    return records


def judge_forward(spec: RecurrentSpec, seen: dict) -> None:
    for case, record in zip(CASES, _every_case(spec, seen["cases"])):
        _judge_forward(spec, make_trial(spec, case), record)
    passed(
        spec.exercise,
        f"outputs and final state match {spec.truth_name} with the same weights "
        f"({len(CASES)} shapes and seeds, float64).",
    )


def judge_gradients(spec: RecurrentSpec, seen: dict) -> None:
    for case, record in zip(CASES, _every_case(spec, seen["cases"])):
        trial = make_trial(spec, case)
        try:
            _judge_forward(spec, trial, record)
        except CheckFailed as failure:
            raise CheckFailed(
                spec.exercise,
                "the forward pass is not right yet, so gradients cannot be compared: " + failure.problem,
                failure.hint,
            ) from None
        problem = _gradient_problem(spec, trial, record)
        if problem:
            raise problem
    passed(
        spec.exercise,
        f"the gradient of every parameter matches {spec.truth_name}'s ({len(CASES)} shapes and seeds, float64).",
    )


def judge_devices(spec: RecurrentSpec, seen: dict) -> None:
    _raise_if_failed(spec, seen["meta"])
    if seen["cpu"] is not None:
        _raise_if_failed(spec, seen["cpu"])
        _unpack(spec, unplain(seen["cpu"]["result"]), make_trial(spec, CASES[0], dtype=torch.float32))
    name = judged_accelerator(spec.exercise, seen["accelerator"])
    if name is not None:
        on = f"on {name} in float32"
        for case, record in zip(CASES, _every_case(spec, seen["fast"])):
            _raise_if_failed(spec, record)
            cpu = make_trial(spec, case)
            got = _unpack(spec, unplain(record["result"]), make_trial(spec, case, dtype=torch.float32))
            if any(d != seen["accelerator_type"] for d in record["devices"]):
                raise CheckFailed(
                    spec.exercise,
                    f"on {name}, `{spec.name}` returned a tensor on the CPU.",
                    "keep every result on the inputs' device.",
                )
            with quiet():
                expected = spec.truth(cpu.inputs, cpu.state, cpu.params)
            if not same_result(got, expected, FLOAT32_TOL):
                raise CheckFailed(
                    spec.exercise,
                    f"{on} the results differ from {spec.truth_name} although they match on the CPU in float64.",
                    "look for an operation that behaves differently on the GPU or in float32.",
                )
            truth = _grads(spec.truth, cpu, _loss_weights(spec, case))
            grads = record.get("grads")
            _raise_if_failed(spec, grads)
            for i, (param, t) in enumerate(zip(spec.param_names, truth)):
                mine = None if grads is None else grads[i]
                if t is not None and (mine is None or not _close(mine, t, FLOAT32_TOL)):
                    raise CheckFailed(
                        spec.exercise, f"{on} the gradient of {param} differs from {spec.truth_name}'s (float64, CPU)."
                    )
    passed(
        spec.exercise,
        f"`{spec.name}` follows its inputs' device: checked {where_checked(name, bool(seen['meta']))}"
        + (", outputs, state and gradients." if name else "."),
    )


def forward_check(spec: RecurrentSpec, doc: str = "") -> Check:
    return Check(lambda fn: probe_forward(spec, fn), lambda seen: judge_forward(spec, seen), doc)


def gradients_check(spec: RecurrentSpec, doc: str = "") -> Check:
    return Check(lambda fn: probe_gradients(spec, fn), lambda seen: judge_gradients(spec, seen), doc)


def devices_check(spec: RecurrentSpec, doc: str = "") -> Check:
    return Check(lambda fn: probe_devices(spec, fn), lambda seen: judge_devices(spec, seen), doc)


def check_forward(spec: RecurrentSpec, fn: Forward) -> None:
    judge_forward(spec, probe_forward(spec, fn))


def check_gradients(spec: RecurrentSpec, fn: Forward) -> None:
    judge_gradients(spec, probe_gradients(spec, fn))


def check_devices(spec: RecurrentSpec, fn: Forward) -> None:
    judge_devices(spec, probe_devices(spec, fn))
