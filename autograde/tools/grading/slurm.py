"""Grading on a Slurm cluster through submitit: one job array, one array task per group of
submissions, each task running grade_group (the local path's grading of one submission, for
each of its group) on a compute node; the merge into the gradebook, the feedback pages and the
report stay in the instructor's process, which only waits.

What must be shared between the machine where `rnn-course grade` runs and the nodes: this
repository with its .venv (the same Python runs the tasks), the submissions folder and the
course directory (--out). Each submission is still graded in a private directory in the node's
own temporary folder, in a sandbox the node makes itself (grade_on_node); only its gradebook,
its autograded/ notebook and an outcome.json come back, through <out>/slurm/results/, and
merge() reads them there as it reads a local private directory. Which accelerator the probes had
is the node's (whatever --gpus-per-task asked for, it is what the node gave): the grader's own
process on the node notes it outside the sandbox (Submission.accelerator, in outcome.json), and
the instructor's judge holds the probe records to that.

A task that dies (killed, out of memory, past --time, its node lost) leaves no result: its
submissions are reported as not graded, with the task's state and log, and the batch goes on.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from autograde.tools.grading import probe_package
from autograde.tools.grading.course import Course, rmtree
from autograde.tools.grading.executors import Executor, Outcome, grade_group, read_back, result_folder, send_back
from autograde.tools.grading.records import Submission, UsageError
from autograde.tools.grading.sandbox import FIRST_UID, MEMORY, Box, Limits, has_gpu, problem


@dataclass
class SlurmOptions:
    partition: str | None = None  # the cluster's default partition when None
    time: int | None = None  # minutes per array task; None: enough for per_task × the deadline
    gpus_per_task: int = 0
    cpus_per_task: int = 2
    mem: str | None = None  # e.g. "16G"; the cluster's default when None
    per_task: int = 4  # submissions per array task
    parallel: int = 64  # array tasks running at once at most
    extra: dict[str, str] = field(default_factory=dict)  # any other sbatch option: account=..., qos=...
    poll: float = 5.0  # seconds between looks at the queue
    grace: float = 30.0  # seconds a finished task's result may take to appear on the shared filesystem
    unanswered: float = 1800.0  # seconds without an answer from squeue before the tasks left are given up


def parse_extra(items: list[str] | None) -> dict[str, str]:
    """`--slurm-option account=abc` -> {"account": "abc"}."""
    extra = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--slurm-option {item!r}: expected NAME=VALUE, e.g. account=my-group")
        extra[key.strip().lstrip("-").replace("-", "_")] = value.strip()
    return extra


def grade_on_node(
    subs: list[Submission],
    course: Course,
    deadline: float,
    threads: int,
    hidden: list[Path] | None,
    results: Path,
    salt: int = 0,
    probe_only: bool = False,
) -> list[Outcome]:
    """One array task: grade_group on this node, in a sandbox made here as `rnn-course grade`
    makes one (this node's GPU decides the memory limit), hiding `hidden`; without one when
    `hidden` is None (the instructor passed --insecure where no sandbox works). Where the
    sandbox does not work on this node, its submissions fail saying why: never unsandboxed.
    `salt` is the batch's and, with `probe_only` (secure grading), the sandbox gets the node's own
    probe-only copy of the course's package, as `rnn-course grade` gives its own."""
    box = None
    if hidden is not None:
        limits = Limits(cpu_seconds=int(deadline * threads), memory_bytes=None if has_gpu() else MEMORY)
        why_not = problem(limits)
        if why_not is not None:
            why = f"cannot sandbox the students' code on {socket.gethostname()}: {why_not}"
            return [send_back(Outcome(s, None, why), result_folder(results, s)) for s in subs]
        box = Box(limits, hidden, salt=salt)
        # As root (a cluster whose tasks run as root), a uid of its own per array task: two
        # tasks on one node never share one (RLIMIT_NPROC, the job folders).
        box.slots.put(FIRST_UID + int(os.environ.get("SLURM_ARRAY_TASK_ID", "0")) % 1000)
    # Slurm ends a task (scancel, past --time, preemption) with SIGTERM to all its processes,
    # nbgrader and the kernel included, then SIGKILL: what is graded after the SIGTERM is the
    # grader's failure, not the student's.
    task = f"{os.environ.get('SLURM_ARRAY_JOB_ID', '?')}_{os.environ.get('SLURM_ARRAY_TASK_ID', '?')}"
    terms: list[int] = []
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        terms.append(signum)
        if callable(previous):
            previous(signum, frame)  # submitit's own handler

    def stopped() -> str | None:
        return (
            (
                f"the Slurm task {task} was stopped (SIGTERM: cancelled, past its --time or preempted) "
                "while grading this submission or before it"
            )
            if terms
            else None
        )

    with contextlib.suppress(ValueError):  # not in the main thread: no handler, only SIGKILL tells
        signal.signal(signal.SIGTERM, on_term)
    with tempfile.TemporaryDirectory(prefix="rnn-course-package-") as tmp:
        if box is not None and probe_only:
            box.package = probe_package.build(Path(tmp) / "autograde")
            box.warm = True  # the task's submissions one after the other, each a fork of one warm runner
        try:
            return grade_group(subs, course, deadline, threads, box, results, stopped)
        finally:
            if box is not None:
                box.close()


def _run(cmd: list[str]) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _in_queue(array_id: str) -> set[str] | None:
    """The ids (<array>_<index>) of the array's tasks Slurm still has pending or running;
    None when squeue does not answer."""
    done = _run(["squeue", "-h", "-r", "-j", array_id, "-o", "%i"])
    if done is None or done.returncode != 0:
        # squeue says "Invalid job id specified" for an array that has left the queue entirely
        if done is not None and "Invalid job id" in done.stderr:
            return set()
        return None
    return {line.strip() for line in done.stdout.splitlines() if line.strip()}


def _state(job_id: str) -> str:
    """What Slurm says of a finished task (state, reason, exit code), where it still knows it."""
    done = _run(["scontrol", "show", "job", "-o", job_id])
    if done is not None and done.returncode == 0 and done.stdout.strip():
        words = dict(w.split("=", 1) for w in done.stdout.split() if "=" in w)
        parts = [f"{k} {words[k]}" for k in ("JobState", "Reason", "ExitCode") if words.get(k) not in (None, "None")]
        if parts:
            return ", ".join(parts)
    done = _run(["sacct", "-n", "-X", "-P", "-o", "State,ExitCode", "-j", job_id])
    if done is not None and done.returncode == 0 and done.stdout.strip():
        return "sacct: " + done.stdout.strip().splitlines()[0].replace("|", ", exit code ")
    return "state unknown"


def _last_lines(path: Path, n: int = 3) -> str:
    try:
        lines = [l.strip() for l in path.read_text(errors="replace").splitlines() if l.strip()]
    except OSError:
        return ""
    return " / ".join(lines[-n:])


class SlurmExecutor(Executor):
    """Groups of `options.per_task` submissions, one Slurm array task each, through submitit."""

    def __init__(self, folder: Path, options: SlurmOptions | None = None) -> None:
        # The folder where submitit writes the pickled tasks and results, the tasks' logs and
        # the results coming back. It is the instructor's: inside the course directory, mode
        # 700, never inside a submission or a private directory where student code runs, so
        # that no student's code is given a path to it. submitit unpickles the tasks from it on
        # the nodes, so once the student's code runs as another user (the sandboxed probe), that
        # user must not be able to write in it. The instructor's process reads back only plain
        # data from it (results/*/outcome.json, the gradebooks), never the result pickles.
        self.folder = Path(folder).resolve()
        self.options = options or SlurmOptions()
        self.jobs: list = []
        self.groups: list[list[Submission]] = []
        self.results = self.folder / "results"
        self.submitted_at = 0.0  # time.time() when sbatch accepted the array
        self.startup_seconds = 0.0

    def describe(self) -> str:
        o = self.options
        where = f"partition {o.partition}" if o.partition else "the default partition"
        return (
            f"Slurm ({where}, {o.per_task} submission(s) per array task, {o.cpus_per_task} CPU(s)"
            f"{f', {o.gpus_per_task} GPU(s)' if o.gpus_per_task else ''} per task)"
        )

    def group(self, subs: list[Submission]) -> list[list[Submission]]:
        n = max(1, self.options.per_task)
        return [subs[i : i + n] for i in range(0, len(subs), n)]

    def submit(self, groups: list[list[Submission]], course: Course, deadline: float, box: Box | None) -> None:
        import submitit

        if shutil.which("sbatch") is None:
            raise UsageError("--executor slurm: sbatch is not on PATH (run this on the cluster's login node).")
        o = self.options
        rmtree(self.folder)
        self.folder.mkdir(parents=True)
        os.chmod(self.folder, 0o700)
        self.results.mkdir()
        self.groups = groups
        # The template gradebook lives in this machine's temporary folder: the nodes get a copy.
        shared = replace(course, root=course.root.resolve(), template_db=self.folder / "template.db")
        assert course.template_db is not None and shared.template_db is not None
        shutil.copyfile(course.template_db, shared.template_db)
        # The nodes see the submissions by absolute path; the instructor's records keep theirs.
        sent = [
            [replace(s, original=s.original.resolve() if s.original else None, notes=list(s.notes)) for s in g]
            for g in groups
        ]
        minutes = o.time or int(max(len(g) for g in groups) * deadline / 60 + 10)
        params = dict(
            job_name="rnn-course-grade",
            time=minutes,
            cpus_per_task=o.cpus_per_task,
            array_parallelism=o.parallel,
            additional_parameters=dict(o.extra),
        )
        if o.partition:
            params["partition"] = o.partition
        if o.gpus_per_task:
            params["gpus_per_task"] = o.gpus_per_task
        if o.mem:
            params["mem"] = o.mem
        executor = submitit.SlurmExecutor(folder=self.folder, max_num_timeout=0)
        executor.update_parameters(**params)
        n = len(sent)
        t0 = time.monotonic()
        try:
            # Each node makes its own sandbox (its GPU, its bubblewrap): it gets what to hide.
            hidden = None if box is None else [Path(p) for p in box.hidden]
            self.jobs = executor.map_array(
                grade_on_node,
                sent,
                [shared] * n,
                [deadline] * n,
                [o.cpus_per_task] * n,
                [hidden] * n,
                [self.results] * n,
                [box.salt if box is not None else 0] * n,
                [box is not None and box.package is not None] * n,
            )
        except Exception as exc:  # sbatch refused: a wrong partition, GPUs the cluster has not...
            raise UsageError(f"--executor slurm: the job array could not be submitted: {exc}") from exc
        self.startup_seconds = time.monotonic() - t0
        self.submitted_at = time.time()

    @property
    def array_id(self) -> str:
        return str(self.jobs[0].job_id).split("_")[0] if self.jobs else ""

    def finished(self) -> Iterator[tuple[int, list[Outcome] | str]]:
        o = self.options
        pending = dict(enumerate(self.jobs))
        gone_since: dict[int, float] = {}
        answered = time.monotonic()
        while pending:
            for i, job in list(pending.items()):
                if job.paths.result_pickle.exists():  # the task ran to its end (its function returned or raised)
                    del pending[i]
                    yield i, self._outcomes(i, job, ended=True)
            if not pending:
                break
            queued = _in_queue(self.array_id)
            now = time.monotonic()
            if queued is not None:
                answered = now
            elif now - answered > o.unanswered:  # the controller is gone: do not wait for ever
                why = (
                    f"Slurm's controller has not answered squeue for {o.unanswered / 60:g} min; "
                    f"the task was given up (scancel {self.array_id} if it is still there)"
                )
                for i in list(pending):
                    del pending[i]
                    yield (
                        i,
                        [read_back(s, result_folder(self.results, s)) or Outcome(s, None, why) for s in self.groups[i]],
                    )
                break
            for i, job in list(pending.items()):
                if queued is None or str(job.job_id) in queued:
                    gone_since.pop(i, None)
                    continue
                # Left the queue without a result: wait for the shared filesystem, then give up.
                gone_since.setdefault(i, now)
                if now - gone_since[i] >= o.grace and not job.paths.result_pickle.exists():
                    del pending[i]
                    yield i, self._outcomes(i, job, ended=False)
            time.sleep(o.poll)

    def _outcomes(self, i: int, job, ended: bool) -> list[Outcome]:
        """The group's outcomes, from the plain data its task wrote for each submission it
        finished (the result pickle is not read: see the folder's comment); each submission it
        did not finish fails with what Slurm and the task's log say."""
        outcomes, why = [], None
        for sub in self.groups[i]:
            folder = result_folder(self.results, sub)
            outcome = read_back(sub, folder)
            if outcome is not None and outcome.sandbox is None:
                rmtree(folder)  # only its outcome.json: nothing for merge() to read and remove
            if outcome is None:
                why = why or self._failure(job, ended)
                outcome = Outcome(sub, None, why)
            outcomes.append(outcome)
        return outcomes

    def _failure(self, job, ended: bool) -> str:
        tail = _last_lines(job.paths.stderr) or _last_lines(job.paths.stdout)
        what = "stopped before grading this submission" if ended else "ended without a result"
        state = "" if ended else f" ({_state(str(job.job_id))})"
        return (
            f"the Slurm task {job.job_id} {what}{state}"
            + (f": {tail}" if tail else "")
            + f" (its log: {job.paths.stderr})"
        )

    def close(self) -> None:
        unfinished = [j for j in self.jobs if not j.paths.result_pickle.exists()]
        if unfinished:
            _run(["scancel", *[str(j.job_id) for j in unfinished]])


def add_executor_arguments(parser) -> None:
    """`--executor {local,slurm}` and the Slurm options, on `rnn-course grade`'s parser."""
    parser.add_argument(
        "--executor",
        choices=("local", "slurm"),
        default="local",
        help="where submissions are graded: here, --jobs at once (default), or on a "
        "Slurm cluster, one array task per --per-task submissions",
    )
    group = parser.add_argument_group("Slurm (with --executor slurm)")
    group.add_argument("--partition", help="the partition (default: the cluster's)")
    group.add_argument(
        "--time",
        type=int,
        metavar="MINUTES",
        help="time limit of one array task (default: --per-task × --deadline, plus 10 min)",
    )
    group.add_argument(
        "--gpus-per-task",
        type=int,
        default=0,
        metavar="N",
        help="GPUs per array task (default 0; 1 on a GPU partition, so the checks run on CUDA)",
    )
    group.add_argument("--cpus-per-task", type=int, default=2, metavar="N", help="CPUs per array task (default 2)")
    group.add_argument("--mem", metavar="SIZE", help="memory per array task, e.g. 16G (default: the cluster's)")
    group.add_argument(
        "--per-task",
        type=int,
        default=4,
        metavar="N",
        help="submissions graded one after the other in one array task (default 4)",
    )
    group.add_argument(
        "--slurm-option",
        action="append",
        metavar="NAME=VALUE",
        help="any other sbatch option, e.g. account=my-group or qos=short (repeatable)",
    )


def executor_from(args) -> Executor | None:
    """The executor the command line asks for; None for the local default (grade() makes it)."""
    if args.executor != "slurm":
        return None
    options = SlurmOptions(
        partition=args.partition,
        time=args.time,
        gpus_per_task=args.gpus_per_task,
        cpus_per_task=max(1, args.cpus_per_task),
        mem=args.mem,
        per_task=max(1, args.per_task),
        extra=parse_extra(args.slurm_option),
    )
    return SlurmExecutor(Path(args.out) / "slurm", options)
