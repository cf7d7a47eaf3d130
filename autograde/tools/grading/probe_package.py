"""The course's package as the grading sandbox sees it: everything a probe needs, no right answer.

The sandbox must import `autograde` (a check cell's probe is its code), but the package also
holds the references, the planted mistakes and the adapters that run `nn.LSTM` & co. on the
student's layout: a notebook that imported one would hand the reference's answers in as its own.
So `build` copies the package the grader runs, leaving out every module that says
`JUDGE_ONLY = True` (autograde/judge_only.py), and the sandbox binds the copy, read-only, over
each folder a Python in it could import `autograde` from (`package_dirs`). What a probe needs
and what only the judge may hold are kept apart by the check packages themselves: they import
a judge-only module only when the judge first uses it.
"""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

import autograde
from autograde.judge_only import MARK

PACKAGE = Path(autograde.__file__).resolve().parent


def is_judge_only(source: Path) -> bool:
    """Whether a module says `JUDGE_ONLY = True` at its top level (read, never imported)."""
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return False
    return any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == MARK for t in node.targets)
        and isinstance(node.value, ast.Constant)
        and node.value.value is True
        for node in tree.body
    )


def judge_only_modules(package: Path = PACKAGE) -> list[str]:
    """The dotted names of the package's judge-only modules."""
    found = []
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" not in path.parts and is_judge_only(path):
            parts = path.relative_to(package.parent).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def build(into: Path, package: Path = PACKAGE) -> Path:
    """A probe-only copy of `package` at `into` (made here): readable by anyone (the sandbox's uid),
    no judge-only module (a judge-only package: none of its files), no bytecode caches, links
    replaced by what they point to (the book's text is one)."""

    def leave_out(folder: str, names: list[str]) -> set[str]:
        out = set()
        for name in names:
            path = Path(folder) / name
            if name == "__pycache__" or name.endswith((".pyc", ".pyo")):
                out.add(name)
            elif path.suffix == ".py" and is_judge_only(path):
                out.add(name)
            elif path.is_dir() and (path / "__init__.py").is_file() and is_judge_only(path / "__init__.py"):
                out.add(name)
        return out

    into = Path(into)
    shutil.copytree(package, into, symlinks=False, ignore=leave_out)
    for path in [into, *into.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return into


def package_dirs() -> list[Path]:
    """Every folder a Python started like this one could import `autograde` from: the package it
    imported and an `autograde` package in any folder on its path (an editable install's checkout
    beside a PYTHONPATH one). The sandbox covers each with the probe-only copy."""
    found = {PACKAGE}
    for entry in sys.path:
        candidate = Path(entry or ".") / "autograde"
        if (candidate / "__init__.py").is_file():
            found.add(candidate.resolve())
    return sorted(found)
