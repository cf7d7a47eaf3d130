"""The grader's side of the warm runner (grading/warm.py): start it in a slot's sandbox, hand it
one prepared notebook at a time, and take back what the submission left, as capped data.

Everything the runner sends is treated as the student's: a header line of at most
MAX_HEADER_BYTES that must be the JSON warm.py writes, files only under the names it may send,
each within its cap, and nothing read past the deadline. A runner that breaks any of that, dies,
or does not answer in time is stopped and started afresh for the next submission; the submission
it was serving gets the grader's reason, never another's data.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograde.tools.grading import warm

MAX_HEADER_BYTES = 64 << 10
START_SECONDS = 180  # importing torch and d2l from a cold disk
SLACK_SECONDS = 60  # past the notebook's deadline: the warden kills it, then reads and sends back
CAPS = {warm.NOTEBOOK: warm.MAX_NOTEBOOK_BYTES, warm.LOG: warm.MAX_LOG_BYTES}


def _cap(name: str) -> int | None:
    if name in CAPS:
        return CAPS[name]
    if name.startswith("probes/") and warm.RECORD.match(name.removeprefix("probes/")):
        return warm.MAX_RECORD_BYTES
    return None


class Lost(Exception):
    """The runner broke the protocol, died or did not answer in time."""


class Unavailable(Exception):
    """No warm runner works here: it did not start, or could not make a notebook's namespaces
    (nested user namespaces forbidden, say); a notebook can still run in a kernel of its own."""


@dataclass
class Reply:
    status: str  # done (the runner ended), stopped (at the deadline), error (no namespaces)
    code: int | None = None  # the runner's exit status: 0 when every cell ran
    files: dict[str, bytes] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)  # records that were symbolic links (not sent)
    why: str = ""


class Zygote:
    """One slot's warm runner: `cmd` (warm.py, wrapped in the slot's sandbox) started with `env`,
    its stderr appended to `log`."""

    def __init__(self, cmd: list[str], env: dict[str, str], log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env, cwd="/", start_new_session=True
            )
        self._buffer = b""
        try:
            line = self._line(time.monotonic() + START_SECONDS)
        except Lost as exc:
            self.close()
            raise Unavailable(f"the warm runner did not start ({exc}); see {log}") from None
        if line != b"ready":
            self.close()
            raise Unavailable(f"the warm runner did not start (it said {line[:80]!r}); see {log}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _read(self, until: float) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        left = until - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise Lost("no answer in time")
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            raise Lost(f"it ended (exit status {self.proc.wait()})")
        return chunk

    def _line(self, until: float) -> bytes:
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_HEADER_BYTES:
                raise Lost("a header line too long")
            self._buffer += self._read(until)
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def _exactly(self, n: int, until: float) -> bytes:
        while len(self._buffer) < n:
            self._buffer += self._read(until)
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def run(self, notebook: str, env: dict[str, str], timeout: int, deadline: float) -> Reply:
        """Execute one prepared notebook; raises Lost (and stops the runner) if it misbehaves."""
        assert self.proc.stdin is not None
        request = {"notebook": notebook, "env": env, "timeout": timeout, "deadline": deadline}
        until = time.monotonic() + deadline + SLACK_SECONDS
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
            header = json.loads(self._line(until))
            if not isinstance(header, dict) or header.get("status") not in ("done", "stopped", "error"):
                raise Lost("not a header")
            files: dict[str, bytes] = {}
            listed = header.get("files")
            if not isinstance(listed, list):
                raise Lost("no list of files")
            for entry in listed:
                if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
                    raise Lost("not a file entry")
                name, size = entry
                cap = _cap(name)
                if cap is None or not isinstance(size, int) or not 0 <= size <= cap or name in files:
                    raise Lost(f"a file it may not send: {name[:80]!r}")
                files[name] = self._exactly(size, until)
            links = header.get("links", [])
            if not isinstance(links, list) or not all(isinstance(n, str) and warm.RECORD.match(n) for n in links):
                raise Lost("not a list of records")
            code = header.get("code")
            return Reply(
                header["status"],
                code if isinstance(code, int) else None,
                files,
                links[: warm.MAX_RECORDS],
                str(header.get("why", ""))[:500],
            )
        except (OSError, ValueError, Lost) as exc:
            self.close()
            raise Lost(str(exc)) from None

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass
