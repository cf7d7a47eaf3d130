"""Running notebooks and their code in tests."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from conftest import kernel_env


def execute(
    nb: nbformat.NotebookNode,
    cwd: Path,
    timeout: int = 600,
    allow_errors: bool = False,
    env: dict[str, str] | None = None,
) -> nbformat.NotebookNode:
    """Execute `nb` in a real ipykernel with working directory `cwd` (quick training)."""
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute(env=env or kernel_env())  # passed on to the kernel manager's start_kernel
    return nb


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") == "error":
            parts.append("\n".join(out.get("traceback", [])))
        elif "data" in out and "text/plain" in out["data"]:
            parts.append(out["data"]["text/plain"])
    return "".join(parts)


def solution_code(nb: nbformat.NotebookNode) -> dict[str, str]:
    """{grade_id: source} of the solution cells."""
    return {grade_id(c): c.source for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
