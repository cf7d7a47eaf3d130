"""Running nbgrader as a subprocess: its environment, a deadline, and killing whatever it
started (the kernel runs in a session of its own)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from autograde.tools.common import kernel_env

# What nbgrader, and so the student's kernel, keeps of the instructor's environment: where
# libraries are (PYTHONPATH, LD_LIBRARY_PATH: a CUDA installation may need it), the language,
# the time zone, the choice of GPU, and the course's own RNN_COURSE_* variables. Nothing else:
# the instructor's tokens, keys and shell settings are not the student's code's business.
PASSED_ON = ("PYTHONPATH", "LD_LIBRARY_PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "CUDA_VISIBLE_DEVICES")
SYSTEM_PATH = os.pathsep.join(("/usr/local/bin", "/usr/bin", "/bin"))


def tool_env(threads: int | None = None, home: Path | None = None) -> dict[str, str]:
    """The environment of every nbgrader subprocess, and so of the students' kernels: PASSED_ON
    and

    - PATH: this Python's bin folder, then the system's: nbgrader runs `alembic` from PATH, and
      `.venv/bin/rnn-course` may be run without the venv activated;
    - HOME: `home`, the job's own folder where student code runs (else the instructor's, for
      the commands that run no student code);
    - JUPYTER_NO_CONFIG: only the nbgrader_config.py written here applies, not the user's;
    - no MPLBACKEND (Agg would silently drop every plot from the feedback);
    - RNN_COURSE_QUICK=1: training cells train briefly (nbgrader also sets NBGRADER_EXECUTION);
    - with several jobs at once, each kernel's torch gets its share of the cores.
    """
    base = {k: v for k, v in os.environ.items() if k in PASSED_ON or k.startswith("RNN_COURSE_")}
    base.setdefault("LANG", "C.UTF-8")
    env = kernel_env(quick=True, base=base)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + SYSTEM_PATH
    env["HOME"] = str(home) if home is not None else os.environ.get("HOME", str(Path.home()))
    env["JUPYTER_NO_CONFIG"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(threads)
    return env


def nbgrader(*args: str) -> list[str]:
    return [sys.executable, "-m", "nbgrader", *args]


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


def run_logged(
    cmd: list[str], cwd: Path, log: Path, env: dict[str, str], deadline: float, sandbox: Path | None = None
) -> tuple[int | None, float]:
    """Run `cmd` with output to `log`; (exit status or None if stopped at the deadline, seconds).

    The command runs in a session of its own. When it ends, or is stopped, whatever it
    started is killed: the kernel (which jupyter starts in a session of its own) and anything
    left running with its working directory in `sandbox`.
    """
    start = time.monotonic()
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
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
