"""Probe and judge apart, as the grader runs them: records on disk, verdicts from the judge alone."""

from __future__ import annotations

import pytest
import torch

from autograde import probing

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


@pytest.mark.parametrize("forged", [
    {"cases": []},  # no case run: must not pass for want of a failure
    {"cases": [{"result": "a string"}]},  # cut short, and not what the probe writes
    {"nothing": 1},
    [1, 2, 3],
])
def test_a_forged_record_never_passes(records, forged):
    torch.save(forged, records / "check_lstm_forward.pt")
    assert not probing.verdict(PACKAGE, "check_lstm_forward", records / "check_lstm_forward.pt").passed


def test_a_record_of_the_right_results_cut_to_one_case_does_not_pass(records):
    seen = probing._check(PACKAGE, "check_lstm_forward").probe(LSTM.define("lstm"))
    seen["cases"] = seen["cases"][:1]
    torch.save(seen, records / "check_lstm_forward.pt")
    result = probing.verdict(PACKAGE, "check_lstm_forward", records / "check_lstm_forward.pt")
    assert not result.passed and "not run on every case" in result.text


@pytest.mark.parametrize("package, name", [("os", "check_x"), ("autograde.lstm_scratch", "LSTM"),
                                           ("autograde.lstm_scratch", "check_nothing")])
def test_only_course_checks_are_named(package, name, records):
    with pytest.raises(ValueError):
        probing.record(package, name, lambda: None)
