"""What every chapter's checks must do, for every exercise the registry (autograde/course.py)
declares: pass the solution, fail a stub and a crash with a short verdict, never write to
stderr, and name each catalogued mistake as itself.

Each chapter's own tests/test_<name>_checks.py adds only what is its own: its planted
mistakes, correct solutions written differently, and tests of its reference implementations.
"""

from __future__ import annotations

import warnings

import pytest

from autograde import course, engine
from autograde.recurrent import RecurrentSpec
from autograde.verdict import CheckFailed

from planting import CRASH, STUB, passes, short, solution, verdict

EXERCISES = [pytest.param(ch, ex, id=f"{ch.slug}:{ex.name}") for ch in course.CHAPTERS for ex in ch.exercises]


@pytest.mark.parametrize("ch", course.CHAPTERS, ids=lambda ch: ch.slug)
def test_every_solution_cell_is_an_exercise_with_checks(ch):
    assert list(solution(ch.slug).code) == [ex.name for ex in ch.exercises]
    assert all(ex.checks for ex in ch.exercises)


@pytest.mark.parametrize("ch, ex", EXERCISES)
def test_the_solution_passes_every_check_with_one_line_each(ch, ex, capsys):
    passes(ch.checks(ex.name), solution(ch.slug).define(ex.name), capsys)


@pytest.mark.parametrize("ch, ex", EXERCISES)
def test_a_stub_fails_every_check_as_not_implemented(ch, ex):
    """A stub earns no point anywhere, with or without a GPU."""
    stub = solution(ch.slug).plant(ex.name, STUB)
    for check in ch.checks(ex.name):
        failure = verdict(check, stub)
        assert f"`{ex.name}` is not implemented yet" in failure.problem, (check.__name__, failure.problem)
        assert f"({ex.name}): " in str(failure)  # the verdict names the exercise by its function


@pytest.mark.parametrize("ch, ex", EXERCISES)
def test_a_crash_fails_every_check_and_is_named(ch, ex):
    crash = solution(ch.slug).plant(ex.name, CRASH)
    for check in ch.checks(ex.name):
        assert "raised ZeroDivisionError" in verdict(check, crash).problem, check.__name__


def _noisy(fn):
    def warns(*args, **kwargs):
        warnings.warn("a warning a correct answer might trigger", stacklevel=1)
        return fn(*args, **kwargs)

    return warns


@pytest.mark.parametrize("ch, ex", EXERCISES)
def test_nothing_reaches_stderr(ch, ex, capfd):
    """nbgrader scores a graded cell that writes to stderr as 0, so neither a pass nor a failure may."""
    sol = solution(ch.slug)
    for check in ch.checks(ex.name):
        check(_noisy(sol.define(ex.name)))
        verdict(check, _noisy(sol.plant(ex.name, STUB)))
        verdict(check, sol.plant(ex.name, CRASH))
    assert capfd.readouterr().err == ""


def _catalogued():
    """(chapter, exercise, mistake) for each known mistake of each exercise a chapter's package declares."""
    for ch in course.CHAPTERS:
        for spec in list(vars(ch.module()).values()):  # reading a catalogue imports its module
            if isinstance(spec, RecurrentSpec):
                mistakes = (*spec.mistakes, *spec.gradient_mistakes)
            elif isinstance(spec, engine.Exercise):
                mistakes = tuple(spec.mistakes)
            else:
                continue
            (ex,) = [ex for ex in ch.exercises if ex.name == spec.name]
            for flaw in mistakes:
                yield pytest.param(ch, ex, flaw, id=f"{ch.slug}:{ex.name}:{flaw.problem[:50]}")


CATALOGUED = list(_catalogued())


def test_every_recurrent_exercise_has_a_catalogue():
    assert {p.values[1].name for p in CATALOGUED} >= {"rnn", "gru", "torch_gru", "lstm", "fused_lstm"}


@pytest.mark.parametrize("ch, ex, flaw", CATALOGUED)
def test_each_catalogued_mistake_is_named_as_itself(ch, ex, flaw, capfd):
    """The first of the exercise's checks that fails says exactly the catalogue's words (on stdout)."""
    for check in ch.checks(ex.name):
        try:
            check(flaw.plant)
        except CheckFailed as failure:
            problem = short(failure).problem
            break
    else:
        pytest.fail(f"{flaw.problem!r} passed every check of {ex.name}")
    # The skeleton's verdicts name the case first: "for the prefix 'the ': <the mistake>".
    assert problem == flaw.problem or problem.endswith(f": {flaw.problem}")
    assert capfd.readouterr().err == ""
