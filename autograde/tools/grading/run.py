"""Autograding one submission with nbgrader, in a private course directory of its own, and
reading what the autograded notebook says: each check's verdict and points, cells that ran
over their time, and why a run failed."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from autograde import devices, probing
from autograde.tools.common import ANSI
from autograde.tools.grading import secure, warm, zygote
from autograde.tools.grading.course import Course, rmtree, write_config
from autograde.tools.grading.deduplicate import copy_without_duplicate_ids
from autograde.tools.grading.find import read_notebook
from autograde.tools.grading.processes import nbgrader, run_logged, tool_env
from autograde.tools.grading.records import CellResult, Submission
from autograde.tools.grading.review import suspicious
from autograde.tools.grading.sandbox import Box


def _verdict(cell: dict) -> str:
    """The first line a graded cell printed: its ✓, its ✗ and what is wrong, or the error;
    or, when it wrote to stderr, that: nbgrader scores such a cell 0 even after a ✓."""
    errors, texts, stderr = [], [], []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "error":
            lines = [ANSI.sub("", line) for line in out.get("traceback", [])]
            text = "\n".join(lines).strip()
            if out.get("ename") == "CellTimeoutError":
                errors.append("timed out: interrupted")
            elif text.startswith(("\u2717",)):  # a CheckFailed verdict
                errors.append(text.splitlines()[0])
            else:
                errors.append(f"{out.get('ename')}: {out.get('evalue')}".strip())
        elif kind == "stream":
            text = ANSI.sub(
                "", "".join(out.get("text", "")) if isinstance(out.get("text"), list) else out.get("text", "")
            ).strip()
            if text and out.get("name") == "stderr":
                stderr.append(f"wrote to stderr, which nbgrader scores 0: {text.splitlines()[0]}")
            elif text:
                texts.append(text.splitlines()[0])
    return (errors or stderr or texts or [""])[0]


def _timed_out_cells(nb: dict) -> list[str]:
    labels = []
    for index, cell in enumerate(nb.get("cells", [])):
        outputs = cell.get("outputs", [])
        if any(o.get("ename") == "CellTimeoutError" for o in outputs if o.get("output_type") == "error"):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            labels.append(meta.get("grade_id") or f"cell {index}")
    return labels


def _diagnose(log_text: str, timeout: int) -> tuple[str, str]:
    """(status, reason) for an nbgrader run that failed, from its log."""
    if "DeadKernelError" in log_text or "Kernel died" in log_text:
        return "kernel died", "the kernel died while running the notebook (os._exit, a crash, or out of memory)"
    if "Timeout waiting for execute reply" in log_text or "UnresponsiveKernelError" in log_text:
        return "timed out", (
            f"a cell ran over {timeout} s and did not stop when interrupted "
            "(code that ignores Ctrl-C?), so nbgrader gave up on the notebook"
        )
    errors = [line for line in log_text.splitlines() if "| ERROR]" in line or line.startswith("[ERROR]")]
    lines = [l for l in log_text.strip().splitlines() if l.strip()]
    last = lines[-1].strip() if lines else "no output"
    return "nbgrader failed", (
        "nbgrader could not grade it: " + (ANSI.sub("", errors[0].split("]", 1)[-1].strip()) if errors else last)
    )


def autograde_one(
    sub: Submission,
    course: Course,
    deadline: float,
    threads: int | None,
    box: Box | None = None,
    probes: dict[str, secure.ProbeCell] | None = None,
) -> Path | None:
    """Autograde one submission in a private course directory (in `box`, a sandbox, unless
    None); return that directory (its gradebook holds the grades; with `probes`, secure grading,
    its probes/ holds the records the grader judges) or None if the file is not a notebook."""
    start = time.monotonic()
    if probes is None:  # as the executors call it: the course says whether grading is secure
        probes = course.probes.get(sub.assignment)
    sub.cells = [CellResult(g, 0.0, p) for g, p in course.grade_cells[sub.assignment]]
    master_sub = course.root / "submitted" / sub.student / sub.assignment
    rmtree(master_sub)
    master_sub.mkdir(parents=True)
    if sub.original is None:
        sub.status, sub.reason = "no notebook", sub.notes.pop() if sub.notes else "no notebook handed in"
        return None
    shutil.copyfile(sub.original, master_sub / f"{sub.assignment}.ipynb")  # the record; the original stays
    problem = read_notebook(sub.original)
    if problem:
        sub.status, sub.reason = "not a notebook", problem
        sub.seconds = time.monotonic() - start
        return None

    sandbox = Path(tempfile.mkdtemp(prefix=f"rnn-course-grade-{sub.student}-"))
    assert course.template_db is not None, "grade() makes the template gradebook before any submission"
    target = sandbox / "submitted" / sub.student / sub.assignment
    target.mkdir(parents=True)
    job_copy = target / f"{sub.assignment}.ipynb"
    sub.notes += copy_without_duplicate_ids(sub.original, job_copy)
    graded = sandbox / "autograded" / sub.student / sub.assignment / f"{sub.assignment}.ipynb"
    env = tool_env(threads, home=sandbox)
    env.pop(probing.RECORDS, None)
    sub.log = course.root / "logs" / f"{sub.student}.{sub.assignment}.log"
    sub.log.unlink(missing_ok=True)
    if probes is not None:
        # Secure: nbgrader's sanitizing here, its Execute step alone in the sandbox (grading/job.py).
        secure.write_job_copy(job_copy, probes)
        try:
            secure.prepare_notebook(job_copy, course.template_db, sub.assignment)
        except Exception as exc:
            sub.status, sub.reason = "nbgrader failed", f"nbgrader could not grade it: {exc}"
            sub.seconds = time.monotonic() - start
            return sandbox
        env[probing.RECORDS] = str(secure.prepare_job(sandbox))
        # The sandbox gets this machine's GPU (/dev/nvidia*) and RNN_COURSE_* variables (tool_env),
        # so the probes find the accelerator this process finds; on a Slurm node this runs there,
        # and the name comes back with the outcome (executors.send_back), written outside the sandbox.
        acc = devices.accelerator()
        sub.accelerator = None if acc is None else acc.name
        cmd = [sys.executable, "-m", "autograde.tools.grading.job", str(job_copy), str(graded)]
        cmd += ["--timeout", str(course.timeout)]
    else:
        write_config(sandbox, course.timeout)
        shutil.copyfile(course.template_db, sandbox / "gradebook.db")
        cmd = nbgrader("autograde", sub.assignment, "--student", sub.student, "--force")
    code: int | None = 0
    warmed = False
    if probes is not None and box is not None and box.warm:
        try:
            code, warmed = _run_warm(box, job_copy, graded, sandbox, sub.log, env, course, probes, deadline), True
        except zygote.Unavailable as exc:  # this machine cannot: a kernel per notebook, as before
            box.warm = False
            sub.notes.append(
                f"the warm runner cannot work on this machine ({exc}): this notebook and the rest of "
                "the batch ran in a Jupyter kernel each (as with --fresh-kernels)"
            )
    if not warmed:
        with contextlib.nullcontext(cmd) if box is None else box.wrapping(cmd, sandbox) as cmd:
            code, _ = run_logged(cmd, sandbox, sub.log, env, deadline, sandbox=sandbox)
    sub.seconds = time.monotonic() - start
    log_text = sub.log.read_text(errors="replace")
    if code is None:
        sub.status, sub.reason = (
            "stopped",
            (f"the notebook did not finish within {deadline:g} s (a loop that ignores interrupts?)"),
        )
    elif code != 0:
        sub.status, sub.reason = _diagnose(log_text, course.timeout)
    else:
        sub.status = "graded"
    verdicts = {}
    sub.notebook_points = {}
    nb = (
        secure.read_notebook_safely(graded)
        if probes is not None
        else (json.loads(graded.read_text(encoding="utf-8")) if graded.is_file() else None)
    )
    if nb is not None:
        for cell in nb["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if isinstance(meta, dict) and meta.get("grade") and probes is None:
                grade_id = str(meta.get("grade_id"))
                verdicts[grade_id] = _verdict(cell)
                sub.notebook_points[grade_id] = _points_in_notebook(cell)
        late = _timed_out_cells(nb)
        if late:
            sub.notes.append(
                f"{len(late)} cell(s) ran over {course.timeout} s and were interrupted: " + ", ".join(late)
            )
    missing = (
        (
            "this check cell is not in the submitted notebook (deleted, or the notebook was copied "
            "without its nbgrader metadata)"
        )
        if nb is not None and probes is None
        else ""
    )
    sub.cells = [CellResult(g, 0.0, p, verdicts.get(g, missing)) for g, p in course.grade_cells[sub.assignment]]
    sub.flags = suspicious(sub.original, course.root / "release" / sub.assignment / f"{sub.assignment}.ipynb")
    return sandbox


def _run_warm(
    box: Box,
    job_copy: Path,
    graded: Path,
    sandbox: Path,
    log: Path,
    env: dict[str, str],
    course: Course,
    probes: dict[str, secure.ProbeCell],
    deadline: float,
) -> int | None:
    """The prepared notebook executed by a slot's warm runner (grading/warm.py); what it sent
    back put where the cold path's job would have left it (the autograded notebook, probes/, the
    log). The exit status as run_logged gives it: None when stopped at the deadline. Raises
    zygote.Unavailable when no warm runner works here (it did not start, or could not make a
    notebook's namespaces): nothing of the notebook ran."""
    preload = sorted({cell.package for cells in course.probes.values() if cells for cell in cells.values()})
    # The runner's environment is the batch's: what is this job's (its folder, as HOME and for the
    # records) the runner sets for each notebook, to its own folder.
    env = {k: v for k, v in env.items() if k != probing.RECORDS} | {"HOME": "/tmp"}
    try:
        reply = box.run_warm(job_copy.read_text(encoding="utf-8"), env, preload, course.timeout, deadline, log.parent)
    except zygote.Lost as exc:
        log.write_text(f"nbgrader could not grade it: the warm runner was lost ({exc})\n", encoding="utf-8")
        return 1
    if reply.status == "error":
        raise zygote.Unavailable(reply.why)
    log.write_bytes(reply.files.get(warm.LOG, b""))
    for name, data in reply.files.items():
        if name == warm.NOTEBOOK:
            graded.parent.mkdir(parents=True, exist_ok=True)
            graded.write_bytes(data)
        elif name.startswith(f"{secure.PROBES}/"):
            (sandbox / name).write_bytes(data)
    for name in reply.links:  # a link in place of the record, which the judge refuses, saying so
        if not (sandbox / secure.PROBES / name).exists():
            os.symlink("a-link-in-the-sandbox", sandbox / secure.PROBES / name)
    with open(log, "a", encoding="utf-8") as out:
        if reply.status == "stopped":
            return None
        if reply.code != 0:  # the kernel's process ended before the last cell (os._exit, a signal)
            out.write(f"Kernel died while executing the notebook (exit status {reply.code})\n")
        return reply.code


def _points_in_notebook(cell: dict) -> float | None:
    """nbgrader's own rule (utils.determine_grade) applied to the autograded notebook's cell."""
    import nbformat
    from nbgrader.utils import determine_grade

    try:
        points, _ = determine_grade(nbformat.from_dict(cell))
    except Exception:
        return None
    return points
