"""A cell pasted twice: its copies share an nbgrader grade id, and nbgrader refuses the whole
notebook (its reader raises "Duplicate grade id", reported as "an old version of the nbgrader
metadata format"), so an honest student would score 0 for every check. The private copy that
nbgrader grades keeps the id on the last copy only, as nbgrader's own DeduplicateIds would: the
last copy is the one whose definitions stand when the checks run."""

from __future__ import annotations

import json
from pathlib import Path


def _graded_id(cell: dict) -> str | None:
    """The grade id nbgrader checks for duplicates: that of a grade, solution or locked cell."""
    meta = cell.get("metadata", {}).get("nbgrader") if isinstance(cell, dict) else None
    if isinstance(meta, dict) and (meta.get("grade") or meta.get("solution") or meta.get("locked")):
        return meta.get("grade_id")
    return None


def copy_without_duplicate_ids(original: Path, target: Path) -> list[str]:
    """Copy the notebook `original` to `target`, each grade id on one cell; say what changed."""
    raw = Path(original).read_bytes()
    nb = json.loads(raw.decode("utf-8"))
    cells = nb.get("cells", []) if isinstance(nb, dict) else []
    seen: dict[str, int] = {}
    for cell in reversed(cells):
        grade_id = _graded_id(cell)
        if grade_id is None:
            continue
        seen[grade_id] = seen.get(grade_id, 0) + 1
        if seen[grade_id] > 1:
            del cell["metadata"]["nbgrader"]
    twice = {g: n for g, n in seen.items() if n > 1}
    if not twice:
        Path(target).write_bytes(raw)  # byte for byte, as handed in
        return []
    Path(target).write_text(json.dumps(nb, ensure_ascii=False, indent=1), encoding="utf-8")
    return [
        f"cell {g!r} is in the notebook {n} times (pasted twice?): graded once, the last copy" for g, n in twice.items()
    ]
