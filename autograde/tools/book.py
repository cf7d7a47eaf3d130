"""`rnn-course book`: execute the solutions and build the website into _build/html.

The website shows the *student* notebooks (so a page's Colab button opens
chapters/<name>.ipynb, stubs and all) with the outputs of the *solutions*: the plots,
the diagrams and the printed results. For every chapter listed in _toc.yml:

1. execute solutions/<name>.ipynb in a real kernel (or reuse its executed copy from
   _build/executed/, see autograde/tools/execute.py for the cache key);
2. copy chapters/<name>.ipynb into a staged copy of the book (_build/book-src/), giving each
   of its cells that is neither a solution cell nor a graded check cell the outputs of the
   corresponding solution cell; the two notebooks must match cell for cell;
3. run `jupyter-book build` on the staged copy, execution off and warnings as errors, into
   _build/html.

Quick mode (`--quick`, or RNN_COURSE_QUICK=1) trains 2 epochs per training cell instead of
d2l's 500; its executed copies are cached apart from the full ones.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograde import budget
from autograde.tools import results
from autograde.tools.common import CourseNotFound, find_root
from autograde.tools.execute import ExecutionFailed, executed, mode_name

CHAPTERS = "chapters"  # the toc's chapter pages live here, as in the repository
BOOK_FILES = ("_config.yml", "_toc.yml")
ASSETS = ("_static", "_templates", "images", "references.bib")  # copied when present
DOC_SUFFIXES = (".md", ".ipynb", ".rst")
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS")
HIDDEN_TESTS = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?",
                          re.S | re.M)


class BookError(Exception):
    """Something the maintainer must fix; str() says what and how."""


@dataclass
class Options:
    root: Path
    quick: bool
    force: bool
    chapters_dir: Path

    @property
    def build_dir(self) -> Path:
        return self.root / "_build"

    @property
    def cache_dir(self) -> Path:
        return self.build_dir / "executed"

    @property
    def staging_dir(self) -> Path:
        return self.build_dir / "book-src"

    @property
    def html_dir(self) -> Path:
        return self.build_dir / "html"

    @property
    def ok_marker(self) -> Path:
        return self.build_dir / ".book-build-ok"


@dataclass
class Chapter:
    name: str
    solution: Path
    student: Path

    @property
    def docname(self) -> str:
        return f"{CHAPTERS}/{self.name}"


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    try:
        options = parse_args(argv)
        build(options)
    except (BookError, CourseNotFound, ExecutionFailed) as exc:
        print(f"\nrnn-course book: FAILED\n{exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="rnn-course book",
        description="Execute the solution notebooks and build the website into _build/html.")
    parser.add_argument("--quick", action="store_true",
                        help="train 2 epochs per training cell (also: RNN_COURSE_QUICK=1)")
    parser.add_argument("--force", action="store_true",
                        help="execute the solutions again even where a cached copy matches")
    parser.add_argument("--chapters", metavar="DIR", type=Path,
                        help="take the student notebooks from DIR instead of chapters/")
    parser.add_argument("--root", metavar="DIR", type=Path,
                        help="the repository (default: the one holding _toc.yml and solutions/)")
    args = parser.parse_args(argv)
    root = (args.root or find_root()).resolve()
    quick = args.quick or budget.quick()
    chapters_dir = (args.chapters or root / CHAPTERS).resolve()
    return Options(root=root, quick=quick, force=args.force, chapters_dir=chapters_dir)


# ---------------------------------------------------------------- the build


def build(options: Options) -> None:
    start = time.perf_counter()
    log(f"rnn-course book ({mode_name(options.quick)} mode) in {options.root}")
    docnames = toc_docnames(options.root)
    chapters = find_chapters(options, docnames)

    with step(f"1/3 execute {len(chapters)} solution notebook(s)"):
        solutions = {c.name: executed(c.solution, options.cache_dir, options.quick,
                                      force=options.force, log=log, root=options.root).notebook
                     for c in chapters}

    with step("2/3 stage the student notebooks with the solutions' outputs"):
        staged = {}
        for chapter in chapters:
            student = nbformat.read(chapter.student, as_version=4)
            staged[chapter.docname] = merge_outputs(solutions[chapter.name], student, chapter,
                                                    options.root)
        stage(options, docnames, staged, results_table(solutions, chapters, options.quick))

    with step("3/3 jupyter-book build (execution off, warnings are errors)"):
        run_jupyter_book(options)

    index = options.html_dir / "index.html"
    log(f"done in {time.perf_counter() - start:.1f} s: open {index}")


def toc_docnames(root: Path) -> list[str]:
    """The documents the table of contents lists, root first."""
    from sphinx_external_toc.parsing import MalformedError, parse_toc_yaml

    toc = root / "_toc.yml"
    try:
        site_map = parse_toc_yaml(toc)
    except (MalformedError, OSError) as exc:
        raise BookError(f"Cannot read {toc}: {exc}") from None
    return [site_map.root.docname] + [d for d in site_map if d != site_map.root.docname]


def find_chapters(options: Options, docnames: list[str]) -> list[Chapter]:
    chapters = []
    for docname in docnames:
        if not docname.startswith(f"{CHAPTERS}/"):
            continue
        name = docname.split("/", 1)[1]
        chapter = Chapter(name, options.root / "solutions" / f"{name}.ipynb",
                          options.chapters_dir / f"{name}.ipynb")
        if not chapter.solution.is_file():
            raise BookError(f"_toc.yml lists {docname}, but its solution notebook "
                            f"solutions/{name}.ipynb is missing.")
        if not chapter.student.is_file():
            raise BookError(f"The student notebook {chapter.student} is missing. Generate it "
                            f"from solutions/{name}.ipynb with `rnn-course generate` (make chapters).")
        chapters.append(chapter)
    return chapters


# ---------------------------------------------------------------- merging outputs


def role(cell) -> str:
    """'solution', 'check' (a graded test cell) or 'plain', from nbgrader's metadata."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if meta.get("solution"):
        return "solution"
    if meta.get("grade"):
        return "check"
    return "plain"


def merge_outputs(solution: nbformat.NotebookNode, student: nbformat.NotebookNode,
                  chapter: Chapter, root: Path) -> nbformat.NotebookNode:
    """The student notebook, each plain cell given the executed solution cell's outputs.

    Solution cells (the stubs) and graded check cells keep no outputs: the website shows
    neither a solution's results where the student sees a stub, nor a check's verdict.
    """
    where = f"{_rel(chapter.student, root)} (from {_rel(chapter.solution, root)})"
    if len(solution.cells) != len(student.cells):
        raise BookError(f"{where}: {len(student.cells)} cells in the student notebook, "
                        f"{len(solution.cells)} in the solution. {_REGENERATE}")
    merged = copy.deepcopy(student)
    for number, (sol, stu) in enumerate(zip(solution.cells, merged.cells), start=1):
        _check_pair(sol, stu, f"{where}, cell {number}")
        if stu.cell_type != "code":
            continue
        stu.outputs = copy.deepcopy(sol.get("outputs", [])) if role(sol) == "plain" else []
        stu.execution_count = None
    return merged


_REGENERATE = "Regenerate the student notebooks with `rnn-course generate` (make chapters)."


def _check_pair(sol, stu, where: str) -> None:
    """Fail loudly unless the student cell is the solution cell as nbgrader releases it."""
    if sol.cell_type != stu.cell_type:
        raise BookError(f"{where}: a {stu.cell_type} cell in the student notebook, a "
                        f"{sol.cell_type} cell in the solution. {_REGENERATE}")
    sol_id = sol.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    stu_id = stu.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    if role(sol) != role(stu) or sol_id != stu_id:
        raise BookError(f"{where}: the solution's cell is {role(sol)} {sol_id!r}, the student's "
                        f"is {role(stu)} {stu_id!r}. {_REGENERATE}")
    for marker in SOLUTION_MARKERS:
        if marker in stu.source:
            raise BookError(f"{where}: the student notebook contains {marker!r}: it would publish "
                            f"a solution. {_REGENERATE}")
    if role(sol) == "solution":
        return  # the student's stub differs from the solution by design
    expected = HIDDEN_TESTS.sub("", sol.source) if role(sol) == "check" else sol.source
    if _normalise(expected) != _normalise(stu.source):
        diff = difflib.unified_diff(_normalise(expected).splitlines(), _normalise(stu.source).splitlines(),
                                    "solution", "student", lineterm="", n=1)
        shown = "\n".join("  " + line for line in list(diff)[:24])
        raise BookError(f"{where}: the student's cell differs from the solution's:\n{shown}\n"
                        f"{_REGENERATE}")


def _normalise(source: str) -> str:
    return source.replace("\r\n", "\n").rstrip()


# ---------------------------------------------------------------- staging and building


def results_table(solutions: dict[str, nbformat.NotebookNode], chapters: list[Chapter], quick: bool) -> str:
    """The reference-results table from the executed solutions (autograde/tools/results.py)."""
    executed = {c.docname: solutions[c.name] for c in chapters}
    try:
        measured = results.collect(executed)
    except results.ResultsError as exc:
        raise BookError(f"The reference results: {exc}") from None
    runs = {d: nb.metadata.get("rnn_course", {}) for d, nb in executed.items()}
    machines = sorted({r["machine"] for r in runs.values() if r.get("machine")}) or [results.machine()]
    seconds = {d: r["seconds"] for d, r in runs.items() if "seconds" in r}
    return results.render(measured, quick, seconds, "; ".join(machines))


def stage(options: Options, docnames: list[str], staged: dict[str, nbformat.NotebookNode],
          table: str = "") -> None:
    """Mirror the book into the staging folder, touching only files whose content changed.

    A Markdown page holding the line `results.RESULTS_MARKER` gets the reference-results
    table in its place. Unchanged files keep their modification times, so Sphinx rereads
    only what changed.
    """
    root, staging = options.root, options.staging_dir
    wanted: dict[str, bytes | Path] = {}
    for name in BOOK_FILES:
        if not (root / name).is_file():
            raise BookError(f"{root / name} is missing.")
        wanted[name] = root / name
    for docname in docnames:
        if docname in staged:
            wanted[f"{docname}.ipynb"] = nbformat.writes(staged[docname]).encode() + b"\n"
        else:
            source = _doc_source(root, docname)
            rel = source.relative_to(root).as_posix()
            text = source.read_text(encoding="utf-8") if source.suffix == ".md" else ""
            if results.RESULTS_MARKER in text.splitlines():
                wanted[rel] = results.fill(text, table).encode()
            else:
                wanted[rel] = source
    for asset in ASSETS:
        for file in _files(root / asset):
            wanted[file.relative_to(root).as_posix()] = file

    changed = sum(_write_if_changed(staging / rel, data) for rel, data in wanted.items())
    removed = _remove_unwanted(staging, set(wanted))
    log(f"  {len(wanted)} files in {_rel(staging, root)}: {changed} changed, {removed} removed")


def _files(path: Path) -> list[Path]:
    """`path` if it is a file, the files under it if it is a folder, else nothing."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []


def _doc_source(root: Path, docname: str) -> Path:
    for suffix in ("", *DOC_SUFFIXES):
        path = root / f"{docname}{suffix}"
        if path.is_file() and (suffix or path.suffix in DOC_SUFFIXES):
            return path
    raise BookError(f"_toc.yml lists {docname}, but no {docname}.md/.ipynb/.rst exists.")


def _write_if_changed(target: Path, data: bytes | Path) -> bool:
    content = data.read_bytes() if isinstance(data, Path) else data
    if target.is_file() and target.read_bytes() == content:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(content)
    tmp.replace(target)
    return True


def _remove_unwanted(staging: Path, wanted: set[str]) -> int:
    removed = 0
    for path in sorted(staging.rglob("*"), reverse=True):
        rel = path.relative_to(staging).as_posix()
        if path.is_file() and rel not in wanted:
            path.unlink()
            removed += 1
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return removed


def run_jupyter_book(options: Options) -> None:
    """`jupyter-book build` of the staged copy into <root>/_build/html.

    Sphinx rereads only changed pages; after a failed build everything is rebuilt, since a
    page that warned and was not changed since would not warn again.
    """
    fresh = not options.ok_marker.is_file() or not (options.html_dir / "index.html").is_file()
    options.ok_marker.unlink(missing_ok=True)
    command = [*_jupyter_book(), "build", str(options.staging_dir), "--path-output",
               str(options.root), "-W", "--keep-going", "-q", *(["--all"] if fresh else [])]
    log(f"  {'full' if fresh else 'incremental'} build: {' '.join(command[-8:])}")
    result = subprocess.run(command, cwd=options.root)
    if result.returncode != 0:
        raise BookError(f"jupyter-book build failed (exit {result.returncode}); its messages are "
                        f"above. The staged book it built is {options.staging_dir}.")
    options.ok_marker.write_text("the last `rnn-course book` built without warnings\n")


def _jupyter_book() -> list[str]:
    beside = Path(sys.executable).with_name("jupyter-book")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("jupyter-book")
    if found:
        return [found]
    raise BookError("jupyter-book is not installed: `make setup` (or pip install -r "
                    "requirements.txt) installs it.")


# ---------------------------------------------------------------- output


def log(message: str) -> None:
    print(message, flush=True)


@contextmanager
def step(title: str):
    log(f"[{title}]")
    start = time.perf_counter()
    yield
    log(f"  ({time.perf_counter() - start:.1f} s)")


def _rel(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
