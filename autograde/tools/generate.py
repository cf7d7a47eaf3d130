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

In the course repository it also writes (or, with --check, compares) what lists the chapters,
from the registry `autograde/course.py`: `_toc.yml`, the README's chapter table and intro.md's
chapter list; and it fails when a solution notebook's exercises, check cells or points are not
those the registry declares.

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

from autograde.course import CHAPTERS, Chapter, disagreements
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
                raise SolutionError(
                    f"{where}: nbgrader metadata has schema_version {meta.get('schema_version')!r}; "
                    "this course uses 3 (nbgrader 0.9): run `nbgrader update` on the notebook."
                )
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
                    raise SolutionError(
                        f"{where}: line {number} has '{BEGIN}' but the cell is not a solution cell "
                        "(metadata.nbgrader.solution is not true)."
                    )
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


# ---------------------------------------------------------------------------
# The pages that list the chapters, made from the registry (autograde/course.py)

REGISTRY = "autograde/course.py"
TOC_HEAD = f"""# Generated by `rnn-course generate` from {REGISTRY}: edit the chapters there, then `make chapters`.
# The website's table of contents (Jupyter Book 1.x). A chapter listed here as
# chapters/<name> is built from the student notebook chapters/<name>.ipynb, with the outputs
# of the executed solutions/<name>.ipynb (see autograde/tools/book.py).
"""
# A generated block of a hand-written page lies between these two lines (each page's own comment syntax).
BLOCKS = {
    "README.md": (f"<!-- chapters: generated by rnn-course generate from {REGISTRY} -->", "<!-- end of chapters -->"),
    "intro.md": (f"% chapters: generated by rnn-course generate from {REGISTRY}", "% end of chapters"),
}


def toc_text(chapters: tuple[Chapter, ...]) -> str:
    lines = [
        TOC_HEAD.rstrip("\n"),
        "format: jb-book",
        "root: intro",
        "parts:",
        "  - caption: Chapters",
        "    chapters:",
    ]
    lines += [f"      - file: {ch.docname}" for ch in chapters]
    lines += ["  - caption: Reference", "    chapters:", "      - file: reference-results"]
    return "\n".join(lines) + "\n"


def chapter_table(page: str, chapters: tuple[Chapter, ...]) -> str:
    """The Markdown table of chapters in `page`: the README links its notebooks, the website its pages."""
    if page == "README.md":
        rows = ["| chapter | what you build | notebook |", "|---|---|---|"]
        rows += [f"| {ch.title} | {ch.summary} | [`{ch.docname}.ipynb`]({ch.docname}.ipynb) |" for ch in chapters]
    else:
        rows = ["| chapter | what you build |", "|---|---|"]
        rows += [f"| [{ch.title}]({ch.docname}.ipynb) | {ch.summary} |" for ch in chapters]
    return "\n".join(rows)


def _replace_block(name: str, text: str, table: str) -> str:
    begin, end = BLOCKS[name]
    lines = text.split("\n")
    if lines.count(begin) != 1 or lines.count(end) != 1 or lines.index(begin) > lines.index(end):
        raise SolutionError(f"{name}: the chapter list must lie between the lines {begin!r} and {end!r}, once each.")
    i, j = lines.index(begin), lines.index(end)
    return "\n".join(lines[: i + 1] + ["", table, ""] + lines[j:])


def pages(root: Path, chapters: tuple[Chapter, ...] = CHAPTERS) -> dict[str, str]:
    """{path relative to root: its text as generated}, for each page that lists the chapters."""
    out = {"_toc.yml": toc_text(chapters)}
    for name in BLOCKS:
        text = (root / name).read_text(encoding="utf-8")
        out[name] = _replace_block(name, text, chapter_table(name, chapters))
    return out


def stale_pages(root: Path, chapters: tuple[Chapter, ...] = CHAPTERS) -> list[str]:
    """The pages whose chapter list differs from the registry's."""
    return [
        name
        for name, text in pages(root, chapters).items()
        if not (root / name).is_file() or (root / name).read_text(encoding="utf-8") != text
    ]


def write_pages(root: Path, chapters: tuple[Chapter, ...] = CHAPTERS) -> list[str]:
    written = []
    for name, text in pages(root, chapters).items():
        path = root / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(name)
    return written


def registry_problems(solutions: Path, chapters: tuple[Chapter, ...] = CHAPTERS) -> list[str]:
    """Where solutions/ and the registry disagree: a chapter on one side only, or its cells and points."""
    import nbformat

    on_disk = {p.stem for p in solution_paths(solutions)}
    problems = [
        f"solutions/{name}.ipynb is not a chapter in {REGISTRY}: add its entry to CHAPTERS"
        for name in sorted(on_disk - {ch.slug for ch in chapters})
    ]
    for ch in chapters:
        if ch.slug not in on_disk:
            problems.append(f"{REGISTRY} lists the chapter {ch.slug!r}, but solutions/{ch.slug}.ipynb is missing")
        else:
            problems += disagreements(ch, nbformat.read(solutions / f"{ch.slug}.ipynb", as_version=4))
    return problems


def _course_repository(solutions: Path) -> Path | None:
    """The repository whose pages list the chapters of `solutions`, or None for a folder elsewhere."""
    root = solutions.parent
    return root if (root / "pyproject.toml").is_file() and (root / "_toc.yml").is_file() else None


def _pages_and_registry(solutions: Path, check: bool, root: Path) -> int:
    """Write (or compare) the pages listing the chapters, and hold solutions/ to the registry."""
    repository = _course_repository(solutions)
    if repository is None:
        return 0
    code = 0
    try:
        if check:
            for name in stale_pages(repository):
                print(f"  differs: {_show(repository / name, root)} (generated from {REGISTRY})", file=sys.stderr)
                code = 1
            if code:
                print(f"Fix: run `{FIX}` (or `rnn-course generate`) and commit what it rewrote.", file=sys.stderr)
        else:
            for name in write_pages(repository):
                print(f"wrote {_show(repository / name, root)} (from {REGISTRY})")
    except SolutionError as exc:
        print(f"rnn-course generate: {exc}", file=sys.stderr)
        return 2
    problems = registry_problems(solutions)
    for problem in problems:
        print(f"  registry: {problem}", file=sys.stderr)
    if problems:
        print(f"Fix: make solutions/ and {REGISTRY} agree (the README's 'Adding a chapter' says how).", file=sys.stderr)
    return code or int(bool(problems))


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
            print(
                f"warning: {_show(chapters / name, root)} has nbgrader cells but there is no "
                f"{_show(solutions / name, root)}: delete it or restore its solution.",
                file=sys.stderr,
            )
        return _pages_and_registry(solutions, check=False, root=root)
    if not drift:
        listing = _pages_and_registry(solutions, check=True, root=root)
        if not listing:
            print(f"{_show(chapters, root)}/ is up to date with {_show(solutions, root)}/.")
            if _course_repository(solutions):
                print(
                    f"_toc.yml, README.md and intro.md list the chapters of {REGISTRY}, and the solutions "
                    "have its exercises, checks and points."
                )
        return listing
    print(f"{_show(chapters, root)}/ is out of date with {_show(solutions, root)}/:", file=sys.stderr)
    for name in drift.differ:
        print(
            f"  differs: {_show(chapters / name, root)} (regenerated from {_show(solutions / name, root)})",
            file=sys.stderr,
        )
    for name in drift.missing:
        print(f"  missing: {_show(chapters / name, root)} (from {_show(solutions / name, root)})", file=sys.stderr)
    for name in drift.extra:
        print(
            f"  extra:   {_show(chapters / name, root)} (no {_show(solutions / name, root)}: "
            f"git rm it, or restore its solution)",
            file=sys.stderr,
        )
    if drift.differ or drift.missing:
        print(f"Fix: run `{FIX}` (or `rnn-course generate`) and commit chapters/.", file=sys.stderr)
    return max(1, _pages_and_registry(solutions, check=True, root=root))


def compare_extra(solutions: Path, chapters: Path) -> list[str]:
    expected = {p.name for p in solution_paths(solutions)}
    if not Path(chapters).is_dir():
        return []
    return sorted(p.name for p in Path(chapters).glob("*.ipynb") if p.name not in expected and _looks_generated(p))


if __name__ == "__main__":
    sys.exit(main())
