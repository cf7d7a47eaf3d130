"""After the batch: nbgrader's feedback pages, grades.csv and the report."""

from __future__ import annotations

import csv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from autograde.tools.grading.course import Course, gradebook
from autograde.tools.grading.processes import nbgrader, run_logged, tool_env
from autograde.tools.grading.records import Submission, fmt


def generate_feedback(course: Course, assignments: list[str], jobs: int = 1) -> list[str]:
    """nbgrader's feedback pages, `jobs` nbgrader processes at once per assignment, each given its
    share of the students (nbgrader renders one notebook after the other: about 0.7 s each)."""
    problems = []
    for a in assignments:
        students = sorted(p.parent.name for p in (course.root / "autograded").glob(f"*/{a}") if p.is_dir())
        groups = [g for g in (students[i :: max(1, jobs)] for i in range(max(1, jobs))) if g] or [[]]
        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            runs = [
                pool.submit(_feedback_for, course, a, i, [s for s in students if s not in g])
                for i, g in enumerate(groups)
            ]
            problems += [p for p in (run.result() for run in runs) if p]
    return problems


def _feedback_for(course: Course, assignment: str, index: int, others: list[str]) -> str | None:
    """One `nbgrader generate_feedback` for every student of `assignment` but `others`."""
    log = course.root / "logs" / f"generate_feedback.{assignment}.{index}.log"
    log.unlink(missing_ok=True)
    cmd = nbgrader("generate_feedback", assignment, "--force")
    if others:  # ids keep to letters, digits and ._@+- (grading/find.py): never a comma
        cmd.append(f"--CourseDirectory.student_id_exclude={','.join(others)}")
    code, _ = run_logged(cmd, course.root, log, tool_env(), deadline=900)
    return None if code == 0 else f"nbgrader generate_feedback {assignment} reported errors: see {log}"


def export_csv(course: Course, path: Path) -> list[dict[str, str]]:
    """grades.csv from the master gradebook: one row per submission, with each graded cell's points."""
    columns = []
    for a in course.assignments:
        for grade_id, _ in course.grade_cells[a]:
            if grade_id not in columns:
                columns.append(grade_id)
    rows = []
    with gradebook(course.db) as gb:
        for a in course.assignments:
            for s in sorted(gb.find_assignment(a).submissions, key=lambda s: s.student.id):
                row = {
                    "student": s.student.id,
                    "assignment": a,
                    "score": fmt(s.score or 0.0),
                    "max_score": fmt(s.max_score or 0.0),
                }
                for snb in s.notebooks:
                    for g in snb.grades:
                        row[g.name] = fmt(g.score or 0.0)
                rows.append(row)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["student", "assignment", "score", "max_score", *columns], restval="")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def _result_text(sub: Submission) -> str:
    review = " [REVIEW]" if sub.flags else ""
    if sub.status != "graded":
        return f"{sub.status}: {sub.reason}{review}"
    lost = [c for c in sub.cells if c.points < c.max_points]
    if not lost:
        return "all checks pass" + review
    return "lost " + ", ".join(f"{c.grade_id} ({fmt(c.max_points - c.points)})" for c in lost) + review


def report(
    subs: list[Submission],
    ignored: list[str],
    problems: list[str],
    course: Course,
    sandboxing: str = "",
    checking: str = "",
) -> str:
    rows = [("student", "assignment", "score", "seconds", "result")]
    for s in subs:
        rows.append(
            (s.student, s.assignment, f"{fmt(s.score)}/{fmt(s.max_score)}", f"{s.seconds:.1f}", _result_text(s))
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 6)
    graded = [s for s in subs if s.status == "graded"]
    if graded:
        mean = sum(s.seconds for s in graded) / len(graded)
        lines.append(
            f"\n{len(subs)} submission(s), {len(graded)} graded by nbgrader; {mean:.1f} s per graded submission."
        )
    details = []
    for s in subs:
        items = list(s.notes) + [f"REVIEW: {flag}" for flag in s.flags]
        if s.status != "graded":
            items.append(f"{s.status}: {s.reason}")
        items += [
            f"{c.grade_id} {fmt(c.points)}/{fmt(c.max_points)}: {c.verdict or 'no output'}"
            for c in s.cells
            if c.points < c.max_points and s.status == "graded"
        ]
        if items:
            details.append(f"{s.student} ({s.assignment}, file {s.original or '-'}):")
            details += [f"  - {item}" for item in items]
            if s.log:
                details.append(f"  - nbgrader's log: {s.log}")
    if details:
        lines += ["", "Details:", *details]
    if ignored or problems:
        lines += ["", "Not graded / problems:", *[f"  - {x}" for x in ignored + problems]]
    if sandboxing:
        lines += ["", f"Students' code ran {sandboxing}."]
    if checking:
        lines += [f"Grading mode: {checking}."]
    lines += [
        "",
        f"Gradebook: {course.db}",
        f"Grades: {course.root / 'grades.csv'}",
        f"Feedback: {course.root / 'feedback'}/<student>/<assignment>/<assignment>.html",
    ]
    return "\n".join(lines) + "\n"
