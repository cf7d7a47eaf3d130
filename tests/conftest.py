"""Shared fixtures: paths, and running notebooks with real kernels."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

from autograde.tools import common

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def kernel_env(**extra: str) -> dict[str, str]:
    """The environment for a notebook kernel in the tests: quick training, plots kept."""
    return common.kernel_env(quick=True, **extra)


def solution_notebook(name: str = "lstm-scratch") -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4)
