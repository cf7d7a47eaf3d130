"""Where submissions are graded: here, in a pool of threads (LocalExecutor, the default), or on
a Slurm cluster (autograde.tools.grading.slurm.SlurmExecutor). Both implement one interface:

    executor.group(subs)                    -> the groups of submissions, one unit of work each
    executor.submit(groups, course, deadline)
    executor.finished()                     -> (group index, its outcomes | why the group failed),
                                               as each group ends
    executor.close()                        -> stop what is still running (on error or Ctrl-C)

and `executor.grade(subs, course, deadline)` strings them together: one Outcome per submission,
in the instructor's process, where the grades are then merged exactly as before. Every group,
wherever it runs, is `grade_group`: a function of plain arguments (submissions, the course, a
deadline) that grades each submission the way the local path grades one (`autograde_one`).
A group that fails as a whole (an exception, a Slurm task killed or out of time) becomes a
failure of each of its submissions, never of the batch.
"""

from __future__ import annotations

import json
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import fields
from pathlib import Path
from typing import NamedTuple

from autograde.probing import MAX_RECORD_BYTES
from autograde.tools.grading.course import Course, rmtree
from autograde.tools.grading.records import CellResult, Submission
from autograde.tools.grading.run import autograde_one
from autograde.tools.grading.sandbox import Box
from autograde.tools.grading.secure import PROBES


class Outcome(NamedTuple):
    sub: Submission  # as graded: status, reason, seconds, cells, notes, flags...
    sandbox: Path | None = None  # the private course directory merge() reads, if any
    failure: str | None = None  # why the grader (not the student's code) could not grade it


def grade_group(
    subs: list[Submission],
    course: Course,
    deadline: float,
    threads: int | None,
    box: Box | None = None,
    results: Path | None = None,
    stopped: Callable[[], str | None] | None = None,
) -> list[Outcome]:
    """Grade `subs` one after the other, each as the local path grades one (in `box`, the
    sandbox, unless None).

    With `results` (a folder on a filesystem the instructor's machine sees), each submission's
    outcome is written there as soon as it is graded, as plain data (`result_folder`): what
    merge() needs of its private course directory (its gradebook and autograded/) and an
    outcome.json; the private directory, in this machine's temporary folder, is removed. A task
    killed half-way through its group has then lost only the submissions it had not finished.

    `stopped()` says why the group is being stopped (a Slurm task's SIGTERM), or None: a
    submission graded while it was is not the student's failure but the grader's, and the
    submissions after it are not started.
    """
    outcomes = []
    for sub in subs:
        why = stopped() if stopped else None
        if why is None:
            try:
                sandbox = autograde_one(sub, course, deadline, threads, box)
                outcome = Outcome(sub, sandbox)
            except Exception as exc:  # one submission never stops its group
                outcome = Outcome(sub, None, f"{type(exc).__name__}: {exc}")
            why = stopped() if stopped else None
            if why is not None and outcome.sandbox is not None:
                rmtree(outcome.sandbox)  # whatever nbgrader made of it while it was being killed
        if why is not None:
            outcome = Outcome(sub, None, why)
        if results is not None:
            outcome = send_back(outcome, result_folder(results, sub))
        outcomes.append(outcome)
    return outcomes


def result_folder(results: Path, sub: Submission) -> Path:
    return results / f"{sub.student}.{sub.assignment}"


def _copy_records(source: Path, to: Path) -> None:
    """The probe records the job wrote (secure grading), for the judge where the grader runs.

    They are the student's data: a regular file is copied (up to the judge's size cap, plus one
    byte so that a bigger one is still refused), a link stays a link (the judge refuses links),
    and anything else (a FIFO...) is left behind, never opened.
    """
    if not source.is_dir() or source.is_symlink():
        return
    to.mkdir(parents=True, exist_ok=True)
    for entry in os.scandir(source):
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), to / entry.name)
        elif entry.is_file(follow_symlinks=False):
            with open(entry.path, "rb") as src, open(to / entry.name, "wb") as dst:
                dst.write(src.read(MAX_RECORD_BYTES + 1))


def send_back(outcome: Outcome, to: Path) -> Outcome:
    """Copy what merge() and the judge read of the outcome's private directory (gradebook.db, autograded/, probes/) to
    `to`, with outcome.json (written last, so it means the rest is there); remove the private
    directory."""
    rmtree(to)
    to.mkdir(parents=True)
    sandbox = outcome.sandbox
    if sandbox is not None:
        if (sandbox / "gradebook.db").is_file():
            shutil.copyfile(sandbox / "gradebook.db", to / "gradebook.db")
        if (sandbox / "autograded").is_dir():
            shutil.copytree(sandbox / "autograded", to / "autograded")
        _copy_records(sandbox / PROBES, to / PROBES)
        rmtree(sandbox)
    data = {name: getattr(outcome.sub, name) for name in _GRADED_FIELDS}
    data["cells"] = [vars(c) for c in outcome.sub.cells]
    data["log"] = str(outcome.sub.log) if outcome.sub.log else None
    record = {"failure": outcome.failure, "sandbox": sandbox is not None, "sub": data}
    (to / "outcome.json.part").write_text(json.dumps(record), encoding="utf-8")
    (to / "outcome.json.part").replace(to / "outcome.json")
    return Outcome(outcome.sub, to if sandbox is not None else None, outcome.failure)


def read_back(sub: Submission, folder: Path) -> Outcome | None:
    """The outcome send_back() wrote in `folder`, onto the instructor's own `sub`; None if there
    is none (never graded: its task died first) or it is not what send_back() writes. Plain
    data only, each value of its expected type: nothing written on the node is unpickled."""
    try:
        record = json.loads((folder / "outcome.json").read_text(encoding="utf-8"))
        data = record["sub"]
        strings = lambda xs: isinstance(xs, list) and all(isinstance(x, str) for x in xs)  # noqa: E731
        number = lambda x: isinstance(x, (int, float)) and not isinstance(x, bool)  # noqa: E731
        cells = [
            CellResult(c["grade_id"], float(c["points"]), float(c["max_points"]), c["verdict"])
            for c in data["cells"]
            if isinstance(c["grade_id"], str)
            and number(c["points"])
            and number(c["max_points"])
            and isinstance(c["verdict"], str)
        ]
        points = {
            k: (float(v) if v is not None else None)
            for k, v in data["notebook_points"].items()
            if isinstance(k, str) and (v is None or number(v))
        }
        ok = (
            isinstance(data["status"], str)
            and isinstance(data["reason"], str)
            and number(data["seconds"])
            and strings(data["notes"])
            and strings(data["flags"])
            and len(cells) == len(data["cells"])
            and len(points) == len(data["notebook_points"])
            and (data["log"] is None or isinstance(data["log"], str))
            and (data["accelerator"] is None or isinstance(data["accelerator"], str))
            and (record["failure"] is None or isinstance(record["failure"], str))
            and isinstance(record["sandbox"], bool)
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not ok:
        return None
    sub.status, sub.reason, sub.seconds = data["status"], data["reason"], float(data["seconds"])
    sub.notes, sub.flags, sub.cells, sub.notebook_points = data["notes"], data["flags"], cells, points
    sub.log = Path(data["log"]) if data["log"] else None
    sub.accelerator = data["accelerator"]
    return Outcome(sub, folder if record["sandbox"] else None, record["failure"])


# What a submission's grading changes; the rest (student, assignment, original) is the
# instructor's own record and stays as it is.
_GRADED_FIELDS = [f.name for f in fields(Submission) if f.name not in ("student", "assignment", "original")]


def adopt(mine: Submission, graded: Submission) -> None:
    """Copy onto `mine` what grading found, when it was graded in another process (Slurm)."""
    if graded is not mine:
        for name in _GRADED_FIELDS:
            setattr(mine, name, getattr(graded, name))


class Executor(ABC):
    """Runs groups of submissions through grade_group, somewhere; see the module's docstring."""

    def group(self, subs: list[Submission]) -> list[list[Submission]]:
        return [[s] for s in subs]

    def describe(self) -> str:
        return type(self).__name__

    @abstractmethod
    def submit(self, groups: list[list[Submission]], course: Course, deadline: float, box: Box | None) -> None: ...

    @abstractmethod
    def finished(self) -> Iterator[tuple[int, list[Outcome] | str]]:
        """Each group once, as it ends: (its index, its outcomes in its order, or why it failed)."""

    @abstractmethod
    def close(self) -> None:
        """Stop whatever is still running or queued."""

    def grade(
        self, subs: list[Submission], course: Course, deadline: float, box: Box | None = None
    ) -> Iterator[Outcome]:
        """One Outcome per submission of `subs` (the instructor's own objects, updated), each
        graded in `box` (the sandbox) unless None."""
        groups = self.group(subs)
        self.submit(groups, course, deadline, box)
        for index, result in self.finished():
            group = groups[index]
            if isinstance(result, str) or len(result) != len(group):
                why = result if isinstance(result, str) else f"its group returned {len(result)} results"
                for sub in group:
                    yield Outcome(sub, None, why)
                continue
            for sub, outcome in zip(group, result):
                adopt(sub, outcome.sub)
                yield Outcome(sub, outcome.sandbox, outcome.failure)

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalExecutor(Executor):
    """`jobs` submissions at once on this machine, each kernel's torch given its share of the cores."""

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = max(1, jobs)
        self.threads = max(1, (os.cpu_count() or 1) // self.jobs) if self.jobs > 1 else None
        self._pool: ThreadPoolExecutor | None = None
        self._futures: dict[Future, int] = {}

    def describe(self) -> str:
        return f"{self.jobs} job(s)"

    def submit(self, groups: list[list[Submission]], course: Course, deadline: float, box: Box | None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=self.jobs)
        self._futures = {
            self._pool.submit(grade_group, g, course, deadline, self.threads, box): i for i, g in enumerate(groups)
        }

    def finished(self) -> Iterator[tuple[int, list[Outcome] | str]]:
        for future in as_completed(self._futures):
            try:
                yield self._futures[future], future.result()
            except Exception as exc:
                yield self._futures[future], f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
