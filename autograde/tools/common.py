"""What the course's commands share: where the course is, a notebook kernel's environment,
the machine they run on, and how to read a kernel's coloured output."""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

# Terminal colour codes, which IPython puts in tracebacks.
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# MPLBACKEND=Agg (set by many CI systems) makes a kernel drop every plot silently;
# NBGRADER_EXECUTION would make its training cells train briefly whatever the mode.
NOT_FOR_KERNELS = ("MPLBACKEND", "NBGRADER_EXECUTION")


class CourseNotFound(Exception):
    """No course repository here; str() says where it was looked for."""


def find_root(start: Path | None = None) -> Path:
    """The course repository: the first of `start` (default: the working directory) and its
    parents that holds solutions/ and _toc.yml, else the checkout this package was installed from."""
    here = Path(start or Path.cwd()).resolve()
    package_repo = Path(__file__).resolve().parents[2]
    for folder in (here, *here.parents, package_repo):
        if (folder / "solutions").is_dir() and (folder / "_toc.yml").is_file():
            return folder
    raise CourseNotFound(
        f"no solutions/ and _toc.yml in {here}, its parents or {package_repo}: run this in the course's repository."
    )


def kernel_env(quick: bool, base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """The environment of a kernel that runs a course notebook: `base` (default: this process's),
    less NOT_FOR_KERNELS, with the training mode (RNN_COURSE_QUICK) and `extra`."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if k not in NOT_FOR_KERNELS}
    env["RNN_COURSE_QUICK"] = "1" if quick else "0"
    env.update(extra)
    return env


def cpu_name() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux)."""
    try:
        names = re.findall(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        if names:
            return names[0].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """The processor (and GPU) the notebooks ran on, in words."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    words = f"{cpu_name()}, {cores} core{'s' if cores != 1 else ''} available"
    try:
        import torch

        words += f"; PyTorch {torch.__version__} ({torch.get_num_threads()} threads)"
        if torch.cuda.is_available():
            words += f"; GPU: {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    try:
        words += f"; d2l {metadata.version('d2l')}"
    except metadata.PackageNotFoundError:
        pass
    return words
