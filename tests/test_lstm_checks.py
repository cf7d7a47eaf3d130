"""The LSTM chapter's own tests: the grader's references are right, planted bugs fail with
their names, correct solutions written differently pass. What every chapter's checks must do
(pass the solution, fail a stub, stay off stderr...) is tests/test_chapters.py.
"""

from __future__ import annotations

import pytest
import torch

from autograde import course
from autograde import lstm_scratch as checks
from autograde.lstm_scratch import layout
from autograde.lstm_scratch import references as refs
from autograde.lstm_scratch.flaws import scratch_lstm
from autograde.recurrent import CASES, FLOAT64_TOL, make_trial, same_result

from planting import named, passes, solution, verdict

plant = solution("lstm-scratch").plant
checks_of = course.chapter("lstm-scratch").checks


# ---------------------------------------------------------------------------
# The grader's references


@pytest.mark.parametrize("case", CASES)
def test_graders_scratch_lstm_equals_nn_lstm(case):
    """The grader's own from-scratch LSTM (used for exercise 5 and the mistakes) is itself right."""
    trial = make_trial(checks.LSTM, case)
    with torch.no_grad():
        assert same_result(
            scratch_lstm(trial.inputs, trial.state, trial.params),
            refs.torch_lstm(trial.inputs, trial.state, trial.params),
            FLOAT64_TOL,
        )


def test_fuse_and_unfuse_are_inverse():
    params = layout.random_params(5, 3, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(layout.unfuse(layout.fuse(params)), params))


# ---------------------------------------------------------------------------
# Planted bugs: (which solution, edits, which check, words the verdict must contain)

I_LINE = "I = torch.sigmoid(X @ W_xi + H @ W_hi + b_i)"
O_LINE = "O = torch.sigmoid(X @ W_xo + H @ W_ho + b_o)"
F_LINE = "F = torch.sigmoid(X @ W_xf + H @ W_hf + b_f)"
CT_LINE = "C_tilde = torch.tanh(X @ W_xc + H @ W_hc + b_c)"
UPDATE = "C = F * C + I * C_tilde"
HIDDEN = "H = O * torch.tanh(C)"
OUTPUT = "outputs.append(H @ W_hq + b_q)"
RETURN = "return torch.cat(outputs, dim=0), (H, C)"

LSTM_BUGS = {
    "gates swapped": (
        [
            (I_LINE, "I = torch.sigmoid(X @ W_xo + H @ W_ho + b_o)"),
            (O_LINE, "O = torch.sigmoid(X @ W_xi + H @ W_hi + b_i)"),
        ],
        checks.check_lstm_forward,
        "input gate I and the output gate O are swapped",
    ),
    "tanh for a sigmoid": (
        [(F_LINE, F_LINE.replace("sigmoid", "tanh"))],
        checks.check_lstm_forward,
        "forget gate F uses tanh where a sigmoid belongs",
    ),
    "sigmoid for tanh": (
        [(CT_LINE, CT_LINE.replace("tanh", "sigmoid"))],
        checks.check_lstm_forward,
        "candidate memory C~ uses a sigmoid where tanh belongs",
    ),
    "no tanh on C": ([(HIDDEN, "H = O * C")], checks.check_lstm_forward, "tanh in H = O * tanh(C) is missing"),
    "forget gate missing": ([(UPDATE, "C = C + I * C_tilde")], checks.check_lstm_forward, "forget gate is missing"),
    "forget gate on the wrong term": (
        [(UPDATE, "C = F * C_tilde + I * C")],
        checks.check_lstm_forward,
        "forget gate is on the wrong term",
    ),
    "state not carried": (
        [
            (UPDATE, "C_t = F * C + I * C_tilde"),
            (HIDDEN, "H_t = O * torch.tanh(C_t)"),
            (OUTPUT, "outputs.append(H_t @ W_hq + b_q)"),
            ("(H, C)\n", "(H_t, C_t)\n"),
        ],
        checks.check_lstm_forward,
        "state is not carried between time steps",
    ),
    "memory not carried": (
        [(UPDATE, "C_new = F * C + I * C_tilde"), (HIDDEN, "H = O * torch.tanh(C_new)"), ("(H, C)\n", "(H, C_new)\n")],
        checks.check_lstm_forward,
        "memory C is not carried",
    ),
    "C returned where H belongs": (
        [(RETURN, "return torch.cat(outputs, dim=0), (C, H)")],
        checks.check_lstm_forward,
        "returned state is (C, H)",
    ),
    "output layer reads C": (
        [(OUTPUT, "outputs.append(C @ W_hq + b_q)")],
        checks.check_lstm_forward,
        "output layer reads the memory C",
    ),
    "output layer missing": ([(OUTPUT, "outputs.append(H)")], checks.check_lstm_forward, "output layer is missing"),
    "batch-major outputs": (
        [(RETURN, "return torch.stack(outputs, dim=1).reshape(-1, W_hq.shape[1]), (H, C)")],
        checks.check_lstm_forward,
        "batch-major",
    ),
    "stacked, not concatenated": (
        [(RETURN, "return torch.stack(outputs), (H, C)")],
        checks.check_lstm_forward,
        "(T, B, V)",
    ),
    "initial state ignored": (
        [("H, C = state", "H, C = torch.zeros_like(state[0]), torch.zeros_like(state[1])")],
        checks.check_lstm_forward,
        "state you are given is ignored",
    ),
    "gradient cut": (
        [(OUTPUT, OUTPUT + "\n        H, C = H.detach(), C.detach()")],
        checks.check_lstm_gradients,
        "gradient is cut between time steps",
    ),
    "computed without autograd": (
        [
            ("H, C = state", "H, C = state\n    torch.set_grad_enabled(False)"),
            (RETURN, "torch.set_grad_enabled(True)\n    " + RETURN),
        ],
        checks.check_lstm_gradients,
        "carry no gradient",
    ),
    "hard-coded device": (
        [("H, C = state", "H, C = state[0], state[1].to('cpu')")],
        checks.check_lstm_devices,
        "hard-codes a device",
    ),
    "hard-coded new tensor": (
        [(OUTPUT, "outputs.append(H @ W_hq + b_q + torch.zeros(W_hq.shape[1]))")],
        checks.check_lstm_devices,
        "hard-codes a device",
    ),
    "crash": ([(HIDDEN, "H = O * torch.tanh(C @ W_xi)")], checks.check_lstm_forward, "raised RuntimeError"),
}


@pytest.mark.parametrize("bug", list(LSTM_BUGS))
def test_planted_bug_in_lstm_is_named(bug):
    edits, check, words = LSTM_BUGS[bug]
    named(check, plant("lstm", *edits), words)


PARAM_BUGS = {
    "not trainable": (
        "get_lstm_params",
        [("param.requires_grad_(True)", "pass")],
        checks.check_get_lstm_params,
        "not trainable",
    ),
    "device ignored": (
        "get_lstm_params",
        [("torch.zeros(num_hiddens, device=device)", "torch.zeros(num_hiddens)")],
        checks.check_get_lstm_params,
        "hard-coded",
    ),
    "not a leaf": (
        "get_lstm_params",
        [
            (
                "torch.randn(size=shape, device=device) * 0.01",
                "torch.randn(size=shape, device=device, requires_grad=True) * 0.01",
            )
        ],
        checks.check_get_lstm_params,
        "not a leaf",
    ),
    "std 1": (
        "get_lstm_params",
        [("torch.randn(size=shape, device=device) * 0.01", "torch.randn(size=shape, device=device)")],
        checks.check_get_lstm_params,
        "normal(0, 0.01)",
    ),
    "uniform": (
        "get_lstm_params",
        [("torch.randn(size=shape, device=device) * 0.01", "torch.rand(size=shape, device=device) * 0.01")],
        checks.check_get_lstm_params,
        "uniform",
    ),
    "transposed": (
        "get_lstm_params",
        [("normal((num_inputs, num_hiddens))", "normal((num_hiddens, num_inputs))")],
        checks.check_get_lstm_params,
        "transposed",
    ),
    "wrong order": ("get_lstm_params", [("W_hq, b_q]", "b_q, W_hq]")], checks.check_get_lstm_params, "W_hq has shape"),
    "shared gate": (
        "get_lstm_params",
        [("W_xf, W_hf, b_f = gate()", "W_xf, W_hf, b_f = W_xi, W_hi, b_i")],
        checks.check_get_lstm_params,
        "same tensor",
    ),
    "state one tensor": (
        "init_lstm_state",
        [
            (
                "return (torch.zeros((batch_size, num_hiddens), device=device),\n",
                "return (torch.zeros((batch_size, num_hiddens), device=device)) + (\n",
            )
        ],
        checks.check_init_lstm_state,
        "must return a tuple",
    ),
    "state device": ("init_lstm_state", [("), device=device)", "))")], checks.check_init_lstm_state, "hard-coded"),
    "fused gate order": (
        "fused_lstm",
        [("I, F, O = torch.sigmoid", "F, I, O = torch.sigmoid")],
        checks.check_fused_lstm,
        "input gate I and the forget gate F are swapped",
    ),
    "fused in PyTorch's order": (
        "fused_lstm",
        [
            (
                "I, F, O = torch.sigmoid(gates[:, :3 * n]).chunk(3, dim=1)",
                "I, F, _, O = torch.sigmoid(gates).chunk(4, dim=1)",
            ),
            ("torch.tanh(gates[:, 3 * n:])", "torch.tanh(gates[:, 2 * n:3 * n])"),
        ],
        checks.check_fused_lstm,
        "output gate O and the candidate memory C~ are swapped",
    ),
    "fused blocks rotated": (
        "fused_lstm",
        [
            ("torch.sigmoid(gates[:, :3 * n])", "torch.sigmoid(gates[:, n:])"),
            ("torch.tanh(gates[:, 3 * n:])", "torch.tanh(gates[:, :n])"),
        ],
        checks.check_fused_lstm,
        "the gates read each other's weights",
    ),
    "fused params narrow": (
        "get_fused_lstm_params",
        [("normal(vocab_size, 4 * num_hiddens)", "normal(vocab_size, num_hiddens)")],
        checks.check_get_fused_lstm_params,
        "W_x has shape",
    ),
    "torch order": (
        "to_torch_layout",
        [
            ("[b_i, b_f, b_c, b_o]", "[b_i, b_f, b_o, b_c]"),
            ("[W_xi, W_xf, W_xc, W_xo]", "[W_xi, W_xf, W_xo, W_xc]"),
            ("[W_hi, W_hf, W_hc, W_ho]", "[W_hi, W_hf, W_ho, W_hc]"),
        ],
        checks.check_to_torch_layout,
        "course's order",
    ),
    "bias twice": (
        "to_torch_layout",
        [('"bias_hh_l0": torch.zeros_like(bias)', '"bias_hh_l0": bias')],
        checks.check_to_torch_layout,
        "counted twice",
    ),
    "not transposed": (
        "to_torch_layout",
        [("dim=1).T,   # (4H, V)", "dim=1),")],
        checks.check_to_torch_layout,
        "transpose",
    ),
    "one bias": (
        "to_torch_layout",
        [('"bias_hh_l0": torch.zeros_like(bias),', "")],
        checks.check_to_torch_layout,
        "two biases",
    ),
}


@pytest.mark.parametrize("bug", list(PARAM_BUGS))
def test_planted_bug_elsewhere_is_named(bug):
    grade_id, edits, check, words = PARAM_BUGS[bug]
    named(check, plant(grade_id, *edits), words)


# ---------------------------------------------------------------------------
# Correct solutions, written differently


def lstm_one_matmul(inputs, state, params):
    W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q = params
    W_x = torch.cat([W_xi, W_xf, W_xo, W_xc], dim=1)
    W_h = torch.cat([W_hi, W_hf, W_ho, W_hc], dim=1)
    W = torch.cat([W_x, W_h], dim=0)  # one matmul on [X, H]
    b = torch.cat([b_i, b_f, b_o, b_c])
    H, C = state
    sigmoid = lambda z: 1 / (1 + torch.exp(-z))  # noqa: E731
    ys = []
    for X in inputs:
        z = torch.cat([X, H], dim=1) @ W + b
        i, f, o, g = z.chunk(4, dim=1)
        C = sigmoid(f) * C + sigmoid(i) * torch.tanh(g)
        H = sigmoid(o) * torch.tanh(C)
        ys.append(torch.addmm(b_q, H, W_hq))
    return torch.stack(ys).reshape(-1, W_hq.shape[1]), [H, C]


def lstm_by_index(inputs, state, params):
    H, C = state
    T = inputs.shape[0]
    outs = inputs.new_zeros(T * inputs.shape[1], params[12].shape[1])
    rows = []
    for t in range(T):
        X = inputs[t]
        gate = [
            torch.nn.functional.linear(X, params[3 * k].T, params[3 * k + 2]) + H.matmul(params[3 * k + 1])
            for k in range(4)
        ]
        I, F, O = (g.sigmoid() for g in gate[:3])
        C = torch.addcmul(F * C, I, gate[3].tanh())
        H = O * C.tanh()
        rows.append(H @ params[12] + params[13])
    outs = outs + torch.cat(rows)
    return outs, (H, C)


def params_other_way(vocab_size, num_hiddens, device):
    shapes = [(vocab_size, num_hiddens), (num_hiddens, num_hiddens), (num_hiddens,)] * 4
    shapes += [(num_hiddens, vocab_size), (vocab_size,)]
    params = []
    for shape in shapes:
        p = torch.empty(shape, device=device)
        torch.nn.init.normal_(p, std=0.01) if len(shape) == 2 else torch.nn.init.zeros_(p)
        params.append(torch.nn.Parameter(p))
    return params


def state_as_list(batch_size, num_hiddens, device):
    return [torch.zeros(batch_size, num_hiddens, device=device) for _ in range(2)]


def fused_per_step(inputs, state, params):
    W_x, W_h, b, W_hq, b_q = params
    H, C = state
    ys = []
    for X in inputs:
        i, f, o, g = (X @ W_x + H @ W_h + b).split(H.shape[1], dim=1)
        C = torch.sigmoid(f) * C + torch.sigmoid(i) * torch.tanh(g)
        H = torch.sigmoid(o) * torch.tanh(C)
        ys.append(H @ W_hq + b_q)
    return torch.cat(ys), (H, C)


def torch_layout_split_bias(params):
    g = {k: params[3 * n : 3 * n + 3] for n, k in enumerate("ifoc")}
    order = "ifco"
    stack = lambda j: torch.stack([g[k][j].T for k in order]).reshape(-1, g["i"][j].shape[0])  # noqa: E731
    b = torch.cat([g[k][2] for k in order])
    return {"weight_ih_l0": stack(0), "weight_hh_l0": stack(1), "bias_ih_l0": b / 2, "bias_hh_l0": b / 2}


ALTERNATIVES = {
    "one matmul, manual sigmoid, stack, list state": (lstm_one_matmul, checks_of("lstm")),
    "functional ops, addcmul": (lstm_by_index, checks_of("lstm")),
    "nn.init and Parameter": (params_other_way, checks_of("get_lstm_params")),
    "state as a list": (state_as_list, checks_of("init_lstm_state")),
    "fused, projection inside the loop": (fused_per_step, checks_of("fused_lstm")),
    "split bias, stacked differently": (torch_layout_split_bias, checks_of("to_torch_layout")),
}


@pytest.mark.parametrize("name", list(ALTERNATIVES))
def test_correct_alternative_passes(name, capsys):
    fn, check_list = ALTERNATIVES[name]
    passes(check_list, fn, capsys)


# ---------------------------------------------------------------------------
# How a verdict looks


def test_failure_renders_as_a_short_verdict_in_jupyter():
    failure = verdict(checks.check_lstm_forward, plant("lstm", (UPDATE, "C = C + I * C_tilde")))
    lines = failure._render_traceback_()
    assert lines[0].startswith("\u2717 Exercise 3 (lstm): the forget gate is missing")
    assert len(lines) == 2 and failure.hint  # planting.verdict holds the second line to "  hint: ..."


def test_crash_verdict_quotes_the_students_line():
    failure = verdict(checks.check_lstm_forward, plant("lstm", (HIDDEN, "H = O * torch.tanh(C @ W_xi)")))
    assert "H = O * torch.tanh(C @ W_xi)" in failure.hint


def test_code_the_meta_device_cannot_run_is_not_failed_for_it(capsys):
    """.item() is fine on a real device; the meta check must not call it a device mistake."""
    fn = plant("lstm", ("H, C = state", "H, C = state\n    _ = float(H.sum().item()) if H.numel() else 0.0"))
    checks.check_lstm_devices(fn)
    assert "meta device lacks" in capsys.readouterr().out


def test_torchs_own_not_implemented_error_is_not_called_a_stub():
    def uses_missing_op(inputs, state, params):
        raise NotImplementedError("Could not run 'aten::foo' with arguments from the 'Meta' backend.")

    failure = verdict(checks.check_lstm_forward, uses_missing_op)
    assert "raised NotImplementedError: Could not run" in failure.problem
