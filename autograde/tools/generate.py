"""`rnn-course generate [--check]`: the student notebooks in chapters/, made from solutions/.

Each `solutions/<name>.ipynb` is the one source of truth for its chapter. nbgrader's own
`generate_assignment` (its API, run in a throw-away course directory with a throw-away gradebook)
turns it into `chapters/<name>.ipynb`: solution regions become `raise NotImplementedError()`,
outputs are cleared, and the nbgrader metadata (grade ids, points, checksums, locks) stays,
so that a student's copy can be autograded. The output is deterministic: running it twice
gives byte-identical files.

    rnn-course generate            write chapters/<name>.ipynb for every solutions/<name>.ipynb
    rnn-course generate --check    regenerate into a temporary folder and compare with chapters/;
                                   exit 1 listing what differs, is missing or is extra

Options: --solutions DIR and --chapters DIR (default: the course repository's folders).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autograde.tools.common import CourseNotFound, find_root

FIX = "make chapters"  # the command that regenerates chapters/ (rnn-course generate)
BEGIN, END = "BEGIN SOLUTION", "END SOLUTION"
COURSE_ID = "rnn-course"


class SolutionError(Exception):
    """A solution notebook that cannot be turned into a student notebook; the message names it."""


# ---------------------------------------------------------------------------
# Shared with `rnn-course grade`


def use_this_python_for_tools() -> None:
    """nbgrader's Gradebook runs `alembic` from PATH when it creates a database, in-process too."""
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def solution_paths(solutions: Path) -> list[Path]:
    return sorted(p for p in Path(solutions).glob("*.ipynb") if not p.name.startswith("."))


# ---------------------------------------------------------------------------
# Checking a solution notebook before nbgrader sees it


def _cell_label(index: int, cell: dict) -> str:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    label = f"cell {index}"
    if cell.get("id"):
        label += f" (id {cell['id']!r}"
        label += f", grade_id {meta['grade_id']!r})" if isinstance(meta, dict) and meta.get("grade_id") else ")"
    elif isinstance(meta, dict) and meta.get("grade_id"):
        label += f" (grade_id {meta['grade_id']!r})"
    return label


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def validate_solution(path: Path):
    """Read a solution notebook; raise SolutionError naming the file and the cell if it is broken."""
    import nbformat
    from jsonschema import ValidationError
    from nbgrader.nbgraderformat import MetadataValidator

    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise SolutionError(f"{path}: not UTF-8 text ({exc}).") from None
    except json.JSONDecodeError as exc:
        raise SolutionError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        raise SolutionError(f"{path}: valid JSON but not a Jupyter notebook (no list of cells).")
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
    except Exception as exc:  # nbformat raises several kinds
        raise SolutionError(f"{path}: not a notebook nbformat can read: {exc}") from None

    validator = MetadataValidator()
    seen: dict[str, str] = {}
    for index, cell in enumerate(nb.cells):
        where = f"{path}: {_cell_label(index, cell)}"
        meta = cell.get("metadata", {}).get("nbgrader")
        source = _source(cell)
        is_solution = isinstance(meta, dict) and bool(meta.get("solution"))
        if meta is not None:
            if not isinstance(meta, dict):
                raise SolutionError(f"{where}: metadata.nbgrader must be an object, got {type(meta).__name__}.")
            if meta.get("schema_version") != 3:
                raise SolutionError(f"{where}: nbgrader metadata has schema_version {meta.get('schema_version')!r}; "
                                    "this course uses 3 (nbgrader 0.9): run `nbgrader update` on the notebook.")
            try:
                validator.validate_cell(cell)
            except ValidationError as exc:
                raise SolutionError(f"{where}: malformed nbgrader metadata: {exc.message}") from None
            except Exception as exc:  # nbgrader's own checks raise other kinds too
                raise SolutionError(f"{where}: malformed nbgrader metadata: {exc}") from None
            if meta.get("grade") and not isinstance(meta.get("points"), (int, float)):
                raise SolutionError(f"{where}: a graded cell needs numeric points, got {meta.get('points')!r}.")
            if meta.get("grade") or meta.get("solution") or meta.get("locked"):
                grade_id = meta.get("grade_id")
                if not isinstance(grade_id, str) or not re.fullmatch(r"[A-Za-z0-9_\-]+", grade_id):
                    raise SolutionError(f"{where}: grade_id must be letters, digits, - or _, got {grade_id!r}.")
                if grade_id in seen:
                    raise SolutionError(f"{where}: grade_id {grade_id!r} is also used by {seen[grade_id]}.")
                seen[grade_id] = _cell_label(index, cell)
        depth = 0
        for number, line in enumerate(source.splitlines(), 1):
            if BEGIN in line:
                if not is_solution:
                    raise SolutionError(f"{where}: line {number} has '{BEGIN}' but the cell is not a solution cell "
                                        "(metadata.nbgrader.solution is not true).")
                if depth:
                    raise SolutionError(f"{where}: line {number}: '{BEGIN}' inside another solution region.")
                depth = 1
            elif END in line:
                if not depth:
                    raise SolutionError(f"{where}: line {number}: '{END}' without a '{BEGIN}' before it.")
                depth = 0
        if depth:
            raise SolutionError(f"{where}: '{BEGIN}' has no matching '{END}'.")
    if not any(isinstance(c.get("metadata", {}).get("nbgrader"), dict) for c in nb.cells):
        raise SolutionError(f"{path}: no cell has nbgrader metadata: this is not a solution notebook.")
    return nb


# ---------------------------------------------------------------------------
# Generating


def _nbgrader_api(course: Path):
    """nbgrader's own API on a course directory with its own gradebook, and no config file
    but this one (so a user's ~/.jupyter/nbgrader_config.py cannot change the output)."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    use_this_python_for_tools()  # the gradebook runs `alembic` from PATH
    config = Config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.db_url = "sqlite:///" + str(course / "gradebook.db")
    config.CourseDirectory.course_id = COURSE_ID
    return NbGraderAPI(config=config)


def _normalise(text: str) -> str:
    """nbformat's own layout (sorted keys, indent 1), ending in one newline."""
    import nbformat

    nb = nbformat.reads(text, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nbformat.writes(nb).rstrip("\n") + "\n"


def generate(solutions: Path, out: Path) -> list[Path]:
    """Write `out/<name>.ipynb` for every `solutions/<name>.ipynb`; return the paths written.

    Every solution is checked first (SolutionError names a broken file and cell) and
    nothing is written unless all of them convert.
    """
    solutions, out = Path(solutions), Path(out)
    paths = solution_paths(solutions)
    if not paths:
        raise SolutionError(f"{solutions}: no solution notebooks (*.ipynb).")
    for path in paths:
        validate_solution(path)
    results: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="rnn-course-generate-") as tmp:
        course = Path(tmp)
        for path in paths:
            (course / "source" / path.stem).mkdir(parents=True)
            shutil.copyfile(path, course / "source" / path.stem / f"{path.stem}.ipynb")
        api = _nbgrader_api(course)
        for path in paths:
            name = path.stem
            result = api.generate_assignment(name, force=True, create=True)
            made = course / "release" / name / f"{name}.ipynb"
            if not result.get("success") or not made.is_file():
                text = (result.get("log", "") + "\n" + result.get("error", "")).strip()
                log = "\n".join("    " + line for line in text.splitlines()[-25:])
                raise SolutionError(f"{path}: nbgrader generate_assignment failed:\n{log}")
            results[name] = _normalise(made.read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in results.items():
        target = out / f"{name}.ipynb"
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def _looks_generated(path: Path) -> bool:
    """A chapter notebook with nbgrader cells was made from a solution (others are plain pages)."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        return any("nbgrader" in c.get("metadata", {}) for c in nb.get("cells", []))
    except (OSError, ValueError, AttributeError):
        return False


@dataclass
class Drift:
    differ: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.differ or self.missing or self.extra)


def compare(solutions: Path, chapters: Path) -> Drift:
    """Regenerate into a temporary folder and compare with `chapters`, file by file."""
    solutions, chapters = Path(solutions), Path(chapters)
    drift = Drift()
    with tempfile.TemporaryDirectory(prefix="rnn-course-check-") as tmp:
        for fresh in generate(solutions, Path(tmp)):
            current = chapters / fresh.name
            if not current.is_file():
                drift.missing.append(fresh.name)
            elif current.read_bytes() != fresh.read_bytes():
                drift.differ.append(fresh.name)
    drift.extra = compare_extra(solutions, chapters)
    return drift


def _show(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rnn-course generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if chapters/ is out of date")
    parser.add_argument("--solutions", type=Path, help="the solution notebooks (default: <repo>/solutions)")
    parser.add_argument("--chapters", type=Path, help="the student notebooks (default: <repo>/chapters)")
    args = parser.parse_args(argv)
    use_this_python_for_tools()
    try:
        root = find_root() if args.solutions is None or args.chapters is None else Path.cwd().resolve()
    except CourseNotFound as exc:
        print(f"rnn-course generate: {exc}", file=sys.stderr)
        return 2
    solutions = (args.solutions or root / "solutions").resolve()
    chapters = (args.chapters or root / "chapters").resolve()
    try:
        if args.check:
            drift = compare(solutions, chapters)
        else:
            written = generate(solutions, chapters)
    except SolutionError as exc:
        print(f"rnn-course generate: {exc}", file=sys.stderr)
        return 2
    if not args.check:
        for path in written:
            print(f"wrote {_show(path, root)} ({path.stat().st_size // 1024} KiB)")
        stray = compare_extra(solutions, chapters)
        for name in stray:
            print(f"warning: {_show(chapters / name, root)} has nbgrader cells but there is no "
                  f"{_show(solutions / name, root)}: delete it or restore its solution.", file=sys.stderr)
        return 0
    if not drift:
        print(f"{_show(chapters, root)}/ is up to date with {_show(solutions, root)}/.")
        return 0
    print(f"{_show(chapters, root)}/ is out of date with {_show(solutions, root)}/:", file=sys.stderr)
    for name in drift.differ:
        print(f"  differs: {_show(chapters / name, root)} (regenerated from {_show(solutions / name, root)})",
              file=sys.stderr)
    for name in drift.missing:
        print(f"  missing: {_show(chapters / name, root)} (from {_show(solutions / name, root)})", file=sys.stderr)
    for name in drift.extra:
        print(f"  extra:   {_show(chapters / name, root)} (no {_show(solutions / name, root)}: "
              f"git rm it, or restore its solution)", file=sys.stderr)
    if drift.differ or drift.missing:
        print(f"Fix: run `{FIX}` (or `rnn-course generate`) and commit chapters/.", file=sys.stderr)
    return 1


def compare_extra(solutions: Path, chapters: Path) -> list[str]:
    expected = {p.name for p in solution_paths(solutions)}
    if not Path(chapters).is_dir():
        return []
    return sorted(p.name for p in Path(chapters).glob("*.ipynb") if p.name not in expected and _looks_generated(p))


if __name__ == "__main__":
    sys.exit(main())
