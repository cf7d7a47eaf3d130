"""Secure grading's warm runner: one sandboxed process per parallel slot that imports torch, d2l
and matplotlib once, then forks a fresh process for each submission, walled off from the next.

    python -m autograde.tools.grading.warm [--preload MODULE ...]      (in the sandbox)

A notebook run in a new Jupyter kernel pays, before its first cell, for Python, ipykernel and the
imports (about 9 s of CPU of the 20 a submission took). Here the sandbox (grading/sandbox.py:
bubblewrap, the slot's uid, the limits) is made once per slot; this process imports what every
notebook imports, prints `ready`, and then, for each request the grader writes on its stdin (one
line of JSON: the prepared notebook, the cell timeout, the deadline), forks:

- a warden, which makes a new user, mount, PID and IPC namespace; mounts fresh, empty tmpfs on
  /tmp, /dev/shm and JOB (the notebook's folder, its only writable places); then forks
- the runner, PID 1 of that new PID namespace, which enters one more user and mount namespace,
  so that the warden's mounts are locked (they cannot be unmounted to reach what was written
  under them), and executes the notebook in itself (grading/shell.py), saving it after each cell.

When the runner ends, or at the deadline (then killed), every process the student's code started
dies with it (the PID namespace goes with its first process), and its namespaces, files and
shared memory are gone. The warden then reads what the runner left in JOB, as data and capped
(the notebook, probes/check_*.pt, the log: no link followed, nothing but regular files), and sends
it to the grader on stdout: a JSON header line, then the files' bytes. Nothing of one submission
reaches the next one this process serves: each runner is a fresh copy of this process as it was
before any student code ran, and neither it nor the warden can be traced or signalled from a
runner (they are not dumpable, and live outside its PID namespace).
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import importlib
import io
import json
import os
import re
import select
import signal
import stat
import sys
import time

from autograde import probing
from autograde.tools.grading import secure

JOB = "/job"  # a tmpfs of its own in every runner: the notebook, the log, probes/ and
WORKDIR = f"{JOB}/notebook"  # the working directory (d2l's text is put in ../data, so it is /job/data)
NOTEBOOK = "notebook.ipynb"
LOG = "log"
RECORD = re.compile(r"^check_[a-z0-9_]+\.pt$")
MAX_NOTEBOOK_BYTES = secure.MAX_NOTEBOOK_BYTES + 1  # one byte over each cap, so that the grader
MAX_RECORD_BYTES = probing.MAX_RECORD_BYTES + 1  # and the judge see a longer file and refuse it
MAX_RECORDS = 64
MAX_LOG_BYTES = 1 << 20
# What every notebook of the course imports; the chapter's check package is added (--preload).
PRELOAD = (
    "numpy",
    "torch",
    "torchvision",
    "d2l.torch",
    "matplotlib.pyplot",
    "matplotlib_inline.backend_inline",
    "IPython.core.interactiveshell",
    "autograde.tools.grading.shell",
)

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x08000000, 0x10000000, 0x20000000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x4000, 0x40000
PR_SET_DUMPABLE = 4

_libc = ctypes.CDLL(None, use_errno=True)


def _call(name: str, *args) -> None:
    if getattr(_libc, name)(*args) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{name}: {os.strerror(code)}")


def _own_user_namespace(flags: int, dumpable: int) -> None:
    """unshare(CLONE_NEWUSER | flags), keeping this process's uid and gid inside."""
    uid, gid = os.getuid(), os.getgid()
    _call("unshare", CLONE_NEWUSER | flags)
    # A process that is not dumpable has its /proc files owned by root: it could not write its
    # own maps. No runner exists yet to take advantage of the moment.
    _call("prctl", PR_SET_DUMPABLE, 1, 0, 0, 0)
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as fh:
            fh.write(text)
    _call("prctl", PR_SET_DUMPABLE, dumpable, 0, 0, 0)


def _mount_tmpfs(path: str, size: str, mode: str) -> None:
    _call(
        "mount",
        b"tmpfs",
        path.encode(),
        b"tmpfs",
        ctypes.c_ulong(MS_NOSUID | MS_NODEV),
        f"size={size},mode={mode}".encode(),
    )


def _read_capped(path: str, cap: int) -> bytes | None:
    """A regular file's bytes, at most `cap` (a longer file is cut there); None if it is not one."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return probing.read_at_most(fd, cap)
    finally:
        os.close(fd)


def _links() -> list[str]:
    """The records that are symbolic links: never followed, but said, so that the judge says why
    it refuses them (as it does when the grader copies a link from a cold job's folder)."""
    try:
        with os.scandir(f"{JOB}/probes") as entries:
            return sorted(e.name for e in entries if RECORD.match(e.name) and e.is_symlink())[:MAX_RECORDS]
    except OSError:
        return []


def _collected() -> list[tuple[str, bytes]]:
    files = []
    notebook = _read_capped(f"{JOB}/{NOTEBOOK}", MAX_NOTEBOOK_BYTES)
    if notebook is not None:
        files.append((NOTEBOOK, notebook))
    log = _read_capped(f"{JOB}/{LOG}", MAX_LOG_BYTES)
    if log is not None:
        files.append((LOG, log))
    try:
        fd = os.open(f"{JOB}/probes", os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY)
        names = sorted(os.listdir(fd))
        os.close(fd)
    except OSError:
        names = []
    for name in [n for n in names if RECORD.match(n)][:MAX_RECORDS]:
        data = _read_capped(f"{JOB}/probes/{name}", MAX_RECORD_BYTES)
        if data is not None:
            files.append((f"probes/{name}", data))
    return files


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _say(line: str) -> None:
    """A line in the log (stderr), from a forked process about to end, whatever stderr has become."""
    try:
        os.write(2, f"{line}\n".encode())
    except OSError:
        pass


def _runner(request: dict) -> None:
    """PID 1 of the submission's namespaces: execute the notebook in this process. Never returns."""
    status = 70
    try:
        _own_user_namespace(CLONE_NEWNS, dumpable=1)  # the warden's mounts, locked
        log = os.open(f"{JOB}/{LOG}", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.closerange(3, 1 << 16)  # the grader's pipe above all
        os.mkdir(WORKDIR, 0o700)
        os.chdir(WORKDIR)
        os.environ.update(request["env"])
        os.environ.update(HOME=JOB, RNN_COURSE_PROBES=f"{JOB}/probes", NBGRADER_EXECUTION="autograde")
        sys.path[0] = WORKDIR
        sys.stdin = open(0, closefd=False)
        from autograde.tools.grading import shell

        nb = json.loads(request["notebook"])

        def save() -> None:
            with open(f"{JOB}/.{NOTEBOOK}", "w", encoding="utf-8") as fh:
                json.dump(nb, fh, ensure_ascii=False)
            os.replace(f"{JOB}/.{NOTEBOOK}", f"{JOB}/{NOTEBOOK}")

        shell.execute(nb, int(request["timeout"]), after_each=save)
        status = 0
    except BaseException as exc:  # noqa: BLE001 - said in the log, the notebook saved as far as it got
        _say(f"the runner stopped: {type(exc).__name__}: {exc}")
    finally:
        os._exit(status)


def _warden(request: dict, out: int) -> None:
    """Make the submission's namespaces and mounts, run the runner in them until it ends or the
    deadline, and send back what it left. Never returns."""
    status = 1
    try:
        _own_user_namespace(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC, dumpable=0)
        _call("mount", None, b"/", None, ctypes.c_ulong(MS_REC | MS_PRIVATE), None)
        _mount_tmpfs("/tmp", "1g", "1777")
        if os.path.isdir("/dev/shm"):
            _mount_tmpfs("/dev/shm", "1g", "1777")
        _mount_tmpfs(JOB, "2g", "0700")
        os.mkdir(f"{JOB}/probes", 0o700)
        runner = os.fork()
        if runner == 0:
            os.close(out)
            _runner(request)
        started = time.monotonic()
        pidfd = os.pidfd_open(runner)
        ready, _, _ = select.select([pidfd], [], [], max(0.0, float(request["deadline"])))
        stopped = not ready
        if stopped:
            os.kill(runner, signal.SIGKILL)
        _, wait_status = os.waitpid(runner, 0)
        header: dict[str, object] = {
            "status": "stopped" if stopped else "done",
            "code": os.waitstatus_to_exitcode(wait_status),
            "seconds": round(time.monotonic() - started, 3),
        }
        files = _collected()
        header["files"] = [[name, len(data)] for name, data in files]
        header["links"] = _links()
        _write_all(out, json.dumps(header).encode() + b"\n" + b"".join(data for _, data in files))
        status = 0
    except BaseException as exc:  # noqa: BLE001 - the zygote reports it
        _say(f"warden: {type(exc).__name__}: {exc}")
    finally:
        os._exit(status)


def _draw_once() -> None:
    """Render one figure, with text and mathematics, as PNG and SVG: matplotlib loads its fonts
    and builds its caches on first use, which every notebook would otherwise pay for again."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return
    for form in ("png", "svg"):
        fig = Figure()
        ax = fig.subplots()
        ax.plot([0, 1], label="a")
        ax.legend()
        ax.set_title("a title")
        for weight in ("normal", "bold"):
            ax.text(0.5, 0.5, r"text and $W_{x\ast} \odot h_t$", fontweight=weight)
        fig.savefig(io.BytesIO(), format=form, bbox_inches="tight")


def serve(preload: list[str]) -> int:
    """Import, say `ready`, then one submission per line of stdin until it closes."""
    _call("prctl", PR_SET_DUMPABLE, 0, 0, 0, 0)  # no runner may read or write this process's memory
    out = os.dup(1)
    os.dup2(2, 1)  # what the imports print goes to the log, never into the grader's pipe
    for name in (*PRELOAD, *preload):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            print(f"warm: could not preload {name}: {exc}", file=sys.stderr)
    _draw_once()
    _write_all(out, b"ready\n")
    for line in sys.stdin.buffer:
        request = json.loads(line)
        warden = os.fork()
        if warden == 0:
            _warden(request, out)
        while True:
            try:
                _, wait_status = os.waitpid(warden, 0)
                break
            except InterruptedError:
                continue
        if os.waitstatus_to_exitcode(wait_status) != 0:
            why = "it could not make a notebook's namespaces: are nested user namespaces allowed? (see its log)"
            _write_all(out, json.dumps({"status": "error", "why": why, "files": []}).encode() + b"\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograde.tools.grading.warm", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--preload", action="append", default=[], help="a module to import before forking")
    args = parser.parse_args(argv)
    try:
        return serve(args.preload)
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            return 0
        raise


if __name__ == "__main__":
    sys.exit(main())
