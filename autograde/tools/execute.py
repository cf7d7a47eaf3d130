"""Execute solution notebooks in a real kernel, and cache the executed copies.

`executed(solution, cache_dir, quick=...)` returns the solution notebook with its outputs.
It runs the notebook with nbclient the first time, and later returns the copy cached in
`cache_dir` for as long as the cache key is unchanged. The key is a hash of

- the solution notebook's bytes,
- the sources of the `autograde` package that notebooks import (its `tools/` are left out:
  nothing in a notebook runs them),
- the versions of torch, d2l, matplotlib and matplotlib-inline,
- the mode: quick (RNN_COURSE_QUICK=1, two epochs) or full (d2l's 500 epochs).

The kernel's working directory is `cache_dir/run/<name>/`, so the notebook's first cell
(`autograde.prepare()`) puts The Time Machine in `cache_dir/run/data/`, where d2l looks.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import nbformat

from autograde.tools.common import ANSI, kernel_env, machine

CACHE_FORMAT = "2"  # bump to invalidate every cached notebook
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # autograde/
VERSIONED = ("torch", "d2l", "matplotlib", "matplotlib-inline")
CELL_TIMEOUT_S = 3600  # a full training cell takes minutes on a laptop CPU
SLOW_CELL_S = 5.0  # cells slower than this are reported as they finish

# The website's figures as SVG: sharp at any zoom. The kernel's own log stays quiet (it warns
# about TCP transport on every start); errors in cells are reported as cell outputs anyway.
KERNEL_ARGUMENTS = ["--InlineBackend.figure_formats=svg", "--IPKernelApp.log_level=ERROR"]

Log = Callable[[str], None]


class ExecutionFailed(Exception):
    """A solution notebook raised, timed out or lost its kernel; str() says where and why."""


@dataclass
class Result:
    notebook: nbformat.NotebookNode
    cached: bool
    seconds: float
    path: Path  # the cached executed copy


def mode_name(quick: bool) -> str:
    return "quick" if quick else "full"


def package_sources(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The package's files that can change what a notebook prints, in a stable order."""
    files = []
    for path in sorted(package_dir.rglob("*")):
        rel = path.relative_to(package_dir)
        if not path.is_file() or rel.parts[0] == "tools" or "__pycache__" in rel.parts:
            continue
        if path.suffix in (".py", ".json", ".txt", ".yml", ".yaml"):
            files.append(path)
    return files


def library_versions() -> list[str]:
    versions = []
    for name in VERSIONED:
        try:
            versions.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} missing")
    return versions


def cache_key(solution: Path, quick: bool, package_dir: Path = PACKAGE_DIR) -> str:
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    add("format", CACHE_FORMAT.encode())
    add("mode", mode_name(quick).encode())
    add("notebook", Path(solution).read_bytes())
    for path in package_sources(package_dir):
        add(f"package/{path.relative_to(package_dir).as_posix()}", path.read_bytes())
    add("versions", "\n".join(library_versions()).encode())
    return digest.hexdigest()[:16]


# The book runs notebooks side by side, one torch thread each (a small model loses little
# going from two threads to one).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def threads_env(threads: int | None) -> dict[str, str]:
    return {name: str(threads) for name in THREAD_VARIABLES} if threads else {}


def cached_path(cache_dir: Path, name: str, quick: bool, key: str) -> Path:
    return cache_dir / f"{name}.{mode_name(quick)}.{key}.ipynb"


def executed(
    solution: Path,
    cache_dir: Path,
    quick: bool,
    *,
    force: bool = False,
    log: Log = print,
    root: Path | None = None,
    threads: int | None = None,
) -> Result:
    """The executed solution notebook: from the cache when its key matches, else run it."""
    solution = Path(solution)
    name = solution.stem
    key = cache_key(solution, quick)
    target = cached_path(cache_dir, name, quick, key)
    shown = _shown(solution, root)
    if target.is_file() and not force:
        log(f"  {shown}: reusing the executed copy {_shown(target, root)} (key {key})")
        return Result(nbformat.read(target, as_version=4), cached=True, seconds=0.0, path=target)

    what = "quick: 2 epochs per training cell" if quick else "full training: several minutes"
    log(f"  {shown}: executing ({what})")
    start = time.perf_counter()
    nb = execute(
        solution,
        cache_dir / "run" / name,
        quick,
        log=log,
        failed_copy=cache_dir / f"{name}.{mode_name(quick)}.failed.ipynb",
        root=root,
        threads=threads,
    )
    seconds = time.perf_counter() - start
    # What the reference-results page reports: how long the notebook took, and where.
    nb.metadata["rnn_course"] = {"seconds": round(seconds, 1), "mode": mode_name(quick), "machine": machine()}
    if threads:
        nb.metadata["rnn_course"]["threads"] = threads
    _store(nb, target)
    _remove_stale(cache_dir, name, quick, keep=target)
    log(f"  {shown}: executed in {seconds:.1f} s, cached as {_shown(target, root)}")
    return Result(nb, cached=False, seconds=seconds, path=target)


def execute(
    solution: Path,
    workdir: Path,
    quick: bool,
    *,
    log: Log = print,
    failed_copy: Path | None = None,
    root: Path | None = None,
    threads: int | None = None,
) -> nbformat.NotebookNode:
    """Run every cell of `solution` in a fresh python3 kernel with cwd `workdir`."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(solution, as_version=4)
    workdir.mkdir(parents=True, exist_ok=True)
    state = {"index": None, "start": 0.0}

    def on_cell_start(cell, cell_index, **_):
        state.update(index=cell_index, start=time.perf_counter())

    def on_cell_executed(cell, cell_index, **_):
        seconds = time.perf_counter() - state["start"]
        if seconds >= SLOW_CELL_S:
            log(f"    {solution.stem}, cell {cell_index + 1}/{len(nb.cells)} ({_describe(cell)}): {seconds:.1f} s")

    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        allow_errors=False,
        extra_arguments=KERNEL_ARGUMENTS,
        resources={"metadata": {"path": str(workdir)}},
        on_cell_start=on_cell_start,
        on_cell_executed=on_cell_executed,
    )
    try:
        client.execute(env=kernel_env(quick, **threads_env(threads)))
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        if failed_copy is not None:
            _store(nb, failed_copy)
        raise ExecutionFailed(_failure_message(solution, nb, state["index"], exc, quick, failed_copy, root)) from None
    return nb


# ---------------------------------------------------------------- helpers


def _shown(path: Path, root: Path | None) -> str:
    """`path` relative to the repository root when it is inside it."""
    path = Path(path).resolve()
    if root is not None:
        try:
            return path.relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def _describe(cell) -> str:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    first = first if len(first) <= 60 else first[:57] + "..."
    return f"grade_id {grade_id!r}" if grade_id else repr(first)


def _failure_message(
    solution: Path, nb, index: int | None, exc: Exception, quick: bool, failed_copy: Path | None, root: Path | None
) -> str:
    shown = _shown(solution, root)
    lines = []
    if index is None:
        lines.append(f"{shown} could not be executed: {type(exc).__name__}: {exc}")
    else:
        cell = nb.cells[index]
        lines.append(f"{shown} failed at cell {index + 1} of {len(nb.cells)} (counting from 1; {_describe(cell)}):")
        lines += ["  | " + line for line in cell.source.splitlines()[:12]]
        errors = [out for out in cell.get("outputs", []) if out.get("output_type") == "error"]
        if errors:
            traceback = ANSI.sub("", "\n".join(errors[-1].get("traceback", [])))
            lines.append("The error:")
            lines += ["  " + line for line in traceback.splitlines()[-30:]]
        else:
            lines.append(f"The error: {type(exc).__name__}: {ANSI.sub('', str(exc)).strip()[-2000:]}")
    if failed_copy is not None:
        lines.append(f"The partly executed notebook is saved as {_shown(failed_copy, root)}.")
    env = "RNN_COURSE_QUICK=1 " if quick else ""
    lines.append(f"To reproduce: {env}jupyter lab {shown}, then Run > Run All Cells.")
    return "\n".join(lines)


def _store(nb: nbformat.NotebookNode, target: Path) -> None:
    """Write `nb` to `target` atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    nbformat.write(nb, tmp)
    tmp.replace(target)


def _remove_stale(cache_dir: Path, name: str, quick: bool, keep: Path) -> None:
    """Older executed copies of the same notebook and mode, and a failed run's copy."""
    for old in cache_dir.glob(f"{name}.{mode_name(quick)}.*.ipynb"):
        if old != keep:
            old.unlink()
