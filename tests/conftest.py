"""Shared fixtures: paths, and running notebooks with real kernels."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def kernel_env(**extra: str) -> dict[str, str]:
    """The environment for a notebook kernel: quick training, plots kept.

    MPLBACKEND=Agg would silently drop every plot, so it is removed.
    """
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["RNN_COURSE_QUICK"] = "1"
    env.update(extra)
    return env


def solution_notebook(name: str = "lstm-scratch") -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4)
