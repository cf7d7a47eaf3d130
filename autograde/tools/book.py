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

The staged chapter pages get a few cells the notebooks do not have (marked `book_only` in
their metadata): under the title, the chapter's points and how long it took to run; after
each exercise's check cells, its solution behind a "Show the solution" toggle, taken from
solutions/ (`--no-solutions`, for an instructor's copy of the site, leaves them out). The
notebook a page's download button gives has none of them: it is the student notebook with
the solutions' outputs. The site serves its own MathJax (from django-static-mathjax), so it
needs no network when read.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograde import budget, course
from autograde.tools import results
from autograde.tools.common import CourseNotFound, find_root
from autograde.tools.execute import ExecutionFailed, executed, mode_name

CHAPTERS = "chapters"  # the toc's chapter pages live here, as in the repository
BOOK_FILES = ("_config.yml", "_toc.yml")
ASSETS = ("_static", "_templates", "images", "references.bib")  # copied when present
DOC_SUFFIXES = (".md", ".ipynb", ".rst")
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS")
HIDDEN_TESTS = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)


class BookError(Exception):
    """Something the maintainer must fix; str() says what and how."""


BOOK_ONLY = "book_only"  # metadata rnn_course.book_only: a cell only the website shows
VERDICTS_MARKER = "% rnn-course: verdict examples"
MATHJAX_FILES = ("tex-chtml.js", "input/tex/extensions", "output/chtml", "a11y", "ui", "adaptors")
MATHJAX_STAGED = "_mathjax/mathjax"  # html_extra_path in _config.yml: served as /mathjax/


@dataclass
class Options:
    root: Path
    quick: bool
    force: bool
    chapters_dir: Path
    solutions: bool = True
    jobs: int = 0  # notebooks executed at once; 0: one per CPU core

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
        prog="rnn-course book", description="Execute the solution notebooks and build the website into _build/html."
    )
    parser.add_argument(
        "--quick", action="store_true", help="train 2 epochs per training cell (also: RNN_COURSE_QUICK=1)"
    )
    parser.add_argument(
        "--force", action="store_true", help="execute the solutions again even where a cached copy matches"
    )
    parser.add_argument(
        "--chapters", metavar="DIR", type=Path, help="take the student notebooks from DIR instead of chapters/"
    )
    parser.add_argument(
        "--root", metavar="DIR", type=Path, help="the repository (default: the one holding _toc.yml and solutions/)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=0,
        metavar="N",
        help="notebooks to execute at once, one torch thread each (default: one per CPU core)",
    )
    parser.add_argument(
        "--no-solutions",
        dest="solutions",
        action="store_false",
        help="leave the exercises' solutions out of the website (an instructor's "
        "copy); by default each one is behind a 'Show the solution' toggle",
    )
    args = parser.parse_args(argv)
    root = (args.root or find_root()).resolve()
    quick = args.quick or budget.quick()
    chapters_dir = (args.chapters or root / CHAPTERS).resolve()
    return Options(
        root=root, quick=quick, force=args.force, chapters_dir=chapters_dir, solutions=args.solutions, jobs=args.jobs
    )


# ---------------------------------------------------------------- the build


def build(options: Options) -> None:
    start = time.perf_counter()
    log(f"rnn-course book ({mode_name(options.quick)} mode) in {options.root}")
    docnames = toc_docnames(options.root)
    chapters = find_chapters(options, docnames)

    with step(f"1/3 execute {len(chapters)} solution notebook(s)"):
        solutions = execute_all(chapters, options)

    with step("2/3 stage the student notebooks with the solutions' outputs"):
        check_repository_address(options.root, [c.solution for c in chapters] + [c.student for c in chapters])
        staged = {}
        for chapter in chapters:
            student = nbformat.read(chapter.student, as_version=4)
            merged = merge_outputs(solutions[chapter.name], student, chapter, options.root)
            staged[chapter.docname] = add_book_cells(merged, solutions[chapter.name], options.solutions, options.quick)
        if not options.solutions:
            log("  --no-solutions: the pages show no solution")
        stage(options, docnames, staged, results_table(solutions, chapters, options.quick))

    with step("3/3 jupyter-book build (execution off, warnings are errors)"):
        run_jupyter_book(options)
        write_downloads(options, staged)

    index = options.html_dir / "index.html"
    log(f"done in {time.perf_counter() - start:.1f} s: open {index}")


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def execute_all(chapters: list[Chapter], options: Options) -> dict[str, nbformat.NotebookNode]:
    """Every chapter's executed solution, from the cache or run side by side.

    The notebooks are independent, so up to `options.jobs` kernels (default: one per core) run
    at once, each computing with one thread; the longest notebook (by the last build's times, or
    on a first full build the course's, `course.Chapter.build_seconds`) starts first. The log says
    when each one finished, and about how long is left.
    """
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    from autograde.tools.execute import cache_key, cached_path

    results: dict[str, nbformat.NotebookNode] = {}
    todo = []
    for chapter in chapters:
        key = cache_key(chapter.solution, options.quick)
        if cached_path(options.cache_dir, chapter.name, options.quick, key).is_file() and not options.force:
            results[chapter.name] = executed(
                chapter.solution, options.cache_dir, options.quick, log=log, root=options.root
            ).notebook
        else:
            todo.append(chapter)
    if not todo:
        return {c.name: results[c.name] for c in chapters}

    jobs = max(1, min(options.jobs or cores(), len(todo)))
    threads = 1 if jobs > 1 else None
    timings_file = options.cache_dir / f"timings.{mode_name(options.quick)}.json"
    measured = _read_timings(timings_file)
    expected = {**_reference_timings(options.quick), **measured}
    todo.sort(key=lambda c: -expected.get(c.name, 0.0))
    log(f"  {len(todo)} notebook(s) to execute, {jobs} at a time" + (", one torch thread each" if threads else ""))
    started: dict[str, float] = {}
    start = time.perf_counter()

    def run(chapter: Chapter) -> nbformat.NotebookNode:
        started[chapter.name] = time.perf_counter()
        return executed(
            chapter.solution,
            options.cache_dir,
            options.quick,
            force=options.force,
            log=log,
            root=options.root,
            threads=threads,
        ).notebook

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        running = {pool.submit(run, chapter): chapter for chapter in todo}
        while running:
            done, _ = wait(running, timeout=60, return_when=FIRST_COMPLETED)
            for future in done:
                chapter = running.pop(future)
                results[chapter.name] = future.result()  # ExecutionFailed stops the build
                seconds = time.perf_counter() - started[chapter.name]
                expected[chapter.name] = measured[chapter.name] = seconds
                _write_timings(timings_file, measured)
            left = [c for c in running.values()]
            if done or left:
                log(
                    f"  [{time.perf_counter() - start:5.0f} s] {len(todo) - len(left)}/{len(todo)} "
                    f"notebooks done{_time_left(left, started, expected, jobs, measured)}"
                )
    return {c.name: results[c.name] for c in chapters}


def _reference_timings(quick: bool) -> dict[str, float]:
    """What each chapter took in a cold full build on the course's 2-core machine (none for --quick)."""
    return {} if quick else {c.slug: float(c.build_seconds) for c in course.CHAPTERS if c.build_seconds}


def _read_timings(path: Path) -> dict[str, float]:
    import json

    try:
        return {str(k): float(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def _write_timings(path: Path, timings: dict[str, float]) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({k: round(v, 1) for k, v in timings.items()}, indent=1) + "\n")


def _time_left(
    left: list[Chapter], started: dict[str, float], expected: dict[str, float], jobs: int, measured: dict[str, float]
) -> str:
    """'; running: ...; about 4 min left' from the last build's times (`measured`) or the course's; without
    either, only the notebooks still running."""
    if not left:
        return ""
    now = time.perf_counter()
    names = ", ".join(
        f"{c.name} ({(now - started[c.name]) / 60:.1f} min)" if c.name in started else f"{c.name} (waiting)"
        for c in left
    )
    if not all(c.name in expected for c in left):
        return f"; running: {names}"
    remaining = [max(expected[c.name] - (now - started.get(c.name, now)), 0.0) for c in left]
    estimate = max(max(remaining), sum(remaining) / jobs)
    basis = "the last build's times" if all(c.name in measured for c in left) else "the course's 2-core machine"
    return f"; running: {names}; about {estimate / 60:.1f} min left (by {basis})"


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
        chapter = Chapter(name, options.root / "solutions" / f"{name}.ipynb", options.chapters_dir / f"{name}.ipynb")
        if not chapter.solution.is_file():
            raise BookError(f"_toc.yml lists {docname}, but its solution notebook solutions/{name}.ipynb is missing.")
        if not chapter.student.is_file():
            raise BookError(
                f"The student notebook {chapter.student} is missing. Generate it "
                f"from solutions/{name}.ipynb with `rnn-course generate` (make chapters)."
            )
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


def merge_outputs(
    solution: nbformat.NotebookNode, student: nbformat.NotebookNode, chapter: Chapter, root: Path
) -> nbformat.NotebookNode:
    """The student notebook, each plain cell given the executed solution cell's outputs.

    Solution cells (the stubs) and graded check cells keep no outputs: the website shows
    neither a solution's results where the student sees a stub, nor a check's verdict.
    """
    where = f"{_rel(chapter.student, root)} (from {_rel(chapter.solution, root)})"
    if len(solution.cells) != len(student.cells):
        raise BookError(
            f"{where}: {len(student.cells)} cells in the student notebook, "
            f"{len(solution.cells)} in the solution. {_REGENERATE}"
        )
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
        raise BookError(
            f"{where}: a {stu.cell_type} cell in the student notebook, a "
            f"{sol.cell_type} cell in the solution. {_REGENERATE}"
        )
    sol_id = sol.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    stu_id = stu.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    if role(sol) != role(stu) or sol_id != stu_id:
        raise BookError(
            f"{where}: the solution's cell is {role(sol)} {sol_id!r}, the student's "
            f"is {role(stu)} {stu_id!r}. {_REGENERATE}"
        )
    for marker in SOLUTION_MARKERS:
        if marker in stu.source:
            raise BookError(
                f"{where}: the student notebook contains {marker!r}: it would publish a solution. {_REGENERATE}"
            )
    if role(sol) == "solution":
        return  # the student's stub differs from the solution by design
    expected = HIDDEN_TESTS.sub("", sol.source) if role(sol) == "check" else sol.source
    if _normalise(expected) != _normalise(stu.source):
        diff = difflib.unified_diff(
            _normalise(expected).splitlines(),
            _normalise(stu.source).splitlines(),
            "solution",
            "student",
            lineterm="",
            n=1,
        )
        shown = "\n".join("  " + line for line in list(diff)[:24])
        raise BookError(f"{where}: the student's cell differs from the solution's:\n{shown}\n{_REGENERATE}")


def _normalise(source: str) -> str:
    return source.replace("\r\n", "\n").rstrip()


# ---------------------------------------------------------------- cells only the website shows


def _book_cell(source: str, kind: str, number: int) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata["rnn_course"] = {BOOK_ONLY: kind}
    cell.id = f"book-{kind}-{number}"
    return cell


def _under_title(cell, line: str) -> None:
    """`line` as a paragraph under the cell's first heading (its original source is kept)."""
    lines = cell.source.splitlines()
    at = next((i + 1 for i, text in enumerate(lines) if text.startswith("# ")), 0)
    cell.metadata.setdefault("rnn_course", {})["source_without_facts"] = cell.source
    cell.source = "\n".join(lines[:at] + ["", line, ""] + lines[at:])


def solution_code(cell) -> str:
    """A solution cell's code as the solution notebook has it, without nbgrader's markers."""
    lines = [
        line for line in cell.source.splitlines() if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
    ]
    return "\n".join(lines).rstrip()


def chapter_facts(solution: nbformat.NotebookNode, quick: bool) -> str:
    """A line for under a chapter's title: its exercises, its points, how long it ran."""
    exercises = sum(1 for c in solution.cells if role(c) == "solution")
    points = sum(float(c.metadata["nbgrader"].get("points", 0)) for c in solution.cells if role(c) == "check")
    facts = f"**{exercises} functions to write, {points:g} points.**"
    seconds = solution.metadata.get("rnn_course", {}).get("seconds")
    if seconds is not None:
        ran = f"{seconds / 60:.0f} minutes" if seconds >= 90 else f"{seconds:.0f} seconds"
        how = "in quick mode (2 epochs per training cell)" if quick else "with d2l's full recipe"
        facts += (
            f" The notebook ran top to bottom in {ran}, {how}, when this website was built "
            "(on the machine named in the [reference results](../reference-results.md))."
        )
    return facts


def add_book_cells(
    merged: nbformat.NotebookNode, solution: nbformat.NotebookNode, with_solutions: bool, quick: bool
) -> nbformat.NotebookNode:
    """The staged page: the chapter's facts under its title and, unless `with_solutions` is
    false, each exercise's solution behind a toggle after the exercise's last check cell and
    its hints. `without_book_cells` undoes both."""
    cells, pending = [], []
    for index, (cell, sol) in enumerate(zip(merged.cells, solution.cells)):
        cells.append(cell)
        if index == 0 and cell.cell_type == "markdown":
            _under_title(cell, chapter_facts(solution, quick))
        if role(sol) == "solution":
            pending.append(sol)
        following = solution.cells[index + 1] if index + 1 < len(solution.cells) else None
        last_check = role(sol) == "check" and (following is None or role(following) != "check")
        if pending and ((last_check and not _is_hints(following)) or _is_hints(sol)):
            if with_solutions:
                for done in pending:
                    name = done.metadata["nbgrader"]["grade_id"]
                    cells.append(
                        _book_cell(
                            f'<details class="course-solution">\n<summary>Show the solution: '
                            f"<code>{name}</code></summary>\n\nTry it yourself first: the hints "
                            f"above and the check's message usually say enough.\n\n```python\n"
                            f"{solution_code(done)}\n```\n\n</details>",
                            "solution",
                            len(cells),
                        )
                    )
            pending = []
    merged.cells = cells
    return merged


def _is_hints(cell) -> bool:
    return cell is not None and "rnn_course_hints" in cell.get("metadata", {})


def without_book_cells(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """`nb` less the cells only the website shows: what the download button gives."""
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if BOOK_ONLY not in c.get("metadata", {}).get("rnn_course", {})]
    for cell in nb.cells:
        ours = cell.get("metadata", {}).get("rnn_course", {})
        if "source_without_facts" in ours:
            cell.source = ours.pop("source_without_facts")
            if not ours:
                del cell.metadata["rnn_course"]
    return nb


def write_downloads(options: Options, staged: dict[str, nbformat.NotebookNode]) -> None:
    """The download button's notebooks: the student notebooks with the solutions' outputs."""
    for docname, nb in staged.items():
        target = options.html_dir / "_sources" / f"{docname}.ipynb"
        if target.parent.is_dir():
            _write_if_changed(target, nbformat.writes(without_book_cells(nb)).encode() + b"\n")


def verdict_examples() -> str:
    """What a check prints, for the landing page: Exercise 5 of the RNN chapter, right and wrong.

    Both verdicts come from the course's real check, run here on a right answer and on a
    perplexity that forgot the exponential.
    """
    import io
    from contextlib import redirect_stdout

    import torch
    from torch.nn import functional as F

    from autograde.rnn_scratch import check_perplexity
    from autograde.verdict import CheckFailed

    def right(logits, targets):
        return torch.exp(F.cross_entropy(logits, targets))

    def forgot_exp(logits, targets):
        return F.cross_entropy(logits, targets)

    printed = io.StringIO()
    with redirect_stdout(printed):
        check_perplexity(right)
    try:
        check_perplexity(forgot_exp)
    except CheckFailed as exc:
        wrong = str(exc)
    else:
        raise BookError(
            "check_perplexity passed a perplexity without its exponential: the "
            "landing page's example of a failing check has nothing to show."
        )

    def wrapped(text: str) -> str:  # the width of the chapters' code
        import textwrap

        return "\n".join(textwrap.fill(line, 84, subsequent_indent="    ") for line in text.rstrip().splitlines())

    return "\n".join(
        [
            "When the code is right, the check cell prints a line that starts with ✓:",
            "",
            "```python",
            "check_perplexity(perplexity)   # return torch.exp(F.cross_entropy(logits, targets))",
            "```",
            "```text",
            wrapped(printed.getvalue()),
            "```",
            "",
            "When it is not, ✗ and what is wrong, often with a hint; here the exponential is missing:",
            "",
            "```python",
            "check_perplexity(perplexity)   # return F.cross_entropy(logits, targets)",
            "```",
            "```text",
            wrapped(wrong),
            "```",
        ]
    )


# ---------------------------------------------------------------- the repository's address

SETUP_ADDRESS = re.compile(r"git\+(https://[^\s\"'@]+)")


def repository_url(root: Path) -> str:
    """repository.url in _config.yml: the one place the course's address is written."""
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8")) or {}
    url = (config.get("repository") or {}).get("url")
    if not url:
        raise BookError(
            f"{root / '_config.yml'} has no repository.url: the launch buttons and "
            "the notebooks' set-up cells need the course's address."
        )
    return str(url).rstrip("/")


def check_repository_address(root: Path, notebooks: list[Path]) -> None:
    """Every notebook's set-up cell installs the course from _config.yml's repository."""
    url = repository_url(root)
    wrong = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        found = {
            m.rstrip("/") for cell in nb.cells if cell.cell_type == "code" for m in SETUP_ADDRESS.findall(cell.source)
        }
        if found != {url}:
            wrong.append(f"{_rel(path, root)}: {sorted(found) or 'no git+https address'}")
    if wrong:
        raise BookError(
            f"_config.yml's repository.url is {url}, but the set-up cell of\n  "
            + "\n  ".join(wrong)
            + f"\ninstalls from elsewhere. Write {url} in "
            "solutions/*.ipynb's set-up cells, then `rnn-course generate`."
        )


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
    where = "; ".join(machines)
    if any(r.get("threads") == 1 for r in runs.values()):
        where += (
            " (the notebooks ran side by side, each kernel computing with one thread, "
            "so the speeds here are one core's)"
        )
    titles = {c.docname: course.chapter(c.name).title for c in chapters}
    own = {d: (titles[d], table) for d, table in results.tables(executed).items()}
    return results.render(measured, quick, seconds, where, own)


def stage(options: Options, docnames: list[str], staged: dict[str, nbformat.NotebookNode], table: str = "") -> None:
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
    wanted["_toc.yml"] = numbered_toc((root / "_toc.yml").read_text(encoding="utf-8")).encode()
    for docname in docnames:
        if docname in staged:
            wanted[f"{docname}.ipynb"] = nbformat.writes(staged[docname]).encode() + b"\n"
        else:
            source = _doc_source(root, docname)
            rel = source.relative_to(root).as_posix()
            text = source.read_text(encoding="utf-8") if source.suffix == ".md" else ""
            lines = text.splitlines()
            if results.RESULTS_MARKER in lines:
                text = results.fill(text, table)
            if VERDICTS_MARKER in lines:
                text = (
                    "\n".join(
                        verdict_examples() if line.strip() == VERDICTS_MARKER else line for line in text.splitlines()
                    )
                    + "\n"
                )
            wanted[rel] = text.encode() if text and text != source.read_text(encoding="utf-8") else source
    for asset in ASSETS:
        for file in _files(root / asset):
            wanted[file.relative_to(root).as_posix()] = file
    mathjax = mathjax_folder()
    for part in MATHJAX_FILES:
        for file in _files(mathjax / part):
            wanted[f"{MATHJAX_STAGED}/{file.relative_to(mathjax).as_posix()}"] = file

    changed = sum(_write_if_changed(staging / rel, data) for rel, data in wanted.items())
    removed = _remove_unwanted(staging, set(wanted))
    log(f"  {len(wanted)} files in {_rel(staging, root)}: {changed} changed, {removed} removed")


def numbered_toc(toc: str) -> str:
    """_toc.yml with its chapters numbered (1, 2, 3 in the sidebar and the titles)."""
    lines = toc.splitlines()
    out = []
    for line in lines:
        out.append(line)
        stripped = line.strip()
        if stripped.startswith("- caption:") and stripped.split(":", 1)[1].strip() == "Chapters":
            out.append(" " * (len(line) - len(line.lstrip()) + 2) + "numbered: true")
    return "\n".join(out) + "\n"


def mathjax_folder() -> Path:
    """MathJax 3's es5 folder, from the django-static-mathjax package."""
    from importlib import metadata

    try:
        folder = Path(str(metadata.distribution("django-static-mathjax").locate_file("mathjax/static/mathjax/es5")))
    except metadata.PackageNotFoundError:
        folder = None
    if folder is None or not (folder / "tex-chtml.js").is_file():
        raise BookError(
            "MathJax is missing: the website serves its own copy, from the "
            "django-static-mathjax package (`make setup`, or pip install -r "
            "requirements-dev.txt)."
        )
    return folder


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
    command = [
        *_jupyter_book(),
        "build",
        str(options.staging_dir),
        "--path-output",
        str(options.root),
        "-W",
        "--keep-going",
        "-q",
        *(["--all"] if fresh else []),
    ]
    log(f"  {'full' if fresh else 'incremental'} build: {' '.join(command[-8:])}")
    result = subprocess.run(command, cwd=options.root)
    if result.returncode != 0:
        raise BookError(
            f"jupyter-book build failed (exit {result.returncode}); its messages are "
            f"above. The staged book it built is {options.staging_dir}."
        )
    options.ok_marker.write_text("the last `rnn-course book` built without warnings\n")


def _jupyter_book() -> list[str]:
    beside = Path(sys.executable).with_name("jupyter-book")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("jupyter-book")
    if found:
        return [found]
    raise BookError("jupyter-book is not installed: `make setup` (or pip install -r requirements.txt) installs it.")


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
