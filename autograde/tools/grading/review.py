"""Code in a submission that a person should read before trusting its grade."""

from __future__ import annotations

import json
import re
from pathlib import Path

# What a notebook has no business touching: the grader's package (its checks, its reference
# code), the interpreter's module table and builtins, nbgrader and its gradebook.
SUSPICIOUS = re.compile(r"\b(autograde|sys\.modules|builtins|__builtins__|nbgrader|gradebook)\b")


def suspicious(submitted: Path, release: Path) -> list[str]:
    """Cells the student changed or added that mention what SUSPICIOUS lists: for a human to
    look at. nbgrader runs the checks in the student's kernel, so code that patches
    `autograde` (or imports its reference LSTM) could pass them; grades are not changed here."""
    try:
        theirs = json.loads(Path(submitted).read_text(encoding="utf-8"))["cells"]
        ours = {c.get("id"): c for c in json.loads(release.read_text(encoding="utf-8"))["cells"]}
    except (OSError, ValueError, KeyError, TypeError):
        return []
    flags = []
    for index, cell in enumerate(theirs):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if isinstance(meta, dict) and meta.get("grade"):
            continue  # nbgrader puts the check cells back as released
        original = ours.get(cell.get("id"), {}).get("source", "")
        original = "".join(original) if isinstance(original, list) else str(original)
        known = set(original.splitlines())
        found = set(SUSPICIOUS.findall("\n".join(l for l in source.splitlines() if l not in known)))
        if found:
            name = meta.get("grade_id") if isinstance(meta, dict) and meta.get("grade_id") else f"cell {index}"
            flags.append(f"{name} mentions {', '.join(sorted(found))}: look at it before trusting the grade")
    return flags
