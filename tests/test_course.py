"""The chapter registry (autograde/course.py) agrees with the solution notebooks, and says so
when it does not. No kernel, no nbgrader: fast."""

from __future__ import annotations

import copy
import re

import pytest

from autograde import course
from autograde.tools import results
from conftest import ROOT, solution_notebook

CHAPTERS = {ch.slug: ch for ch in course.CHAPTERS}


# ---------------------------------------------------------------------------
# The registry and the notebooks


@pytest.mark.parametrize("slug", CHAPTERS)
def test_the_notebook_has_the_registered_exercises_checks_and_points(slug):
    assert course.disagreements(CHAPTERS[slug], solution_notebook(slug)) == []


def test_every_solution_notebook_is_registered_and_every_chapter_has_one():
    assert sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb")) == sorted(CHAPTERS)


def test_names_are_unique():
    assert len(CHAPTERS) == len(course.CHAPTERS)
    for ch in course.CHAPTERS:
        names = [ex.name for ex in ch.exercises] + [c.name for ex in ch.exercises for c in ex.checks]
        assert len(names) == len(set(names)), ch.slug
        assert ch.points > 0 and all(c.points > 0 for ex in ch.exercises for c in ex.checks)


@pytest.mark.parametrize("slug", CHAPTERS)
def test_every_check_is_a_public_function_of_its_package(slug):
    ch = CHAPTERS[slug]
    module = ch.module()
    for ex in ch.exercises:
        assert [c.__name__ for c in ch.checks(ex.name)] == [c.name for c in ex.checks]
        assert {c.name for c in ex.checks} <= set(module.__all__), ex.name


def test_an_unknown_chapter_is_named_with_the_known_ones():
    with pytest.raises(KeyError, match="no chapter 'nope'.*lstm-scratch"):
        course.chapter("nope")
    assert course.chapter("gru") is CHAPTERS["gru"]


def _cell(nb, grade_id):
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return cell


def _move_before_its_solution(nb):
    cell = _cell(nb, "check_lstm_forward")
    nb.cells.remove(cell)
    nb.cells.insert(nb.cells.index(_cell(nb, "lstm")), cell)


def _add_check(nb):
    extra = copy.deepcopy(_cell(nb, "check_lstm_forward"))
    extra.metadata.nbgrader["grade_id"] = "check_lstm_again"
    nb.cells.append(extra)


MISTAKES = {
    "points": (lambda nb: _cell(nb, "check_lstm_gradients").metadata.nbgrader.update(points=3),
               "check cell check_lstm_gradients has 3 points, autograde/course.py declares 2"),
    "check cell deleted": (lambda nb: nb.cells.remove(_cell(nb, "check_lstm_devices")),
                           "its check cells are ["),
    "check cell added": (_add_check, "'check_lstm_again'"),
    "solution renamed": (lambda nb: _cell(nb, "fused_lstm").metadata.nbgrader.update(grade_id="fused"),
                         "its solution cells are"),
    "check cell edited": (lambda nb: _cell(nb, "check_lstm_forward").update(source="check_lstm_forward(lstm)"),
                          "must be exactly 'from autograde.lstm_scratch import check_lstm_forward"),
    "check cell unlocked": (lambda nb: _cell(nb, "check_lstm_forward").metadata.nbgrader.update(locked=False),
                            "not locked"),
    "tag removed": (lambda nb: _cell(nb, "check_lstm_forward").metadata.pop("tags"), "not tagged 'graded'"),
    "check before its solution": (_move_before_its_solution, "comes before the solution cell lstm"),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_notebook_that_disagrees_with_the_registry_is_named(mistake):
    edit, words = MISTAKES[mistake]
    nb = solution_notebook("lstm-scratch")
    edit(nb)
    problems = course.disagreements(CHAPTERS["lstm-scratch"], nb)
    assert any(words in p for p in problems), problems
    assert all(p.startswith("solutions/lstm-scratch.ipynb: ") for p in problems)


# ---------------------------------------------------------------------------
# What a training cell reports: declared in the cell itself, held to d2l's table here

TRAINS = re.compile(r"\bd2l\.train_ch8\(")


def _training_cells():
    for ch in course.CHAPTERS:
        for cell in solution_notebook(ch.slug).cells:
            if cell.cell_type == "code" and (TRAINS.search(cell.source) or "rnn_course" in cell.metadata):
                yield ch, cell


def test_every_training_cell_declares_one_of_d2ls_results_with_d2ls_recipe():
    d2l = {(row.model, row.variant): row for row in results.D2L}
    seen = {}
    for ch, cell in _training_cells():
        assert len(TRAINS.findall(cell.source)) == 1, (ch.slug, cell.source)  # one result per cell
        assert "num_epochs" in cell.source, (ch.slug, cell.source)
        declared = cell.metadata["rnn_course"]["result"]
        key = (declared["model"], declared["variant"])
        assert key in d2l, (ch.slug, declared)
        assert (declared["hidden"], declared["lr"]) == (d2l[key].hidden, d2l[key].lr), (ch.slug, declared)
        # the results table has one row per model and variant: a second would silently replace the first
        assert key not in seen, f"{key} is declared by {seen.get(key)} and {ch.slug}"
        seen[key] = ch.slug
    assert set(seen.values()) == set(CHAPTERS)


@pytest.mark.parametrize("slug", CHAPTERS)
def test_the_first_training_cell_sets_d2ls_epochs_through_the_budget(slug):
    first = next(cell for ch, cell in _training_cells() if ch.slug == slug)
    assert "num_epochs, lr = budget.epochs(500), 1" in first.source
