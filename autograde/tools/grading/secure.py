"""Secure grading: the checks' verdicts are given outside the student's process.

`nbgrader autograde` runs each check cell in the student's kernel, where any earlier cell can
change what it does (an IPython input transformer, a patched torch.allclose, a fake `autograde`
package, frames of the caller). So, by default, grading is two-stage:

1. In the sandbox, every graded check cell (known by its grade id and the course's release
   notebook, never by the student's text) is a probe cell:
   `from autograde.probing import record` / `record("<package>", "<check>", <function>)`. It runs
   the check's probe on the student's function and saves what it returned, as plain data, in the
   job's `probes/` folder (RNN_COURSE_PROBES). nbgrader's own OverwriteCells puts the probe
   cells in, here in the grader's process (`prepare_notebook`): the template gradebook's copy
   of each check cell is the probe cell, so a cell the student edited is overwritten with it,
   as nbgrader overwrites any locked cell. The sandbox then only executes the notebook
   (autograde/tools/grading/job.py), without nbgrader's application or gradebook.
2. After the sandbox is gone, this process, which never imports or runs the student's code,
   reads each record (capped, no links: `autograde.probing.verdict`, `torch.load(weights_only=True)`)
   and the check's judge alone decides: the check's points when it passes, 0 otherwise. Each check
   cell of the autograded notebook that the course keeps gets back the release's source and, as
   its only output, the verdict; the master gradebook gets the points; nbgrader's feedback and
   grades.csv are then made from those two. Whatever the student's code printed in a check
   cell, or wrote in the private gradebook, does not count.

What the sandbox imports is a copy of the course's package without its references and planted
mistakes (grading/probe_package.py), and its probes draw their inputs with the batch's secret salt
(RNN_COURSE_SALT, autograde/seeds.py); `judge` draws the same inputs again with the same salt.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from autograde import probing
from autograde.tools.grading.records import UsageError

PROBES = "probes"  # the job's folder for probe records (RNN_COURSE_PROBES)
MAX_NOTEBOOK_BYTES = 512 << 20  # the autograded notebook the sandbox wrote; a bigger one scores 0
_JUDGING = threading.Lock()  # a verdict captures stdout: one at a time


@dataclass(frozen=True)
class ProbeCell:
    """One graded check cell of the release notebook, and what runs in its place in the sandbox."""

    grade_id: str
    package: str  # autograde.lstm_scratch
    check: str  # check_lstm_forward
    function: str  # lstm: the student's function the check is given
    points: float
    release_source: str  # what the student's notebook shows: the check call

    @property
    def source(self) -> str:
        return f'from autograde.probing import record\nrecord("{self.package}", "{self.check}", {self.function})'


def _joined(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def _parse_check_cell(grade_id: str, source: str) -> tuple[str, str, str]:
    """(package, check, function) of `from <package> import <check>` then `<check>(<function>)`."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        body = []
    if (
        len(body) == 2
        and isinstance(body[0], ast.ImportFrom)
        and len(body[0].names) == 1
        and body[0].names[0].asname is None
        and isinstance(body[1], ast.Expr)
        and isinstance(body[1].value, ast.Call)
        and isinstance(body[1].value.func, ast.Name)
        and body[1].value.func.id == body[0].names[0].name
        and len(body[1].value.args) == 1
        and not body[1].value.keywords
        and isinstance(body[1].value.args[0], ast.Name)
    ):
        package, check, function = body[0].module or "", body[0].names[0].name, body[1].value.args[0].id
        try:
            probing._check(package, check)  # a course check, with a probe and a judge
        except (ValueError, ImportError) as exc:
            raise UsageError(f"check cell {grade_id!r}: {exc}") from None
        return package, check, function
    raise UsageError(
        f"check cell {grade_id!r} is not `from autograde.<package> import check_x` then "
        "`check_x(<function>)`: it cannot be graded outside the student's kernel (use --insecure "
        "to run it there, not tamper-proof)."
    )


def probe_cells(release: Path) -> dict[str, ProbeCell]:
    """{grade_id: ProbeCell} of every graded cell of a release notebook (the course's, not a student's)."""
    nb = json.loads(Path(release).read_text(encoding="utf-8"))
    cells: dict[str, ProbeCell] = {}
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("grade"):
            continue
        grade_id, source = meta["grade_id"], _joined(cell.get("source", ""))
        if cell.get("cell_type") != "code" or not meta.get("locked"):
            raise UsageError(
                f"graded cell {grade_id!r} of {release} is not a locked code cell: it cannot be "
                "graded outside the student's kernel (use --insecure)."
            )
        package, check, function = _parse_check_cell(grade_id, source)
        cells[grade_id] = ProbeCell(grade_id, package, check, function, float(meta.get("points", 0)), source)
    return cells


def use_probe_cells(template_db: Path, assignment: str, cells: dict[str, ProbeCell]) -> None:
    """Make the private gradebooks' copy of each check cell the probe cell (source and checksum), so
    that nbgrader's OverwriteCells puts the probe cell in the job copy whatever the student made of it."""
    import nbformat
    from nbgrader.utils import compute_checksum

    from autograde.tools.grading.course import gradebook

    with gradebook(template_db) as gb:
        for nb in gb.find_assignment(assignment).notebooks:
            for source_cell in nb.source_cells:
                probe = cells.get(source_cell.name)
                if probe is None:
                    continue
                cell = nbformat.v4.new_code_cell(probe.source)
                cell.metadata["nbgrader"] = {
                    "grade": True,
                    "solution": False,
                    "locked": True,
                    "grade_id": probe.grade_id,
                    "points": probe.points,
                }
                source_cell.source, source_cell.checksum = probe.source, compute_checksum(cell)
                source_cell.locked = True
        gb.db.commit()


def write_job_copy(notebook: Path, cells: dict[str, ProbeCell]) -> None:
    """The job's copy of the submission with each check cell's source the probe cell (nbgrader's
    OverwriteCells does it again, from the private gradebook, for a cell whose metadata was changed)."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    for cell in nb.get("cells", []) if isinstance(nb, dict) else []:
        meta = cell.get("metadata", {}).get("nbgrader") if isinstance(cell, dict) else None
        if isinstance(meta, dict) and meta.get("grade_id") in cells:
            cell["source"] = cells[meta["grade_id"]].source
    Path(notebook).write_text(json.dumps(nb, ensure_ascii=False, indent=1), encoding="utf-8")


def prepare_notebook(notebook: Path, template_db: Path, assignment: str) -> None:
    """nbgrader autograde's sanitizing steps (ClearOutput, DeduplicateIds, OverwriteKernelspec,
    OverwriteCells, CheckCellMetadata), here in the grader's process on the job's copy: it only
    reads the notebook as data, and the template gradebook's check cells are the probe cells, so
    every locked cell, and every check cell whatever the student made of it, is the course's.
    Raises nbgrader's ValidationError (its "nbgrader metadata may be corrupted") as nbgrader would."""
    import nbformat
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        OverwriteCells,
        OverwriteKernelspec,
    )

    nb = nbformat.read(notebook, as_version=4)
    resources = {
        "nbgrader": {"db_url": "sqlite:///" + str(template_db), "assignment": assignment, "notebook": notebook.stem}
    }
    for step in (ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata):
        nb, resources = step().preprocess(nb, resources)
    nbformat.write(nb, notebook)


def prepare_job(job: Path) -> Path:
    """The job's probes folder (created before the job is handed to the sandbox's uid)."""
    folder = job / PROBES
    folder.mkdir()
    return folder


def judge(
    job: Path, cells: dict[str, ProbeCell], salt: int = 0, *, accelerator: str | None = None
) -> dict[str, probing.Verdict]:
    """The judge's verdict on every check of one job, from its records alone, the batch's salt and
    the accelerator its probes had (`Submission.accelerator`)."""
    verdicts = {}
    for grade_id, cell in cells.items():
        path = job / PROBES / f"{cell.check}.pt"
        with _JUDGING:
            verdicts[grade_id] = probing.verdict(cell.package, cell.check, path, salt, accelerator=accelerator)
    return verdicts


def read_notebook_safely(path: Path) -> dict | None:
    """The autograded notebook the sandbox wrote, or None: no link, a regular file, at most
    MAX_NOTEBOOK_BYTES, JSON with a list of cells."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with contextlib.closing(os.fdopen(fd, "rb")) as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_NOTEBOOK_BYTES:
            return None
        raw = fh.read(MAX_NOTEBOOK_BYTES + 1)
    try:
        nb = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None
    return nb


def verdict_output(verdict: probing.Verdict) -> dict:
    if verdict.passed:
        return {"output_type": "stream", "name": "stdout", "text": verdict.text + "\n"}
    first = verdict.text.splitlines()[0] if verdict.text else "failed"
    return {"output_type": "error", "ename": "CheckFailed", "evalue": first, "traceback": verdict.text.splitlines()}


def with_verdicts(nb: dict, cells: dict[str, ProbeCell], verdicts: dict[str, probing.Verdict]) -> dict:
    """The autograded notebook as the course keeps it: each check cell with the release's source and
    metadata and the verdict as its only output; a cell that claims a grade id the course does not
    know, or a check cell's id a second time, loses its nbgrader metadata (it scores nothing)."""
    seen: set[str] = set()
    for cell in nb["cells"]:
        if not isinstance(cell, dict):
            continue
        meta = cell.get("metadata", {}).get("nbgrader") if isinstance(cell.get("metadata"), dict) else None
        if not isinstance(meta, dict):
            continue
        grade_id = meta.get("grade_id")
        if grade_id in cells and grade_id not in seen and cell.get("cell_type") == "code":
            seen.add(grade_id)
            probe = cells[grade_id]
            cell["source"] = probe.release_source
            cell["outputs"] = [verdict_output(verdicts[grade_id])]
            meta.update({"grade": True, "solution": False, "locked": True, "points": probe.points})
        elif meta.get("grade"):
            del cell["metadata"]["nbgrader"]
    return nb


def write_notebook(nb: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, ensure_ascii=False, indent=1), encoding="utf-8")
