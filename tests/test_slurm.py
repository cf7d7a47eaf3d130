"""`rnn-course grade --executor slurm`: the batch through a real single-node Slurm (Debian's
slurm-wlm and munge, started here and stopped after), compared with the local executor on the
same folder; and the executor interface, without Slurm.

The Slurm test is skipped only where Slurm cannot start, with the reason (from the daemons'
logs when they fail).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import re
import stat
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

import nbformat
import pytest

from autograde.tools import grade
from autograde.tools.grading.course import Course
from autograde.tools.grading.executors import Executor, LocalExecutor, Outcome, read_back, send_back
from autograde.tools.grading.records import CellResult, Submission, UsageError
from autograde.tools.grading.slurm import (
    SlurmExecutor,
    SlurmOptions,
    add_executor_arguments,
    executor_from,
    parse_extra,
)

import submissions
from slurm_cluster import SlurmCluster, SlurmUnavailable
from submissions import replacing

NAME = "lstm-scratch"
CELL_TIMEOUT = 60

# A notebook that keeps its task busy (a cell that sleeps past the cell timeout), long enough
# for the test to cancel that task while it grades it.
SLOW = "import time\ntime.sleep(300)\n"


def cancel_task_when(ready: Path, executor: SlurmExecutor, index: int, stop: threading.Event) -> None:
    """scancel array task `index` as soon as `ready` exists, as an administrator, an
    out-of-memory kill or a lost node would end it. (Student code cannot: the sandbox's own
    PID namespace hides the task's processes from it.)"""
    while not stop.wait(0.2):
        if ready.exists() and executor.jobs:
            subprocess.run(["scancel", f"{executor.array_id}_{index}"], capture_output=True, timeout=30)
            return


def sample_class(folder: Path) -> Path:
    """A solved notebook, one with a planted bug, one broken at its imports."""
    folder.mkdir(parents=True)
    nbformat.write(submissions.student(NAME), folder / "alice.ipynb")
    nbformat.write(
        submissions.student(NAME, lstm=replacing("C = F * C + I * C_tilde", "C = C + I * C_tilde")),
        folder / "bob_forget.ipynb",
    )
    nbformat.write(submissions.student(NAME, c02=lambda s: "1/0\n" + s), folder / "carol_broken.ipynb")
    return folder


def read_grades(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def run_grade(subs: Path, out: Path, executor: Executor | None, jobs: int = 1):
    buffer = io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stdout(buffer):
        graded, _ = grade.grade(subs, out, NAME, timeout=CELL_TIMEOUT, jobs=jobs, executor=executor)
    seconds = time.monotonic() - start
    print(buffer.getvalue())
    return {s.student: s for s in graded}, seconds


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("slurm")
    c = SlurmCluster(base)
    try:
        c.start()
    except SlurmUnavailable as exc:
        pytest.skip(f"Slurm cannot start here: {exc}")
    print(f"single-node Slurm up in {c.startup_seconds:.2f} s")
    yield c
    c.stop()


@pytest.mark.slow
def test_slurm_grades_as_the_local_executor_and_a_dead_task_costs_only_its_submissions(cluster, tmp_path):
    subs = sample_class(tmp_path / "submissions")
    local, local_s = run_grade(subs, tmp_path / "local", LocalExecutor(jobs=2))
    local_rows = read_grades(tmp_path / "local")

    # Two array tasks of two submissions: [alice, bob_forget] and [carol_broken, zed_cancelled];
    # the second task is cancelled once carol's notebook is graded, while it grades zed's.
    nbformat.write(submissions.student(NAME, c02=lambda s: SLOW + s), subs / "zed_cancelled.ipynb")
    executor = SlurmExecutor(
        tmp_path / "slurm-out" / "slurm", SlurmOptions(per_task=2, cpus_per_task=1, time=15, poll=1, grace=3)
    )
    stop = threading.Event()
    canceller = threading.Thread(
        target=cancel_task_when,
        daemon=True,
        args=(executor.results / f"carol_broken.{NAME}" / "outcome.json", executor, 1, stop),
    )
    canceller.start()
    try:
        remote, remote_s = run_grade(subs, tmp_path / "slurm-out", executor)
    finally:
        stop.set()
    rows = read_grades(tmp_path / "slurm-out")
    if any(s.status == "grader error" and s.student != "zed_cancelled" for s in remote.values()):
        print(cluster.logs_tail())

    # the same grades, check by check, as the local executor gives for the same folder
    assert local_rows["alice"]["score"] == "15"
    assert local_rows["bob_forget"]["score"] == "10"
    assert float(local_rows["carol_broken"]["score"]) < 15
    for who in ("alice", "bob_forget", "carol_broken"):
        assert rows[who] == local_rows[who], who
        assert remote[who].status == local[who].status, who
        assert [c.verdict for c in remote[who].cells] == [c.verdict for c in local[who].cells], who
    # the feedback pages are made in the instructor's process, as locally
    assert "the forget gate is missing from the memory update" in submissions.feedback(
        tmp_path / "slurm-out", "bob_forget", NAME
    )

    # the task that died: the submission it was grading is reported, with the task and its state;
    # the one it had finished (carol's, compared above) is kept
    zed = remote["zed_cancelled"]
    assert zed.status == "grader error" and rows["zed_cancelled"]["score"] == "0"
    assert re.search(
        r"the Slurm task \d+_1 (was stopped \(SIGTERM|ended without a result \(JobState CANCELLED)", zed.reason
    ), zed.reason
    report = (tmp_path / "slurm-out" / "report.txt").read_text(encoding="utf-8")
    assert "zed_cancelled" in report and "the Slurm task" in report

    # the instructor's folder: submitit's pickles and logs, mode 700; the results were merged and removed
    folder = tmp_path / "slurm-out" / "slurm"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert len(list(folder.glob("*_submitted.pkl"))) == 2  # one job array, two tasks
    assert not any((folder / "results").iterdir())

    graded = [s for s in remote.values() if s.status == "graded"]
    starts = [
        datetime.strptime(m, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        for log in folder.glob("*_log.*")
        for m in re.findall(r"submitit INFO \(([^)]+)\) - Starting with", log.read_text())
    ]
    print(
        f"FIGURES slurm start-up {cluster.startup_seconds:.2f} s; local: {local_s:.1f} s for 3 submissions, "
        f"{sum(s.seconds for s in local.values()) / 3:.1f} s each; slurm: {remote_s:.1f} s for 4, "
        f"{sum(s.seconds for s in graded) / len(graded):.1f} s per graded submission in its task; "
        f"sbatch {executor.startup_seconds:.2f} s; first task running {min(starts) - executor.submitted_at:.1f} s "
        f"after sbatch"
    )


@pytest.mark.slow  # starts daemons
def test_a_slurm_that_cannot_start_says_why_from_its_daemons_log(tmp_path):
    if SlurmCluster.why_not():
        pytest.skip(SlurmCluster.why_not())
    cluster = SlurmCluster(tmp_path, settings={"SelectType": "select/no_such_plugin"})
    with pytest.raises(SlurmUnavailable, match=r"slurmc?t?l?d (did not start|exited)") as info:
        cluster.start()
    assert "no_such_plugin" in str(info.value), str(info.value)  # the end of slurmctld's log
    assert os.environ.get("SLURM_CONF") != str(cluster.conf)  # everything stopped, the environment restored
    assert not cluster._alive("munged")


# -- the interface, without Slurm -------------------------------------------------------------


class FakeGroups(Executor):
    """Two submissions per group; the group holding `dies` fails as a whole."""

    def __init__(self, dies: str) -> None:
        self.dies = dies

    def group(self, subs):
        return [subs[i : i + 2] for i in range(0, len(subs), 2)]

    def submit(self, groups, course, deadline, box):
        self.groups = groups

    def finished(self):
        for i, group in reversed(list(enumerate(self.groups))):
            if any(s.student == self.dies for s in group):
                yield i, "the Slurm task 7_1 ended without a result (JobState FAILED)"
            else:
                # as from another process: copies, graded
                copies = [
                    Submission(s.student, s.assignment, Path("/elsewhere") / s.student, status="graded", seconds=1.5)
                    for s in group
                ]
                yield i, [Outcome(c, Path("/results") / c.student) for c in copies]

    def close(self):
        pass


def test_a_failed_group_is_a_failure_of_each_of_its_submissions_and_of_no_other():
    subs = [Submission(name, NAME, Path(f"{name}.ipynb")) for name in ("a", "b", "c", "d", "e")]
    course = Course(Path("/course"), Path("/solutions"), [NAME], {NAME: []}, 60)
    with FakeGroups(dies="d") as executor:
        outcomes = {o.sub.student: o for o in executor.grade(subs, course, 100)}
    assert set(outcomes) == {"a", "b", "c", "d", "e"}
    assert {w for w, o in outcomes.items() if o.failure} == {"c", "d"}
    assert "JobState FAILED" in outcomes["c"].failure
    for who in ("a", "b", "e"):
        o = outcomes[who]
        assert o.sub is subs["abcde".index(who)]  # the instructor's own record, updated
        assert o.sub.status == "graded" and o.sub.seconds == 1.5 and o.sandbox == Path("/results") / who
        assert o.sub.original == Path(f"{who}.ipynb")  # not the path the node saw


def test_the_command_line_chooses_the_executor(tmp_path):
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=tmp_path / "grading")
    add_executor_arguments(parser)
    assert executor_from(parser.parse_args([])) is None  # the local pool stays the default
    ex = executor_from(
        parser.parse_args(
            [
                "--executor",
                "slurm",
                "--partition",
                "gpu",
                "--gpus-per-task",
                "1",
                "--time",
                "30",
                "--per-task",
                "8",
                "--slurm-option",
                "account=ml",
                "--slurm-option",
                "qos=short",
            ]
        )
    )
    assert isinstance(ex, SlurmExecutor) and ex.folder == (tmp_path / "grading" / "slurm").resolve()
    o = ex.options
    assert (o.partition, o.gpus_per_task, o.time, o.per_task, o.extra) == (
        "gpu",
        1,
        30,
        8,
        {"account": "ml", "qos": "short"},
    )
    assert len(ex.group([Submission(str(i), NAME, None) for i in range(17)])) == 3
    with pytest.raises(UsageError):
        parse_extra(["account"])


def test_local_executor_threads_share_the_cores():
    assert LocalExecutor(1).threads is None
    assert LocalExecutor(2).threads == max(1, (os.cpu_count() or 1) // 2)


def test_an_outcome_comes_back_as_plain_data_onto_the_instructors_record(tmp_path):
    sandbox = tmp_path / "private"
    (sandbox / "autograded" / "ann" / NAME).mkdir(parents=True)
    (sandbox / "gradebook.db").write_bytes(b"db")
    graded = Submission(
        "ann",
        NAME,
        Path("/node/ann.ipynb"),
        notes=["a note"],
        status="graded",
        seconds=12.5,
        cells=[CellResult("check_a", 2.0, 2.0, "\u2713 fine")],
        log=Path("/course/logs/ann.log"),
        flags=["look"],
        notebook_points={"check_a": 2.0, "check_b": None},
        accelerator="CUDA",
    )
    sent = send_back(Outcome(graded, sandbox), tmp_path / "results" / "ann")
    assert not sandbox.exists() and (sent.sandbox / "gradebook.db").read_bytes() == b"db"
    assert (sent.sandbox / "autograded" / "ann" / NAME).is_dir()
    mine = Submission("ann", NAME, Path("ann.ipynb"))
    back = read_back(mine, tmp_path / "results" / "ann")
    assert back is not None and back.sub is mine and back.sandbox == sent.sandbox and back.failure is None
    assert (mine.status, mine.seconds, mine.notes, mine.flags, mine.log) == (
        "graded",
        12.5,
        ["a note"],
        ["look"],
        Path("/course/logs/ann.log"),
    )
    assert mine.cells == graded.cells and mine.notebook_points == graded.notebook_points
    assert mine.accelerator == "CUDA"  # the node's, which the judge holds its probe records to
    assert mine.original == Path("ann.ipynb")
    # what is not exactly what send_back writes is no outcome (the submission then fails)
    record = tmp_path / "results" / "ann" / "outcome.json"
    written = record.read_text()
    for right, wrong in (('"seconds": 12.5', '"seconds": "12.5"'), ('"accelerator": "CUDA"', '"accelerator": 1')):
        assert right in written
        record.write_text(written.replace(right, wrong))
        assert read_back(Submission("ann", NAME, None), tmp_path / "results" / "ann") is None
    assert read_back(Submission("bo", NAME, None), tmp_path / "results" / "bo") is None


class FakeJob:
    """What SlurmExecutor reads of a submitit job: its id and its files."""

    def __init__(self, folder: Path, job_id: str, ended: bool) -> None:
        self.job_id = job_id
        self.paths = argparse.Namespace(
            result_pickle=folder / f"{job_id}_0_result.pkl",
            stderr=folder / f"{job_id}_0_log.err",
            stdout=folder / f"{job_id}_0_log.out",
        )
        if ended:
            self.paths.result_pickle.write_bytes(b"never read")
        self.paths.stderr.write_text("Traceback ...\nMemoryError\n")


def slurm_with(tmp_path: Path, ended: bool, **options) -> tuple[SlurmExecutor, list[Submission]]:
    ex = SlurmExecutor(tmp_path / "slurm", SlurmOptions(poll=0.01, **options))
    ex.results.mkdir(parents=True)
    subs = [Submission(n, NAME, None) for n in ("ann", "ben")]
    ex.groups, ex.jobs = [subs], [FakeJob(ex.folder, "9_0", ended)]
    done = Submission("ann", NAME, None, status="graded", seconds=3.0)
    send_back(Outcome(done, None), ex.results / f"ann.{NAME}")
    return ex, subs


def test_a_task_that_ended_early_keeps_what_it_graded_and_fails_the_rest(tmp_path):
    ex, (ann, ben) = slurm_with(tmp_path, ended=True)
    [(index, outcomes)] = list(ex.finished())
    assert index == 0 and [o.sub for o in outcomes] == [ann, ben]
    assert outcomes[0].failure is None and ann.status == "graded" and ann.seconds == 3.0
    assert outcomes[1].failure.startswith("the Slurm task 9_0 stopped before grading this submission")
    assert "MemoryError" in outcomes[1].failure


def test_a_controller_that_never_answers_is_given_up_on(tmp_path, monkeypatch):
    from autograde.tools.grading import slurm

    monkeypatch.setattr(slurm, "_in_queue", lambda array_id: None)
    ex, (ann, ben) = slurm_with(tmp_path, ended=False, unanswered=0.05)
    [(index, outcomes)] = list(ex.finished())
    assert outcomes[0].failure is None and ann.status == "graded"
    assert "has not answered squeue" in outcomes[1].failure


def test_what_is_graded_after_the_task_is_told_to_stop_is_the_graders_failure(tmp_path, monkeypatch):
    from autograde.tools.grading import executors

    told: list[str] = []
    started: list[str] = []

    def fake_autograde_one(sub, course, deadline, threads, box):
        started.append(sub.student)
        sub.status = "nbgrader failed" if told else "graded"  # as nbgrader killed by the SIGTERM
        if sub.student == "b":
            told.append("SIGTERM")
        folder = tmp_path / sub.student
        folder.mkdir()
        return folder

    monkeypatch.setattr(executors, "autograde_one", fake_autograde_one)
    subs = [Submission(n, NAME, None) for n in ("a", "b", "c")]
    outcomes = executors.grade_group(
        subs, None, 10, None, None, tmp_path / "results", stopped=lambda: "stopped by Slurm" if told else None
    )
    assert started == ["a", "b"]  # c never started
    assert [o.failure for o in outcomes] == [None, "stopped by Slurm", "stopped by Slurm"]
    assert not (tmp_path / "b").exists()
    assert read_back(Submission("b", NAME, None), tmp_path / "results" / f"b.{NAME}").failure == "stopped by Slurm"
