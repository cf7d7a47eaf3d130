"""Checks for the chapter "GRU".

Two formulations of the GRU appear in the chapter, and each exercise says which it grades:

- d2l's form (exercises 1 and 2): H~ = tanh(X W_xh + (R * H) W_hh + b_h). PyTorch has no layer
  that computes it, so `gru` is held to the course's reference implementation
  (`flaws.scratch_gru`, judge only), which the tests verify against nn.GRU where the forms coincide and
  against an independent computation in general.
- PyTorch's form (exercises 3 and 4): H~ = tanh(X W_xh + b_xh + R * (H W_hh + b_hh)), held to a
  real nn.GRU with the same weights.

Each function takes the student's function, prints one line when it is right and raises
`CheckFailed` naming the mistake when it is not. The notebook's test cells call these and
nothing else, so nbgrader's feedback shows no hidden test.
"""

from __future__ import annotations

from torch import nn

from autograde import engine, judge_only, recurrent, state_dicts
from autograde import params as factory
from autograde.gru import layout
from autograde.recurrent import RecurrentSpec

__all__ = [
    "check_get_gru_params",
    "check_init_gru_state",
    "check_gru_forward",
    "check_gru_gradients",
    "check_gru_devices",
    "check_torch_gru_forward",
    "check_torch_gru_gradients",
    "check_torch_gru_devices",
    "check_to_torch_gru_layout",
]

_SIZES = (30, 20)  # vocab_size, num_hiddens for the factories: V != H shows transposes


def _d2l_params(case, dtype, device, gen):
    return layout.random_params(case.vocab, case.hidden, gen, dtype, form="d2l")


def _torch_params(case, dtype, device, gen):
    return layout.random_params(case.vocab, case.hidden, gen, dtype, form="torch")


GRU = RecurrentSpec(
    exercise="Exercise 2 (gru)",
    name="gru",
    truth_name="the course's d2l-form reference GRU",
    state_names=("H",),
    param_names=layout.PARAM_NAMES,
    make_params=_d2l_params,
    truth=judge_only.function("autograde.gru.flaws:scratch_gru"),
    mistakes=judge_only.sequence("autograde.gru.flaws:D2L_FORWARD"),
    gradient_mistakes=judge_only.sequence("autograde.gru.flaws:D2L_GRADIENT"),
)

TORCH_GRU = RecurrentSpec(
    exercise="Exercise 3 (torch_gru)",
    name="torch_gru",
    truth_name="nn.GRU",
    state_names=("H",),
    param_names=layout.TORCH_FORM_NAMES,
    make_params=_torch_params,
    truth=judge_only.function("autograde.gru.references:torch_gru"),
    mistakes=judge_only.sequence("autograde.gru.flaws:TORCH_FORWARD"),
    gradient_mistakes=judge_only.sequence("autograde.gru.flaws:TORCH_GRADIENT"),
)


def _expected_params(V: int, H: int) -> list[factory.Expected]:
    E = factory.Expected
    expected = []
    for g in layout.BLOCKS:
        expected += [E(f"W_x{g}", (V, H), "normal"), E(f"W_h{g}", (H, H), "normal"), E(f"b_{g}", (H,), "zeros")]
    return expected + [E("W_hq", (H, V), "normal"), E("b_q", (V,), "zeros")]


check_get_gru_params = factory.parameter_factory_check(
    "Exercise 1 (get_gru_params)",
    "get_gru_params",
    _SIZES,
    _expected_params(*_SIZES),
    "Exercise 1: d2l's 11 tensors, in its order (Z, R, H~, then the output layer).",
)

check_init_gru_state = factory.state_factory_check(
    "Exercise 1 (init_gru_state)",
    "init_gru_state",
    (3, 20),
    ("H",),
    "Exercise 1: (H,), zeros of shape (batch_size, num_hiddens).",
)

check_gru_forward = recurrent.forward_check(
    GRU, "Exercise 2 (d2l's form): outputs and final (H,) against the course's reference GRU."
)

check_gru_gradients = recurrent.gradients_check(
    GRU, "Exercise 2 (d2l's form): the gradient of all 11 parameters against the reference's."
)

check_gru_devices = recurrent.devices_check(
    GRU, "Exercise 2: no hard-coded device (meta), and right on an accelerator where there is one."
)

check_torch_gru_forward = recurrent.forward_check(
    TORCH_GRU, "Exercise 3 (PyTorch's form): outputs and final (H,) against nn.GRU with the same weights."
)

check_torch_gru_gradients = recurrent.gradients_check(
    TORCH_GRU, "Exercise 3 (PyTorch's form): the gradient of all 12 parameters against nn.GRU's."
)

check_torch_gru_devices = recurrent.devices_check(
    TORCH_GRU, "Exercise 3: no hard-coded device (meta), and right on an accelerator where there is one."
)

# ---------------------------------------------------------------------------
# Exercise 4: PyTorch's form into nn.GRU's layout

_EX4 = "Exercise 4 (to_torch_gru_layout)"


_TO_TORCH = state_dicts.StateDictExercise(
    exercise=_EX4,
    name="to_torch_gru_layout",
    layer=nn.GRU,
    blocks=3,
    spec=TORCH_GRU,
    reference=judge_only.function("autograde.gru.flaws:scratch_gru"),
    mistakes=judge_only.function("autograde.gru.references:torch_layout_mistakes"),
    computes="the course's GRU in PyTorch's form",
    layout_hint="weight_ih_l0 stacks W_xr, W_xz, W_xh transposed (order r, z, n); weight_hh_l0 the same for W_h*; "
    "bias_ih_l0 stacks b_r, b_z, b_xh; bias_hh_l0 is zeros, zeros, b_hh.",
)


check_to_torch_gru_layout = state_dicts.state_dict_check(
    _TO_TORCH, "Exercise 4: a state dict that makes nn.GRU compute exactly the course's PyTorch-form GRU."
)


engine.name_checks(globals())
