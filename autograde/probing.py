"""The two halves of a graded check when an instructor grades: a probe and a judge, apart.

In the grading sandbox each check cell `check_x(fn)` is replaced by `record("<package>", "check_x", fn)`:
the check's probe runs the student's code and what it saw is saved as plain data (torch.save of
tensors, numbers, strings and containers). A trusted process that never runs student code then
loads each record with `torch.load(weights_only=True)` (no pickle) and calls `verdict(...)`: the
check's judge computes the truth, compares and names the mistake. Nothing the student's code
does can print a ✓ for it: the judge's own output is the verdict.

What the sandbox can import is the probe side only: its `autograde` is a copy without the
judge-only modules (the references, the planted mistakes, the adapters onto PyTorch's layers;
autograde/judge_only.py, autograde/tools/grading/probe_package.py), so a notebook cannot call a
right answer; the probes draw their inputs with the batch's secret salt (RNN_COURSE_SALT,
autograde/seeds.py) and the judge draws the same ones again with it (`verdict(..., salt)`), never
trusting the inputs a record might claim, so a table of answers to the course's public inputs fails.
Nor does it take a record's word on whether the probes had an accelerator: the grader says which
(`verdict(..., accelerator=...)`), and a record that names another, or none, fails.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import io
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import torch

from autograde import devices, seeds
from autograde.engine import Check
from autograde.verdict import FAIL, PASS, CheckFailed

RECORDS = "RNN_COURSE_PROBES"  # the folder a grading sandbox writes its probe records to
_NAME = re.compile(r"^check_[a-z0-9_]+$")
_PACKAGE = re.compile(r"^autograde\.[a-z0-9_]+$")
# The most a record may weigh: the largest check's record (outputs and gradients of every case) is
# well under 1 MiB; a bigger file is not the probe's, and is never read past this.
MAX_RECORD_BYTES = 16 << 20


def _check(package: str, name: str) -> Check:
    if not _PACKAGE.match(package) or not _NAME.match(name):
        raise ValueError(f"not a course check: {package}.{name}")
    check = getattr(importlib.import_module(package), name, None)
    if not isinstance(check, Check):
        raise ValueError(f"{package}.{name} is not a course check")
    return check


def record(package: str, name: str, fn) -> None:
    """A check cell in the grading sandbox: probe the student's `fn` and save what it saw."""
    seen = _check(package, name).probe(fn)
    folder = Path(os.environ.get(RECORDS, "."))
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(seen, folder / f"{name}.pt")
    print(f"{name}: recorded for the grader")


def read_at_most(fd: int, limit: int) -> bytes:
    """What is left to read of `fd`, but never more than `limit` bytes (a file the student's code
    wrote may be of any size)."""
    chunks, left = [], limit
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_record(path: Path) -> bytes:
    """The bytes of a record the sandbox wrote, read safely: its folder and the file itself must not
    be symbolic links (a link could point at another student's record or at the grader's files), the
    file must be a regular file with one name (no hard link to somebody else's) of at most
    MAX_RECORD_BYTES; nothing beyond that many bytes is read."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    folder = os.open(path.parent, flags | getattr(os, "O_DIRECTORY", 0))
    try:
        fd = os.open(path.name, flags | getattr(os, "O_NONBLOCK", 0), dir_fd=folder)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the record is a symbolic link
            raise ValueError("it is a symbolic link") from None
        raise
    finally:
        os.close(folder)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_nlink != 1:
            raise ValueError("the file has other names (a hard link)")
        if info.st_size > MAX_RECORD_BYTES:
            raise ValueError(f"{info.st_size:,} bytes, more than the {MAX_RECORD_BYTES:,} a record may have")
        data = read_at_most(fd, MAX_RECORD_BYTES + 1)
        if len(data) > MAX_RECORD_BYTES:
            raise ValueError(f"more than the {MAX_RECORD_BYTES:,} bytes a record may have")
        return data
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Verdict:
    passed: bool
    text: str  # the ✓ line, or the ✗ line and its hint


def verdict(package: str, name: str, path: Path, salt: int = 0, *, accelerator: str | None = None) -> Verdict:
    """The judge's verdict on a probe record, in a process where no student code runs; `salt` is the
    one the sandbox's probes drew their inputs with (autograde.seeds), and the judge draws them again;
    `accelerator` names the one the probes had (`devices.accelerator()`'s name; None: none), which the
    record must name too (autograde.devices.judged_accelerator).

    A missing record (the cell never ran, or crashed the kernel) and one that is not plain data
    or not what the check's probe writes (a forged file) both fail the check, with the reason.
    """
    label = name.removeprefix("check_")
    try:
        raw = _read_record(Path(path))
    except FileNotFoundError:
        return Verdict(
            False,
            f"{FAIL} {label}: the check did not run (the notebook stopped before this cell, or the cell was removed).",
        )
    except (OSError, ValueError) as exc:
        return Verdict(False, f"{FAIL} {label}: the probe's record was refused ({exc}).")
    try:
        seen = torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - whatever the file holds, it is not a probe record
        return Verdict(
            False, f"{FAIL} {label}: the probe's record could not be read as plain data ({type(exc).__name__})."
        )
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), seeds.salted(salt), devices.expecting(accelerator):
            _check(package, name).judge(seen)
    except CheckFailed as failure:
        return Verdict(False, str(failure))
    except Exception as exc:  # noqa: BLE001 - a record the probe cannot have written
        return Verdict(
            False,
            f"{FAIL} {label}: the probe's record is not what this check writes "
            f"({type(exc).__name__}); was the notebook's check cell changed?",
        )
    text = out.getvalue().strip()
    if PASS not in text:
        return Verdict(False, f"{FAIL} {label}: the judge gave no verdict.")
    return Verdict(True, text)
