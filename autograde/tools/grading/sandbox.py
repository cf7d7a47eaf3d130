"""Running one submission's notebook in a sandbox: secure grading's job runner (grading/job.py),
or, with --insecure, `nbgrader autograde` whole.

The student's code runs in the kernel that runner starts, so the runner itself runs inside:

- bubblewrap (bwrap): no network (the kernel still talks to the runner over loopback), its own
  process tree (--die-with-parent: nothing outlives it or the deadline), a private /tmp, the
  system and Python read-only, of a course checkout on Python's path (an editable install) its
  `autograde` package alone (its .git, tests/, _build/ and solutions/ all hold the solutions in
  some form), the course directory hidden, and one folder writable: the job's own. In secure
  grading the course's own package is its probe-only copy (grading/probe_package.py): the
  checks' probes and input generation, no reference, planted mistake or layer adapter, so a
  notebook cannot import a right answer; and RNN_COURSE_SALT holds the batch's salt, with which
  the probes draw their inputs (autograde/seeds.py; the grader's judge draws them again with
  it);
- as an unprivileged uid of its own per parallel slot (setpriv: no capabilities, no groups, no
  new privileges; RLIMIT_NPROC counts processes per real uid, so two slots never share one),
  when grading runs as root; otherwise as the grader's own uid, in a user namespace;
- under prlimit's limits: CPU time, memory (address space; CPU mode only, as CUDA maps far more
  than it uses), file size, processes (with a uid of its own) and open files.

As root, bwrap sets the sandbox up and setpriv drops to the slot's uid inside it: bwrap entered
as that uid could not mount a Python installed under a folder only root may enter (pyenv's
/root/.pyenv, /root being mode 700), and the sandbox needs the very Python that grades.

Where bwrap or user namespaces are missing, `problem()` says why, and grading refuses to start
unless the instructor passes --insecure (then the report says the submissions ran unsandboxed).
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autograde import seeds
from autograde.tools.grading import probe_package, warm, zygote

FIRST_UID = 61000  # slot i runs as uid FIRST_UID + i: ids no account on a usual system has
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
GIB = 1 << 30
MEMORY = 16 * GIB  # address space: a kernel that has imported torch and d2l maps about 4 GiB


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int
    memory_bytes: int | None  # RLIMIT_AS; None on a machine with a GPU
    file_bytes: int = 4 * GIB  # an autograded notebook with a 60 MB output is far below
    processes: int = 4096  # threads count too: torch starts one per core, jupyter a few
    open_files: int = 4096


def has_gpu() -> bool:
    return Path("/dev/nvidiactl").exists()


def _readable_roots() -> list[Path]:
    """What the sandbox must read besides the system: this Python's installation, its
    environment, and every folder on its path (PYTHONPATH, site-packages); of a course checkout
    on that path (an editable install), its `autograde` package alone: the rest of a checkout
    holds the solutions in other forms (.git's objects, tests/, _build/'s executed notebooks)."""
    packages = probe_package.package_dirs()
    checkouts = {package.parent for package in packages}
    pythons = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    roots = pythons | set(packages)
    for package in packages:  # what the package links to (its copy of the book is a link into data/)
        roots.update(link.resolve() for link in package.rglob("*") if link.is_symlink() and link.exists())
    for entry in sys.path:
        path = Path(entry).resolve() if entry else None
        if path is None or not path.is_dir() or path in checkouts:
            continue
        if not any(path.is_relative_to(c) for c in checkouts) or any(path.is_relative_to(p) for p in pythons):
            roots.add(path)  # not a folder of a checkout (its tests/, say), unless its venv's
    keep: list[Path] = []
    for root in sorted(roots, key=lambda p: len(p.parts)):
        inside = any(root.is_relative_to(k) for k in keep) or any(root.is_relative_to(s) for s in SYSTEM)
        if not inside and root != Path("/"):
            keep.append(root)
    return keep


@dataclass
class Box:
    """How submissions are sandboxed in this batch; `mode` says it in words for the report."""

    limits: Limits
    hidden: list[Path]  # covered by an empty folder: the solutions, the course directory
    as_root: bool = field(default_factory=lambda: os.geteuid() == 0)
    slots: queue.Queue = field(default_factory=queue.Queue)
    salt: int = 0  # the batch's (autograde.seeds): the judge needs it too
    package: Path | None = None  # the probe-only copy of `autograde` (secure grading), bound over the real one
    warm: bool = False  # secure grading: one warm runner per slot (grading/warm.py), not a kernel per notebook
    _zygotes: dict[int, zygote.Zygote] = field(default_factory=dict)

    @classmethod
    def for_batch(cls, jobs: int, limits: Limits, hidden: list[Path], salt: int = 0) -> Box:
        box = cls(limits, hidden, salt=salt)
        for i in range(jobs):
            box.slots.put(FIRST_UID + i)
        return box

    @property
    def mode(self) -> str:
        who = (
            f"each job as a uid of its own ({FIRST_UID}..)"
            if self.as_root
            else f"as {os.environ.get('USER') or os.geteuid()}, in a user namespace"
        )
        memory = (
            f"{self.limits.memory_bytes / GIB:g} GiB of address space"
            if self.limits.memory_bytes
            else "no memory limit (GPU)"
        )
        runner = (
            "each notebook in a fresh fork of a warm runner, in namespaces of its own"
            if self.warm
            else "each notebook in a kernel of its own"
        )
        return (
            f"sandboxed: bubblewrap, no network, read-only system, of the course only its package, {who}; "
            f"{runner}; limits: {self.limits.cpu_seconds} s of CPU, {memory}"
        )

    @contextlib.contextmanager
    def wrapping(self, cmd: list[str], job: Path):
        """`cmd` as it runs in the sandbox with `job` its only writable folder (and its
        working directory), for as long as the slot's uid is taken."""
        uid = self.slots.get() if self.as_root else None
        try:
            if uid is not None:
                _hand_over(job, uid)
            yield self._command(cmd, Path(job).resolve(), uid)
        finally:
            if uid is not None:
                self.slots.put(uid)

    def run_warm(
        self, notebook: str, env: dict[str, str], preload: list[str], timeout: int, deadline: float, logs: Path
    ) -> zygote.Reply:
        """Execute a prepared notebook in a free slot's warm runner (started, in the slot's
        sandbox with `env`, on its first use or after it was lost; its stderr in `logs`).
        Raises zygote.Unavailable when the runner could not start, zygote.Lost when it broke
        down on this notebook."""
        uid = self.slots.get()
        try:
            runner = self._zygotes.get(uid)
            if runner is None or not runner.alive():
                cmd = [sys.executable, "-m", "autograde.tools.grading.warm"]
                cmd += [arg for module in preload for arg in ("--preload", module)]
                command = self._command(cmd, None, uid if self.as_root else None)
                runner = zygote.Zygote(command, env, logs / f"warm-runner-{uid}.log")
                self._zygotes[uid] = runner
            return runner.run(notebook, {}, timeout, deadline)
        finally:
            self.slots.put(uid)

    def close(self) -> None:
        """Stop the warm runners."""
        for runner in self._zygotes.values():
            runner.close()
        self._zygotes.clear()

    def _command(self, cmd: list[str], job: Path | None, uid: int | None) -> list[str]:
        """`cmd` in the sandbox, as `uid` (root) or in a user namespace; `job` its writable
        folder and working directory, or None: nothing writable but its /tmp, and an empty
        /job for the warm runner's per-submission mounts (grading/warm.py)."""
        if uid is not None:  # privileged bwrap, no user namespace: the uid is a real one
            box = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
        else:
            box = ["bwrap", "--unshare-all"]
        box += [
            "--die-with-parent",
            "--new-session",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--perms",
            "1777",
            "--tmpfs",
            "/tmp",
        ]
        for system in SYSTEM:
            if Path(system).is_symlink():
                box += ["--symlink", os.readlink(system), system]
            elif Path(system).is_dir():
                box += ["--ro-bind", system, system]
        roots = _readable_roots()
        made: set[Path] = set()
        for root in roots:
            for parent in reversed(root.parents):
                if parent != Path("/") and parent not in made:
                    box += ["--perms", "0755", "--dir", str(parent)]  # bwrap's own are 0700
                    made.add(parent)
            box += ["--ro-bind", str(root), str(root)]
        for path in self.hidden:
            path = Path(path).resolve()
            if path.is_dir() and any(path.is_relative_to(r) for r in roots):
                box += ["--tmpfs", str(path)]
        if self.package is not None:
            for real in probe_package.package_dirs():
                box += ["--ro-bind", str(self.package), str(real)]
        for gpu in sorted(Path("/dev").glob("nvidia*")):
            box += ["--dev-bind", str(gpu), str(gpu)]
        if has_gpu():
            box += ["--ro-bind", "/sys", "/sys"]  # CUDA finds its devices there
        if job is not None:
            box += ["--bind", str(job), str(job)]
        else:  # the warm runner: its root and /dev read-only too, or in a user namespace one
            # submission could leave files there for the next one the runner serves
            box += ["--perms", "0755", "--dir", warm.JOB, "--remount-ro", "/dev", "--remount-ro", "/"]
        box += ["--setenv", "USER", "student", "--setenv", "LOGNAME", "student"]
        box += ["--setenv", seeds.SALT, str(self.salt), "--"]
        inner: list[str] = []
        if uid is not None:
            inner += [
                "setpriv",
                f"--reuid={uid}",
                f"--regid={uid}",
                "--clear-groups",
                "--no-new-privs",
                "--inh-caps=-all",
                "--bounding-set=-all",
            ]
        limits = self.limits
        inner += [
            "prlimit",
            f"--cpu={limits.cpu_seconds}",
            f"--fsize={limits.file_bytes}",
            f"--nofile={limits.open_files}",
        ]
        if uid is not None:
            inner.append(f"--nproc={limits.processes}")  # per real uid: only with a uid of its own
        if limits.memory_bytes:
            inner.append(f"--as={limits.memory_bytes}")
        # The job's folder is the slot uid's (mode 700): only that uid may enter it.
        return box + inner + ["--", "env", f"--chdir={job if job is not None else '/'}", *cmd]


def _hand_over(job: Path, uid: int) -> None:
    """Make the job's folder the slot uid's: nbgrader writes its gradebook and notebooks there."""
    for folder, dirs, files in os.walk(job):
        os.chown(folder, uid, uid)
        for name in dirs + files:
            os.chown(os.path.join(folder, name), uid, uid, follow_symlinks=False)


def problem(limits: Limits) -> str | None:
    """None if a sandbox works here (Python starts in it), else why not and what to do."""
    for tool in ("bwrap", "setpriv", "prlimit", "env"):
        if shutil.which(tool) is None:
            package = "bubblewrap" if tool == "bwrap" else "util-linux" if tool != "env" else "coreutils"
            return f"`{tool}` is not installed (Debian/Ubuntu: apt-get install {package})"
    box = Box.for_batch(1, limits, [])
    with tempfile.TemporaryDirectory(prefix="rnn-course-grade-probe-") as job:
        with box.wrapping([sys.executable, "-c", "import nbgrader, autograde"], Path(job)) as cmd:
            try:
                probe = subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"the sandbox did not start: {exc}"
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        hint = (
            "are user namespaces enabled? (/proc/sys/kernel/unprivileged_userns_clone, "
            "/proc/sys/user/max_user_namespaces)"
            if not box.as_root
            else f"can uid {FIRST_UID} read {sys.base_prefix} and {sys.prefix}?"
        )
        return f"Python does not start in the sandbox ({why}); {hint}"
    return None
