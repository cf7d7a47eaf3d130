"""Sample submissions: a chapter's student notebook, solved with the solution's code, then edited."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import nbformat

from conftest import ROOT


def solution_bodies(chapter: str) -> dict[str, str]:
    """{grade_id: source} of the solution cells, as a student would write them (no markers)."""
    nb = nbformat.read(ROOT / "solutions" / f"{chapter}.ipynb", as_version=4)
    return {
        c.metadata.nbgrader["grade_id"]: "\n".join(l for l in c.source.splitlines() if "SOLUTION" not in l)
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }


def student(chapter: str, fill: bool = True, **edits) -> nbformat.NotebookNode:
    """The student notebook, solved (`fill`), then with `edits`: {grade_id or cell id: f(source)}."""
    nb = nbformat.read(ROOT / "chapters" / f"{chapter}.ipynb", as_version=4)
    bodies = solution_bodies(chapter)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if fill and gid in bodies:
            cell.source = bodies[gid]
        for key in (gid, cell.get("id")):
            if key in edits:
                cell.source = edits[key](cell.source)
    return nb


def replacing(old: str, new: str):
    """An edit that must apply: `old` replaced by `new` in a cell's source."""

    def edit(source: str) -> str:
        assert old in source, f"the planted bug no longer applies to solutions/: {old!r}"
        return source.replace(old, new)

    return edit


def feedback(out: Path, who: str, chapter: str) -> str:
    """The text of a student's feedback page as they read it (highlighting spans joined)."""
    page = (out / "feedback" / who / chapter / f"{chapter}.html").read_text(encoding="utf-8")
    page = re.sub(r"<(script|style)\b.*?</\1>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def pasted_twice(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    """`nb` with the cell `grade_id` copied just below itself, as Jupyter's copy and paste does
    (a new cell id, the same nbgrader metadata)."""
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    copy = nbformat.from_dict(json.loads(json.dumps(nb.cells[index])))
    copy["id"] = f"{nb.cells[index]['id']}-pasted"
    nb.cells.insert(index + 1, copy)
    return nb


def with_cells(nb: nbformat.NotebookNode, *cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """`nb` with `cells` added at its end (a student's own experiments)."""
    for i, cell in enumerate(cells):
        cell["id"] = f"own-{i}"
        nb.cells.append(cell)
    return nb


def sandbox_args() -> list[str]:
    """The `rnn-course grade` arguments for this machine: none where it can sandbox the students'
    code, `--insecure` where it cannot (no bubblewrap, no user namespaces), so the grading tests
    still test everything else there, and the sandbox's own tests are skipped."""
    from autograde.tools.grading.sandbox import MEMORY, Limits, problem

    return [] if problem(Limits(cpu_seconds=60, memory_bytes=MEMORY)) is None else ["--insecure"]
