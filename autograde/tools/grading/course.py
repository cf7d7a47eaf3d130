"""The nbgrader course directory: its config, source/ and release/, the master gradebook, the
template gradebook each private run starts from, and merging a run's grades into the master."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from autograde.tools.generate import COURSE_ID
from autograde.tools.grading.feedback import instructor_paths
from autograde.tools.grading.processes import nbgrader, run_logged, tool_env
from autograde.tools.grading.records import Submission, UsageError, fmt


@dataclass
class Course:
    root: Path
    solutions: Path
    assignments: list[str]
    grade_cells: dict[str, list[tuple[str, float]]]  # assignment -> [(grade_id, points)] in notebook order
    timeout: int
    template_db: Path | None = None
    # Secure grading: assignment -> {grade id: the probe cell that replaces that check cell in a job}
    # (autograde/tools/grading/secure.py); empty with --insecure, where the checks run as written.
    probes: dict = field(default_factory=dict)

    @property
    def db(self) -> Path:
        return self.root / "gradebook.db"


def write_config(course: Path, timeout: int) -> None:
    """The course's nbgrader_config.py: its root, its gradebook, a timeout per cell, and what
    the feedback pages may show."""
    db = "sqlite:///" + str(course / "gradebook.db")
    text = f"""\
# Written by `rnn-course grade`; rewritten on every run.
c = get_config()  # noqa: F821
c.CourseDirectory.root = {str(course)!r}
c.CourseDirectory.db_url = {db!r}
c.CourseDirectory.course_id = {COURSE_ID!r}
# A cell that runs longer than this is interrupted and scores 0; the notebook goes on.
c.Execute.timeout = {int(timeout)}
c.Execute.interrupt_on_timeout = True
c.Execute.execute_retries = 0
# Feedback pages: the student's HTML escaped, not live; outputs cut to size; no paths of this
# machine (autograde/tools/grading/feedback.py).
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402
from autograde.tools.grading.feedback import FeedbackOutputs  # noqa: E402
c.HTMLExporter.sanitize_html = True
c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, FeedbackOutputs]
c.FeedbackOutputs.replacements = {[list(pair) for pair in instructor_paths(course)]!r}
"""
    (course / "nbgrader_config.py").write_text(text, encoding="utf-8")


def rmtree(path: Path) -> None:
    """rmtree that also removes nbgrader's read-only (444) files."""

    def unlock(func, p, _exc):
        os.chmod(p, stat.S_IWUSR | stat.S_IRUSR | stat.S_IXUSR)
        func(p)

    if path.exists():
        shutil.rmtree(path, onerror=unlock)


def _grade_cells(release: Path) -> list[tuple[str, float]]:
    nb = json.loads(release.read_text(encoding="utf-8"))
    cells = []
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            cells.append((meta["grade_id"], float(meta.get("points", 0))))
    return cells


def prepare_course(out: Path, solutions: Path, assignments: list[str], timeout: int) -> Course:
    """source/ from solutions/, release/ and the gradebook from `nbgrader generate_assignment`
    (run again only when a solution changed)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    write_config(out, timeout)
    course = Course(out, solutions, assignments, {}, timeout)
    for a in assignments:
        solution = solutions / f"{a}.ipynb"
        source = out / "source" / a / f"{a}.ipynb"
        release = out / "release" / a / f"{a}.ipynb"
        fresh = (
            source.is_file()
            and source.read_bytes() == solution.read_bytes()
            and release.is_file()
            and course.db.is_file()
            and _assignment_in_db(course, a)
        )
        if not fresh:
            source.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(solution, source)
            log = out / "logs" / f"generate_assignment.{a}.log"
            log.unlink(missing_ok=True)
            code, _ = run_logged(nbgrader("generate_assignment", a, "--force"), out, log, tool_env(), deadline=600)
            if code != 0 or not release.is_file():
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
                raise UsageError(f"nbgrader generate_assignment {a} failed (see {log}):\n{tail}")
        course.grade_cells[a] = _grade_cells(release)
    return course


@contextlib.contextmanager
def gradebook(path: Path):
    """nbgrader's Gradebook on an sqlite file, closed (and its engine disposed) afterwards."""
    from nbgrader.api import Gradebook

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's SAWarnings about nbgrader's own session use
        gb = Gradebook("sqlite:///" + str(path), COURSE_ID)
        try:
            yield gb
        finally:
            gb.close()
            gb.engine.dispose()


def _assignment_in_db(course: Course, assignment: str) -> bool:
    from nbgrader.api import MissingEntry

    with gradebook(course.db) as gb:
        try:
            return len(gb.find_assignment(assignment).notebooks) > 0
        except MissingEntry:
            return False


def make_template_db(course: Course, where: Path) -> Path:
    """A copy of the gradebook with the assignments and no student, for the private runs:
    no other student's grades (not even in free pages: VACUUM) are within the student's reach."""
    template = where / "template.db"
    src, dst = sqlite3.connect(course.db), sqlite3.connect(template)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    with gradebook(template) as gb:
        for student in list(gb.students):
            gb.remove_student(student.id)
    con = sqlite3.connect(template)
    con.execute("VACUUM")
    con.close()
    return template


def merge(sub: Submission, course: Course, sandbox: Path | None, judged: dict | None = None) -> None:
    """Copy one submission's grades from its private gradebook into the master gradebook
    (or record a zero), and its autograded notebook into the course's autograded/.

    With `judged` (secure grading: {grade_id: (ProbeCell, Verdict)}), the private gradebook is
    not read at all: each check scores its points when its verdict passed, else 0, and only the
    autograded notebook is taken from the job, with each check cell's verdict as its output."""
    from nbgrader.api import MissingEntry

    from autograde.tools.grading import secure

    scores: dict[str, float] = {}
    if judged is not None:
        if sub.status == "graded":
            scores = {g: (cell.points if verdict.passed else 0.0) for g, (cell, verdict) in judged.items()}
    elif sandbox is not None and sub.status == "graded":
        # Only a run nbgrader finished: its SaveAutoGrades has then written every grade, over
        # whatever the student's code may have put in this private gradebook while it ran.
        with gradebook(sandbox / "gradebook.db") as gb:
            try:
                s = gb.find_submission(sub.assignment, sub.student)
                for snb in s.notebooks:
                    for g in snb.grades:
                        scores[g.name] = float(g.auto_score or 0.0)
            except MissingEntry:
                pass
        maximum = dict(course.grade_cells[sub.assignment])
        for name in list(scores):
            in_notebook = sub.notebook_points.get(name)
            checked = min(max(scores[name], 0.0), maximum.get(name, 0.0), in_notebook or 0.0)
            if checked != scores[name]:
                sub.flags.append(
                    f"{name}: the gradebook said {fmt(scores[name])} points, its cell in the "
                    f"autograded notebook {fmt(in_notebook or 0.0)}; recorded {fmt(checked)}"
                )
                scores[name] = checked
    graded_dir = course.root / "autograded" / sub.student / sub.assignment
    rmtree(graded_dir)
    if sandbox is not None and judged is not None:
        made = sandbox / "autograded" / sub.student / sub.assignment / f"{sub.assignment}.ipynb"
        nb = secure.read_notebook_safely(made) if sub.status == "graded" else None
        if nb is not None:
            cells = {g: cell for g, (cell, _) in judged.items()}
            verdicts = {g: verdict for g, (_, verdict) in judged.items()}
            secure.write_notebook(secure.with_verdicts(nb, cells, verdicts), graded_dir / made.name)
        elif sub.status == "graded":
            sub.status, sub.reason = "grader error", "the autograded notebook the sandbox wrote cannot be read"
            scores = {}
    elif sandbox is not None:
        made = sandbox / "autograded" / sub.student / sub.assignment
        if made.is_dir():
            shutil.copytree(made, graded_dir)
    with gradebook(course.db) as gb:
        gb.update_or_create_student(sub.student)
        submission = gb.update_or_create_submission(sub.assignment, sub.student)
        for snb in submission.notebooks:
            for g in snb.grades:
                g.auto_score = scores.get(g.name, 0.0)
                g.needs_manual_grade = False
        gb.db.commit()
    for cell in sub.cells:
        cell.points = scores.get(cell.grade_id, 0.0)
    if sandbox is not None:
        rmtree(sandbox)
