"""Checks for the chapter "The concise API: nn.LSTM inside out".

Each check runs on the engine's skeleton (`autograde.engine`): the student's function, the
ground truth (a real `nn.LSTM`) and every planted mistake take the same arguments; `run`
returns plain data (numbers, tuples, tensors) only.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable

import torch
from torch import nn

from autograde import budget, engine, judge_only, modules, seeds
from autograde.devices import FLOAT32_TOL
from autograde.lstm_concise import task
from autograde.mistakes import mistake
from autograde.verdict import CheckFailed, quiet

__all__ = [
    "check_lstm_output_shapes",
    "check_lstm_num_parameters",
    "check_last_step_features",
    "check_run_step_by_step",
    "check_stacked_bilstm",
    "check_many_to_one",
    "check_many_to_one_training",
]

FLOAT64_TOL = dict(rtol=1e-7, atol=1e-9)

# The references and the reference with a planted mistake of each exercise (judge only).
_SHAPES = judge_only.function("autograde.lstm_concise.shapes:shapes")
_LSTM_SHAPES = judge_only.function("autograde.lstm_concise.shapes:lstm_shapes")
_COUNT = judge_only.function("autograde.lstm_concise.shapes:count")
_LSTM_COUNT = judge_only.function("autograde.lstm_concise.shapes:lstm_count")
_FEATURES = judge_only.function("autograde.lstm_concise.features:features")
_FROM_H_N = judge_only.function("autograde.lstm_concise.features:from_h_n")
_STEP_BY_STEP = judge_only.function("autograde.lstm_concise.stepping:step_by_step")
_WHOLE_SEQUENCE = judge_only.function("autograde.lstm_concise.stepping:whole_sequence")
_CELL_STACKED = judge_only.function("autograde.lstm_concise.stacked:CellStacked")
_TORCH_STACKED = judge_only.function("autograde.lstm_concise.stacked:TorchStacked")
_CLASSIFIER = judge_only.function("autograde.lstm_concise.classifier:Classifier")


def _words(**kwargs) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


# ---------------------------------------------------------------------------
# Exercise 1: shapes

EX1 = "Exercise 1 (lstm_output_shapes)"
L, N, H_IN, HIDDEN, PROJ = 7, 5, 4, 8, 3  # no two of the sizes a slip could confuse are equal


def _shape_configs():
    """Simple first: the first failing configuration is the one that names a slip best."""
    out = []
    for layout in ("time-major", "batch-first", "unbatched"):
        for proj in (0, PROJ):
            for bidirectional in (False, True):
                for layers in (1, 2, 3):
                    shape = {"time-major": (L, N, H_IN), "batch-first": (N, L, H_IN), "unbatched": (L, H_IN)}[layout]
                    out.append((shape, HIDDEN, layers, bidirectional, proj, layout == "batch-first"))
    return out


def _shape_case(args) -> engine.Case:
    shape, hidden, layers, bidirectional, proj, batch_first = args
    label = "for " + _words(
        input_shape=shape,
        hidden_size=hidden,
        num_layers=layers,
        bidirectional=bidirectional,
        proj_size=proj,
        batch_first=batch_first,
    )
    return engine.Case(label, lambda device, dtype: args, on_devices=False)


def _shape_cases():
    return [_shape_case(args) for args in _shape_configs()]


def _as_shape(x):
    if isinstance(x, (tuple, list, torch.Size)) and all(
        isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in x
    ):
        return tuple(int(n) for n in x)
    return None


def _read_shapes(got, case):
    if not (isinstance(got, (tuple, list)) and len(got) == 3):
        raise CheckFailed(
            EX1,
            f"`lstm_output_shapes` returned a {type(got).__name__}; it returns three shapes "
            "(output_shape, h_n_shape, c_n_shape).",
            "return (output_shape, h_n_shape, c_n_shape), each a tuple of ints.",
        )
    out = tuple(_as_shape(s) for s in got)
    if any(s is None for s in out):
        bad = next(s for s, o in zip(got, out) if o is None)
        raise CheckFailed(
            EX1, f"{case.label}, a shape is {bad!r}; each shape is a tuple of ints.", "e.g. (L, N, D * H_out)."
        )
    return out


def _explain_shapes(case, got, want):
    names = ("output", "h_n", "c_n")
    wrong = [f"{n} {g} (expected {w})" for n, g, w in zip(names, got, want) if g != w]
    return CheckFailed(
        EX1,
        f"{case.label}: " + "; ".join(wrong) + ".",
        "D = 2 if bidirectional else 1; H_out = proj_size if proj_size > 0 else hidden_size.",
    )


def _shape_slip(problem, hint, **options):
    return mistake(_SHAPES, problem, hint, **options)


SHAPE_MISTAKES = (
    _shape_slip(
        "the output's feature dimension forgets the second direction: it is D*H_out, both directions' "
        "features side by side.",
        "D = 2 when bidirectional: output[..., :H_out] is the forward direction, output[..., H_out:] the backward one.",
        width="H_out",
    ),
    _shape_slip(
        "h_n and c_n have num_layers rows; they have one per layer AND direction: D*num_layers.",
        "a bidirectional LSTM keeps a final state for each direction of each layer.",
        rows="num_layers",
    ),
    _shape_slip(
        "h_n and c_n have one row per direction only; they have one per layer and direction: D*num_layers.",
        "every layer keeps its own final state.",
        rows="D",
    ),
    _shape_slip(
        "proj_size is ignored: with proj_size > 0, output and h_n have proj_size features (H_out).",
        "H_out = proj_size if proj_size > 0 else hidden_size; only c_n keeps hidden_size.",
        projection="ignored",
    ),
    _shape_slip(
        "c_n has proj_size features; the cell state is not projected: it keeps hidden_size (H_cell).",
        "only h is projected: h_n has H_out features, c_n has H_cell = hidden_size.",
        cell="H_out",
    ),
    _shape_slip(
        "h_n and c_n follow batch_first; they do not: they are (D*num_layers, N, H) whatever batch_first says.",
        "batch_first applies to the input and the output only.",
        states="follow batch_first",
    ),
    _shape_slip(
        "the output ignores batch_first: with batch_first=True it is (N, L, D*H_out), like the input.",
        "output has the input's layout; only h_n and c_n are always (D*num_layers, N, H).",
        output_layout="time-major",
    ),
    _shape_slip(
        "for an unbatched input (L, H_in), h_n and c_n keep a batch dimension of 1; they have none: "
        "(D*num_layers, H_out).",
        "without a batch dimension in the input there is none anywhere.",
        unbatched_states="batch of 1",
    ),
)

OUTPUT_SHAPES = engine.Exercise(
    label=EX1,
    name="lstm_output_shapes",
    reference=_LSTM_SHAPES,
    cases=_shape_cases,
    same=lambda a, b: a == b,
    explain=_explain_shapes,
    mistakes=SHAPE_MISTAKES,
    read=_read_shapes,
    meta=False,
)


check_lstm_output_shapes = engine.exercise_check(
    OUTPUT_SHAPES,
    f"output, h_n and c_n have a real nn.LSTM's shapes in {len(_shape_configs())} configurations "
    "(three layouts, 1 to 3 layers, one or two directions, with and without proj_size)",
    "Exercise 1: the shapes of output, h_n and c_n against a real nn.LSTM's.",
)


# ---------------------------------------------------------------------------
# Exercise 2: the number of parameters

EX2 = "Exercise 2 (lstm_num_parameters)"
COUNT_SIZES = (10, 20, 6)  # input_size, hidden_size, proj_size


def _count_configs():
    inputs, hidden, proj = COUNT_SIZES
    return [
        (inputs, hidden, layers, bidirectional, p, bias)
        for bias in (True, False)
        for p in (0, proj)
        for bidirectional in (False, True)
        for layers in (1, 2, 3)
    ]


def _count_case(args) -> engine.Case:
    inputs, hidden, layers, bidirectional, proj, bias = args
    label = "for " + _words(
        input_size=inputs, hidden_size=hidden, num_layers=layers, bidirectional=bidirectional, proj_size=proj, bias=bias
    )
    return engine.Case(label, lambda device, dtype: args, on_devices=False)


def _count_cases():
    return [_count_case(args) for args in _count_configs()]


def _read_count(got, case):
    if isinstance(got, torch.Tensor) and got.numel() == 1 and not got.is_floating_point():
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, numbers.Integral):
        raise CheckFailed(
            EX2,
            f"`lstm_num_parameters` returned a {type(got).__name__}; it returns an int.",
            "add up the sizes of the weight matrices and bias vectors.",
        )
    return int(got)


def _explain_count(case, got, want):
    return CheckFailed(
        EX2,
        f"{case.label}, got {got:,} parameters; a real nn.LSTM has {want:,}.",
        "per layer and direction: weight_ih (4*H_cell, input), weight_hh (4*H_cell, H_out), two "
        "biases (4*H_cell), and weight_hr (H_out, H_cell) with proj_size.",
    )


def _count_slip(problem, hint, **options):
    return mistake(_COUNT, problem, hint, **options)


COUNT_MISTAKES = (
    _count_slip(
        "one bias vector per layer and direction is counted; nn.LSTM has two, bias_ih and bias_hh, of "
        "4*hidden_size each.",
        "PyTorch adds both biases (cuDNN's convention): 8*hidden_size per layer and direction.",
        biases=1,
    ),
    _count_slip(
        "bias=False is ignored: without biases there is no bias_ih and no bias_hh.",
        "count the biases only when bias is True.",
        bias_flag="ignored",
    ),
    _count_slip(
        "the layers after the first are counted with input_size inputs; they read the layer below: D*H_out features.",
        "layer l > 0 gets the output of layer l-1: D*H_out features per step.",
        upper_input="input_size",
    ),
    _count_slip(
        "the layers after the first read H_out features; with two directions they read both: D*H_out.",
        "the layer below hands up both directions' features, concatenated.",
        upper_input="H_out",
    ),
    _count_slip(
        "the second direction is not counted: a bidirectional LSTM has a full set of weights per direction.",
        "multiply each layer's count by D = 2 when bidirectional.",
        directions="one",
    ),
    _count_slip(
        "the weights are counted for one gate; an LSTM has four (i, f, g, o) stacked: 4*hidden_size rows.",
        "weight_ih is (4*hidden_size, input), weight_hh (4*hidden_size, H_out).",
        gates=1,
    ),
    _count_slip(
        "weight_hh is counted as (4*hidden_size, hidden_size); with proj_size > 0 the recurrent input is "
        "the projected h: (4*hidden_size, proj_size).",
        "weight_hh multiplies h_{t-1}, which has H_out features.",
        recurrent_input="hidden_size",
    ),
    _count_slip(
        "weight_hr, the projection (proj_size, hidden_size), is not counted.",
        "with proj_size > 0 each layer and direction has a weight_hr_l*.",
        projection="missing",
    ),
)

NUM_PARAMETERS = engine.Exercise(
    label=EX2,
    name="lstm_num_parameters",
    reference=_LSTM_COUNT,
    cases=_count_cases,
    same=lambda a, b: a == b,
    explain=_explain_count,
    mistakes=COUNT_MISTAKES,
    read=_read_count,
    meta=False,
)


check_lstm_num_parameters = engine.exercise_check(
    NUM_PARAMETERS,
    f"the count of a real nn.LSTM's parameters in {len(_count_configs())} configurations "
    "(1 to 3 layers, one or two directions, with and without proj_size and biases)",
    "Exercise 2: sum(p.numel() for p in nn.LSTM(...).parameters()).",
)


# ---------------------------------------------------------------------------
# Exercise 3: the last step's features

EX3 = "Exercise 3 (last_step_features)"
FEATURE_CONFIGS = (  # (num_layers, bidirectional, batch_first, proj_size); L=6, N=3, H_in=4, hidden=5
    (1, False, False, 0),
    (2, False, True, 0),
    (1, True, False, 0),
    (2, True, False, 0),
    (3, True, True, 0),
    (2, True, True, 2),
    (3, False, False, 2),
)


@functools.cache
def _lstm_run(config, seed) -> tuple[torch.Tensor, torch.Tensor]:
    """output and h_n of a real nn.LSTM in float64 (made once: each case copies them)."""
    layers, bidirectional, batch_first, proj = config
    gen = torch.Generator().manual_seed(seed)
    with quiet(), torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        lstm = nn.LSTM(
            4, 5, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, proj_size=proj
        ).double()
        x = torch.randn((3, 6, 4) if batch_first else (6, 3, 4), generator=gen, dtype=torch.float64)
        output, (h_n, _) = lstm(x)
    return output, h_n


def _feature_case(config, seed) -> engine.Case:
    layers, bidirectional, batch_first, proj = config

    def make(device, dtype):
        output, h_n = _lstm_run(config, seeds.seed(seed))  # cached by the salted seed
        dtype = dtype or torch.float64
        return output.to(device, dtype, copy=True), h_n.to(device, dtype, copy=True), bidirectional, batch_first

    label = (
        "for the output and h_n of nn.LSTM("
        + _words(
            input_size=4,
            hidden_size=5,
            num_layers=layers,
            bidirectional=bidirectional,
            batch_first=batch_first,
            proj_size=proj,
        )
        + ")"
    )
    return engine.Case(label, make)


def _feature_cases():
    return [_feature_case(c, seed) for seed, c in enumerate(FEATURE_CONFIGS)]


def _read_tensor(exercise, name):
    def read(got, case):
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(exercise, f"`{name}` returned a {type(got).__name__}; it returns a tensor.")
        return got

    return read


def _explain_features(case, got, want):
    if got.shape != want.shape:
        return CheckFailed(
            EX3,
            f"{case.label}, the features have shape {tuple(got.shape)}; expected (N, D*H_out) = {tuple(want.shape)}.",
            "one row per sequence: the forward direction's H_out features, "
            "then (two directions) the backward direction's.",
        )
    return CheckFailed(
        EX3,
        f"{case.label}, the features have the right shape but not the values of the last layer's h_n.",
        "h_n.view(num_layers, D, N, H_out)[-1] holds the last layer's final states, forward direction first.",
    )


def _feature_slip(problem, hint, **options):
    return mistake(_FEATURES, problem, hint, **options)


FEATURE_MISTAKES = (
    _feature_slip(
        "output[-1] (time-major) or output[:, -1] (batch-first) of a bidirectional LSTM holds the backward "
        "direction at its FIRST step, after reading only the last token.",
        "the backward direction ends at step 0: take its half from output at step 0, or read h_n.",
        source="output",
    ),
    _feature_slip(
        "the batch and time axes are confused: the last step was taken along the batch axis.",
        "time-major output is (L, N, D*H_out): output[-1]; batch-first output is (N, L, D*H_out): output[:, -1].",
        source="output",
        axis="batch",
    ),
    _feature_slip(
        "the first layer's h_n is taken; a many-to-one model reads the last (top) layer's.",
        "h_n.view(num_layers, D, N, H_out)[-1], or h_n[-D:].",
        layer="first",
    ),
    _feature_slip(
        "the two directions are swapped: the forward direction's features come first, then the backward "
        "direction's (as in output).",
        "torch.cat([h_n[-2], h_n[-1]], dim=1): h_n[-2] is the last layer's forward state, h_n[-1] its backward state.",
        order="backward first",
    ),
    _feature_slip(
        "only the backward direction is taken: h_n[-1] of a bidirectional LSTM is the last layer's "
        "backward state; the forward one is h_n[-2].",
        "concatenate both: torch.cat([h_n[-2], h_n[-1]], dim=1).",
        source="h_n[-1]",
    ),
    _feature_slip(
        "the two directions' rows are reshaped into one, which mixes sequences: (D, N, H_out) reshaped "
        "to (N, D*H_out) does not put each sequence's two halves side by side.",
        "torch.cat([h_n[-2], h_n[-1]], dim=1), or move the direction axis next to the features "
        "(.permute(1, 0, 2)) before reshaping.",
        join="reshape",
    ),
)

LAST_STEP_FEATURES = engine.Exercise(
    label=EX3,
    name="last_step_features",
    reference=_FROM_H_N,
    cases=_feature_cases,
    same=lambda a, b: engine.close(a, b, FLOAT64_TOL),
    explain=_explain_features,
    mistakes=FEATURE_MISTAKES,
    read=_read_tensor(EX3, "last_step_features"),
    meta_inputs="output and h_n",
    same_float32=lambda a, b: engine.close(a, b, FLOAT32_TOL),
)


check_last_step_features = engine.exercise_check(
    LAST_STEP_FEATURES,
    f"the last layer's final states, forward then backward, as h_n of {len(FEATURE_CONFIGS)} real "
    "nn.LSTMs holds them (1 to 3 layers, one or two directions, both layouts, with and without "
    "proj_size)",
    "Exercise 3: (N, D*H_out), the last layer's final states, against h_n of real nn.LSTMs.",
)


# ---------------------------------------------------------------------------
# Exercise 4: one step at a time

EX4 = "Exercise 4 (run_step_by_step)"
STEP_CONFIGS = (  # (num_layers, batch_first, proj_size, with a given state)
    (1, False, 0, False),
    (2, True, 0, False),
    (2, False, 0, True),
    (3, True, 2, True),
    (1, True, 0, True),
)
STEP_SIZES = dict(input_size=3, hidden_size=4)
STEPS, BATCH = 5, 2


def _step_case(config, seed) -> engine.Case:
    layers, batch_first, proj, given = config

    def make(device, dtype):
        dtype = dtype or torch.float64
        gen = seeds.generator(100 + seed)
        with quiet(), torch.random.fork_rng():
            torch.manual_seed(seeds.seed(100 + seed))
            lstm = nn.LSTM(**STEP_SIZES, num_layers=layers, batch_first=batch_first, proj_size=proj).double()
            x = torch.randn((BATCH, STEPS, 3) if batch_first else (STEPS, BATCH, 3), generator=gen, dtype=torch.float64)
            state = None
            if given:
                h0 = torch.randn(layers, BATCH, proj or 4, generator=gen, dtype=torch.float64)
                c0 = torch.randn(layers, BATCH, 4, generator=gen, dtype=torch.float64)
                state = (h0.to(device, dtype), c0.to(device, dtype))
            lstm = lstm.to(device, dtype)
        return lstm, x.to(device, dtype), state

    label = (
        "for nn.LSTM("
        + _words(**STEP_SIZES, num_layers=layers, batch_first=batch_first, proj_size=proj)
        + ")"
        + (" from a given state" if given else " with state=None")
    )
    return engine.Case(label, make)


def _step_cases():
    return [_step_case(c, seed) for seed, c in enumerate(STEP_CONFIGS)]


def _loss_weights(t: torch.Tensor, seed: int) -> torch.Tensor:
    gen = seeds.generator(seed)
    return torch.randn(tuple(t.shape), generator=gen, dtype=torch.float64).to(t.device, t.dtype)


def _run_steps(f, args) -> dict:
    """Call f(lstm, x, state); return plain data: output, h_n, c_n and every weight's gradient."""
    lstm = args[0]
    result = f(*args)
    if not (
        isinstance(result, (tuple, list))
        and len(result) == 2
        and isinstance(result[0], torch.Tensor)
        and isinstance(result[1], (tuple, list))
        and len(result[1]) == 2
        and all(isinstance(s, torch.Tensor) for s in result[1])
    ):
        raise CheckFailed(
            EX4,
            "`run_step_by_step` must return (output, (h_n, c_n)), as the LSTM does.",
            "return torch.cat(outputs, dim=time_axis), state.",
        )
    output, (h_n, c_n) = result
    lstm.zero_grad()
    if output.requires_grad and output.device.type != "meta":
        loss = sum((t * _loss_weights(t, i)).sum() for i, t in enumerate((output, h_n, c_n)))
        loss.backward()
    grads = {n: None if p.grad is None else p.grad.detach().clone() for n, p in lstm.named_parameters()}
    return {"output": output.detach(), "h_n": h_n.detach(), "c_n": c_n.detach(), "grads": grads}


def _same_steps(tol):
    def same(got, want) -> bool:
        if not all(engine.close(got[k], want[k], tol) for k in ("output", "h_n", "c_n")):
            return False
        return all(
            (want["grads"][n] is None)
            or (got["grads"][n] is not None and engine.close(got["grads"][n], want["grads"][n], tol))
            for n in want["grads"]
        )

    return same


def _explain_steps(case, got, want):
    for key in ("output", "h_n", "c_n"):
        g, w = got[key], want[key]
        if g.shape != w.shape:
            return CheckFailed(
                EX4,
                f"{case.label}, {key} has shape {tuple(g.shape)}; lstm(x, state) gives {tuple(w.shape)}.",
                "concatenate the steps' outputs along the time axis (dim 1 when batch_first, else dim 0).",
            )
    for key in ("output", "h_n", "c_n"):
        if not engine.close(got[key], want[key], FLOAT64_TOL):
            return CheckFailed(
                EX4,
                f"{case.label}, {key} differs from lstm(x, state)'s.",
                "feed each step with the state the previous step returned.",
            )
    return CheckFailed(
        EX4,
        f"{case.label}, the outputs are right but the weights' gradients differ from those of lstm(x, state).",
        "do not detach the state or compute under torch.no_grad().",
    )


def _step_slip(problem, hint, **options):
    return mistake(_STEP_BY_STEP, problem, hint, **options)


STEP_MISTAKES = (
    _step_slip(
        "the state is not carried: every step starts again from the initial state.",
        "pass each step the (h, c) the previous step returned: out, state = lstm(x_t, state).",
        carry=False,
    ),
    _step_slip(
        "the steps are taken along the wrong axis: with batch_first=True time is dim 1, otherwise dim 0.",
        "time_axis = 1 if lstm.batch_first else 0; slice x.narrow(time_axis, t, 1) or x[:, t:t+1].",
        axis="other",
    ),
    _step_slip(
        "the returned state is the first step's; return the state after the last step.",
        "keep the state the loop carries and return it after the loop.",
        returned="first",
    ),
)

RUN_STEP_BY_STEP = engine.Exercise(
    label=EX4,
    name="run_step_by_step",
    reference=_WHOLE_SEQUENCE,
    cases=_step_cases,
    same=_same_steps(FLOAT64_TOL),
    explain=_explain_steps,
    mistakes=STEP_MISTAKES,
    run=_run_steps,
    read=lambda got, case: got,
    meta_inputs="the LSTM and its inputs",
    same_float32=_same_steps(FLOAT32_TOL),
)


check_run_step_by_step = engine.exercise_check(
    RUN_STEP_BY_STEP,
    f"output, h_n, c_n and every weight's gradient equal lstm(x, state)'s for "
    f"{len(STEP_CONFIGS)} LSTMs (1 to 3 layers, both layouts, state=None and a given state)",
    "Exercise 4: output, (h_n, c_n) and the weights' gradients equal lstm(x, state)'s.",
)


# ---------------------------------------------------------------------------
# nn.Module exercises: the student's class, built here, with the reference's weights as data


def _weights(layers: list[Callable[[], nn.Module]], seed: int) -> modules.Weights:
    """The weights, as plain data, of torch.nn layers drawn with a seed (float64): no course code."""
    with quiet(), torch.random.fork_rng():
        torch.manual_seed(seeds.seed(seed))
        return modules.weights_by_kind(nn.ModuleList([layer() for layer in layers]).double())


def _to(weights, device, dtype):
    return {
        kind: [{k: v.to(device, dtype) for k, v in layer.items()} for layer in layers]
        for kind, layers in weights.items()
    }


# What building a model on the CPU does before it is moved: on `meta` these are not the student's
# forward reaching for a device. (`with torch.device(...)` would avoid them, but its first use
# imports torch._dynamo: seconds.)
BUILDING = ("_to_copy", "empty", "uniform_", "normal_")


def _build(exercise, cls, ctor, x):
    """The student's model, moved to the inputs' device and dtype."""
    model = cls(*ctor)
    if not isinstance(model, nn.Module):
        raise CheckFailed(exercise, f"the class builds a {type(model).__name__}; it must subclass nn.Module.")
    return model.to(x.device, x.dtype)


def _cell_sizes(model):
    return [[c.input_size, c.hidden_size] for c in modules.layers(model, nn.LSTMCell)]


def _weighted_loss(tensors, loss_weights):
    total = 0
    for t, w in zip(tensors, loss_weights):
        if t.shape == w.shape and t.requires_grad:
            total = total + (t * w.to(t.device, t.dtype)).sum()
    return total


# ---------------------------------------------------------------------------
# Exercise 5: a stacked bidirectional LSTM from nn.LSTMCells

EX5 = "Exercise 5 (StackedBiLSTM)"
STACKED_CASES = ((3, 4, 5, 2), (4, 3, 1, 3), (2, 5, 6, 1))  # (input_size, hidden_size, L, N)


def _stacked_case(sizes, seed) -> engine.Case:
    input_size, hidden, steps, batch = sizes

    def make(device, dtype):
        dtype = dtype or torch.float64
        gen = seeds.generator(200 + seed)
        ctor = (input_size, hidden)
        weights = _weights([lambda: nn.LSTM(input_size, hidden, num_layers=2, bidirectional=True)], 200 + seed)
        x = torch.randn(steps, batch, input_size, generator=gen, dtype=torch.float64)
        loss_weights = tuple(
            torch.randn(shape, generator=gen, dtype=torch.float64)
            for shape in ((steps, batch, 2 * hidden), (4, batch, hidden), (4, batch, hidden))
        )
        return ctor, _to(weights, device, dtype), (x.to(device, dtype),), loss_weights

    label = f"for StackedBiLSTM({input_size}, {hidden}) on x of shape (L, N, H_in) = ({steps}, {batch}, {input_size})"
    return engine.Case(label, make)


def _stacked_cases():
    return [_stacked_case(sizes, seed) for seed, sizes in enumerate(STACKED_CASES)]


def _run_stacked(cls, args) -> dict:
    """Build cls(*ctor), load the weights, run it; plain data back (or why the weights did not fit)."""
    ctor, weights, inputs, loss_weights = args
    model = _build(EX5, cls, ctor, inputs[0])
    try:
        params = modules.load_weights(EX5, model, weights)
    except CheckFailed as failure:
        return {"cells": _cell_sizes(model), "problem": failure.problem, "hint": failure.hint}
    result = model(*inputs)
    if not (
        isinstance(result, (tuple, list))
        and len(result) == 2
        and isinstance(result[0], torch.Tensor)
        and isinstance(result[1], (tuple, list))
        and len(result[1]) == 2
        and all(isinstance(t, torch.Tensor) for t in result[1])
    ):
        raise CheckFailed(
            EX5,
            "forward must return (output, (h_n, c_n)), as nn.LSTM does.",
            "return torch.stack(outputs), (torch.stack(hs), torch.stack(cs)).",
        )
    output, (h_n, c_n) = result
    if output.device.type != "meta":
        loss = _weighted_loss((output, h_n, c_n), loss_weights)
        if isinstance(loss, torch.Tensor):
            loss.backward()
    return {"output": output.detach(), "h_n": h_n.detach(), "c_n": c_n.detach(), "grads": modules.gradients(params)}


def _read_stacked(got, case):
    if "problem" not in got:
        return got
    cells = got["cells"]
    if len(cells) == 4 and cells[2][0] == cells[2][1] and cells[0][1] == cells[2][1]:
        # layer 2's cells take hidden_size inputs: one direction of layer 1
        raise CheckFailed(EX5, f"{case.label}: {LAYER2_ONE_DIRECTION.problem}", LAYER2_ONE_DIRECTION.hint)
    raise CheckFailed(EX5, f"{case.label}: {got['problem']}", got["hint"])


def _same_stacked(tol):
    def same(got, want) -> bool:
        return (
            all(engine.close(got[k], want[k], tol) for k in ("output", "h_n", "c_n"))
            and modules.gradient_problem(EX5, got["grads"], want["grads"], tol) is None
        )

    return same


def _explain_stacked(case, got, want):
    for key, expected in (
        ("output", "(L, N, 2*hidden_size)"),
        ("h_n", "(4, N, hidden_size)"),
        ("c_n", "(4, N, hidden_size)"),
    ):
        if got[key].shape != want[key].shape:
            return CheckFailed(
                EX5,
                f"{case.label}, {key} has shape {tuple(got[key].shape)}; nn.LSTM's is "
                f"{tuple(want[key].shape)} = {expected}.",
            )
    for key in ("output", "h_n", "c_n"):
        if not engine.close(got[key], want[key], FLOAT64_TOL):
            return CheckFailed(
                EX5,
                f"{case.label}, {key} differs from nn.LSTM(num_layers=2, bidirectional=True)'s with the same weights.",
                "layer by layer: forward cell over steps 0..L-1, backward "
                "cell over L-1..0, both from zeros; layer 2 reads [forward | backward] at each step.",
            )
    problem = modules.gradient_problem(EX5, got["grads"], want["grads"], FLOAT64_TOL)
    return problem or CheckFailed(EX5, f"{case.label}, the results differ from nn.LSTM's.")


def _stacked_slip(problem, hint, **options):
    return mistake(_CELL_STACKED, problem, hint, **options)


LAYER2_ONE_DIRECTION = _stacked_slip(
    "layer 2 reads only one direction of layer 1; it reads both, side by side: its cells take 2*hidden_size inputs.",
    "layer 2's input at step t is torch.cat([forward_h[t], backward_h[t]], dim=1).",
    layer2_reads="forward",
)
STACKED_MISTAKES = (
    _stacked_slip(
        "the backward direction's outputs are left in reverse order: its output for step t must sit at position t.",
        "the backward cell reads steps L-1, ..., 0; store each h at the index of the step "
        "it read (or reverse the list back).",
        unreverse=False,
    ),
    LAYER2_ONE_DIRECTION,
    _stacked_slip(
        "the two directions' states are mixed: the backward direction starts from the forward "
        "direction's final state; each direction starts from zeros.",
        "keep one (h, c) per direction, both zeros at the start.",
        backward_start="forward's final state",
    ),
    _stacked_slip(
        "h_n and c_n are in the wrong order: nn.LSTM lists them layer by layer, forward before backward: "
        "[layer 1 forward, layer 1 backward, layer 2 forward, layer 2 backward].",
        "row 2*layer + direction (0 forward, 1 backward).",
        h_n_order="direction by direction",
    ),
)

STACKED_BILSTM = engine.Exercise(
    label=EX5,
    name="StackedBiLSTM",
    reference=_TORCH_STACKED,
    cases=_stacked_cases,
    same=_same_stacked(FLOAT64_TOL),
    explain=_explain_stacked,
    mistakes=STACKED_MISTAKES,
    run=_run_stacked,
    read=_read_stacked,
    meta_inputs="the model and its input",
    meta_allowed=BUILDING,
    same_float32=_same_stacked(FLOAT32_TOL),
)


check_stacked_bilstm = engine.exercise_check(
    STACKED_BILSTM,
    f"output, h_n, c_n and every weight's gradient equal nn.LSTM(num_layers=2, bidirectional=True)'s "
    f"with the same weights ({len(STACKED_CASES)} sizes, float64)",
    "Exercise 5: outputs, h_n, c_n and gradients equal nn.LSTM(num_layers=2, bidirectional=True)'s.",
)


# ---------------------------------------------------------------------------
# Exercise 6: a many-to-one classifier

EX6 = "Exercise 6 (ManyToOne)"
CLASSIFIER_CASES = ((8, 5, 4, 3, 6), (5, 3, 2, 4, 1), (6, 4, 3, 2, 9))  # (vocab, hidden, classes, N, L)


def _classifier_case(sizes, seed) -> engine.Case:
    vocab, hidden, classes, batch, steps = sizes

    def make(device, dtype):
        dtype = dtype or torch.float64
        gen = seeds.generator(300 + seed)
        ctor = (vocab, hidden, classes)
        weights = _weights(
            [lambda: nn.LSTM(vocab, hidden, batch_first=True), lambda: nn.Linear(hidden, classes)], 300 + seed
        )
        tokens = torch.randint(vocab, (batch, steps), generator=gen)
        x = nn.functional.one_hot(tokens, vocab).to(torch.float64)
        loss_weights = (torch.randn(batch, classes, generator=gen, dtype=torch.float64),)
        return ctor, _to(weights, device, dtype), (x.to(device, dtype),), loss_weights

    label = (
        f"for ManyToOne({vocab}, {hidden}, {classes}) on a batch-first x of shape (N, L, vocab_size) = "
        f"({batch}, {steps}, {vocab})"
    )
    return engine.Case(label, make)


def _classifier_cases():
    return [_classifier_case(sizes, seed) for seed, sizes in enumerate(CLASSIFIER_CASES)]


def _run_classifier(cls, args) -> dict:
    ctor, weights, inputs, loss_weights = args
    model = _build(EX6, cls, ctor, inputs[0])
    params = modules.load_weights(EX6, model, weights)
    scores = model(*inputs)
    if not isinstance(scores, torch.Tensor):
        raise CheckFailed(
            EX6, f"forward returned a {type(scores).__name__}; it returns the scores, one tensor (N, num_classes)."
        )
    if scores.device.type != "meta":
        loss = _weighted_loss((scores,), loss_weights)
        if isinstance(loss, torch.Tensor):
            loss.backward()
    return {"output": scores.detach(), "grads": modules.gradients(params)}


def _same_classifier(tol):
    def same(got, want) -> bool:
        return (
            engine.close(got["output"], want["output"], tol)
            and modules.gradient_problem(EX6, got["grads"], want["grads"], tol) is None
        )

    return same


def _explain_classifier(case, got, want):
    if got["output"].shape != want["output"].shape:
        return CheckFailed(
            EX6,
            f"{case.label}, the scores have shape {tuple(got['output'].shape)}; expected "
            f"(N, num_classes) = {tuple(want['output'].shape)}.",
            "one row of class scores per sequence: the linear layer on the last step's features, (N, hidden_size).",
        )
    if not engine.close(got["output"], want["output"], FLOAT64_TOL):
        return CheckFailed(
            EX6,
            f"{case.label}, the scores differ from an nn.LSTM then nn.Linear on the last step with the same weights.",
            "scores = linear(output[:, -1]) for a batch-first LSTM.",
        )
    return modules.gradient_problem(EX6, got["grads"], want["grads"], FLOAT64_TOL) or CheckFailed(
        EX6, f"{case.label}, the results differ from the reference's."
    )


def _classifier_slip(problem, hint, **options):
    return mistake(_CLASSIFIER, problem, hint, **options)


CLASSIFIER_MISTAKES = (
    _classifier_slip(
        "the classifier reads the FIRST step's features; a many-to-one model reads the last step's, "
        "after the whole sequence.",
        "output[:, -1] for a batch-first LSTM (or h_n[-1]).",
        read="first",
    ),
    _classifier_slip(
        "the LSTM is not batch-first, so it reads the batch axis as time: the input here is (N, L, vocab_size).",
        "nn.LSTM(vocab_size, hidden_size, batch_first=True).",
        batch_first=False,
    ),
)

MANY_TO_ONE = engine.Exercise(
    label=EX6,
    name="ManyToOne",
    reference=_CLASSIFIER,
    cases=_classifier_cases,
    same=_same_classifier(FLOAT64_TOL),
    explain=_explain_classifier,
    mistakes=CLASSIFIER_MISTAKES,
    run=_run_classifier,
    meta_inputs="the model and its input",
    meta_allowed=BUILDING,
    same_float32=_same_classifier(FLOAT32_TOL),
)


check_many_to_one = engine.exercise_check(
    MANY_TO_ONE,
    f"scores (N, num_classes) and every weight's gradient equal an nn.LSTM then nn.Linear on the last "
    f"step's features ({len(CLASSIFIER_CASES)} sizes, float64)",
    "Exercise 6: the scores and gradients equal an nn.LSTM then nn.Linear read at the last step.",
)


# The training check: the student's class, trained by the course's loop on the marker task.
# Full: the chapter's recipe and its bar; grading (or quick mode): a short budget, a lower bar.
TRAINING = {"full": dict(length=20, steps=300, bar=0.95), "quick": dict(length=12, steps=100, bar=0.8)}
TRAIN_HIDDEN = 32


def training_setting() -> dict:
    return TRAINING["quick" if budget.quick() else "full"]


def _training_case() -> engine.Case:
    setting = training_setting()
    label = (
        f"trained for {setting['steps']} steps on sequences of length {setting['length']} "
        f"(ManyToOne({task.VOCAB}, {TRAIN_HIDDEN}, {task.MARKERS}))"
    )
    return engine.Case(
        label,
        lambda device, dtype: ((task.VOCAB, TRAIN_HIDDEN, task.MARKERS), setting["length"], setting["steps"]),
        on_devices=False,
    )


def _run_training(cls, args) -> float:
    """Build, train and test the class: its test accuracy (a number)."""
    ctor, length, steps = args
    with task.one_thread(), torch.random.fork_rng():
        torch.manual_seed(0)
        model = cls(*ctor)
        task.open_forget_gates(model)
        task.train(model, length, steps, seed=0)
        return task.accuracy(model, length)


def _reached(got, want) -> bool:
    return got >= training_setting()["bar"]


def _explain_training(case, got, want):
    bar = training_setting()["bar"]
    return CheckFailed(
        EX6,
        f"{case.label}, the test accuracy is {got:.1%}; a correct model reaches at least "
        f"{bar:.0%} (chance is {1 / task.MARKERS:.0%}).",
        "check_many_to_one first: the model must read the last step of a batch-first LSTM.",
    )


MANY_TO_ONE_TRAINING = engine.Exercise(
    label=EX6,
    name="ManyToOne",
    reference=_CLASSIFIER,
    cases=lambda: [_training_case()],
    same=_reached,
    explain=_explain_training,
    run=_run_training,
    read=lambda got, case: float(got),
    meta=False,
)


def _training_what() -> str:
    setting = training_setting()
    return (
        f"trained for {setting['steps']} steps on sequences of length {setting['length']}, it names the marker "
        f"in at least {setting['bar']:.0%} of 1000 test sequences"
    )


check_many_to_one_training = engine.exercise_check(
    MANY_TO_ONE_TRAINING,
    _training_what,
    "Exercise 6: the class, trained by the course's loop, names the marker well above chance.",
)


engine.name_checks(globals())
