"""Checks for the chapter "LSTM from scratch".

Each function takes the student's function, prints one line when it is right and
raises `CheckFailed` naming the mistake when it is not. The notebook's test cells
call these and nothing else, so nbgrader's feedback shows no hidden test.
"""

from __future__ import annotations

from itertools import permutations

import torch
from torch import nn

from autograde import engine, recurrent, state_dicts
from autograde import params as factory
from autograde.engine import checks_in_turn
from autograde.lstm_scratch import layout
from autograde.lstm_scratch.flaws import catalogue, scratch_lstm
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


_forward_flaws, _gradient_flaws = catalogue(fused=False)
LSTM = RecurrentSpec(
    exercise="Exercise 3 (lstm)",
    name="lstm",
    truth_name="nn.LSTM",
    state_names=("H", "C"),
    param_names=layout.PARAM_NAMES,
    make_params=_random_params,
    truth=layout.torch_lstm,
    mistakes=_forward_flaws,
    gradient_mistakes=_gradient_flaws,
)

_fused_forward, _fused_gradient = catalogue(fused=True)
FUSED = RecurrentSpec(
    exercise="Exercise 4 (fused_lstm)",
    name="fused_lstm",
    truth_name="nn.LSTM",
    state_names=("H", "C"),
    param_names=layout.FUSED_NAMES,
    make_params=lambda *a: layout.fuse(_random_params(*a)),
    truth=lambda x, s, p: layout.torch_lstm(x, s, layout.unfuse(p)),
    mistakes=_fused_forward,
    gradient_mistakes=_fused_gradient,
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


def _torch_layout_mistakes(params):
    """Known wrong mappings, each with what to tell the student."""
    letters = {"i": "i", "f": "f", "c": "g", "o": "o"}
    for order in permutations(layout.GATES):
        if order == layout.TORCH_ORDER:
            continue
        shown = ", ".join(letters[g] for g in order)
        hint = (
            "that is the course's order (i, f, o, c~); nn.LSTM puts the candidate g third and the output gate "
            "last: (i, f, g, o)."
            if order == layout.GATES
            else "nn.LSTM stacks (i, f, g, o), g being C~."
        )
        yield state_dicts.planted(
            f"the gate blocks are stacked as ({shown}).", hint, layout.to_torch_layout(params, order)
        )
    right = layout.to_torch_layout(params)
    twice = dict(right, bias_hh_l0=right["bias_ih_l0"])
    yield state_dicts.planted(
        "the bias is counted twice: nn.LSTM adds bias_ih_l0 and bias_hh_l0.",
        "put b in one of them and zeros in the other (or split it between them).",
        twice,
    )
    yield state_dicts.planted(
        "the biases are missing: nn.LSTM adds bias_ih_l0 + bias_hh_l0, which should sum to b.",
        "stack b_i, b_f, b_c, b_o into bias_ih_l0.",
        dict(right, bias_ih_l0=torch.zeros_like(right["bias_ih_l0"])),
    )


_TO_TORCH = state_dicts.StateDictExercise(
    exercise=_EX5,
    name="to_torch_layout",
    layer=nn.LSTM,
    blocks=4,
    spec=LSTM,
    reference=scratch_lstm,
    mistakes=_torch_layout_mistakes,
    computes="the course's LSTM",
    layout_hint="weight_ih_l0 stacks W_xi, W_xf, W_xc, W_xo transposed (order i, f, g, o); "
    "weight_hh_l0 the same for W_h*; the two biases add up to b.",
)


check_to_torch_layout = state_dicts.state_dict_check(
    _TO_TORCH, "Exercise 5: a state dict that makes nn.LSTM compute exactly the course's LSTM."
)


engine.name_checks(globals())
