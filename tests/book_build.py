"""The website, built once per test session in quick mode, for test_book and test_browser.

Import the fixture into a test module (`from book_build import book`); pytest then shares
the one session-scoped build between the modules that use it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT

CHAPTER = "lstm-scratch"
BUILD_TIMEOUT_S = 900  # quick training takes seconds; the rest is kernel start and Sphinx


@dataclass
class BookBuild:
    root: Path
    html: Path
    output: str
    seconds: float
    chapters_dir: Path

    def rebuild(self) -> tuple[str, float]:
        """Build again with the same arguments: (output, seconds)."""
        return run_book(self.root, self.chapters_dir)


def run_book(root: Path, chapters_dir: Path) -> tuple[str, float]:
    """`rnn-course book --quick`, with MPLBACKEND=Agg set on purpose: the tool must drop it."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop("RNN_COURSE_QUICK", None)
    command = [sys.executable, "-m", "autograde.cli", "book", "--quick", "--root", str(root),
               "--chapters", str(chapters_dir)]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                            timeout=BUILD_TIMEOUT_S)
    seconds = time.perf_counter() - start
    output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"`{' '.join(command)}` failed (exit {result.returncode}):\n{output[-6000:]}")
    return output, seconds


def student_notebooks(tmp: Path) -> Path:
    """chapters/, or while `rnn-course generate` has not written it, a stand-in made here.

    The stand-in is what nbgrader's generate_assignment makes of the solution: solution
    regions replaced by stubs, hidden tests removed, outputs cleared.
    """
    if (ROOT / "chapters" / f"{CHAPTER}.ipynb").is_file():
        return ROOT / "chapters"
    from nbgrader.preprocessors import (ClearHiddenTests, ClearMarkScheme, ClearOutput,
                                        ClearSolutions, ComputeChecksums, LockCells)

    warnings.warn(f"chapters/{CHAPTER}.ipynb is missing: building the book from a stand-in "
                  f"student notebook made with nbgrader's preprocessors (run `rnn-course generate`)")
    nb = nbformat.read(ROOT / "solutions" / f"{CHAPTER}.ipynb", as_version=4)
    resources: dict = {}
    for preprocessor in (ClearSolutions, ClearHiddenTests, ClearMarkScheme, LockCells,
                         ComputeChecksums, ClearOutput):
        nb, resources = preprocessor().preprocess(nb, resources)
    tmp.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, tmp / f"{CHAPTER}.ipynb")
    return tmp


@pytest.fixture(scope="session")
def book(tmp_path_factory) -> BookBuild:
    chapters_dir = student_notebooks(tmp_path_factory.mktemp("chapters"))
    output, seconds = run_book(ROOT, chapters_dir)
    return BookBuild(ROOT, ROOT / "_build" / "html", output, seconds, chapters_dir)
