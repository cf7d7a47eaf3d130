"""A single-node Slurm for the tests: munged, slurmctld and slurmd started as daemons (as root,
no systemd) from Debian's `munge` and `slurm-wlm`, everything in one private folder, and
stopped afterwards.

    with SlurmCluster(tmp_path) as cluster:   # SlurmUnavailable(reason) if it cannot start
        ...                                   # sbatch, sinfo, submitit: SLURM_CONF is set

Nothing of the machine's own configuration is used or changed: munged has its own key and
socket (slurm.conf's AuthInfo names it), the daemons their own ports, state and spool folders,
pid and log files. When a daemon does not come up, the exception carries the end of its log.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sinfo", "sbatch", "squeue", "scontrol", "scancel")


class SlurmUnavailable(Exception):
    """Why a single-node Slurm cannot run here (the test is skipped with this reason)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.strip().splitlines()[-lines:]) or f"({path} is empty)"


def _node_resources() -> tuple[int, int]:
    """(CPUs, RealMemory in MB) as slurmd itself sees them, memory with a margin."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, timeout=30).stdout
    cpus = int(re.search(r"CPUs=(\d+)", out).group(1)) if "CPUs=" in out else (os.cpu_count() or 1)
    memory = int(re.search(r"RealMemory=(\d+)", out).group(1)) if "RealMemory=" in out else 1024
    return cpus, max(256, int(memory * 0.9))


class SlurmCluster:
    """One node called `localhost` in partition `debug`, run by root from `base`."""

    def __init__(self, base: Path, start_timeout: float = 60.0, settings: dict[str, str] | None = None) -> None:
        self.base = Path(base)
        self.settings = settings or {}  # slurm.conf lines replaced (a test of a daemon that fails)
        self.start_timeout = start_timeout
        self.conf = self.base / "etc" / "slurm.conf"
        self.logs = self.base / "log"
        self.munge_socket = self.base / "munge" / "munge.socket"
        self.pids = {name: self.base / "run" / f"{name}.pid" for name in ("munged", "slurmctld", "slurmd")}
        self.startup_seconds = 0.0
        self._saved_env: str | None = None

    # -- what must be there --------------------------------------------------------------------
    @staticmethod
    def why_not() -> str | None:
        """None if a single-node Slurm can be tried here, else why not."""
        missing = [d for d in DAEMONS if shutil.which(d) is None and not Path("/usr/sbin", d).exists()]
        if missing:
            return (
                f"Slurm/munge not installed (missing {', '.join(missing)}): "
                "apt-get install slurm-wlm munge (.ci/install-slurm does it)"
            )
        if os.geteuid() != 0:
            return f"a single-node Slurm for the tests runs its daemons as root; the tests run as uid {os.geteuid()}"
        return None

    # -- start -----------------------------------------------------------------------------------
    def start(self) -> SlurmCluster:
        reason = self.why_not()
        if reason:
            raise SlurmUnavailable(reason)
        t0 = time.monotonic()
        for d in ("etc", "log", "munge", "run", "state", "spool"):
            (self.base / d).mkdir(parents=True, exist_ok=True)
            os.chmod(self.base / d, 0o700 if d == "munge" else 0o755)
        self._start_munge()
        self._write_conf()
        self._saved_env = os.environ.get("SLURM_CONF")
        os.environ["SLURM_CONF"] = str(self.conf)
        try:
            self._daemon("slurmctld", ["slurmctld", "-f", str(self.conf), "-L", str(self.logs / "slurmctld.log")])
            self._daemon(
                "slurmd", ["slurmd", "-f", str(self.conf), "-N", "localhost", "-L", str(self.logs / "slurmd.log")]
            )
            self._wait_idle()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def _start_munge(self) -> None:
        key = self.base / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o600)
        log = self.logs / "munged.log"
        cmd = [
            "munged",
            "--force",
            f"--socket={self.munge_socket}",
            f"--key-file={key}",
            f"--pid-file={self.pids['munged']}",
            f"--log-file={log}",
            f"--seed-file={self.base / 'munge' / 'munged.seed'}",
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise SlurmUnavailable(
                f"munged did not start ({done.stderr.strip() or done.returncode}); its log:\n{_tail(log)}"
            )
        check = subprocess.run(
            f"munge -n -S {self.munge_socket} | unmunge -S {self.munge_socket}",
            shell=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if check.returncode != 0:
            raise SlurmUnavailable(f"munge does not work: {check.stderr.strip()}; munged's log:\n{_tail(log)}")

    def _write_conf(self) -> None:
        cpus, memory = _node_resources()
        b = self.base
        self.conf.write_text(
            f"""\
# Written by tests/slurm_cluster.py: a single-node Slurm for the tests.
ClusterName=rnncourse
SlurmctldHost=localhost
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={b / "state"}
SlurmdSpoolDir={b / "spool"}
SlurmctldPidFile={self.pids["slurmctld"]}
SlurmdPidFile={self.pids["slurmd"]}
SlurmctldLogFile={self.logs / "slurmctld.log"}
SlurmdLogFile={self.logs / "slurmd.log"}
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=600
KillWait=5
InactiveLimit=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
""",
            encoding="utf-8",
        )
        if self.settings:
            lines = [
                f"{k}={self.settings[k]}" if (k := line.split("=", 1)[0]) in self.settings else line
                for line in self.conf.read_text(encoding="utf-8").splitlines()
            ]
            self.conf.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _daemon(self, name: str, cmd: list[str]) -> None:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise SlurmUnavailable(
                f"{name} did not start (exit {done.returncode}: {done.stderr.strip()}); "
                f"its log:\n{_tail(self.logs / f'{name}.log')}"
            )

    def _wait_idle(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        state = ""
        while time.monotonic() < deadline:
            done = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, timeout=30)
            state = done.stdout.strip() or done.stderr.strip()
            if done.returncode == 0 and state.startswith("idle"):
                return
            for name in ("slurmctld", "slurmd"):
                if not self._alive(name):
                    raise SlurmUnavailable(
                        f"{name} exited during start-up; its log:\n{_tail(self.logs / f'{name}.log')}"
                    )
            time.sleep(0.5)
        raise SlurmUnavailable(
            f"the node never became idle in {self.start_timeout:g} s (sinfo: {state!r}); "
            f"slurmctld's log:\n{_tail(self.logs / 'slurmctld.log')}\n"
            f"slurmd's log:\n{_tail(self.logs / 'slurmd.log')}"
        )

    def _pid(self, name: str) -> int | None:
        try:
            return int(self.pids[name].read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _alive(self, name: str) -> bool:
        pid = self._pid(name)
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    # -- stop ------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Cancel every job, then stop slurmd, slurmctld and munged (by their pid files)."""
        if os.environ.get("SLURM_CONF") == str(self.conf) and self._alive("slurmctld"):
            try:  # (a controller that is dying as this runs would keep scancel retrying)
                subprocess.run(["scancel", "--full", "--user", "root"], capture_output=True, timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self._pid(name)
            if pid is None:
                continue
            for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    break
                end = time.monotonic() + wait
                while time.monotonic() < end and self._alive(name):
                    time.sleep(0.1)
                if not self._alive(name):
                    break
        if self._saved_env is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = self._saved_env

    def logs_tail(self) -> str:
        return "\n".join(f"--- {n}.log\n{_tail(self.logs / f'{n}.log')}" for n in ("slurmctld", "slurmd"))

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
