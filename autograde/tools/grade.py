"""`rnn-course grade SUBMISSIONS`: autograde a folder of submitted notebooks with nbgrader.

    rnn-course grade SUBMISSIONS [--assignment NAME] [--out DIR] [--timeout S] [--deadline S] [--jobs N]
                                 [--insecure] [--fresh-kernels]

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

Each submission is graded in a private course directory of its own in the system's temporary
folder, which holds only that submission: the student's code (which runs with its working
directory in that private autograded/) finds no source/ with the solutions, no other student's
work and no master gradebook beside it. Secure (the default), this process applies nbgrader
autograde's sanitizing steps to the job's copy (every locked cell and every check cell the
course's) and the sandbox runs its Execute step alone. Each slot (--jobs) has one sandbox with
a warm runner (grading/warm.py) that has imported torch, d2l and matplotlib once; each notebook
runs in a fresh fork of it, in user, mount, PID and IPC namespaces of its own with empty /tmp,
/dev/shm and working folder, executed by IPython in that process (grading/shell.py), so that
nothing is left for the next submission and a notebook starts in a fraction of a second instead
of the 9 or so a new kernel and its imports take. --fresh-kernels runs each notebook in a
Jupyter kernel of its own instead (grading/job.py: nbclient). With --insecure, `nbgrader autograde`
runs whole in the sandbox, with a config with a per-cell timeout and a gradebook with the
assignment and no student, and its grades are copied into the master gradebook with nbgrader's
API. A submission that is not a notebook, never finishes or kills its kernel gets 0 and a line
in the report saying why, and the batch goes on.

The checks are judged outside the student's code (grading/secure.py): in the sandbox each check
cell, known by its grade id and the release notebook, is a probe cell that records what the
student's function returns; this process, which never runs the student's code, judges each
record (autograde/probing.py) and alone sets the check's points (its points when it passes, else
0), the check cell's output in the autograded notebook (the verdict) and the master gradebook,
from which nbgrader's feedback and grades.csv are made. Only a run nbgrader finished is graded.
The sandbox sees a copy of the course's package without its references and planted mistakes
(grading/probe_package.py), and the probes draw their inputs with a salt secret to this batch
(autograde/seeds.py), which the judge uses again: a notebook can neither import a right answer
nor hand in a table of answers computed at home.

With --insecure the checks run in the student's kernel, as nbgrader runs them (not tamper-proof:
an input transformer, a patched module or a fake `autograde` package can pass them): then only a
run nbgrader finished is trusted (nbgrader has written every grade over whatever the student's
code put in that private gradebook), each grade is capped by what nbgrader's own rule gives the
autograded notebook's cell. In both modes, changed cells that mention the grader's package,
sys.modules, builtins, nbgrader or the gradebook are flagged [REVIEW] in the report.

That private `nbgrader autograde` runs in a sandbox (grading/sandbox.py: bubblewrap, no
network, solutions/ and the course directory hidden, one writable folder, a uid of its own per
job when run as root, CPU, memory, file, process and open-file limits). Where no sandbox works,
grading refuses to start unless --insecure is given; then the student's code runs as you and
can read or write any file you can. The report says which it was, and which grading mode ran.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

from autograde import seeds
from autograde.tools.common import CourseNotFound, find_root
from autograde.tools.generate import solution_paths, use_this_python_for_tools
from autograde.tools.grading import probe_package, secure
from autograde.tools.grading.course import Course, make_template_db, merge, prepare_course
from autograde.tools.grading.executors import Executor, LocalExecutor
from autograde.tools.grading.find import find_submissions
from autograde.tools.grading.records import CellResult, Submission, UsageError, fmt
from autograde.tools.grading.report import export_csv, generate_feedback, report
from autograde.tools.grading.sandbox import GIB, MEMORY, Box, Limits, has_gpu, problem
from autograde.tools.grading.slurm import add_executor_arguments, executor_from

DEFAULT_OUT = "grading"
DEFAULT_TIMEOUT = 120  # seconds per cell: the quick training cells take ~15 s on a laptop
DEFAULT_DEADLINE = 900  # seconds per submission, whatever happens in it


SECURE_CHECKS = (
    "checks judged outside the students' code (secure: probes in the sandbox, without the course's "
    "references, on inputs salted for this batch; verdicts by the grader from their records)"
)
INSECURE_CHECKS = "checks run in the students' kernels (--insecure): NOT tamper-proof"


KERNEL_MEMORY = 2 * GIB  # what one grading kernel holds at most: torch, d2l, a chapter's data


def default_jobs() -> int:
    """One submission per core (a kernel trains on one thread: a small model gains little from a
    second, and two notebooks side by side gain nearly twice), as memory allows."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
        available = int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return max(1, cores)
    return max(1, min(cores, available // KERNEL_MEMORY))


def _judge(sub: Submission, sandbox: Path, cells: dict[str, secure.ProbeCell], salt: int) -> dict:
    """{grade_id: (ProbeCell, Verdict)} for a finished run; each cell's verdict line for the report."""
    if sub.status != "graded":
        return {}
    start = time.monotonic()
    verdicts = secure.judge(sandbox, cells, salt, accelerator=sub.accelerator)
    sub.seconds += time.monotonic() - start  # the report's seconds: the run and the judging
    for cell in sub.cells:
        if cell.grade_id in verdicts:
            text = verdicts[cell.grade_id].text
            cell.verdict = text.splitlines()[0] if text else ""
    return {g: (cells[g], v) for g, v in verdicts.items()}


def grade(
    submissions: Path,
    out: Path,
    assignment: str | None = None,
    timeout: int = DEFAULT_TIMEOUT,
    deadline: float = DEFAULT_DEADLINE,
    jobs: int = 1,
    solutions: Path | None = None,
    echo=print,
    insecure: bool = False,
    executor: Executor | None = None,
    fresh_kernels: bool = False,
) -> tuple[list[Submission], Course]:
    """Grade every submission in `submissions` into the course directory `out`, each in a
    sandbox (autograde/tools/grading/sandbox.py), the checks judged outside it (grading/secure.py);
    with `insecure`, today's nbgrader path: the checks run in the student's kernel (not
    tamper-proof), without a sandbox where none works. Secure grading runs each notebook in a
    fresh fork of a warm runner (grading/warm.py), or, with `fresh_kernels`, in a Jupyter kernel
    of its own (grading/job.py)."""
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
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None
    limits = Limits(
        cpu_seconds=int(deadline * (threads or os.cpu_count() or 1)), memory_bytes=None if has_gpu() else MEMORY
    )
    box, sandboxing = None, "NOT sandboxed (--insecure): as your user, with your files"
    why_not = problem(limits)
    if why_not is None:
        box = Box.for_batch(jobs, limits, hidden=[solutions, out], salt=seeds.fresh())
        box.warm = not insecure and not fresh_kernels
        sandboxing = box.mode
    elif not insecure:
        raise UsageError(
            f"cannot sandbox the students' code: {why_not}.\nFix that, or pass --insecure to "
            "grade without a sandbox (the students' code then runs as you, and can read and "
            "write whatever you can, and the checks run in the students' kernels: not tamper-proof)."
        )
    t0 = time.monotonic()
    course = prepare_course(out, solutions, used, timeout)
    probes = {} if insecure else {a: secure.probe_cells(course.root / "release" / a / f"{a}.ipynb") for a in used}
    course.probes = probes  # autograde_one turns the check cells of each job into these probe cells
    checking = INSECURE_CHECKS if insecure else SECURE_CHECKS
    executor = executor or LocalExecutor(jobs)  # or a SlurmExecutor: autograde/tools/grading/executors.py
    echo(
        f"course directory {out} ready ({time.monotonic() - t0:.1f} s); grading {len(subs)} submission(s)"
        f" with {executor.describe()}, {timeout} s per cell; {sandboxing}; {checking}"
    )
    with tempfile.TemporaryDirectory(prefix="rnn-course-template-") as tmp:
        course.template_db = make_template_db(course, Path(tmp))
        if box is not None and not insecure:  # the checks in the students' kernels (--insecure) need it all
            box.package = probe_package.build(Path(tmp) / "autograde")
        for a, cells in probes.items():
            secure.use_probe_cells(course.template_db, a, cells)
        with executor, contextlib.closing(box) if box is not None else contextlib.nullcontext():
            for sub, sandbox, failure in executor.grade(subs, course, deadline, box):
                judged = None
                if failure is None and sandbox is not None and not insecure:
                    try:  # here, in this process, never in the sandbox: the judge reads the records
                        judged = _judge(sub, sandbox, probes[sub.assignment], box.salt if box else 0)
                    except Exception as exc:  # never let one submission stop the batch
                        failure = f"{type(exc).__name__}: {exc}"
                if failure is not None:  # never let one submission stop the batch
                    sandbox = None
                    sub.status, sub.reason = "grader error", failure
                    sub.cells = [CellResult(g, 0.0, p) for g, p in course.grade_cells[sub.assignment]]
                try:
                    merge(sub, course, sandbox, judged)
                except Exception as exc:
                    sub.status, sub.reason = "grader error", f"could not record the grades: {type(exc).__name__}: {exc}"
                echo(
                    f"  {sub.student:<20} {sub.assignment:<16} {fmt(sub.score):>4}/{fmt(sub.max_score):<4}"
                    f" {sub.seconds:6.1f} s  {sub.status}"
                )
    problems = generate_feedback(course, used, jobs)
    export_csv(course, out / "grades.csv")
    if box is not None:  # as it ended: a batch whose warm runner could not work fell back to kernels
        sandboxing = box.mode
    text = report(subs, ignored, problems, course, sandboxing, checking)
    (out / "report.txt").write_text(text, encoding="utf-8")
    return subs, course


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rnn-course grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path, help="a folder of <student>/<notebook>.ipynb or <student>.ipynb")
    parser.add_argument("--assignment", help="the chapter graded (default: the only one, or from the file names)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(DEFAULT_OUT),
        help=f"the nbgrader course directory to build (default: {DEFAULT_OUT}/)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=DEFAULT_TIMEOUT,
        help=f"seconds a cell may run before it is interrupted (default {DEFAULT_TIMEOUT})",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=DEFAULT_DEADLINE,
        help=f"seconds one submission may take in all (default {DEFAULT_DEADLINE})",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=default_jobs(),
        help="submissions graded at once, each kernel with its share of the cores (default: one per "
        f"core, at most one per {KERNEL_MEMORY // GIB} GiB of available memory: {default_jobs()} here)",
    )
    parser.add_argument("--solutions", type=Path, help="the solution notebooks (default: <repo>/solutions)")
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="run the checks in the students' kernels, as nbgrader does (not tamper-proof), "
        "and, where no sandbox works (no bubblewrap, no user namespaces), grade without "
        "one: the students' code then runs as you",
    )
    parser.add_argument(
        "--fresh-kernels",
        action="store_true",
        help="secure grading: run each notebook in a Jupyter kernel of its own, started for it (about "
        "10 s more per submission), instead of in a fresh fork of a sandboxed runner that has "
        "already imported torch and d2l",
    )
    add_executor_arguments(parser)
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        subs, course = grade(
            args.submissions,
            args.out,
            args.assignment,
            args.timeout,
            args.deadline,
            max(1, args.jobs),
            args.solutions,
            insecure=args.insecure,
            executor=executor_from(args),
            fresh_kernels=args.fresh_kernels,
        )
    except (UsageError, CourseNotFound) as exc:
        print(f"rnn-course grade: {exc}", file=sys.stderr)
        return 2
    print()
    print((course.root / "report.txt").read_text(encoding="utf-8"), end="")
    print(f"Done in {time.monotonic() - start:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
