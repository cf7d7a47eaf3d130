"""Finding the submissions in the folder an instructor hands in, and telling a notebook
nbgrader can take from a file it cannot."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from pathlib import Path

from autograde.tools.grading.records import Submission, UsageError

SAFE_ID = re.compile(r"[^A-Za-z0-9._@+-]")


def student_id(name: str) -> str:
    """The nbgrader id of the student whose file or folder is called `name`.

    nbgrader puts ids in paths and patterns, so an id keeps to SAFE_ID's letters, digits and
    ._@+-. A name made only of those is its own id. Any other name becomes its ASCII slug
    (accents dropped, other characters as _) and 8 hex digits of a hash of the name: the slug
    alone would make one student of Zoë and Zoe, or of everybody whose name is written in
    Chinese characters, and a hash of the name alone gives a name the same id in every batch,
    whoever else is in it. The name is NFC-normalised first: macOS writes the ë of Zoë as e and
    a combining diaeresis, and it is the same Zoë.
    """
    name = unicodedata.normalize("NFC", name)
    slug = SAFE_ID.sub("_", unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()).strip("._")
    if slug == name:
        return name
    return f"{slug or 'student'}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def find_submissions(
    folder: Path, assignments: list[str], assignment: str | None, skip: Path | None = None
) -> tuple[list[Submission], list[str]]:
    """The submissions in `folder` and a list of what was ignored, and why.

    `<student>/<name>.ipynb` (also `<student>/<name>/<name>.ipynb`, nbgrader's layout) is the
    student's notebook for assignment `<name>`; a student folder with one notebook of another
    name (a download renamed "lstm-scratch (1).ipynb") counts for the one assignment there is
    to grade. `<student>.ipynb` is for --assignment, or the only assignment there is.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder of submissions.")
    wanted = [assignment] if assignment else list(assignments)
    only = wanted[0] if len(wanted) == 1 else None
    found: list[Submission] = []
    ignored: list[str] = []
    taken: dict[tuple[str, str], Path | None] = {}

    def add(name: str, a: str, path: Path | None, note: str | None = None) -> Submission | None:
        sid = student_id(name)
        sub = Submission(sid, a, path)
        if sid != name:
            sub.notes.append(
                f"student id {sid!r} (from {name!r}: nbgrader ids use letters, digits and ._@+-, "
                "and the hash keeps apart names that differ only in other characters)"
            )
        if (sid, a) in taken:
            ignored.append(
                f"{path}: a second submission of {a} for student {sid!r} (graded {taken[sid, a]}); not graded"
            )
            return None
        taken[sid, a] = path
        if note:
            sub.notes.append(note)
        found.append(sub)
        return sub

    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name in ("__MACOSX", "__pycache__"):
            continue
        if skip is not None and entry.resolve() == Path(skip).resolve():
            continue  # the course directory itself, when --out is inside SUBMISSIONS
        if entry.is_file() and entry.suffix == ".ipynb":
            if only is None:
                raise UsageError(f"{entry}: a notebook per student needs --assignment (one of {', '.join(wanted)}).")
            add(entry.stem, only, entry)
        elif entry.is_dir():
            notebooks = sorted(
                p for p in entry.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and not p.name.startswith(".")
            )
            named: dict[str, list[Path]] = {}
            for p in notebooks:
                named.setdefault(p.stem, []).append(p)
            graded, subs = [], []
            for a in wanted:
                if a in named:
                    # the shallowest one: <student>/<a>.ipynb before <student>/<a>/<a>.ipynb
                    choice = min(named[a], key=lambda p: len(p.relative_to(entry).parts))
                    subs.append(add(entry.name, a, choice))
                    graded.append(choice)
            listed = ", ".join(str(p.relative_to(entry)) for p in notebooks)
            if not graded and only is not None:
                if len(notebooks) == 1:
                    add(
                        entry.name,
                        only,
                        notebooks[0],
                        f"graded {notebooks[0].relative_to(entry)} as {only}.ipynb (the only notebook handed in)",
                    )
                else:
                    what = (
                        f"{len(notebooks)} notebooks, none named {only}.ipynb ({listed})"
                        if notebooks
                        else "no notebook"
                    )
                    add(entry.name, only, None, f"{entry}/ has {what}")
            elif not graded:
                ignored.append(
                    f"{entry}/: no notebook named after an assignment ({', '.join(wanted)})"
                    + (f": {listed}" if notebooks else "")
                )
            # Every other notebook in the folder is named in the report, never dropped silently.
            for other in (p for p in notebooks if graded and p not in graded):
                shown = other.relative_to(entry)
                ignored.append(
                    f"{other}: not graded (in {entry.name}/, only the notebook named after the "
                    f"assignment is: {', '.join(str(g.relative_to(entry)) for g in graded)})"
                )
                for sub in subs:
                    if sub is not None:
                        sub.notes.append(f"also handed in {shown}: not graded")
        else:
            ignored.append(f"{entry}: not a notebook (.ipynb) or a student's folder")
    return found, ignored


def read_notebook(path: Path) -> str | None:
    """None if `path` is a notebook nbgrader can take, else why not (for the report)."""
    import nbformat

    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return f"cannot read the file: {exc.strerror}"
    if not raw.strip():
        return "the file is empty"
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "the file is not UTF-8 text"
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    if not isinstance(data, dict) or not ("cells" in data or "worksheets" in data):  # nbformat 4, or 3
        return "valid JSON, but not a notebook (no cells)"
    try:
        nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception as exc:  # nbformat raises several kinds
        return f"nbformat cannot read it: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    return None
