"""Probe and judge apart, as the grader runs them: records on disk, verdicts from the judge alone."""

from __future__ import annotations

import os

import pytest
import torch

from autograde import probing
from autograde.course import CHAPTERS
from autograde.tools.grading import secure
from autograde.tools.grading.records import UsageError

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
