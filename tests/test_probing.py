"""Probe and judge apart, as the grader runs them: records on disk, verdicts from the judge alone."""

from __future__ import annotations

import os

import pytest
import torch

from autograde import devices, probing, recurrent
from autograde.course import CHAPTERS
from autograde.tools import grade
from autograde.tools.grading import secure
from autograde.tools.grading.records import CellResult, Submission, UsageError

from conftest import ROOT
from planting import STUB, solution

LSTM = solution("lstm-scratch")
PACKAGE = "autograde.lstm_scratch"


@pytest.fixture
def records(tmp_path, monkeypatch):
    monkeypatch.setenv(probing.RECORDS, str(tmp_path))
    return tmp_path


def test_a_recorded_solution_passes_and_a_stub_fails(records, capsys):
    probing.record(PACKAGE, "check_lstm_forward", LSTM.define("lstm"))
    assert "recorded for the grader" in capsys.readouterr().out
    right = probing.verdict(PACKAGE, "check_lstm_forward", records / "check_lstm_forward.pt")
    assert right.passed and right.text.startswith("\u2713 Exercise 3 (lstm)")
    probing.record(PACKAGE, "check_lstm_forward", LSTM.plant("lstm", STUB))
    stub = probing.verdict(PACKAGE, "check_lstm_forward", records / "check_lstm_forward.pt")
    assert not stub.passed and "not implemented yet" in stub.text


def test_a_missing_record_fails(records):
    result = probing.verdict(PACKAGE, "check_lstm_forward", records / "check_lstm_forward.pt")
    assert not result.passed and "did not run" in result.text


class Forged:
    """An object a forged record might smuggle in: unpickling it would run code of the forger's choosing."""


def test_a_pickled_object_is_refused(records):
    torch.save({"cases": [Forged()]}, records / "check_lstm_forward.pt")
    result = probing.verdict(PACKAGE, "check_lstm_forward", records / "check_lstm_forward.pt")
    assert not result.passed and "could not be read as plain data" in result.text


@pytest.mark.parametrize(
    "forged",
    [
        {"cases": []},  # no case run: must not pass for want of a failure
        {"cases": [{"result": "a string"}]},  # cut short, and not what the probe writes
        {"nothing": 1},
        [1, 2, 3],
    ],
)
def test_a_forged_record_never_passes(records, forged):
    torch.save(forged, records / "check_lstm_forward.pt")
    assert not probing.verdict(PACKAGE, "check_lstm_forward", records / "check_lstm_forward.pt").passed


def test_a_record_of_the_right_results_cut_to_one_case_does_not_pass(records):
    seen = probing._check(PACKAGE, "check_lstm_forward").probe(LSTM.define("lstm"))
    seen["cases"] = seen["cases"][:1]
    torch.save(seen, records / "check_lstm_forward.pt")
    result = probing.verdict(PACKAGE, "check_lstm_forward", records / "check_lstm_forward.pt")
    assert not result.passed and "not run on every case" in result.text


@pytest.mark.parametrize(
    "package, name",
    [("os", "check_x"), ("autograde.lstm_scratch", "LSTM"), ("autograde.lstm_scratch", "check_nothing")],
)
def test_only_course_checks_are_named(package, name, records):
    with pytest.raises(ValueError):
        probing.record(package, name, lambda: None)


def test_a_record_over_the_size_cap_is_refused_unread(records):
    path = records / "check_lstm_forward.pt"
    with open(path, "wb") as fh:
        fh.truncate(probing.MAX_RECORD_BYTES + 1)
    result = probing.verdict(PACKAGE, "check_lstm_forward", path)
    assert not result.passed and "refused" in result.text and "more than" in result.text


def test_a_link_to_a_passing_record_is_refused(records, tmp_path_factory):
    """A link (in the folder, or the folder itself) could point at another student's record."""
    elsewhere = tmp_path_factory.mktemp("other_student")
    torch.save(
        probing._check(PACKAGE, "check_lstm_forward").probe(LSTM.define("lstm")), elsewhere / "check_lstm_forward.pt"
    )
    assert probing.verdict(PACKAGE, "check_lstm_forward", elsewhere / "check_lstm_forward.pt").passed
    (records / "check_lstm_forward.pt").symlink_to(elsewhere / "check_lstm_forward.pt")
    result = probing.verdict(PACKAGE, "check_lstm_forward", records / "check_lstm_forward.pt")
    assert not result.passed and "symbolic link" in result.text
    (records / "probes").symlink_to(elsewhere)
    assert not probing.verdict(PACKAGE, "check_lstm_forward", records / "probes" / "check_lstm_forward.pt").passed
    os.link(elsewhere / "check_lstm_forward.pt", records / "hard.pt")
    result = probing.verdict(PACKAGE, "check_lstm_forward", records / "hard.pt")
    assert not result.passed and "hard link" in result.text


def test_a_fifo_is_refused_without_blocking(records):
    os.mkfifo(records / "check_lstm_forward.pt")
    result = probing.verdict(PACKAGE, "check_lstm_forward", records / "check_lstm_forward.pt")
    assert not result.passed and "not a regular file" in result.text


def test_every_release_check_cell_has_a_probe_cell():
    """What the grader puts in the sandbox in place of each check cell, from the course's notebooks."""
    for chapter in CHAPTERS:
        cells = secure.probe_cells(ROOT / "chapters" / f"{chapter.slug}.ipynb")
        expected = {check.name: (ex.name, check.points) for ex in chapter.exercises for check in ex.checks}
        assert {g: (c.function, c.points) for g, c in cells.items()} == expected
        for ex in chapter.exercises:
            for check in ex.checks:
                cell = cells[check.name]
                assert cell.release_source == chapter.check_cell_source(ex, check)
                assert cell.source == (
                    f'from autograde.probing import record\nrecord("{chapter.package}", "{check.name}", {ex.name})'
                )


def test_a_check_cell_that_is_not_a_plain_check_call_cannot_be_graded_securely():
    for source in (
        "from autograde.lstm_scratch import check_lstm_forward\ncheck_lstm_forward(lstm)\nprint(1)",
        "import os\nos.system('x')",
        "from os import system\nsystem(lstm)",
    ):
        with pytest.raises(UsageError):
            secure._parse_check_cell("x", source)


# ---------------------------------------------------------------------------
# Whether the probes had an accelerator is the grader's word, not the record's

STAND_IN = "the CPU standing in for an accelerator"  # devices.accelerator()'s name under RNN_COURSE_ACCELERATOR=cpu
# Right on the CPU in float64 and on `meta`; float64 results for float32 inputs on the accelerator.
WRONG_ON_THE_ACCELERATOR = LSTM.plant(
    "lstm",
    ("return torch.cat(outputs, dim=0), (H, C)", "return torch.cat(outputs, dim=0).double(), (H.double(), C.double())"),
)


@pytest.fixture
def stand_in(monkeypatch):
    monkeypatch.setenv(devices.STAND_IN, "cpu")
    assert devices.accelerator().name == STAND_IN


def _claiming(seen, accelerator):
    """The record with every part that names the probes' accelerator naming `accelerator` instead."""
    if isinstance(seen, list):
        return [_claiming(part, accelerator) for part in seen]
    return {**seen, "accelerator": accelerator} if "accelerator" in seen else seen


DEVICE_CHECKS = [  # a recurrent layer's, several in one cell, and an engine exercise's
    ("autograde.lstm_scratch", "check_lstm_devices", LSTM.define("lstm")),
    ("autograde.lstm_scratch", "check_fused_lstm", LSTM.define("fused_lstm")),
    ("autograde.rnn_scratch", "check_perplexity", solution("rnn-scratch").define("perplexity")),
]


@pytest.mark.parametrize("package, name, fn", DEVICE_CHECKS, ids=[c[1] for c in DEVICE_CHECKS])
def test_a_record_passes_only_on_the_accelerator_the_grader_says_the_probes_had(records, stand_in, package, name, fn):
    probing.record(package, name, fn)
    path = records / f"{name}.pt"
    right = probing.verdict(package, name, path, accelerator=STAND_IN)
    assert right.passed and f"on {STAND_IN} (float32)" in right.text, right.text
    # The same results, the record saying the probes found no accelerator: it skipped the accelerator's check.
    torch.save(_claiming(torch.load(path, weights_only=True), None), path)
    forged = probing.verdict(package, name, path, accelerator=STAND_IN)
    assert not forged.passed
    assert (
        f"the check was not run on {STAND_IN}, which the grading machine has (was the record changed?)" in forged.text
    )
    # What the probes did on an accelerator, judged where the grader says there was none, or another.
    probing.record(package, name, fn)
    assert "which the grading machine does not have" in probing.verdict(package, name, path, accelerator=None).text
    other = probing.verdict(package, name, path, accelerator="CUDA")
    assert f"the check was run on {STAND_IN}, not on CUDA, which the grading machine has" in other.text


def test_code_that_fails_on_the_accelerator_cannot_skip_it_by_hiding_it_from_the_probe(records, stand_in, monkeypatch):
    """What a notebook can do before its check cell: make the probe find no accelerator, so its record says none."""
    path = records / "check_lstm_devices.pt"
    probing.record(PACKAGE, "check_lstm_devices", WRONG_ON_THE_ACCELERATOR)
    honest = probing.verdict(PACKAGE, "check_lstm_devices", path, accelerator=STAND_IN)
    assert not honest.passed and "float64 although inputs and parameters are torch.float32" in honest.text
    monkeypatch.setattr(recurrent, "accelerator", lambda: None)
    probing.record(PACKAGE, "check_lstm_devices", WRONG_ON_THE_ACCELERATOR)
    assert torch.load(path, weights_only=True)["accelerator"] is None
    assert probing.verdict(PACKAGE, "check_lstm_devices", path, accelerator=None).passed  # where there is none, right
    hidden = probing.verdict(PACKAGE, "check_lstm_devices", path, accelerator=STAND_IN)
    assert not hidden.passed and "not run on" in hidden.text and "was the record changed?" in hidden.text


def test_a_record_cut_short_by_a_failure_gives_that_failure_not_a_missing_accelerator(records, stand_in):
    """The probe stops at the first failure, before the accelerator: the record then honestly names none."""
    probing.record(PACKAGE, "check_lstm_devices", LSTM.plant("lstm", STUB))
    assert torch.load(records / "check_lstm_devices.pt", weights_only=True)["accelerator"] is None
    result = probing.verdict(PACKAGE, "check_lstm_devices", records / "check_lstm_devices.pt", accelerator=STAND_IN)
    assert not result.passed and "not implemented" in result.text and "record changed" not in result.text


def test_checks_that_never_run_on_an_accelerator_pass_whatever_the_grader_has(records, stand_in):
    for name in ("check_lstm_forward", "check_lstm_gradients"):
        probing.record(PACKAGE, name, LSTM.define("lstm"))
        for accelerator in (STAND_IN, None):
            assert probing.verdict(PACKAGE, name, records / f"{name}.pt", accelerator=accelerator).passed


def test_the_grader_judges_a_job_against_the_accelerator_its_submission_had(records, stand_in):
    probing.record(PACKAGE, "check_lstm_devices", LSTM.define("lstm"))
    job = records / "job"
    (job / secure.PROBES).mkdir(parents=True)
    os.replace(records / "check_lstm_devices.pt", job / secure.PROBES / "check_lstm_devices.pt")
    cells = {"devices": secure.ProbeCell("devices", PACKAGE, "check_lstm_devices", "lstm", 5.0, "")}
    sub = Submission("ann", "lstm-scratch", None, status="graded", accelerator=STAND_IN)
    sub.cells = [CellResult("devices", 0.0, 5.0)]
    assert grade._judge(sub, job, cells, salt=0)["devices"][1].passed
    sub.accelerator = None
    assert "does not have" in grade._judge(sub, job, cells, salt=0)["devices"][1].text
