"""Every chapter through real nbgrader: one `rnn-course grade` run over a class that hands in
every chapter, with no --assignment (each notebook's name says its chapter).

ada solves every chapter; ben plants one known mistake in each. Each chapter's points are
read from its solution notebook, so a chapter whose checks or points change stays covered.
"""

from __future__ import annotations

import contextlib
import csv
import io

import nbformat
import pytest

from autograde.tools import grade

import submissions
from conftest import ROOT
from submissions import replacing

pytestmark = pytest.mark.slow

# chapter: (grade_id, the edit, the checks it must fail, words of the verdict in the feedback)
BUGS = {
    "lstm-scratch": (
        "lstm",
        replacing("C = F * C + I * C_tilde", "C = C + I * C_tilde"),
        {"check_lstm_forward", "check_lstm_gradients"},
        "the forget gate is missing from the memory update",
    ),
    "rnn-scratch": (
        "rnn",
        replacing("H @ W_hh", "H @ W_hh.T"),
        {"check_rnn_forward", "check_rnn_gradients"},
        "W_hh is transposed",
    ),
    "gru": (
        "gru",
        replacing("H = Z * H + (1 - Z) * H_tilde", "H = (1 - Z) * H + Z * H_tilde"),
        {"check_gru_forward", "check_gru_gradients"},
        "the update gate is reversed",
    ),
    "lstm-concise": (
        "last_step_features",
        replacing("torch.cat([h_n[-2], h_n[-1]], dim=1)", "torch.cat([h_n[-1], h_n[-2]], dim=1)"),
        {"check_last_step_features"},
        "the two directions are swapped",
    ),
    "embeddings-captions": (
        "DecoderRNN",
        replacing("self.embed(captions[:, :-1])", "self.embed(captions)"),
        {"check_decoder_forward"},
        "the last caption token is not dropped",
    ),
    "bigram-lstm": (
        "fused_lstm",
        replacing("H = O * torch.tanh(C)", "H = O * C"),
        {"check_fused_lstm_forward", "check_fused_lstm_gradients"},
        "the tanh in H = O * tanh(C) is missing",
    ),
}
CHAPTERS = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))


def points(chapter: str) -> dict[str, float]:
    nb = nbformat.read(ROOT / "solutions" / f"{chapter}.ipynb", as_version=4)
    return {
        c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"])
        for c in nb.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("grade")
    }


def test_every_chapter_has_a_planted_bug_here():
    assert set(BUGS) == set(CHAPTERS)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("class")
    subs = base / "submissions"
    for who in ("ada", "ben"):
        (subs / who).mkdir(parents=True)
    for chapter in CHAPTERS:
        nbformat.write(submissions.student(chapter), subs / "ada" / f"{chapter}.ipynb")
        grade_id, edit, _, _ = BUGS[chapter]
        nbformat.write(submissions.student(chapter, **{grade_id: edit}), subs / "ben" / f"{chapter}.ipynb")
    out = base / "grading"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = grade.main([str(subs), "--out", str(out), "--jobs", "2", *submissions.sandbox_args()])
    print(buffer.getvalue())
    assert code == 0, buffer.getvalue()
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = {(r["student"], r["assignment"]): r for r in csv.DictReader(fh)}
    return out, rows


def test_one_row_per_student_and_chapter(graded):
    _, rows = graded
    assert set(rows) == {(who, chapter) for who in ("ada", "ben") for chapter in CHAPTERS}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_solved_chapter_gets_full_marks(graded, chapter):
    out, rows = graded
    row, full = rows["ada", chapter], points(chapter)
    assert float(row["max_score"]) == sum(full.values())
    assert {g: float(row[g]) for g in full} == full
    text = submissions.feedback(out, "ada", chapter)
    assert text.count("\u2713 Exercise") >= len(full) and "\u2717 Exercise" not in text  # every verdict a pass


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_planted_bug_loses_exactly_its_checks_and_is_named(graded, chapter):
    out, rows = graded
    _, _, failing, words = BUGS[chapter]
    row, full = rows["ben", chapter], points(chapter)
    lost = {g for g, p in full.items() if float(row[g]) != p}
    assert lost == failing
    assert float(row["score"]) == sum(p for g, p in full.items() if g not in failing)
    text = submissions.feedback(out, "ben", chapter)
    assert words in text
    assert "def check_" not in text and "BEGIN SOLUTION" not in text
