"""After the batch: nbgrader's feedback pages, grades.csv and the report."""

from __future__ import annotations

import csv
from pathlib import Path

from autograde.tools.grading.course import Course, gradebook
from autograde.tools.grading.processes import nbgrader, run_logged, tool_env
from autograde.tools.grading.records import Submission, fmt


def generate_feedback(course: Course, assignments: list[str]) -> list[str]:
    problems = []
    for a in assignments:
        log = course.root / "logs" / f"generate_feedback.{a}.log"
        log.unlink(missing_ok=True)
        code, _ = run_logged(nbgrader("generate_feedback", a, "--force"), course.root, log, tool_env(), deadline=900)
        if code != 0:
            problems.append(f"nbgrader generate_feedback {a} reported errors: see {log}")
    return problems


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
