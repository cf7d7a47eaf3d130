"""`rnn-course generate`: chapters/ is made from solutions/ by nbgrader, and kept up to date."""

from __future__ import annotations

import json
import shutil

import nbformat
import pytest

from autograde.tools import generate

from conftest import ROOT

NAME = "lstm-scratch"


def nbgrader_cells(nb) -> dict[str, nbformat.NotebookNode]:
    return {c.metadata.nbgrader["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}


@pytest.fixture(scope="module")
def solution():
    return nbformat.read(ROOT / "solutions" / f"{NAME}.ipynb", as_version=4)


@pytest.fixture(scope="module")
def chapter():
    path = ROOT / "chapters" / f"{NAME}.ipynb"
    assert path.is_file(), "chapters/ has no student notebook: run `make chapters`"
    return nbformat.read(path, as_version=4)


# ---------------------------------------------------------------------------
# The committed student notebook (no nbgrader run: fast)


def test_solutions_are_stubs_in_the_student_notebook(solution, chapter):
    sol, stu = nbgrader_cells(solution), nbgrader_cells(chapter)
    assert sol.keys() == stu.keys()
    solved = [gid for gid, c in sol.items() if c.metadata.nbgrader.get("solution")]
    assert len(solved) == 6
    for gid in solved:
        assert "raise NotImplementedError()" in stu[gid].source, gid
        assert "### BEGIN SOLUTION" in sol[gid].source
        # what surrounds the solution region (the def line, the docstring) is kept
        assert stu[gid].source.splitlines()[0] == sol[gid].source.splitlines()[0]
    text = (ROOT / "chapters" / f"{NAME}.ipynb").read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert "torch.sigmoid(X @ W_xi" not in text


def test_test_cells_are_identical_and_keep_their_points(solution, chapter):
    sol, stu = nbgrader_cells(solution), nbgrader_cells(chapter)
    graded = [gid for gid, c in sol.items() if c.metadata.nbgrader.get("grade")]
    assert sum(sol[g].metadata.nbgrader["points"] for g in graded) == 15
    for gid in graded:
        assert stu[gid].source == sol[gid].source, gid
        meta = stu[gid].metadata.nbgrader
        assert meta["grade"] and meta["locked"] and meta["points"] == sol[gid].metadata.nbgrader["points"]
        assert meta.get("checksum"), "nbgrader's checksum is what autograde compares with"


def test_the_rest_of_the_notebook_is_the_solutions(solution, chapter):
    assert [c.get("id") for c in chapter.cells] == [c.get("id") for c in solution.cells]
    for s, c in zip(solution.cells, chapter.cells):
        if "nbgrader" not in s.metadata:
            assert c.source == s.source and c.cell_type == s.cell_type


def test_the_student_notebook_is_small_and_has_no_outputs(chapter):
    path = ROOT / "chapters" / f"{NAME}.ipynb"
    assert path.stat().st_size < 64 * 1024
    for cell in chapter.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


# ---------------------------------------------------------------------------
# Broken solution notebooks: the error names the file and the cell (fast)


def test_a_solution_that_is_not_json_is_named(tmp_path):
    bad = tmp_path / "solutions" / "broken.ipynb"
    bad.parent.mkdir()
    bad.write_text('{"cells": [', encoding="utf-8")
    with pytest.raises(generate.SolutionError, match=r"broken\.ipynb: not valid JSON"):
        generate.validate_solution(bad)


def by_id(nb: dict, grade_id: str) -> dict:
    """The solution notebook's cell with this nbgrader grade_id (cells move as prose is added)."""
    return next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def number_of(grade_id: str) -> int:
    """The cell's index in the solution notebook, as the error messages number it."""
    nb = json.loads((ROOT / "solutions" / f"{NAME}.ipynb").read_text(encoding="utf-8"))
    return nb["cells"].index(by_id(nb, grade_id))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda nb: by_id(nb, "check_lstm_forward")["metadata"]["nbgrader"].pop("points"), "does not have points"),
        (
            lambda nb: by_id(nb, "check_lstm_gradients")["metadata"]["nbgrader"].update(points="two"),
            "'two' is not of type 'number'",
        ),
        (
            lambda nb: by_id(nb, "check_lstm_gradients")["metadata"]["nbgrader"].update(grade_id="check_lstm_forward"),
            f"grade_id 'check_lstm_forward' is also used by cell {number_of('check_lstm_forward')}",
        ),
        (
            lambda nb: by_id(nb, "lstm").update(
                source=[l for l in by_id(nb, "lstm")["source"] if "END SOLUTION" not in l]
            ),
            "'BEGIN SOLUTION' has no matching 'END SOLUTION'",
        ),
        (lambda nb: by_id(nb, "lstm")["metadata"]["nbgrader"].update(solution=False), "not a solution cell"),
    ],
)
def test_a_malformed_nbgrader_cell_is_named(tmp_path, mutate, message):
    nb = json.loads((ROOT / "solutions" / f"{NAME}.ipynb").read_text(encoding="utf-8"))
    mutate(nb)
    path = tmp_path / f"{NAME}.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    with pytest.raises(generate.SolutionError) as err:
        generate.validate_solution(path)
    text = str(err.value)
    assert str(path) in text and "cell 2" in text and message in text, text


# ---------------------------------------------------------------------------
# Regenerating with nbgrader (slow: a few seconds per notebook)


@pytest.mark.slow
def test_chapters_are_up_to_date_with_solutions(capsys):
    """The CI drift test: `rnn-course generate --check` passes on the repository."""
    code = generate.main(["--check", "--solutions", str(ROOT / "solutions"), "--chapters", str(ROOT / "chapters")])
    out, err = capsys.readouterr()
    assert code == 0, f"chapters/ is out of date; run `make chapters` and commit it.\n{err}"
    assert "up to date" in out


@pytest.mark.slow
def test_generating_twice_gives_identical_bytes(tmp_path):
    first = generate.generate(ROOT / "solutions", tmp_path / "a")
    second = generate.generate(ROOT / "solutions", tmp_path / "b")
    names = [p.name for p in first]
    assert names == [p.name for p in second] and f"{NAME}.ipynb" in names  # one file per solution
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes()


@pytest.mark.slow
def test_check_names_what_differs_is_missing_or_extra(tmp_path, capsys):
    solutions, chapters = tmp_path / "solutions", tmp_path / "chapters"
    shutil.copytree(ROOT / "solutions", solutions)
    shutil.copytree(ROOT / "chapters", chapters)
    # a maintainer edits a test cell of the solution and forgets to regenerate
    path = solutions / f"{NAME}.ipynb"
    nb = json.loads(path.read_text(encoding="utf-8"))
    by_id(nb, "check_lstm_forward")["source"] = [
        "from autograde.lstm_scratch import check_lstm_forward\n",
        "check_lstm_forward(lstm)  # edited",
    ]
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    shutil.copyfile(path, solutions / "new-chapter.ipynb")  # a new solution, never generated
    shutil.copyfile(chapters / f"{NAME}.ipynb", chapters / "orphan.ipynb")  # its solution was deleted
    (chapters / "plain.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), encoding="utf-8"
    )

    code = generate.main(["--check", "--solutions", str(solutions), "--chapters", str(chapters)])
    err = capsys.readouterr().err
    assert code == 1
    assert "differs:" in err and f"{NAME}.ipynb" in err.split("differs:")[1].splitlines()[0], err
    assert "missing:" in err and "new-chapter.ipynb" in err
    assert "extra:" in err and "orphan.ipynb" in err
    assert "plain.ipynb" not in err  # a chapter without nbgrader cells is not generated: not extra
    assert "make chapters" in err

    # and regenerating fixes what it can: the edited test cell reaches the student notebook
    assert generate.main(["--solutions", str(solutions), "--chapters", str(chapters)]) == 0
    fixed = nbformat.read(chapters / f"{NAME}.ipynb", as_version=4)
    assert nbgrader_cells(fixed)["check_lstm_forward"].source.endswith("# edited")
    assert (chapters / "new-chapter.ipynb").is_file()
    assert (chapters / "orphan.ipynb").is_file()  # never deleted behind the maintainer's back
