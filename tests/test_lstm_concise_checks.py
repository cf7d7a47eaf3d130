"""The concise-API chapter's own tests: the references are right (held to nn.LSTM), planted
bugs fail with their names, correct solutions written differently pass, and what crosses from
the student's code to the verdict is plain data. What every chapter's checks must do (pass the
solution, fail a stub, stay off stderr, name each catalogued mistake) is tests/test_chapters.py.

The planted bugs are edits of the solution notebook's own code (tests/planting.py).
"""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")  # before pyplot: tests never open a window

import matplotlib.pyplot as plt
import nbformat
import pytest
import torch
from torch import nn

from autograde import course, modules
from autograde import lstm_concise as checks
from autograde.lstm_concise import classifier, features, shapes, stacked, stepping, task
from autograde.lstm_concise.figures import accuracy_by_length, stacked_bidirectional

from conftest import ROOT
from notebooks import execute, grade_id, outputs_text
from planting import passes, solution, verdict

SLUG = "lstm-concise"
SOLUTION = solution(SLUG)
plant = SOLUTION.plant
checks_of = course.chapter(SLUG).checks
CPU = torch.device("cpu")

EXERCISES = (
    checks.OUTPUT_SHAPES,
    checks.NUM_PARAMETERS,
    checks.LAST_STEP_FEATURES,
    checks.RUN_STEP_BY_STEP,
    checks.STACKED_BILSTM,
    checks.MANY_TO_ONE,
)


# ---------------------------------------------------------------------------
# The references and the planted mistakes' base, held to nn.LSTM


@pytest.mark.parametrize(
    "config",
    shapes_configs := [
        (shape, 6, layers, bi, proj, bf)
        for shape, bf in (((5, 3, 4), False), ((3, 5, 4), True), ((5, 4), False), ((5, 4), True))
        for layers in (1, 2)
        for bi in (False, True)
        for proj in (0, 2)
    ],
)
def test_the_shape_arithmetic_without_slips_is_nn_lstms(config):
    assert shapes.shapes(*config) == shapes.lstm_shapes(*config)


@pytest.mark.parametrize("config", list(itertools.product((1, 2, 3), (False, True), (0, 3), (True, False))))
def test_the_count_without_slips_is_nn_lstms(config):
    layers, bi, proj, bias = config
    real = nn.LSTM(7, 9, num_layers=layers, bidirectional=bi, proj_size=proj, bias=bias)
    assert (
        shapes.count(7, 9, layers, bi, proj, bias)
        == shapes.lstm_count(7, 9, layers, bi, proj, bias)
        == sum(p.numel() for p in real.parameters())
    )


@pytest.mark.parametrize("case", checks._feature_cases(), ids=lambda c: c.label[-60:])
def test_the_features_reference_is_the_forward_end_and_the_backward_start_of_output(case):
    output, h_n, bidirectional, batch_first = case.make(CPU, None)
    want = features.from_h_n(output, h_n, bidirectional, batch_first)
    steps = output if not batch_first else output.transpose(0, 1)  # (L, N, D*H_out)
    H = h_n.shape[-1]
    from_output = torch.cat([steps[-1, :, :H], steps[0, :, H:]], dim=1) if bidirectional else steps[-1]
    assert torch.allclose(want, from_output)
    assert torch.equal(features.features(output, h_n, bidirectional, batch_first), want)


@pytest.mark.parametrize("case", checks._step_cases(), ids=lambda c: c.label[-60:])
def test_the_step_loop_without_slips_is_the_whole_sequence(case):
    lstm, x, state = case.make(CPU, None)
    with torch.no_grad():
        got_out, (got_h, got_c) = stepping.step_by_step(lstm, x, state)
        out, (h, c) = stepping.whole_sequence(lstm, x, state)
    assert torch.allclose(got_out, out) and torch.allclose(got_h, h) and torch.allclose(got_c, c)


def _load_and_run(model, weights, x):
    modules.load_weights("test", model, weights)
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize("sizes", checks.STACKED_CASES)
def test_the_cell_by_cell_model_is_nn_lstm(sizes):
    input_size, hidden, steps, batch = sizes
    torch.manual_seed(0)
    truth = stacked.TorchStacked(input_size, hidden).double()
    weights = modules.weights_by_kind(truth)
    x = torch.randn(steps, batch, input_size, dtype=torch.float64)
    out, (h, c) = _load_and_run(stacked.CellStacked(input_size, hidden).double(), weights, x)
    with torch.no_grad():
        want_out, (want_h, want_c) = truth(x)
    assert torch.allclose(out, want_out) and torch.allclose(h, want_h) and torch.allclose(c, want_c)


def test_the_classifier_reference_reads_the_last_step_of_a_batch_first_lstm():
    torch.manual_seed(0)
    model = classifier.Classifier(5, 4, 3).double()
    x = torch.randn(2, 6, 5, dtype=torch.float64)
    with torch.no_grad():
        output, (h_n, _) = model.lstm(x)
        assert torch.allclose(model(x), model.head(h_n[-1]))
        assert torch.allclose(model(x), model.head(output[:, -1]))


def test_the_task_puts_one_marker_in_the_window_and_distractors_elsewhere():
    x, y = task.batch(200, 15, torch.Generator().manual_seed(0))
    tokens = x.argmax(dim=2)
    assert x.shape == (200, 15, task.VOCAB) and torch.equal(x.sum(dim=2), torch.ones(200, 15))
    markers = tokens < task.MARKERS
    assert torch.equal(markers.sum(dim=1), torch.ones(200, dtype=torch.long))  # exactly one marker
    assert not markers[:, task.WINDOW :].any()
    assert torch.equal(tokens[markers], y)
    assert set(y.tolist()) == set(range(task.MARKERS))


def test_open_forget_gates_sets_only_the_forget_quarter_of_bias_ih():
    model = nn.Sequential(nn.LSTM(3, 4), nn.Linear(4, 2))
    before = model[0].bias_ih_l0.detach().clone()
    task.open_forget_gates(model, 3.0)
    after = model[0].bias_ih_l0.detach()
    assert torch.equal(after[4:8], torch.full((4,), 3.0))
    assert torch.equal(after[:4], before[:4]) and torch.equal(after[8:], before[8:])


def test_one_thread_restores_the_number_of_threads():
    threads = torch.get_num_threads()
    with task.one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == threads


# ---------------------------------------------------------------------------
# The probe's side: plain data out, no course reference and no mistake called


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.name)
def test_what_run_returns_is_plain_data_that_round_trips(ex, tmp_path):
    fn = SOLUTION.define(ex.name)
    for case in ex.cases()[:2]:
        got = ex.run(fn, case.make(CPU, None))
        torch.save(got, tmp_path / "got.pt")
        back = torch.load(tmp_path / "got.pt", weights_only=True)
        assert ex.same(ex.read(back, case), ex.read(got, case))


def _forbidden(*args, **kwargs):
    raise AssertionError("the probe called course code that only the judge may call")


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.name)
def test_cases_and_run_call_neither_the_reference_nor_the_mistakes(ex, monkeypatch):
    fn = SOLUTION.define(ex.name)
    for module, name in (
        (shapes, "lstm_shapes"),
        (shapes, "shapes"),
        (shapes, "lstm_count"),
        (shapes, "count"),
        (features, "from_h_n"),
        (features, "features"),
        (stepping, "whole_sequence"),
        (stepping, "step_by_step"),
        (stacked, "TorchStacked"),
        (stacked, "CellStacked"),
        (classifier, "Classifier"),
    ):
        monkeypatch.setattr(module, name, _forbidden)
    for case in ex.cases():
        ex.run(fn, case.make(CPU, None))


# ---------------------------------------------------------------------------
# Planted bugs: edits of the solution's own code, each named

BUGS = {
    "no second direction anywhere (two slips at once)": (
        "lstm_output_shapes",
        [("D = 2 if bidirectional else 1", "D = 1")],
        "two mistakes at once: the output's feature dimension forgets the second direction",
    ),
    "c_n projected": ("lstm_output_shapes", [(", hidden_size)", ", H_out)")], "c_n has proj_size features"),
    "proj_size ignored": (
        "lstm_output_shapes",
        [("H_out = proj_size if proj_size > 0 else hidden_size", "H_out = hidden_size")],
        "proj_size is ignored",
    ),
    "batch-first output time-major": (
        "lstm_output_shapes",
        [("output_shape = (N, L, D * H_out)", "output_shape = (L, N, D * H_out)")],
        "the output ignores batch_first",
    ),
    "states batch-first": (
        "lstm_output_shapes",
        [
            (
                "        output_shape = (N, L, D * H_out)\n",
                "        return (N, L, D * H_out), (N, D * num_layers, H_out), (N, D * num_layers, hidden_size)\n",
            )
        ],
        "h_n and c_n follow batch_first",
    ),
    "unbatched states with a batch of 1": (
        "lstm_output_shapes",
        [
            (
                "(D * num_layers, H_out), (D * num_layers, hidden_size)",
                "(D * num_layers, 1, H_out), (D * num_layers, 1, hidden_size)",
            )
        ],
        "keep a batch dimension of 1",
    ),
    "one bias": ("lstm_num_parameters", [("one += 2 * G", "one += G")], "one bias vector per layer"),
    "bias flag ignored": ("lstm_num_parameters", [("if bias:", "if True:")], "bias=False is ignored"),
    "upper layers read one direction": (
        "lstm_num_parameters",
        [("else D * H_out", "else H_out")],
        "the layers after the first read H_out features",
    ),
    "one direction counted": (
        "lstm_num_parameters",
        [("total += D * one", "total += one")],
        "the second direction is not counted",
    ),
    "weight_hr forgotten": (
        "lstm_num_parameters",
        [("one += H_out * hidden_size", "one += 0")],
        "weight_hr, the projection",
    ),
    "weight_hh as square": (
        "lstm_num_parameters",
        [("G * inputs + G * H_out", "G * inputs + G * hidden_size")],
        "weight_hh is counted as (4*hidden_size, hidden_size)",
    ),
    "output[-1]": (
        "last_step_features",
        [("    if bidirectional:\n", "    return output[-1]\n    if bidirectional:\n")],
        "the batch and time axes are confused",
    ),
    "output's last step, right axis": (
        "last_step_features",
        [
            (
                "    if bidirectional:\n",
                "    return output[:, -1] if batch_first else output[-1]\n    if bidirectional:\n",
            )
        ],
        "holds the backward direction at its FIRST step",
    ),
    "directions swapped": (
        "last_step_features",
        [("torch.cat([h_n[-2], h_n[-1]], dim=1)", "torch.cat([h_n[-1], h_n[-2]], dim=1)")],
        "the two directions are swapped",
    ),
    "first layer": (
        "last_step_features",
        [("    return h_n[-1]", "    return h_n[0]")],
        "the first layer's h_n is taken",
    ),
    "backward only": (
        "last_step_features",
        [("torch.cat([h_n[-2], h_n[-1]], dim=1)", "h_n[-1]")],
        "only the backward direction is taken",
    ),
    "reshaped": (
        "last_step_features",
        [("torch.cat([h_n[-2], h_n[-1]], dim=1)", "h_n[-2:].reshape(h_n.shape[1], -1)")],
        "reshaped into one, which mixes sequences",
    ),
    "state not carried": (
        "run_step_by_step",
        [
            ("out, state = lstm(x.narrow(time_dim, t, 1), state)", "out, last = lstm(x.narrow(time_dim, t, 1), state)"),
            ("torch.cat(outputs, dim=time_dim), state", "torch.cat(outputs, dim=time_dim), last"),
        ],
        "the state is not carried",
    ),
    "time always dim 0": (
        "run_step_by_step",
        [("time_dim = 1 if lstm.batch_first else 0", "time_dim = 0")],
        "the steps are taken along the wrong axis",
    ),
    "first step's state": (
        "run_step_by_step",
        [
            (
                "        outputs.append(out)\n",
                "        outputs.append(out)\n        if t == 0:\n            first = state\n",
            ),
            ("torch.cat(outputs, dim=time_dim), state", "torch.cat(outputs, dim=time_dim), first"),
        ],
        "the returned state is the first step's",
    ),
    "backward not reversed back": (
        "StackedBiLSTM",
        [("backward_h[t] = h", "backward_h[L - 1 - t] = h")],
        "the backward direction's outputs are left in reverse order",
    ),
    "layer 2 reads forward only": (
        "StackedBiLSTM",
        [
            ("nn.LSTMCell(2 * hidden_size, hidden_size)", "nn.LSTMCell(hidden_size, hidden_size)"),
            (
                "inputs = [torch.cat([f, b], dim=1) for f, b in zip(forward_h, backward_h)]",
                "inputs = forward_h if layer == 0 else "
                "[torch.cat([f, b], dim=1) for f, b in zip(forward_h, backward_h)]",
            ),
        ],
        "layer 2 reads only one direction of layer 1",
    ),
    "backward starts from the forward state": (
        "StackedBiLSTM",
        [
            (
                "            c_n.append(c)\n"
                "            h = c = x.new_zeros(N, self.hidden_size)\n            backward_h",
                "            c_n.append(c)\n            backward_h",
            )
        ],
        "the two directions' states are mixed",
    ),
    "h_n direction by direction": (
        "StackedBiLSTM",
        [
            (
                "(torch.stack(h_n), torch.stack(c_n))",
                "(torch.stack(h_n[0::2] + h_n[1::2]), torch.stack(c_n[0::2] + c_n[1::2]))",
            )
        ],
        "h_n and c_n are in the wrong order",
    ),
    "first step read": ("ManyToOne", [("output[:, -1]", "output[:, 0]")], "reads the FIRST step's features"),
    "not batch-first": (
        "ManyToOne",
        [("nn.LSTM(vocab_size, hidden_size, batch_first=True)", "nn.LSTM(vocab_size, hidden_size)")],
        "the LSTM is not batch-first",
    ),
}


@pytest.mark.parametrize("bug", BUGS)
def test_planted_bug_is_named(bug):
    grade_id_, edits, words = BUGS[bug]
    fn = plant(grade_id_, *edits)
    first = checks_of(grade_id_)[0]
    failure = verdict(first, fn)
    assert words in failure.problem, failure.problem


def test_reading_the_first_step_also_fails_the_training_check():
    fn = plant("ManyToOne", ("output[:, -1]", "output[:, 0]"))
    failure = verdict(checks.check_many_to_one_training, fn)
    assert "the test accuracy is" in failure.problem and "a correct model reaches at least" in failure.problem


def test_a_hard_coded_device_is_caught_on_meta():
    fn = plant(
        "run_step_by_step",
        (
            "    time_dim = 1 if lstm.batch_first else 0\n",
            "    time_dim = 1 if lstm.batch_first else 0\n"
            "    state = state or (torch.zeros(lstm.num_layers, x.shape[1 - time_dim], "
            "lstm.hidden_size, dtype=x.dtype), torch.zeros(lstm.num_layers, "
            "x.shape[1 - time_dim], lstm.hidden_size, dtype=x.dtype))\n",
        ),
    )
    failure = verdict(checks.check_run_step_by_step, fn)
    assert "hard-codes a device" in failure.problem


# ---------------------------------------------------------------------------
# Correct solutions written differently pass


def shapes_as_lists(input_shape, hidden_size, num_layers=1, bidirectional=False, proj_size=0, batch_first=False):
    *lead, _ = input_shape
    D = 1 + int(bidirectional)
    out = proj_size or hidden_size
    batch = [] if len(lead) == 1 else [lead[0] if batch_first else lead[1]]
    return ([*lead, D * out], torch.Size([D * num_layers, *batch, out]), [D * num_layers, *batch, hidden_size])


def count_closed_form(input_size, hidden_size, num_layers=1, bidirectional=False, proj_size=0, bias=True):
    D, H, P = 1 + bidirectional, hidden_size, proj_size
    R = P or H
    per_direction = [4 * H * (i + R) + 8 * H * bias + P * H for i in [input_size] + [D * R] * (num_layers - 1)]
    return torch.tensor(D * sum(per_direction))


def features_by_view(output, h_n, bidirectional=False, batch_first=False):
    D = 2 if bidirectional else 1
    last = h_n.view(-1, D, h_n.shape[1], h_n.shape[2])[-1]
    return last.permute(1, 0, 2).reshape(h_n.shape[1], -1)


def features_from_output(output, h_n, bidirectional=False, batch_first=False):
    seq = output.transpose(0, 1) if batch_first else output
    if not bidirectional:
        return seq[-1]
    half = seq.shape[-1] // 2
    return torch.cat([seq[-1, :, :half], seq[0, :, half:]], dim=-1)


def step_by_indexing(lstm, x, state=None):
    if lstm.batch_first:
        x = x.transpose(0, 1)
    if state is None:
        size = lstm.proj_size or lstm.hidden_size
        state = (
            x.new_zeros(lstm.num_layers, x.shape[1], size),
            x.new_zeros(lstm.num_layers, x.shape[1], lstm.hidden_size),
        )
    outs = []
    for t in range(len(x)):
        step = x[t : t + 1].transpose(0, 1) if lstm.batch_first else x[t : t + 1]
        out, state = lstm(step, state)
        outs.append(out)
    return torch.cat(outs, dim=1 if lstm.batch_first else 0), state


class NamedCells(nn.Module):
    """Other names, two attributes per layer, the backward direction run on the flipped sequence."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.fw1, self.bw1 = nn.LSTMCell(input_size, hidden_size), nn.LSTMCell(input_size, hidden_size)
        self.fw2, self.bw2 = nn.LSTMCell(2 * hidden_size, hidden_size), nn.LSTMCell(2 * hidden_size, hidden_size)

    @staticmethod
    def _run(cell, xs):
        h = c = xs.new_zeros(xs.shape[1], cell.hidden_size)
        hs = []
        for x_t in xs:
            h, c = cell(x_t, (h, c))
            hs.append(h)
        return torch.stack(hs), h, c

    def forward(self, x):
        finals_h, finals_c = [], []
        for fw, bw in ((self.fw1, self.bw1), (self.fw2, self.bw2)):
            f, hf, cf = self._run(fw, x)
            b, hb, cb = self._run(bw, x.flip(0))
            x = torch.cat([f, b.flip(0)], dim=2)
            finals_h += [hf, hb]
            finals_c += [cf, cb]
        return x, (torch.stack(finals_h), torch.stack(finals_c))


class ManyToOneByState(nn.Module):
    def __init__(self, vocab_size, hidden_size, num_classes):
        super().__init__()
        self.rnn = nn.LSTM(vocab_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        _, (h, _) = self.rnn(x)
        return self.out(h[-1])


class ManyToOneWithACell(nn.Module):
    def __init__(self, vocab_size, hidden_size, num_classes):
        super().__init__()
        self.cell = nn.LSTMCell(vocab_size, hidden_size)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        h = c = x.new_zeros(x.shape[0], self.cell.hidden_size)
        for t in range(x.shape[1]):
            h, c = self.cell(x[:, t], (h, c))
        return self.fc(h)


ALTERNATIVES = {
    "lstm_output_shapes": shapes_as_lists,
    "lstm_num_parameters": count_closed_form,
    "last_step_features (view)": features_by_view,
    "last_step_features (output)": features_from_output,
    "run_step_by_step": step_by_indexing,
    "StackedBiLSTM": NamedCells,
    "ManyToOne (h_n)": ManyToOneByState,
    "ManyToOne (a cell)": ManyToOneWithACell,
}


@pytest.mark.parametrize("name", ALTERNATIVES)
def test_correct_alternative_passes(name, capsys):
    exercise = name.split(" ")[0]
    checks_here = checks_of(exercise)
    if name == "ManyToOne (a cell)":  # the training loop opens nn.LSTMCell's forget gates too; quick enough
        checks_here = checks_here[:1]
    passes(checks_here, ALTERNATIVES[name], capsys)


@pytest.mark.parametrize("name", ["last_step_features (output)", "run_step_by_step", "StackedBiLSTM"])
def test_alternatives_pass_on_the_accelerator_stand_in(name, monkeypatch, capsys):
    monkeypatch.setenv("RNN_COURSE_ACCELERATOR", "cpu")
    passes(checks_of(name.split(" ")[0]), ALTERNATIVES[name], capsys)


def test_the_solution_passes_on_the_accelerator_stand_in(monkeypatch, capsys):
    monkeypatch.setenv("RNN_COURSE_ACCELERATOR", "cpu")
    for ex in ("last_step_features", "run_step_by_step", "StackedBiLSTM", "ManyToOne"):
        passes(checks_of(ex)[:1], SOLUTION.define(ex), capsys)


# ---------------------------------------------------------------------------
# The figures


def test_the_stacked_figure_fits_the_column(tmp_path):
    fig = stacked_bidirectional(3)
    width, height = fig.get_size_inches()
    assert width <= 7.6 and height <= 6  # shown at most 688 px wide: fonts stay >= 10 px
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert {"h_n[0]", "h_n[1]", "h_n[2]", "h_n[3]", "output[0]", "output[2]"} <= set(texts)
    assert min(t.get_fontsize() for t in fig.axes[0].texts if t.get_text()) >= 10
    fig.savefig(tmp_path / "f.png")
    plt.close(fig)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (True, TypeError), ("3", TypeError)])
def test_the_stacked_figure_rejects_bad_arguments(bad, error):
    with pytest.raises(error):
        stacked_bidirectional(bad)


def test_the_accuracy_figure_has_one_line_per_model():
    fig = accuracy_by_length((5, 10), {"nn.RNN": [1.0, 0.3], "nn.LSTM": [1.0, 1.0]}, chance=0.25)
    assert [line.get_label() for line in fig.axes[0].get_lines()][:2] == ["nn.RNN", "nn.LSTM"]
    assert "chance" in [t.get_text() for t in fig.axes[0].texts]
    plt.close(fig)


# ---------------------------------------------------------------------------
# The notebooks, with real kernels (quick training)


@pytest.mark.slow
def test_the_solution_runs_top_to_bottom_and_shows_what_the_prose_says(tmp_path):
    nb = execute(nbformat.read(ROOT / "solutions" / f"{SLUG}.ipynb", as_version=4), tmp_path)
    errors = [c.source[:60] for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            assert outputs_text(cell).startswith("\u2713"), (grade_id(cell), outputs_text(cell))
    text = "\n".join(outputs_text(c) for c in nb.cells if c.cell_type == "code")
    assert "bidirectional=False: output[:, -1] equals the final states? True" in text
    assert "bidirectional=True: output[:, -1] equals the final states? False" in text
    assert "forward half: True | backward half at step 0: True" in text
    assert "same last output: True" in text and "same final state: True" in text
    assert "output, h_n, c_n equal: True True True" in text
    assert "num_layers greater than 1" in text and "proj_size has to be smaller than hidden_size" in text
    images = sum(
        bool({"image/png", "image/svg+xml"} & set(o.get("data", {})))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    assert images >= 3  # the stacked figure, the accuracy plot, d2l's perplexity curve
