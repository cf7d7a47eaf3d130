"""The check engine itself: mistakes that come together, unused parameters, the accelerator
stand-in, and nn.Module exercises whose layers are found by what they are."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn

from autograde import course, devices, engine, gru, lstm_scratch, modules, rnn_scratch
from autograde.mistakes import Mistake, diagnose, mistake, pairs, together
from autograde.verdict import CheckFailed

from planting import STUB, Solution, solution, verdict

LSTM = Solution("lstm-scratch")
GRU = Solution("gru")
RNN = Solution("rnn-scratch", {"F": torch.nn.functional})


# ---------------------------------------------------------------------------
# Mistakes alone, together and in pairs


def _ref(x, *, a=0, b=0, c=None):
    return x + a + 10 * b + (c or {}).get("k", 0)


def test_pairs_merge_options_and_skip_contradictions():
    one, two = mistake(_ref, "a is one.", a=1), mistake(_ref, "b is one.", b=1)
    other = mistake(_ref, "a is two.", a=2)
    found = list(pairs([one, two, other]))
    assert [m.problem for m in found] == [
        "two mistakes at once: a is one; and b is one",
        "two mistakes at once: b is one; and a is two",
    ]
    assert found[0].plant(0) == 11


def test_together_merges_nested_options_and_refuses_contradictions():
    k1, k2 = mistake(_ref, "k.", c={"k": 1}), mistake(_ref, "j.", c={"j": 1})
    assert together("both.", None, [k1, k2]).plant.keywords == {"c": {"k": 1, "j": 1}}
    with pytest.raises(ValueError):
        together("never.", None, [mistake(_ref, "a1", a=1), mistake(_ref, "a2", a=2)])
    with pytest.raises(ValueError):
        together("not options.", None, [Mistake("f", None, lambda x: x), k1])


def test_diagnose_tries_singles_before_pairs_and_survives_plants_that_crash():
    crash = Mistake("crashes.", None, lambda x: 1 / 0)
    one, two = mistake(_ref, "a is one.", a=1), mistake(_ref, "b is one.", b=1)
    assert diagnose([crash, one, two], lambda m: m.plant(0) == 1) is one
    assert diagnose([crash, one, two], lambda m: m.plant(0) == 11).problem.startswith("two mistakes at once")
    assert diagnose([one, two], lambda m: m.plant(0) == 11, combine=False) is None


TANH = "torch.tanh"


@pytest.mark.parametrize(
    "solution, grade_id, check, edits, named",
    [
        (
            LSTM,
            "lstm",
            lstm_scratch.check_lstm_forward,
            [
                ("I = torch.sigmoid", f"I = {TANH}"),
                ("F = torch.sigmoid", f"F = {TANH}"),
                ("O = torch.sigmoid", f"O = {TANH}"),
            ],
            "every gate (I, F and O) uses tanh",
        ),
        (
            GRU,
            "gru",
            gru.check_gru_forward,
            [("Z = torch.sigmoid", f"Z = {TANH}"), ("R = torch.sigmoid", f"R = {TANH}")],
            "both gates, Z and R, use tanh",
        ),
        (
            LSTM,
            "lstm",
            lstm_scratch.check_lstm_forward,
            [(" + b_i)", ")"), (" + b_f)", ")"), (" + b_o)", ")"), (" + b_c)", ")"), ("H @ W_hq + b_q", "H @ W_hq")],
            "no bias is added anywhere",
        ),
        (
            GRU,
            "gru",
            gru.check_gru_forward,
            [(" + b_z)", ")"), (" + b_r)", ")"), (" + b_h)", ")"), ("H @ W_hq + b_q", "H @ W_hq")],
            "no bias is added anywhere",
        ),
        (
            RNN,
            "rnn",
            rnn_scratch.check_rnn_forward,
            [(" + b_h)", ")"), ("H @ W_hq + b_q", "H @ W_hq")],
            "both biases are missing",
        ),
        (
            LSTM,
            "lstm",
            lstm_scratch.check_lstm_forward,
            [("H = O * torch.tanh(C)", "H = O * C"), ("C = F * C + I * C_tilde", "C = C + I * C_tilde")],
            "two mistakes at once: the tanh in H = O * tanh(C) is missing; and the forget gate is missing",
        ),
    ],
)
def test_mistakes_made_together_are_named(solution, grade_id, check, edits, named):
    assert named in verdict(check, solution.plant(grade_id, *edits)).problem


def test_a_parameter_without_gradient_is_named_as_unused():
    fn = RNN.plant("rnn", ("H @ W_hq + b_q", "H @ W_hq + b_q.detach()"))
    assert verdict(rnn_scratch.check_rnn_gradients, fn).problem == "b_q is never used: no gradient reached it."


# ---------------------------------------------------------------------------
# The accelerator path, run on the CPU in float32


@pytest.fixture
def stand_in(monkeypatch):
    monkeypatch.setenv(devices.STAND_IN, "cpu")


def test_the_cpu_stands_in_for_an_accelerator_only_when_asked(monkeypatch):
    monkeypatch.delenv(devices.STAND_IN, raising=False)
    assert devices.accelerator() is None or devices.accelerator().device.type != "cpu"
    monkeypatch.setenv(devices.STAND_IN, "cpu")
    assert devices.accelerator() == devices.Accelerator(torch.device("cpu"), "the CPU standing in for an accelerator")


@pytest.mark.parametrize(
    "solution, grade_id, check",
    [
        (LSTM, "lstm", lstm_scratch.check_lstm_devices),
        (LSTM, "fused_lstm", lstm_scratch.check_fused_lstm),
        (GRU, "gru", gru.check_gru_devices),
        (GRU, "torch_gru", gru.check_torch_gru_devices),
        (RNN, "rnn", rnn_scratch.check_rnn_devices),
        (RNN, "grad_clipping", rnn_scratch.check_grad_clipping),
        (RNN, "perplexity", rnn_scratch.check_perplexity),
    ],
)
def test_solutions_pass_in_float32_against_the_float64_truth(stand_in, solution, grade_id, check, capsys):
    check(solution.define(grade_id))
    out = capsys.readouterr().out
    assert "\u2713" in out and "\u2717" not in out


def test_a_result_that_changes_dtype_is_caught_on_the_accelerator(stand_in):
    fn = LSTM.plant(
        "lstm",
        (
            "    H, C = state\n",
            "    H, C = state[0].double(), state[1].double()\n"
            "    inputs, params = inputs.double(), [p.double() for p in params]\n",
        ),
        ("= params\n", "= [p.double() for p in params]\n"),
    )
    lstm_scratch.check_lstm_forward(fn)  # float64 everywhere on the CPU: right
    assert (
        "float64 although inputs and parameters are torch.float32"
        in verdict(lstm_scratch.check_lstm_devices, fn).problem
    )


# ---------------------------------------------------------------------------
# nn.Module exercises: layers found by kind, weights copied in


class Classifier(nn.Module):
    """The reference: embed, LSTM (batch-first), a linear layer on the last step's features."""

    def __init__(self, vocab, embed, hidden, classes, read="last"):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)
        self.read = read

    def forward(self, ids):  # (N, L) -> (N, classes)
        out, _ = self.lstm(self.embedding(ids))
        return self.head(out[:, -1] if self.read == "last" else out[:, 0])


class Renamed(nn.Module):
    """Another student's: other names, time-major with transposes."""

    def __init__(self, vocab, embed, hidden, classes):
        super().__init__()
        self.words = nn.Embedding(vocab, embed)
        self.rnn = nn.LSTM(embed, hidden)
        self.out = nn.Linear(hidden, classes)

    def forward(self, ids):
        _, (h, _) = self.rnn(self.words(ids.T))
        return self.out(h[-1])


class WithCells(nn.Module):
    """A third: an nn.LSTMCell stepped by hand."""

    def __init__(self, vocab, embed, hidden, classes):
        super().__init__()
        self.e = nn.Embedding(vocab, embed)
        self.cell = nn.LSTMCell(embed, hidden)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, ids):
        x = self.e(ids)
        h = c = x.new_zeros(x.shape[0], self.cell.hidden_size)
        for t in range(x.shape[1]):
            h, c = self.cell(x[:, t], (h, c))
        return self.fc(h)


class NoEmbedding(nn.Module):
    def __init__(self, vocab, embed, hidden, classes):
        super().__init__()
        self.vocab = vocab
        self.lstm = nn.LSTM(vocab, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, ids):
        return self.head(self.lstm(nn.functional.one_hot(ids, self.vocab).double())[0][:, -1])


SIZES = (11, 5, 6, 3)
TOL = dict(rtol=1e-7, atol=1e-9)
EX = "Exercise (classifier)"


def _compare(student_cls):
    """The reference and a student's model on the same weights (passed as data) and inputs."""
    torch.manual_seed(0)
    weights = modules.weights_by_kind(Classifier(*SIZES).double())
    ids = torch.randint(SIZES[0], (4, 7), generator=torch.Generator().manual_seed(0))
    loss_weights = torch.randn(4, SIZES[3], generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    want = modules.run_model(EX, Classifier(*SIZES).double(), weights, (ids,), loss_weights)
    got = modules.run_model(EX, student_cls(*SIZES).double(), weights, (ids,), loss_weights)
    return got, want


@pytest.mark.parametrize("student", [Classifier, Renamed, WithCells])
def test_differently_built_modules_match_the_reference(student):
    got, want = _compare(student)
    assert torch.allclose(got["output"], want["output"], **TOL)
    assert modules.gradient_problem(EX, got["grads"], want["grads"], TOL) is None


def test_the_weights_cross_as_plain_data(tmp_path):
    torch.save(modules.weights_by_kind(Classifier(*SIZES)), tmp_path / "w.pt")
    assert set(torch.load(tmp_path / "w.pt", weights_only=True)) == {"Embedding", "LSTM", "Linear"}


def test_a_module_reading_the_wrong_step_differs():
    got, want = _compare(partial(Classifier, read="first"))
    assert not torch.allclose(got["output"], want["output"], **TOL)


def test_a_missing_layer_is_named():
    with pytest.raises(CheckFailed) as info:
        _compare(NoEmbedding)
    assert "no nn.Embedding layer(s)" in info.value.problem


def test_a_detached_layer_is_named_as_unused():
    class Frozen(Classifier):
        def forward(self, ids):
            out, _ = self.lstm(self.embedding(ids).detach())
            return self.head(out[:, -1])

    got, want = _compare(Frozen)
    problem = modules.gradient_problem(EX, got["grads"], want["grads"], TOL)
    assert problem is not None and problem.problem == "nn.Embedding 1's weight is never used: no gradient reached it."


# ---------------------------------------------------------------------------
# Probe and judge: what crosses between them is plain data


def _engine_exercises():
    for ch in course.CHAPTERS:
        for spec in vars(ch.module()).values():
            if isinstance(spec, engine.Exercise):
                yield pytest.param(ch, spec, id=f"{ch.slug}:{spec.name}")


ENGINE_EXERCISES = list(_engine_exercises())
EVERY_CHECK = [
    pytest.param(ch, ex, check, id=f"{ch.slug}:{check.__name__}")
    for ch in course.CHAPTERS
    for ex in ch.exercises
    for check in ch.checks(ex.name)
]


@pytest.mark.parametrize("ch, ex, check", EVERY_CHECK)
def test_every_check_splits_into_a_probe_and_a_judge(ch, ex, check, tmp_path, capsys, stand_in):
    """What the probe saves survives torch.load(weights_only=True), and from it alone the judge reaches
    the self-check's verdict, for the solution and for a stub (on the CPU and the accelerator stand-in)."""
    assert isinstance(check, engine.Check), f"{check.__name__} is not an engine.Check: the grader cannot split it"
    sol = solution(ch.slug)
    for fn, passes in ((sol.define(ex.name), True), (sol.plant(ex.name, STUB), False)):
        torch.save(check.probe(fn), tmp_path / "seen.pt")
        seen = torch.load(tmp_path / "seen.pt", weights_only=True)
        if passes:
            check.judge(seen)
            assert "\u2717" not in capsys.readouterr().out
        else:
            assert "not implemented" in verdict(check.judge, seen).problem


def test_engine_exercises_are_found():
    assert {p.values[1].name for p in ENGINE_EXERCISES} >= {
        "perplexity",
        "grad_clipping",
        "predict",
        "ngram_perplexity",
    }


def test_what_is_not_plain_data_crosses_as_its_type_name():
    class Strange:
        pass

    seen = engine.unplain(engine.plain({"a": [Strange(), 1.5, "x", None]}))
    assert type(seen["a"][0]).__name__ == "Strange" and seen["a"][1:] == [1.5, "x", None]
    problem = verdict(rnn_scratch.check_perplexity, lambda logits, targets: Strange()).problem
    assert problem == "`perplexity` returned a Strange; it returns a number (a float or a 0-dimensional tensor)."
