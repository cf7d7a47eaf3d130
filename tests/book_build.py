"""The website, built once per test session in quick mode, for test_book and test_browser.

Import the fixture into a test module (`from book_build import book`); pytest then shares
the one session-scoped build between the modules that use it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

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
    command = [
        sys.executable,
        "-m",
        "autograde.cli",
        "book",
        "--quick",
        "--root",
        str(root),
        "--chapters",
        str(chapters_dir),
    ]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    seconds = time.perf_counter() - start
    output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"`{' '.join(command)}` failed (exit {result.returncode}):\n{output[-6000:]}")
    return output, seconds


@pytest.fixture(scope="session")
def book() -> BookBuild:
    chapters_dir = ROOT / "chapters"
    if not (chapters_dir / f"{CHAPTER}.ipynb").is_file():
        pytest.fail(f"chapters/{CHAPTER}.ipynb is missing: run `rnn-course generate`")
    output, seconds = run_book(ROOT, chapters_dir)
    return BookBuild(ROOT, ROOT / "_build" / "html", output, seconds, chapters_dir)
