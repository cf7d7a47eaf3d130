"""The GRU chapter's own tests: the references are right, planted bugs fail with their names,
correct solutions written differently pass, and the figures draw. What every chapter's checks
must do (pass the solution, fail a stub, stay off stderr...) is tests/test_chapters.py.
"""

from __future__ import annotations

import itertools
import sys

import matplotlib

matplotlib.use("Agg")  # before pyplot: tests never open a window

import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from autograde import course
from autograde import gru as checks
from autograde.gru import layout
from autograde.gru import references as refs
from autograde.gru.figures import gru_cell, reset_placement
from autograde.gru.flaws import catalogue, scratch_gru
from autograde.recurrent import CASES, FLOAT64_TOL, make_trial, same_result

from conftest import ROOT
from planting import named, passes, solution, verdict

plant = solution("gru").plant
checks_of = course.chapter("gru").checks

# ---------------------------------------------------------------------------
# The references themselves


def _grads(fn, inputs, state, params, seed=0):
    leaves = [p.detach().clone().requires_grad_(True) for p in params]
    outputs, (H,) = fn(inputs, state, leaves)
    gen = torch.Generator().manual_seed(seed)
    loss = (outputs * torch.randn(outputs.shape, generator=gen, dtype=outputs.dtype)).sum() + (
        H * torch.randn(H.shape, generator=gen, dtype=H.dtype)
    ).sum()
    return torch.autograd.grad(loss, leaves, allow_unused=True)


@pytest.mark.parametrize("case", CASES)
def test_pytorch_form_reference_equals_nn_gru_outputs_and_gradients(case):
    """The independent from-scratch GRU in PyTorch's form (used for exercise 4) is nn.GRU."""
    trial = make_trial(checks.TORCH_GRU, case)
    with torch.no_grad():
        assert same_result(
            scratch_gru(trial.inputs, trial.state, trial.params),
            refs.torch_gru(trial.inputs, trial.state, trial.params),
            FLOAT64_TOL,
        )
    mine = _grads(scratch_gru, trial.inputs, trial.state, trial.params)
    torchs = _grads(refs.torch_gru, trial.inputs, trial.state, trial.params)
    for name, a, b in zip(layout.TORCH_FORM_NAMES, mine, torchs):
        assert torch.allclose(a, b, **FLOAT64_TOL), name


def _diagonal_case(case, b_hh_zero=True):
    """d2l-form parameters whose W_hh = diag(d), d a leaf; and the same weights in PyTorch's form."""
    trial = make_trial(checks.GRU, case)
    params = [p.detach().clone() for p in trial.params]
    d = torch.diagonal(params[7]).clone()
    return trial, params, d


@pytest.mark.parametrize("case", CASES)
def test_d2l_form_reference_equals_nn_gru_where_the_forms_coincide(case):
    """With W_hh = diag(d) and b_hh = 0, (R * H) W_hh = R * (H W_hh): d2l's form is nn.GRU's.

    Outputs, final state and the gradient of every parameter (of d for W_hh) agree.
    """
    trial, params, d = _diagonal_case(case)

    def d2l_form(inputs, state, leaves):
        *rest, d_leaf = leaves
        ps = list(rest)
        ps.insert(7, torch.diag(d_leaf))
        return scratch_gru(inputs, state, ps)

    def nn_gru(inputs, state, leaves):
        *rest, d_leaf = leaves
        ps = list(rest)
        ps.insert(7, torch.diag(d_leaf))
        return refs.torch_gru(inputs, state, layout.d2l_to_torch_form(ps))

    leaves = params[:7] + params[8:] + [d]
    with torch.no_grad():
        assert same_result(
            d2l_form(trial.inputs, trial.state, leaves), nn_gru(trial.inputs, trial.state, leaves), FLOAT64_TOL
        )
    names = list(layout.PARAM_NAMES[:7] + layout.PARAM_NAMES[8:]) + ["diagonal of W_hh"]
    for name, a, b in zip(
        names, _grads(d2l_form, trial.inputs, trial.state, leaves), _grads(nn_gru, trial.inputs, trial.state, leaves)
    ):
        assert torch.allclose(a, b, **FLOAT64_TOL), name


@pytest.mark.parametrize("case", CASES)
def test_the_forms_differ_otherwise(case):
    """A full W_hh, or a diagonal one with b_hh != 0: d2l's form is not nn.GRU's (the chapter's trap)."""
    trial = make_trial(checks.GRU, case)
    params = [p.detach() for p in trial.params]
    with torch.no_grad():
        assert not same_result(
            scratch_gru(trial.inputs, trial.state, params),
            refs.torch_gru(trial.inputs, trial.state, layout.d2l_to_torch_form(params)),
            dict(rtol=1e-3, atol=1e-3),
        )
        diagonal = list(params)
        diagonal[7] = torch.diag(torch.diagonal(params[7]))
        torch_form = layout.d2l_to_torch_form(diagonal)
        torch_form[9] = torch.ones_like(torch_form[9])  # b_hh != 0
        plain = list(diagonal)
        plain[8] = diagonal[8] + torch_form[9]  # the same total bias, outside the reset gate
        assert not same_result(
            scratch_gru(trial.inputs, trial.state, plain),
            refs.torch_gru(trial.inputs, trial.state, torch_form),
            dict(rtol=1e-3, atol=1e-3),
        )


def numpy_d2l_gru(inputs, H, params):
    """d2l's form once more, in NumPy, one sequence and one entry of the state at a time."""
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q = params
    sigmoid = lambda v: 0.5 * (1 + np.tanh(v / 2))  # noqa: E731
    T, B, _ = inputs.shape
    H = H.copy()
    outputs = np.zeros((T, B, W_hq.shape[1]))
    for t in range(T):
        for b in range(B):
            x, h = inputs[t, b], H[b]
            z = sigmoid(x @ W_xz + h @ W_hz + b_z)
            r = sigmoid(x @ W_xr + h @ W_hr + b_r)
            reset = np.array([r[j] * h[j] for j in range(len(h))])
            candidate = np.tanh(x @ W_xh + np.einsum("i,ij->j", reset, W_hh) + b_h)
            H[b] = candidate + z * (h - candidate)
            outputs[t, b] = H[b] @ W_hq + b_q
    return outputs.reshape(T * B, -1), H


@pytest.mark.parametrize("case", CASES)
def test_d2l_form_reference_equals_an_independent_computation(case):
    """In general (a full W_hh) the reference is checked against NumPy, and its gradients
    against finite differences."""
    trial = make_trial(checks.GRU, case)
    params = [p.detach() for p in trial.params]
    with torch.no_grad():
        outputs, (H,) = scratch_gru(trial.inputs, trial.state, params)
    expected, H_expected = numpy_d2l_gru(trial.inputs.numpy(), trial.state[0].numpy(), [p.numpy() for p in params])
    np.testing.assert_allclose(outputs.numpy(), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(H.numpy(), H_expected, rtol=1e-10, atol=1e-12)
    leaves = tuple(p.clone().requires_grad_(True) for p in params)
    assert torch.autograd.gradcheck(
        lambda *ps: (
            scratch_gru(trial.inputs, trial.state, list(ps))[0].sum(0)
            @ torch.arange(1.0, ps[9].shape[1] + 1, dtype=torch.float64)
        ),
        leaves,
    )
    assert torch.autograd.gradcheck(lambda *ps: scratch_gru(trial.inputs, trial.state, list(ps))[1][0], leaves)


def test_layouts_round_trip():
    params = layout.random_params(5, 3, torch.Generator().manual_seed(0), form="torch")
    state = refs.to_torch_layout(params)
    W = state["weight_ih_l0"].T.chunk(3, dim=1)  # (r, z, n)
    assert torch.equal(W[0], params[3]) and torch.equal(W[1], params[0]) and torch.equal(W[2], params[6])
    assert torch.equal(state["bias_hh_l0"][6:], params[9]) and not state["bias_hh_l0"][:6].any()
    d2l = layout.random_params(5, 3, torch.Generator().manual_seed(0))
    assert len(layout.d2l_to_torch_form(d2l)) == 12
    with pytest.raises(ValueError):
        layout.split(d2l[:5])


# ---------------------------------------------------------------------------
# The catalogues of mistakes


def test_catalogues_name_the_required_mistakes():
    for form in ("d2l", "torch"):
        text = " ".join(f.problem for f in catalogue(form)[0] + catalogue(form)[1])
        for words in (
            "update gate is reversed",
            "reset gate is applied",
            "are swapped",
            "uses tanh where a sigmoid",
            "uses a sigmoid where tanh",
            "not carried",
            "given is ignored",
            "initial one",
            "batch-major",
            "detached inside the loop",
        ):
            assert words in text, (form, words)


# ---------------------------------------------------------------------------
# Planted bugs in the solution's own code: (edits, check, words the verdict must contain)

UNPACK = "W_xz, W_hz, b_z, W_xr, W_hr, b_r,"
Z_LINE = "Z = torch.sigmoid(X @ W_xz + H @ W_hz + b_z)"
R_LINE = "R = torch.sigmoid(X @ W_xr + H @ W_hr + b_r)"
CAND = "H_tilde = torch.tanh(X @ W_xh + (R * H) @ W_hh + b_h)"
UPDATE = "H = Z * H + (1 - Z) * H_tilde"
OUTPUT = "outputs.append(H @ W_hq + b_q)"
RETURN = "return torch.cat(outputs, dim=0), (H,)"
T_CAND = "H_tilde = torch.tanh(X @ W_xh + b_xh + R * (H @ W_hh + b_hh))"
T_UPDATE = "H = (1 - Z) * H_tilde + Z * H"

# Mistakes that read the same in both functions.
COMMON = {
    "gates swapped": (
        [
            (Z_LINE, "Z = torch.sigmoid(X @ W_xr + H @ W_hr + b_r)"),
            (R_LINE, "R = torch.sigmoid(X @ W_xz + H @ W_hz + b_z)"),
        ],
        "update gate Z and the reset gate R are swapped",
    ),
    "unpacked in nn.GRU's order": (
        [(UNPACK, "W_xr, W_hr, b_r, W_xz, W_hz, b_z,")],
        "update gate Z and the reset gate R are swapped",
    ),
    "tanh for Z": ([(Z_LINE, Z_LINE.replace("sigmoid", "tanh"))], "update gate Z uses tanh where a sigmoid belongs"),
    "tanh for R": ([(R_LINE, R_LINE.replace("sigmoid", "tanh"))], "reset gate R uses tanh where a sigmoid belongs"),
    "given state ignored": ([("H, = state", "H = torch.zeros_like(state[0])")], "state you are given is ignored"),
    "returned state initial": (
        [("H, = state", "H0, = state\n    H = H0"), (RETURN, RETURN.replace("(H,)", "(H0,)"))],
        "returned state is the initial one",
    ),
    "output layer missing": ([(OUTPUT, "outputs.append(H)")], "output layer is missing"),
    "output from the candidate": (
        [(OUTPUT, "outputs.append(H_tilde @ W_hq + b_q)")],
        "output layer reads the candidate",
    ),
    "candidate returned": ([(RETURN, RETURN.replace("(H,)", "(H_tilde,)"))], "returned state is the last candidate"),
    "batch-major outputs": (
        [(RETURN, "return torch.stack(outputs, dim=1).reshape(-1, W_hq.shape[1]), (H,)")],
        "batch-major",
    ),
    "stacked, not concatenated": ([(RETURN, "return torch.stack(outputs), (H,)")], "(T, B, V)"),
    "state as a bare tensor": ([(RETURN, "return torch.cat(outputs, dim=0), H")], "must be a tuple (H)"),
    "crash": ([(OUTPUT, "outputs.append(H @ W_hq.T + b_q)")], "raised RuntimeError"),
}

GRU_BUGS = {
    **{name: (edits, checks.check_gru_forward, words) for name, (edits, words) in COMMON.items()},
    "update gate reversed": (
        [(UPDATE, "H = (1 - Z) * H + Z * H_tilde")],
        checks.check_gru_forward,
        "update gate is reversed",
    ),
    "1 - Z missing": ([(UPDATE, "H = Z * H + H_tilde")], checks.check_gru_forward, "factor 1 - Z is missing"),
    "reset after the product (PyTorch's)": (
        [(CAND, "H_tilde = torch.tanh(X @ W_xh + R * (H @ W_hh) + b_h)")],
        checks.check_gru_forward,
        "applied after the product with W_hh",
    ),
    "reset missing": ([(CAND, CAND.replace("(R * H)", "H"))], checks.check_gru_forward, "reset gate is missing"),
    "sigmoid for the candidate": (
        [(CAND, CAND.replace("tanh", "sigmoid"))],
        checks.check_gru_forward,
        "candidate state H~ uses a sigmoid where tanh belongs",
    ),
    "R's line copied from Z's": (
        [(R_LINE, "R = torch.sigmoid(X @ W_xz + H @ W_hz + b_z)")],
        checks.check_gru_forward,
        "reset gate R uses the weights of the update gate Z",
    ),
    "candidate reads Z's weights": (
        [(CAND, CAND.replace("W_xh", "W_xz").replace("W_hh", "W_hz").replace("b_h)", "b_z)"))],
        checks.check_gru_forward,
        "candidate state H~ uses the weights of the update gate",
    ),
    "state not carried": (
        [
            (UPDATE, "H_new = Z * H + (1 - Z) * H_tilde"),
            (OUTPUT, "outputs.append(H_new @ W_hq + b_q)"),
            (RETURN, RETURN.replace("(H,)", "(H_new,)")),
        ],
        checks.check_gru_forward,
        "state is not carried between time steps",
    ),
    "gradient cut": (
        [(OUTPUT, OUTPUT + "\n        H = H.detach()")],
        checks.check_gru_gradients,
        "gradient is cut between time steps",
    ),
    "computed without autograd": (
        [
            ("H, = state", "H, = state\n    torch.set_grad_enabled(False)"),
            (RETURN, "torch.set_grad_enabled(True)\n    " + RETURN),
        ],
        checks.check_gru_gradients,
        "carry no gradient",
    ),
    "hard-coded device": (
        [("H, = state", "H, = state\n    H = H.to('cpu')")],
        checks.check_gru_devices,
        "hard-codes a device",
    ),
    "hard-coded new tensor": (
        [(OUTPUT, "outputs.append(H @ W_hq + b_q + torch.zeros(W_hq.shape[1]))")],
        checks.check_gru_devices,
        "hard-codes a device",
    ),
}

TORCH_BUGS = {
    **{name: (edits, checks.check_torch_gru_forward, words) for name, (edits, words) in COMMON.items()},
    "update gate reversed": (
        [(T_UPDATE, "H = Z * H_tilde + (1 - Z) * H")],
        checks.check_torch_gru_forward,
        "update gate is reversed",
    ),
    "reset before the product (d2l's)": (
        [(T_CAND, "H_tilde = torch.tanh(X @ W_xh + b_xh + (R * H) @ W_hh + b_hh)")],
        checks.check_torch_gru_forward,
        "applied before the product with W_hh",
    ),
    "reset before the product, bias reset too": (
        [(T_CAND, "H_tilde = torch.tanh(X @ W_xh + b_xh + (R * H) @ W_hh + R * b_hh)")],
        checks.check_torch_gru_forward,
        "applied before the product with W_hh",
    ),
    "b_hh outside the reset": (
        [(T_CAND, T_CAND.replace("R * (H @ W_hh + b_hh)", "R * (H @ W_hh) + b_hh"))],
        checks.check_torch_gru_forward,
        "b_hh is added outside the reset gate",
    ),
    "b_hh unused": ([(T_CAND, T_CAND.replace(" + b_hh", ""))], checks.check_torch_gru_forward, "b_hh is not used"),
    "reset on the input too": (
        [(T_CAND, "H_tilde = torch.tanh(R * (X @ W_xh + b_xh + H @ W_hh + b_hh))")],
        checks.check_torch_gru_forward,
        "scales the input's part too",
    ),
    "sigmoid for the candidate": (
        [(T_CAND, T_CAND.replace("tanh", "sigmoid"))],
        checks.check_torch_gru_forward,
        "candidate state H~ uses a sigmoid where tanh belongs",
    ),
    "state not carried": (
        [
            (T_UPDATE, "H_new = (1 - Z) * H_tilde + Z * H"),
            (OUTPUT, "outputs.append(H_new @ W_hq + b_q)"),
            (RETURN, RETURN.replace("(H,)", "(H_new,)")),
        ],
        checks.check_torch_gru_forward,
        "state is not carried between time steps",
    ),
    "gradient cut": (
        [(OUTPUT, OUTPUT + "\n        H = H.detach()")],
        checks.check_torch_gru_gradients,
        "gradient is cut between time steps",
    ),
    "hard-coded device": (
        [("H, = state", "H, = state\n    H = H.to('cpu')")],
        checks.check_torch_gru_devices,
        "hard-codes a device",
    ),
}


@pytest.mark.parametrize("bug", list(GRU_BUGS))
def test_planted_bug_in_gru_is_named(bug):
    edits, check, words = GRU_BUGS[bug]
    named(check, plant("gru", *edits), words)


@pytest.mark.parametrize("bug", list(TORCH_BUGS))
def test_planted_bug_in_torch_gru_is_named(bug):
    edits, check, words = TORCH_BUGS[bug]
    named(check, plant("torch_gru", *edits), words)


def test_every_verdict_says_which_form_is_graded_when_the_reset_is_misplaced():
    d2l = verdict(checks.check_gru_forward, plant("gru", *GRU_BUGS["reset after the product (PyTorch's)"][0]))
    assert "this exercise grades d2l's form" in d2l.problem and "as nn.GRU does" in d2l.problem
    torch_form = verdict(
        checks.check_torch_gru_forward, plant("torch_gru", *TORCH_BUGS["reset before the product (d2l's)"][0])
    )
    assert "this exercise grades PyTorch's form" in torch_form.problem and "as d2l does" in torch_form.problem


LAYOUT = "to_torch_gru_layout"
OTHER_BUGS = {
    "not trainable": (
        "get_gru_params",
        [("param.requires_grad_(True)", "pass")],
        checks.check_get_gru_params,
        "not trainable",
    ),
    "device ignored": (
        "get_gru_params",
        [("torch.zeros(num_hiddens, device=device)", "torch.zeros(num_hiddens)")],
        checks.check_get_gru_params,
        "hard-coded",
    ),
    "std 1": (
        "get_gru_params",
        [("torch.randn(size=shape, device=device) * 0.01", "torch.randn(size=shape, device=device)")],
        checks.check_get_gru_params,
        "normal(0, 0.01)",
    ),
    "transposed": (
        "get_gru_params",
        [("normal((num_inputs, num_hiddens))", "normal((num_hiddens, num_inputs))")],
        checks.check_get_gru_params,
        "transposed",
    ),
    "no output layer": (
        "get_gru_params",
        [(", W_hq, b_q]", "]")],
        checks.check_get_gru_params,
        "returned 9 tensors, expected 11",
    ),
    "shared block": (
        "get_gru_params",
        [("W_xr, W_hr, b_r = block()", "W_xr, W_hr, b_r = W_xz, W_hz, b_z")],
        checks.check_get_gru_params,
        "same tensor",
    ),
    "state not a tuple": (
        "init_gru_state",
        [("device=device),)", "device=device))")],
        checks.check_init_gru_state,
        "must return a tuple",
    ),
    "state device": ("init_gru_state", [("), device=device)", "))")], checks.check_init_gru_state, "hard-coded"),
    "course's order": (
        LAYOUT,
        [
            ("[W_xr, W_xz, W_xh]", "[W_xz, W_xr, W_xh]"),
            ("[W_hr, W_hz, W_hh]", "[W_hz, W_hr, W_hh]"),
            ("[b_r, b_z, b_xh]", "[b_z, b_r, b_xh]"),
        ],
        checks.check_to_torch_gru_layout,
        "course's order",
    ),
    "b_hh in bias_ih": (
        LAYOUT,
        [
            ("[b_r, b_z, b_xh]", "[b_r, b_z, b_xh + b_hh]"),
            ("torch.zeros_like(b_z), b_hh]", "torch.zeros_like(b_z), torch.zeros_like(b_hh)]"),
        ],
        checks.check_to_torch_gru_layout,
        "b_hh is in bias_ih_l0",
    ),
    "n biases swapped": (
        LAYOUT,
        [("[b_r, b_z, b_xh]", "[b_r, b_z, b_hh]"), ("torch.zeros_like(b_z), b_hh]", "torch.zeros_like(b_z), b_xh]")],
        checks.check_to_torch_gru_layout,
        "b_xh and b_hh are swapped",
    ),
    "gate biases twice": (
        LAYOUT,
        [("[torch.zeros_like(b_r), torch.zeros_like(b_z), b_hh]", "[b_r, b_z, b_hh]")],
        checks.check_to_torch_gru_layout,
        "counted twice",
    ),
    "not transposed": (
        LAYOUT,
        [("dim=1).T,   # (3H, V)", "dim=1),   # (3H, V)")],
        checks.check_to_torch_gru_layout,
        "transpose",
    ),
    "one bias": (LAYOUT, [('"bias_hh_l0"', '"bias_hn"')], checks.check_to_torch_gru_layout, "no bias_hh_l0"),
}


@pytest.mark.parametrize("bug", list(OTHER_BUGS))
def test_planted_bug_elsewhere_is_named(bug):
    grade_id, edits, check, words = OTHER_BUGS[bug]
    named(check, plant(grade_id, *edits), words)


# ---------------------------------------------------------------------------
# Correct solutions, written differently


def gru_fused_gates_lerp(inputs, state, params):
    """One matmul for both gates on [X, H], torch.lerp for the mix, a hand-written sigmoid."""
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q = params
    W_gates = torch.cat([torch.cat([W_xz, W_xr], dim=1), torch.cat([W_hz, W_hr], dim=1)], dim=0)
    b_gates = torch.cat([b_z, b_r])
    (H,) = state
    ys = []
    for X in inputs:
        Z, R = (1 / (1 + torch.exp(-(torch.cat([X, H], dim=1) @ W_gates + b_gates)))).chunk(2, dim=1)
        H_tilde = torch.tanh(X @ W_xh + (R * H) @ W_hh + b_h)
        H = torch.lerp(H_tilde, H, Z)  # H~ + Z * (H - H~)
        ys.append(torch.addmm(b_q, H, W_hq))
    return torch.stack(ys).reshape(-1, W_hq.shape[1]), [H]


def gru_precomputed(inputs, state, params):
    """Input parts for all steps before the loop, output layer after it, H = H~ + Z * (H - H~)."""
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q = params
    H = state[0]
    xz, xr, xh = (torch.einsum("tbv,vh->tbh", inputs, W) + b for W, b in ((W_xz, b_z), (W_xr, b_r), (W_xh, b_h)))
    hs = []
    for t in range(inputs.shape[0]):
        Z = torch.sigmoid(xz[t] + H.matmul(W_hz))
        R = torch.sigmoid(xr[t] + H.matmul(W_hr))
        H_tilde = torch.tanh(xh[t] + torch.mm(R * H, W_hh))
        H = H_tilde + Z * (H - H_tilde)
        hs.append(H)
    return torch.nn.functional.linear(torch.cat(hs), W_hq.T, b_q), (H,)


def torch_gru_fused(inputs, state, params):
    """PyTorch's form as cuDNN computes it: one product for the three blocks, before the gates."""
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_xh, b_hh, W_hq, b_q = params
    W_x = torch.cat([W_xr, W_xz, W_xh], dim=1)
    W_h = torch.cat([W_hr, W_hz, W_hh], dim=1)
    b_x = torch.cat([b_r, b_z, b_xh])
    b_h = torch.cat([torch.zeros_like(b_r), torch.zeros_like(b_z), b_hh])
    (H,) = state
    ys = []
    for gx in inputs @ W_x + b_x:
        gh = H @ W_h + b_h
        rx, zx, nx = gx.chunk(3, dim=1)
        rh, zh, nh = gh.chunk(3, dim=1)
        R, Z = torch.sigmoid(rx + rh), torch.sigmoid(zx + zh)
        N = torch.tanh(nx + R * nh)
        H = N + Z * (H - N)
        ys.append(H)
    return torch.cat(ys) @ W_hq + b_q, (H,)


def torch_gru_by_index(inputs, state, params):
    H = state[0]
    rows = []
    for t in range(inputs.shape[0]):
        X = inputs[t]
        Z = torch.sigmoid(torch.addmm(params[2], X, params[0]) + H @ params[1])
        R = torch.sigmoid(torch.addmm(params[5], X, params[3]) + H @ params[4])
        N = torch.tanh(torch.addmm(params[8], X, params[6]) + R * torch.addmm(params[9], H, params[7]))
        H = torch.lerp(N, H, Z)
        rows.append(H @ params[10] + params[11])
    return torch.cat(rows, 0), tuple([H])


def params_other_way(vocab_size, num_hiddens, device):
    shapes = [(vocab_size, num_hiddens), (num_hiddens, num_hiddens), (num_hiddens,)] * 3
    shapes += [(num_hiddens, vocab_size), (vocab_size,)]
    params = []
    for shape in shapes:
        p = torch.empty(shape, device=device)
        torch.nn.init.normal_(p, std=0.01) if len(shape) == 2 else torch.nn.init.zeros_(p)
        params.append(torch.nn.Parameter(p))
    return params


def state_as_list(batch_size, num_hiddens, device):
    return [torch.zeros(batch_size, num_hiddens, device=device)]


def layout_split_gate_biases(params):
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_xh, b_hh, W_hq, b_q = params
    stack = lambda *ws: torch.stack([w.T for w in ws]).reshape(-1, ws[0].shape[0])  # noqa: E731
    return {
        "weight_ih_l0": stack(W_xr, W_xz, W_xh),
        "weight_hh_l0": stack(W_hr, W_hz, W_hh),
        "bias_ih_l0": torch.cat([b_r / 2, b_z / 2, b_xh]),
        "bias_hh_l0": torch.cat([b_r / 2, b_z / 2, b_hh]),
    }


ALTERNATIVES = {
    "fused gates, lerp, manual sigmoid, stack, list state": (gru_fused_gates_lerp, checks_of("gru")),
    "precomputed inputs, H~ + Z * (H - H~)": (gru_precomputed, checks_of("gru")),
    "PyTorch's form fused as cuDNN does": (torch_gru_fused, checks_of("torch_gru")),
    "PyTorch's form by index, addmm, lerp": (torch_gru_by_index, checks_of("torch_gru")),
    "nn.init and Parameter": (params_other_way, checks_of("get_gru_params")),
    "state as a list": (state_as_list, checks_of("init_gru_state")),
    "gate biases split between the two": (layout_split_gate_biases, checks_of("to_torch_gru_layout")),
}


@pytest.mark.parametrize("name", list(ALTERNATIVES))
def test_correct_alternative_passes(name, capsys):
    fn, check_list = ALTERNATIVES[name]
    passes(check_list, fn, capsys)


def test_d2l_form_submitted_as_pytorch_form_is_named():
    """The solution of exercise 2, adapted to 12 parameters, fails exercise 3 with the placement named."""
    d2l_gru = solution("gru").define("gru")

    def adapted(inputs, state, params):
        W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_xh, b_hh, W_hq, b_q = params
        return d2l_gru(inputs, state, [W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_xh + b_hh, W_hq, b_q])

    problem = verdict(checks.check_torch_gru_forward, adapted).problem
    assert "applied before the product with W_hh" in problem and "as d2l does" in problem


# ---------------------------------------------------------------------------
# How a verdict looks


def test_failure_renders_as_a_short_verdict_in_jupyter():
    failure = verdict(checks.check_gru_forward, plant("gru", (UPDATE, "H = (1 - Z) * H + Z * H_tilde")))
    lines = failure._render_traceback_()
    assert lines[0].startswith("\u2717 Exercise 2 (gru): the update gate is reversed")
    assert len(lines) == 2 and failure.hint  # planting.verdict holds the second line to "  hint: ..."


# ---------------------------------------------------------------------------
# The figures

DRAWINGS = {"gru_cell": gru_cell, "reset_placement": reset_placement}


@pytest.fixture
def close_new_figures():
    before = set(plt.get_fignums())
    yield
    for number in set(plt.get_fignums()) - before:
        plt.close(number)


@pytest.mark.parametrize("name", DRAWINGS)
def test_figure_draws_one_figure_with_labels_inside_and_apart(name, close_new_figures, tmp_path):
    before = set(plt.get_fignums())
    fig = DRAWINGS[name]()
    assert isinstance(fig, Figure) and set(plt.get_fignums()) - before == {fig.number}
    (ax,) = fig.axes
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in ax.texts if t.get_text()]
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        assert not box_a.overlaps(box_b), f"{a!r} overlaps {b!r}"
    for text, box in boxes:
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1, text
    fig.savefig(tmp_path / "figure.png", dpi=80)
    fig.savefig(tmp_path / "figure.svg")
    assert (tmp_path / "figure.png").stat().st_size > 10_000 and "<svg" in (tmp_path / "figure.svg").read_text()


def test_gru_cell_has_every_part(close_new_figures):
    (ax,) = gru_cell().axes
    gids = {patch.get_gid() for patch in ax.patches}
    assert {
        "gru-cell",
        "gate-update",
        "gate-reset",
        "candidate",
        "op-reset",
        "op-keep",
        "op-one-minus",
        "op-take",
        "op-add",
    } <= gids
    face = {patch.get_gid(): patch.get_facecolor() for patch in ax.patches if patch.get_gid()}
    assert face["gate-update"] == face["gate-reset"] != face["candidate"]
    text = " ".join(t.get_text() for t in ax.texts)
    for symbol in (
        r"H_{t-1}",
        r"$H_t$",
        r"X_t",
        r"\tilde{H}_t",
        r"$Z_t$",
        r"$R_t$",
        r"1 - Z_t",
        r"(R_t \odot H_{t-1}) W_{hh}",
        r"Z_t \odot H_{t-1} + (1 - Z_t) \odot \tilde{H}_t",
    ):
        assert symbol in text, symbol


def test_reset_placement_shows_both_orders(close_new_figures):
    (ax,) = reset_placement().axes
    x = {
        p.get_gid(): p.get_center()[0] if hasattr(p, "get_center") else p.get_x() + p.get_width() / 2
        for p in ax.patches
        if p.get_gid()
    }
    assert x["d2l-reset"] < x["d2l-product"]  # d2l: reset, then multiply
    assert x["torch-product"] < x["torch-reset"]  # nn.GRU: multiply, then reset
    text = " ".join(t.get_text() for t in ax.texts)
    assert r"R_t \odot (H_{t-1} W_{hh} + b_{hh})" in text and r"(R_t \odot H_{t-1}) W_{hh}" in text


# ---------------------------------------------------------------------------
# What the notebook shows (a real kernel, quick training)


@pytest.mark.slow
def test_the_notebook_shows_the_forms_differ_and_coincide_for_a_diagonal_w_hh(tmp_path):
    from notebooks import execute, outputs_text

    nb = nbformat.read(ROOT / "solutions" / "gru.ipynb", as_version=4)
    (tmp_path / "notebooks").mkdir()
    nb = execute(nb, tmp_path / "notebooks")
    (cell,) = [c for c in nb.cells if "largest_differences(diagonal)" in c.source]
    lines = outputs_text(cell).splitlines()
    numbers = [float(line.rsplit(":", 1)[1]) for line in lines if "vs nn.GRU" in line]
    any_d2l, any_torch, diagonal_d2l, diagonal_torch = numbers
    assert any_d2l > 1e-2 and any_torch < 1e-12 and diagonal_d2l < 1e-12 and diagonal_torch < 1e-12
    (comparison,) = [c for c in nb.cells if "def evaluate(net)" in c.source]
    text = outputs_text(comparison)
    assert text.count("perplexity") == 3 and text.count("'time traveller") == 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
