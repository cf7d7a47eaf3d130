"""Checks for the chapter "LSTM from scratch".

Each function takes the student's function, prints one line when it is right and
raises `CheckFailed` naming the mistake when it is not. The notebook's test cells
call these and nothing else, so nbgrader's feedback shows no hidden test.
"""

from __future__ import annotations

from torch import nn

from autograde import engine, judge_only, recurrent, state_dicts
from autograde import params as factory
from autograde.engine import checks_in_turn
from autograde.lstm_scratch import layout
from autograde.recurrent import RecurrentSpec

__all__ = [
    "check_get_lstm_params",
    "check_init_lstm_state",
    "check_lstm_forward",
    "check_lstm_gradients",
    "check_lstm_devices",
    "check_get_fused_lstm_params",
    "check_fused_lstm",
    "check_to_torch_layout",
]

_SIZES = (30, 20)  # vocab_size, num_hiddens for the factories: V != H shows transposes


def _random_params(case, dtype, device, gen):
    return layout.random_params(case.vocab, case.hidden, gen, dtype)


LSTM = RecurrentSpec(
    exercise="Exercise 3 (lstm)",
    name="lstm",
    truth_name="nn.LSTM",
    state_names=("H", "C"),
    param_names=layout.PARAM_NAMES,
    make_params=_random_params,
    truth=judge_only.function("autograde.lstm_scratch.references:torch_lstm"),
    mistakes=judge_only.sequence("autograde.lstm_scratch.flaws:FORWARD_MISTAKES"),
    gradient_mistakes=judge_only.sequence("autograde.lstm_scratch.flaws:GRADIENT_MISTAKES"),
)

FUSED = RecurrentSpec(
    exercise="Exercise 4 (fused_lstm)",
    name="fused_lstm",
    truth_name="nn.LSTM",
    state_names=("H", "C"),
    param_names=layout.FUSED_NAMES,
    make_params=lambda *a: layout.fuse(_random_params(*a)),
    truth=judge_only.function("autograde.lstm_scratch.references:fused_torch_lstm"),
    mistakes=judge_only.sequence("autograde.lstm_scratch.flaws:FUSED_FORWARD_MISTAKES"),
    gradient_mistakes=judge_only.sequence("autograde.lstm_scratch.flaws:FUSED_GRADIENT_MISTAKES"),
)


def _expected_params(V: int, H: int, fused: bool) -> list[factory.Expected]:
    E = factory.Expected
    if fused:
        gate_part = [E("W_x", (V, 4 * H), "normal"), E("W_h", (H, 4 * H), "normal"), E("b", (4 * H,), "zeros")]
    else:
        gate_part = []
        for g in layout.GATES:
            gate_part += [E(f"W_x{g}", (V, H), "normal"), E(f"W_h{g}", (H, H), "normal"), E(f"b_{g}", (H,), "zeros")]
    return gate_part + [E("W_hq", (H, V), "normal"), E("b_q", (V,), "zeros")]


check_get_lstm_params = factory.parameter_factory_check(
    "Exercise 1 (get_lstm_params)",
    "get_lstm_params",
    _SIZES,
    _expected_params(*_SIZES, fused=False),
    "Exercise 1: the 14 tensors of source 001's list, in its order.",
)

check_init_lstm_state = factory.state_factory_check(
    "Exercise 2 (init_lstm_state)",
    "init_lstm_state",
    (3, 20),
    ("H", "C"),
    "Exercise 2: (H, C), both zeros of shape (batch_size, num_hiddens).",
)

check_lstm_forward = recurrent.forward_check(
    LSTM, "Exercise 3: outputs and final (H, C) against nn.LSTM with the same weights."
)

check_lstm_gradients = recurrent.gradients_check(
    LSTM, "Exercise 3: the gradient of all 14 parameters against nn.LSTM's."
)

check_lstm_devices = recurrent.devices_check(
    LSTM, "Exercise 3: no hard-coded device (meta), and right on an accelerator where there is one."
)

check_get_fused_lstm_params = factory.parameter_factory_check(
    "Exercise 4 (get_fused_lstm_params)",
    "get_fused_lstm_params",
    _SIZES,
    _expected_params(*_SIZES, fused=True),
    "Exercise 4: [W_x (V, 4H), W_h (H, 4H), b (4H,), W_hq, b_q].",
)

check_fused_lstm = checks_in_turn(
    recurrent.forward_check(FUSED),
    recurrent.gradients_check(FUSED),
    recurrent.devices_check(FUSED),
    doc="Exercise 4: the fused LSTM's outputs, state, gradients and devices.",
)

# ---------------------------------------------------------------------------
# Exercise 5: the course's layout into nn.LSTM's

_EX5 = "Exercise 5 (to_torch_layout)"


_TO_TORCH = state_dicts.StateDictExercise(
    exercise=_EX5,
    name="to_torch_layout",
    layer=nn.LSTM,
    blocks=4,
    spec=LSTM,
    reference=judge_only.function("autograde.lstm_scratch.flaws:scratch_lstm"),
    mistakes=judge_only.function("autograde.lstm_scratch.references:torch_layout_mistakes"),
    computes="the course's LSTM",
    layout_hint="weight_ih_l0 stacks W_xi, W_xf, W_xc, W_xo transposed (order i, f, g, o); "
    "weight_hh_l0 the same for W_h*; the two biases add up to b.",
)


check_to_torch_layout = state_dicts.state_dict_check(
    _TO_TORCH, "Exercise 5: a state dict that makes nn.LSTM compute exactly the course's LSTM."
)


engine.name_checks(globals())
