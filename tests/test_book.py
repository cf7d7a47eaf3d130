"""The website: `rnn-course book --quick` builds it, and a chapter page shows what it should."""

from __future__ import annotations

import copy
import html
import json
import re

import pytest

from book_build import CHAPTER, book  # noqa: F401  (the session's build, a fixture)
from conftest import ROOT, solution_notebook

pytestmark = pytest.mark.slow

COLAB = f"https://colab.research.google.com/github/rnn-course/rnn-course/blob/main/chapters/{CHAPTER}.ipynb"
SOLUTION_CODE = ("torch.sigmoid(X @ W_xi", "### BEGIN SOLUTION", "torch.cat([W_xi, W_xf, W_xc, W_xo]")


@pytest.fixture(scope="module")
def page(book) -> str:  # noqa: F811
    path = book.html / "chapters" / f"{CHAPTER}.html"
    assert path.is_file(), f"{path} was not built; the build said:\n{book.output[-3000:]}"
    return path.read_text(encoding="utf-8")


def text_of(page_html: str) -> str:
    """The page's text, as a reader sees it (code highlighting split into spans is joined)."""
    body = re.sub(r"<(script|style)\b.*?</\1>", "", page_html, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", body))


def output_images(page_html: str) -> list[str]:
    """The src of every image Sphinx took from a notebook's outputs (the theme's are in _static)."""
    return re.findall(r'<img [^>]*src="([^"]*_images/[^"]+)"', page_html)


def test_the_build_says_what_it_does(book):  # noqa: F811
    for words in ("1/3 execute", f"solutions/{CHAPTER}.ipynb", "2/3 stage", "3/3 jupyter-book build", "done in"):
        assert words in book.output


def test_the_landing_page_welcomes_and_links_the_chapter(book):  # noqa: F811
    intro = (book.html / "intro.html").read_text(encoding="utf-8")
    assert "Welcome" in text_of(intro) and "jupyter lab chapters/" in text_of(intro)
    assert f'href="chapters/{CHAPTER}.html"' in intro
    assert (book.html / "index.html").is_file()


def test_diagrams_and_training_plots_are_images(book, page):  # noqa: F811
    images = output_images(page)
    # lstm_cell(), unrolled() twice, and the two training runs' Animator plots
    assert len(images) >= 5, images
    for src in images:
        file = (book.html / "chapters" / src).resolve()
        assert file.is_file() and file.stat().st_size > 1000, src
        assert file.suffix in (".svg", ".png"), src


def test_the_colab_button_opens_the_student_notebook(page):
    assert f'href="{COLAB}"' in page


def test_the_download_button_gives_the_student_notebook_with_outputs(book, page):  # noqa: F811
    assert "btn-download-source-button" in page
    assert f'href="../_sources/chapters/{CHAPTER}.ipynb"' in page
    nb = json.loads((book.html / "_sources" / "chapters" / f"{CHAPTER}.ipynb").read_text())
    sources = "".join("".join(cell["source"]) for cell in nb["cells"])
    assert "raise NotImplementedError()" in sources
    assert not any(code in sources for code in SOLUTION_CODE)
    assert any(cell.get("outputs") for cell in nb["cells"])


def test_math_is_left_for_mathjax(page):
    assert page.count('class="math notranslate nohighlight"') >= 5
    assert r"W_{xi}" in page and r"\tilde C_t" in page
    assert "mathjax" in page.lower()


def without_solution_toggles(page_html: str) -> str:
    return re.sub(r'<details class="course-solution">.*?</details>', "", page_html, flags=re.S)


def test_stubs_and_checks_are_shown_and_solutions_only_behind_their_toggles(page):
    toggles = re.findall(r'<details class="course-solution">.*?</details>', page, flags=re.S)
    exercises = [
        c for c in solution_notebook(CHAPTER).cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    ]
    assert len(toggles) == len(exercises)  # one "Show the solution" per function to write
    assert all("Show the solution" in t and "<details" in t and " open" not in t.split(">")[0] for t in toggles)
    assert any("torch.sigmoid" in html.unescape(re.sub(r"<[^>]+>", "", t)) for t in toggles)
    assert "### BEGIN SOLUTION" not in page
    page = without_solution_toggles(page)
    text = text_of(page)
    stubs = sum(
        1 for cell in solution_notebook(CHAPTER).cells if cell.get("metadata", {}).get("nbgrader", {}).get("solution")
    )
    assert text.count("raise NotImplementedError()") >= stubs  # the introduction names it too
    for check in (
        "check_get_lstm_params(get_lstm_params)",
        "check_lstm_forward(lstm)",
        "check_fused_lstm(fused_lstm)",
        "check_to_torch_layout(to_torch_layout)",
    ):
        assert check in text
    for code in SOLUTION_CODE:
        assert code not in text and code not in page


def test_every_exercise_has_hints_that_unfold(page):
    exercises = [
        c.metadata["nbgrader"]["grade_id"]
        for c in solution_notebook(CHAPTER).cells
        if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    ]
    for name in exercises:
        hints = re.findall(rf'<details class="course-hint">\s*<summary>Hint \d for <code>{name}</code>', page)
        assert 1 <= len(hints) <= 3, name


def test_the_chapter_says_its_points_and_run_time_under_its_title(page):
    text = text_of(page)
    points = sum(
        c.metadata["nbgrader"].get("points", 0)
        for c in solution_notebook(CHAPTER).cells
        if c.get("metadata", {}).get("nbgrader", {}).get("grade")
    )
    assert re.search(rf"\d+ functions to write, {points:g} points\.", text)
    assert re.search(r"ran top to bottom in \d+ (seconds|minutes), in quick mode", text)
    assert re.search(r'<span class="section-number">\d\. </span>LSTM from scratch', page), "chapters are numbered"


def test_numbers_in_the_prose_come_from_the_run(page):
    text = text_of(page)
    assert "{glue" not in text
    sample = re.search(r"continues .time traveller. with:\s*(.+)", text).group(1).strip()
    assert sample.startswith("time traveller") and text.count(sample) >= 2  # d2l printed it too


def test_the_landing_page_shows_a_passing_and_a_failing_check(book):  # noqa: F811
    text = text_of((book.html / "intro.html").read_text(encoding="utf-8"))
    assert re.search(r"✓ Exercise 5 \(perplexity\): ", text)
    assert re.search(r"✗ Exercise 5 \(perplexity\): .*exponential", text)
    assert "hint:" in text


def test_no_solutions_leaves_every_solution_out():
    import nbformat

    from autograde.tools.book import add_book_cells, without_book_cells

    solution = solution_notebook(CHAPTER)
    student = nbformat.read(ROOT / "chapters" / f"{CHAPTER}.ipynb", as_version=4)
    shown = add_book_cells(copy.deepcopy(student), solution, with_solutions=True, quick=True)
    hidden = add_book_cells(copy.deepcopy(student), solution, with_solutions=False, quick=True)
    assert "course-solution" in "".join(c.source for c in shown.cells)
    assert "course-solution" not in "".join(c.source for c in hidden.cells)
    for nb in (shown, hidden):  # the download button's notebook is the student's
        assert [c.source for c in without_book_cells(nb).cells] == [c.source for c in student.cells]


def test_printed_results_are_shown_but_no_verdict(page):
    text = text_of(without_solution_toggles(page))
    assert "same? True" in text  # the two-layer unrolling by hand
    assert "vocabulary: 28" in text
    assert text.count("perplexity") >= 2  # both training runs
    assert "from scratch: time traveller" in text
    # the check cells' verdicts would be a solution's, shown under a student's stub
    assert "✓ Exercise" not in text
    assert "UserWarning" not in text  # stderr is not shown on the website


def test_a_second_build_reuses_the_executed_solutions(book):  # noqa: F811
    output, seconds = book.rebuild()
    assert "reusing the executed copy" in output
    assert "executing" not in output
    assert "incremental build" in output
    assert seconds < 60, f"a warm build took {seconds:.0f} s:\n{output}"
    assert (book.html / "chapters" / f"{CHAPTER}.html").is_file()


def test_the_reference_results_page_shows_what_this_build_measured(book):  # noqa: F811
    text = text_of((book.html / "reference-results.html").read_text(encoding="utf-8"))
    assert "quick mode" in text  # the build the tests make is a quick one, and says so
    measured = {}
    for cell in solution_notebook(CHAPTER).cells:
        declared = cell.get("metadata", {}).get("rnn_course", {}).get("result")
        if declared:
            measured[declared["model"], declared["variant"]] = declared
    assert ("LSTM", "scratch") in measured and ("LSTM", "concise") in measured
    executed = re.findall(
        r"perplexity ([0-9.]+), [0-9.]+ tokens/sec",
        text_of((book.html / "chapters" / f"{CHAPTER}.html").read_text(encoding="utf-8")),
    )
    row = re.search(r"LSTM from scratch\s*256, 1\s*1\.1\s*([0-9.]+)\s*([0-9.]+)\s*22,161\s*([0-9,]+) \(cpu\)", text)
    assert row, text
    assert row.group(1) == f"{float(executed[0]):.1f}"  # the number the chapter page printed
    held_out = re.search(
        r"scratch\s+perplexity on the held-out text: ([0-9.]+)",
        text_of((book.html / "chapters" / f"{CHAPTER}.html").read_text(encoding="utf-8")),
    )
    assert row.group(2) == f"{float(held_out.group(1)):.1f}"  # held-out, as the chapter printed it
    assert re.search(rf"ran top to bottom in.*{CHAPTER}\s*[0-9.]+ min \([0-9]+ s\)", text, flags=re.S)
    assert "cores available" in text and "PyTorch" in text


def test_every_model_on_the_reference_results_page_has_a_held_out_perplexity(book):  # noqa: F811
    text = text_of((book.html / "reference-results.html").read_text(encoding="utf-8"))
    assert "2-layer LSTM" in text
    assert "not measured" not in text, "a training cell's notebook glues no <variant>_held_out"
