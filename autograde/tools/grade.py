"""`rnn-course grade SUBMISSIONS`: autograde a folder of submitted notebooks with nbgrader.

    rnn-course grade SUBMISSIONS [--assignment NAME] [--out DIR] [--timeout S] [--deadline S] [--jobs N]

SUBMISSIONS holds one notebook per student, either as `<student>/<notebook>.ipynb` or as
`<student>.ipynb` (then --assignment names the chapter; with one solution notebook it is
inferred). The originals are only ever read.

Under --out (default `grading/`, git-ignored) this builds an ordinary nbgrader course:

    nbgrader_config.py   source/ (from solutions/)   release/ (nbgrader generate_assignment)
    submitted/<student>/<assignment>/   autograded/...   feedback/... (nbgrader generate_feedback)
    gradebook.db   grades.csv   report.txt   logs/<student>.<assignment>.log

--timeout is how long one cell may run before it is interrupted (it then scores as an error
and the notebook goes on); --deadline how long one submission may take in all; --jobs how
many submissions are graded at once. The training cells train briefly while grading
(nbgrader sets NBGRADER_EXECUTION; RNN_COURSE_QUICK=1 is set too), MPLBACKEND is removed so
plots reach the feedback, and report.txt lists each submission's score, seconds and verdicts.

Each submission is autograded by `nbgrader autograde` in a subprocess of its own, in a
private course directory in the system's temporary folder that holds only that submission,
a config with a per-cell timeout and a gradebook with the assignment and no student: the
student's code (which runs with its working directory in that private autograded/) finds no
source/ with the solutions, no other student's work and no master gradebook beside it. Its
grades are then copied into the master gradebook with nbgrader's API. A submission that is
not a notebook, never finishes or kills its kernel gets 0 and a line in the report saying
why, and the batch goes on.

Only a run nbgrader finished is trusted (then nbgrader has written every grade over whatever
the student's code put in that private gradebook), each grade is capped by what nbgrader's own
rule gives the autograded notebook's cell, and changed cells that mention the grader's
package, sys.modules, builtins, nbgrader or the gradebook are flagged [REVIEW] in the report:
nbgrader runs the check cells in the student's kernel, so code that patches `autograde`
could pass them.

This keeps honest mistakes and casual tampering away from the grades; it is not a sandbox.
The student's code runs as you: it can read or write any file you can (the repository's
solutions/ included). For submissions you do not trust, run this command in a container or
as a user who cannot read solutions/.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import unicodedata
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from autograde.tools.common import ANSI, CourseNotFound, find_root, kernel_env
from autograde.tools.generate import COURSE_ID, solution_paths, use_this_python_for_tools

DEFAULT_OUT = "grading"
DEFAULT_TIMEOUT = 120  # seconds per cell: the quick training cells take ~15 s on a laptop
DEFAULT_DEADLINE = 900  # seconds per submission, whatever happens in it
SAFE_ID = re.compile(r"[^A-Za-z0-9._@+-]")


class UsageError(Exception):
    pass


@dataclass
class CellResult:
    grade_id: str
    points: float
    max_points: float
    verdict: str = ""


@dataclass
class Submission:
    student: str  # the nbgrader student id
    assignment: str
    original: Path | None  # the file as handed in (never modified)
    notes: list[str] = field(default_factory=list)
    # graded | not a notebook | no notebook | kernel died | timed out | stopped | nbgrader failed | grader error
    status: str = "pending"
    reason: str = ""
    seconds: float = 0.0
    cells: list[CellResult] = field(default_factory=list)
    log: Path | None = None
    flags: list[str] = field(default_factory=list)  # for the instructor to look at
    notebook_points: dict[str, float | None] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return sum(c.points for c in self.cells)

    @property
    def max_score(self) -> float:
        return sum(c.max_points for c in self.cells)


def _fmt(x: float) -> str:
    return f"{x:g}"


# ---------------------------------------------------------------------------
# Finding the submissions


def _student_id(name: str) -> str:
    """An id nbgrader can use in paths and patterns: accents dropped, other characters as _."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return SAFE_ID.sub("_", ascii_name).strip("._") or "student"


def find_submissions(folder: Path, assignments: list[str], assignment: str | None,
                     skip: Path | None = None) -> tuple[list[Submission], list[str]]:
    """The submissions in `folder` and a list of what was ignored, and why.

    `<student>/<name>.ipynb` (also `<student>/<name>/<name>.ipynb`, nbgrader's layout) is the
    student's notebook for assignment `<name>`; a student folder with one notebook of another
    name (a download renamed "lstm-scratch (1).ipynb") counts for the one assignment there is
    to grade. `<student>.ipynb` is for --assignment, or the only assignment there is.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder of submissions.")
    wanted = [assignment] if assignment else list(assignments)
    only = wanted[0] if len(wanted) == 1 else None
    found: list[Submission] = []
    ignored: list[str] = []
    taken: dict[tuple[str, str], Path] = {}

    def add(name: str, a: str, path: Path | None, note: str | None = None) -> None:
        sid = _student_id(name)
        sub = Submission(sid, a, path)
        if sid != name:
            sub.notes.append(f"student id {sid!r} (from {name!r}: nbgrader ids use letters, digits and ._@+-)")
        if (sid, a) in taken:
            ignored.append(f"{path}: a second submission of {a} for student {sid!r} "
                           f"(graded {taken[sid, a]}); not graded")
            return
        taken[sid, a] = path
        if note:
            sub.notes.append(note)
        found.append(sub)

    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name in ("__MACOSX", "__pycache__"):
            continue
        if skip is not None and entry.resolve() == Path(skip).resolve():
            continue  # the course directory itself, when --out is inside SUBMISSIONS
        if entry.is_file() and entry.suffix == ".ipynb":
            if only is None:
                raise UsageError(f"{entry}: a notebook per student needs --assignment (one of {', '.join(wanted)}).")
            add(entry.stem, only, entry)
        elif entry.is_dir():
            notebooks = sorted(p for p in entry.rglob("*.ipynb")
                               if ".ipynb_checkpoints" not in p.parts and not p.name.startswith("."))
            named = {}
            for p in notebooks:
                named.setdefault(p.stem, []).append(p)
            matched = False
            for a in wanted:
                if a in named:
                    # the shallowest one: <student>/<a>.ipynb before <student>/<a>/<a>.ipynb
                    choice = min(named[a], key=lambda p: len(p.relative_to(entry).parts))
                    add(entry.name, a, choice)
                    matched = True
            if not matched and only is not None:
                if len(notebooks) == 1:
                    add(entry.name, only, notebooks[0],
                        f"graded {notebooks[0].relative_to(entry)} as {only}.ipynb (the only notebook handed in)")
                else:
                    what = f"{len(notebooks)} notebooks, none named {only}.ipynb" if notebooks else "no notebook"
                    add(entry.name, only, None, f"{entry}/ has {what}")
            elif not matched:
                ignored.append(f"{entry}/: no notebook named after an assignment ({', '.join(wanted)})")
        else:
            ignored.append(f"{entry}: not a notebook (.ipynb) or a student's folder")
    return found, ignored


def read_notebook(path: Path) -> str | None:
    """None if `path` is a notebook nbgrader can take, else why not (for the report)."""
    import nbformat

    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return f"cannot read the file: {exc.strerror}"
    if not raw.strip():
        return "the file is empty"
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "the file is not UTF-8 text"
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    if not isinstance(data, dict) or not ("cells" in data or "worksheets" in data):  # nbformat 4, or 3
        return "valid JSON, but not a notebook (no cells)"
    try:
        nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception as exc:  # nbformat raises several kinds
        return f"nbformat cannot read it: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    return None


# ---------------------------------------------------------------------------
# Running nbgrader


def tool_env(threads: int | None = None) -> dict[str, str]:
    """The environment of every nbgrader subprocess, and so of the students' kernels.

    - this Python's bin folder first on PATH: nbgrader runs `alembic` from PATH, and
      `.venv/bin/rnn-course` may be run without the venv activated;
    - JUPYTER_NO_CONFIG: only the nbgrader_config.py written here applies, not the user's;
    - no MPLBACKEND (Agg would silently drop every plot from the feedback);
    - RNN_COURSE_QUICK=1: training cells train briefly (nbgrader also sets NBGRADER_EXECUTION);
    - with several jobs at once, each kernel's torch gets its share of the cores.
    """
    env = kernel_env(quick=True)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["JUPYTER_NO_CONFIG"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(threads)
    return env


def nbgrader(*args: str) -> list[str]:
    return [sys.executable, "-m", "nbgrader", *args]


def write_config(course: Path, timeout: int) -> None:
    """The course's nbgrader_config.py: its root, its gradebook, and a timeout per cell."""
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
"""
    (course / "nbgrader_config.py").write_text(text, encoding="utf-8")


def _rmtree(path: Path) -> None:
    """rmtree that also removes nbgrader's read-only (444) files."""
    def unlock(func, p, _exc):
        os.chmod(p, stat.S_IWUSR | stat.S_IRUSR | stat.S_IXUSR)
        func(p)

    if path.exists():
        shutil.rmtree(path, onerror=unlock)


def _proc_table() -> dict[int, int]:
    """{pid: parent pid} from /proc (Linux); empty elsewhere."""
    table = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            table[int(entry.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    return table


def _descendants(pid: int) -> list[int]:
    table = _proc_table()
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in table.items() if pp == parent]
        found += children
        frontier += children
    return found


def _running_in(folder: Path) -> list[int]:
    """Processes whose working directory is inside `folder` (a student's leftovers)."""
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd == str(folder) or cwd.startswith(str(folder) + os.sep):
            pids.append(int(entry.name))
    return pids


def _kill(pids) -> None:
    for pid in set(pids):
        if pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def run_logged(cmd: list[str], cwd: Path, log: Path, env: dict[str, str], deadline: float,
               sandbox: Path | None = None) -> tuple[int | None, float]:
    """Run `cmd` with output to `log`; (exit status or None if stopped at the deadline, seconds).

    The command runs in a session of its own. When it ends, or is stopped, whatever it
    started is killed: the kernel (which jupyter starts in a session of its own) and anything
    left running with its working directory in `sandbox`.
    """
    start = time.monotonic()
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            code = proc.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            code = None
            _kill(_descendants(proc.pid))
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
    if sandbox is not None:
        _kill(_running_in(sandbox))
    return code, time.monotonic() - start


# ---------------------------------------------------------------------------
# The course directory


@dataclass
class Course:
    root: Path
    solutions: Path
    assignments: list[str]
    grade_cells: dict[str, list[tuple[str, float]]]  # assignment -> [(grade_id, points)] in notebook order
    timeout: int
    template_db: Path | None = None

    @property
    def db(self) -> Path:
        return self.root / "gradebook.db"


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
        fresh = (source.is_file() and source.read_bytes() == solution.read_bytes() and release.is_file()
                 and course.db.is_file() and _assignment_in_db(course, a))
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


# ---------------------------------------------------------------------------
# One submission


def _verdict(cell: dict) -> str:
    """The first line a graded cell printed: its ✓, its ✗ and what is wrong, or the error."""
    errors, texts = [], []
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
            text = ANSI.sub("", "".join(out.get("text", "")) if isinstance(out.get("text"), list)
                            else out.get("text", "")).strip()
            if text:
                texts.append(("stderr: " if out.get("name") == "stderr" else "") + text.splitlines()[0])
    return (errors or texts or [""])[0]


def _timed_out_cells(nb: dict) -> list[str]:
    labels = []
    for index, cell in enumerate(nb.get("cells", [])):
        if any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", []) if o.get("output_type") == "error"):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            labels.append(meta.get("grade_id") or f"cell {index}")
    return labels


def _diagnose(log_text: str, timeout: int) -> tuple[str, str]:
    """(status, reason) for an nbgrader run that failed, from its log."""
    if "DeadKernelError" in log_text or "Kernel died" in log_text:
        return "kernel died", "the kernel died while running the notebook (os._exit, a crash, or out of memory)"
    if "Timeout waiting for execute reply" in log_text or "UnresponsiveKernelError" in log_text:
        return "timed out", (f"a cell ran over {timeout} s and did not stop when interrupted "
                             "(code that ignores Ctrl-C?), so nbgrader gave up on the notebook")
    errors = [line for line in log_text.splitlines() if "| ERROR]" in line or line.startswith("[ERROR]")]
    lines = [l for l in log_text.strip().splitlines() if l.strip()]
    last = lines[-1].strip() if lines else "no output"
    return "nbgrader failed", ("nbgrader could not grade it: "
                               + (ANSI.sub("", errors[0].split("]", 1)[-1].strip()) if errors else last))


def autograde_one(sub: Submission, course: Course, deadline: float, threads: int | None) -> Path | None:
    """Autograde one submission in a private course directory; return that directory
    (its gradebook holds the grades) or None if the file is not a notebook."""
    start = time.monotonic()
    sub.cells = [CellResult(g, 0.0, p) for g, p in course.grade_cells[sub.assignment]]
    master_sub = course.root / "submitted" / sub.student / sub.assignment
    _rmtree(master_sub)
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
    write_config(sandbox, course.timeout)
    shutil.copyfile(course.template_db, sandbox / "gradebook.db")
    target = sandbox / "submitted" / sub.student / sub.assignment
    target.mkdir(parents=True)
    shutil.copyfile(sub.original, target / f"{sub.assignment}.ipynb")
    sub.log = course.root / "logs" / f"{sub.student}.{sub.assignment}.log"
    sub.log.unlink(missing_ok=True)
    code, _ = run_logged(nbgrader("autograde", sub.assignment, "--student", sub.student, "--force"),
                         sandbox, sub.log, tool_env(threads), deadline, sandbox=sandbox)
    sub.seconds = time.monotonic() - start
    log_text = sub.log.read_text(errors="replace")
    if code is None:
        sub.status, sub.reason = "stopped", (f"the notebook did not finish within {deadline:g} s "
                                             "(a loop that ignores interrupts?)")
    elif code != 0:
        sub.status, sub.reason = _diagnose(log_text, course.timeout)
    else:
        sub.status = "graded"
    graded = sandbox / "autograded" / sub.student / sub.assignment / f"{sub.assignment}.ipynb"
    verdicts = {}
    sub.notebook_points = {}
    if graded.is_file():
        nb = json.loads(graded.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade"):
                verdicts[meta.get("grade_id")] = _verdict(cell)
                sub.notebook_points[meta.get("grade_id")] = _points_in_notebook(cell)
        late = _timed_out_cells(nb)
        if late:
            sub.notes.append(f"{len(late)} cell(s) ran over {course.timeout} s and were interrupted: "
                             + ", ".join(late))
    missing = ("this check cell is not in the submitted notebook (deleted, or the notebook was copied "
               "without its nbgrader metadata)") if graded.is_file() else ""
    sub.cells = [CellResult(g, 0.0, p, verdicts.get(g, missing)) for g, p in course.grade_cells[sub.assignment]]
    sub.flags = suspicious(sub.original, course.root / "release" / sub.assignment / f"{sub.assignment}.ipynb")
    return sandbox


def _points_in_notebook(cell: dict) -> float | None:
    """nbgrader's own rule (utils.determine_grade) applied to the autograded notebook's cell."""
    import nbformat
    from nbgrader.utils import determine_grade

    try:
        points, _ = determine_grade(nbformat.from_dict(cell))
    except Exception:
        return None
    return points


# What a notebook has no business touching: the grader's package (its checks, its reference
# code), the interpreter's module table and builtins, nbgrader and its gradebook.
SUSPICIOUS = re.compile(r"\b(autograde|sys\.modules|builtins|__builtins__|nbgrader|gradebook)\b")


def suspicious(submitted: Path, release: Path) -> list[str]:
    """Cells the student changed or added that mention what SUSPICIOUS lists: for a human to
    look at. nbgrader runs the checks in the student's kernel, so code that patches
    `autograde` (or imports its reference LSTM) could pass them; grades are not changed here."""
    try:
        theirs = json.loads(Path(submitted).read_text(encoding="utf-8"))["cells"]
        ours = {c.get("id"): c for c in json.loads(release.read_text(encoding="utf-8"))["cells"]}
    except (OSError, ValueError, KeyError, TypeError):
        return []
    flags = []
    for index, cell in enumerate(theirs):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if isinstance(meta, dict) and meta.get("grade"):
            continue  # nbgrader puts the check cells back as released
        original = ours.get(cell.get("id"), {}).get("source", "")
        original = "".join(original) if isinstance(original, list) else str(original)
        known = set(original.splitlines())
        found = set(SUSPICIOUS.findall("\n".join(l for l in source.splitlines() if l not in known)))
        if found:
            name = meta.get("grade_id") if isinstance(meta, dict) and meta.get("grade_id") else f"cell {index}"
            flags.append(f"{name} mentions {', '.join(sorted(found))}: look at it before trusting the grade")
    return flags


def merge(sub: Submission, course: Course, sandbox: Path | None) -> None:
    """Copy one submission's grades from its private gradebook into the master gradebook
    (or record a zero), and its autograded notebook into the course's autograded/."""
    from nbgrader.api import MissingEntry

    scores: dict[str, float] = {}
    if sandbox is not None and sub.status == "graded":
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
                sub.flags.append(f"{name}: the gradebook said {_fmt(scores[name])} points, its cell in the "
                                 f"autograded notebook {_fmt(in_notebook or 0.0)}; recorded {_fmt(checked)}")
                scores[name] = checked
    graded_dir = course.root / "autograded" / sub.student / sub.assignment
    _rmtree(graded_dir)
    if sandbox is not None:
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
        _rmtree(sandbox)


# ---------------------------------------------------------------------------
# After the batch: feedback, CSV, report


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
                row = {"student": s.student.id, "assignment": a, "score": _fmt(s.score or 0.0),
                       "max_score": _fmt(s.max_score or 0.0)}
                for snb in s.notebooks:
                    for g in snb.grades:
                        row[g.name] = _fmt(g.score or 0.0)
                rows.append(row)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["student", "assignment", "score", "max_score", *columns],
                                restval="")
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
    return "lost " + ", ".join(f"{c.grade_id} ({_fmt(c.max_points - c.points)})" for c in lost) + review


def report(subs: list[Submission], ignored: list[str], problems: list[str], course: Course) -> str:
    rows = [("student", "assignment", "score", "seconds", "result")]
    for s in subs:
        rows.append((s.student, s.assignment, f"{_fmt(s.score)}/{_fmt(s.max_score)}", f"{s.seconds:.1f}",
                     _result_text(s)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 6)
    graded = [s for s in subs if s.status == "graded"]
    if graded:
        mean = sum(s.seconds for s in graded) / len(graded)
        lines.append(f"\n{len(subs)} submission(s), {len(graded)} graded by nbgrader; "
                     f"{mean:.1f} s per graded submission.")
    details = []
    for s in subs:
        items = list(s.notes) + [f"REVIEW: {flag}" for flag in s.flags]
        if s.status != "graded":
            items.append(f"{s.status}: {s.reason}")
        items += [f"{c.grade_id} {_fmt(c.points)}/{_fmt(c.max_points)}: {c.verdict or 'no output'}"
                  for c in s.cells if c.points < c.max_points and s.status == "graded"]
        if items:
            details.append(f"{s.student} ({s.assignment}, file {s.original or '-'}):")
            details += [f"  - {item}" for item in items]
            if s.log:
                details.append(f"  - nbgrader's log: {s.log}")
    if details:
        lines += ["", "Details:", *details]
    if ignored or problems:
        lines += ["", "Not graded / problems:", *[f"  - {x}" for x in ignored + problems]]
    lines += ["", f"Gradebook: {course.db}", f"Grades: {course.root / 'grades.csv'}",
              f"Feedback: {course.root / 'feedback'}/<student>/<assignment>/<assignment>.html"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------


def grade(submissions: Path, out: Path, assignment: str | None = None, timeout: int = DEFAULT_TIMEOUT,
          deadline: float = DEFAULT_DEADLINE, jobs: int = 1, solutions: Path | None = None,
          echo=print) -> tuple[list[Submission], Course]:
    """Grade every submission in `submissions` into the course directory `out`."""
    use_this_python_for_tools()
    solutions = Path(solutions or find_root() / "solutions").resolve()
    assignments = [p.stem for p in solution_paths(solutions)]
    if not assignments:
        raise UsageError(f"no solution notebooks in {solutions}.")
    if assignment and assignment not in assignments:
        raise UsageError(f"unknown assignment {assignment!r}: the solutions are {', '.join(assignments)}.")
    out = Path(out).resolve()
    subs, ignored = find_submissions(Path(submissions), assignments, assignment, skip=out)
    if not subs:
        raise UsageError(f"no submissions found in {submissions}.")
    used = sorted({s.assignment for s in subs}, key=assignments.index)
    t0 = time.monotonic()
    course = prepare_course(out, solutions, used, timeout)
    echo(f"course directory {out} ready ({time.monotonic() - t0:.1f} s); grading {len(subs)} submission(s)"
         f" with {jobs} job(s), {timeout} s per cell")
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None
    with tempfile.TemporaryDirectory(prefix="rnn-course-template-") as tmp:
        course.template_db = make_template_db(course, Path(tmp))
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(autograde_one, s, course, deadline, threads): s for s in subs}
            for future in as_completed(futures):
                sub = futures[future]
                try:
                    sandbox = future.result()
                except Exception as exc:  # never let one submission stop the batch
                    sandbox = None
                    sub.status, sub.reason = "grader error", f"{type(exc).__name__}: {exc}"
                    sub.cells = [CellResult(g, 0.0, p) for g, p in course.grade_cells[sub.assignment]]
                try:
                    merge(sub, course, sandbox)
                except Exception as exc:
                    sub.status, sub.reason = "grader error", f"could not record the grades: {type(exc).__name__}: {exc}"
                echo(f"  {sub.student:<20} {sub.assignment:<16} {_fmt(sub.score):>4}/{_fmt(sub.max_score):<4}"
                     f" {sub.seconds:6.1f} s  {sub.status}")
    problems = generate_feedback(course, used)
    export_csv(course, out / "grades.csv")
    text = report(subs, ignored, problems, course)
    (out / "report.txt").write_text(text, encoding="utf-8")
    return subs, course


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rnn-course grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path, help="a folder of <student>/<notebook>.ipynb or <student>.ipynb")
    parser.add_argument("--assignment", help="the chapter graded (default: the only one, or from the file names)")
    parser.add_argument("--out", type=Path, default=Path(DEFAULT_OUT),
                        help=f"the nbgrader course directory to build (default: {DEFAULT_OUT}/)")
    parser.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT,
                        help=f"seconds a cell may run before it is interrupted (default {DEFAULT_TIMEOUT})")
    parser.add_argument("--deadline", type=float, default=DEFAULT_DEADLINE,
                        help=f"seconds one submission may take in all (default {DEFAULT_DEADLINE})")
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 1) // 4),
                        help="submissions graded at once (default: a quarter of the CPU cores)")
    parser.add_argument("--solutions", type=Path, help="the solution notebooks (default: <repo>/solutions)")
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        subs, course = grade(args.submissions, args.out, args.assignment, args.timeout, args.deadline,
                             max(1, args.jobs), args.solutions)
    except (UsageError, CourseNotFound) as exc:
        print(f"rnn-course grade: {exc}", file=sys.stderr)
        return 2
    print()
    print((course.root / "report.txt").read_text(encoding="utf-8"), end="")
    print(f"Done in {time.monotonic() - start:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
