"""The chapter registry (autograde/course.py) agrees with the solution notebooks and with every
page that lists the chapters, and says so when it does not. No kernel, no nbgrader: fast."""

from __future__ import annotations

import copy
import dataclasses
import re
import shutil

import nbformat
import pytest

from autograde import course
from autograde.tools import generate, results

from conftest import ROOT, solution_notebook

CHAPTERS = {ch.slug: ch for ch in course.CHAPTERS}


# ---------------------------------------------------------------------------
# The registry and the notebooks


@pytest.mark.parametrize("slug", CHAPTERS)
def test_the_notebook_has_the_registered_exercises_checks_and_points(slug):
    assert course.disagreements(CHAPTERS[slug], solution_notebook(slug)) == []


def test_every_solution_notebook_is_registered_and_every_chapter_has_one():
    assert generate.registry_problems(ROOT / "solutions") == []
    assert sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb")) == sorted(CHAPTERS)


def test_names_are_unique():
    assert len(CHAPTERS) == len(course.CHAPTERS)
    for ch in course.CHAPTERS:
        names = [ex.name for ex in ch.exercises] + [c.name for ex in ch.exercises for c in ex.checks]
        assert len(names) == len(set(names)), ch.slug
        assert ch.points > 0 and all(c.points > 0 for ex in ch.exercises for c in ex.checks)


@pytest.mark.parametrize("slug", CHAPTERS)
def test_every_check_is_a_public_function_of_its_package(slug):
    ch = CHAPTERS[slug]
    module = ch.module()
    for ex in ch.exercises:
        assert [c.__name__ for c in ch.checks(ex.name)] == [c.name for c in ex.checks]
        assert {c.name for c in ex.checks} <= set(module.__all__), ex.name


def test_an_unknown_chapter_is_named_with_the_known_ones():
    with pytest.raises(KeyError, match="no chapter 'nope'.*lstm-scratch"):
        course.chapter("nope")
    assert course.chapter("gru") is CHAPTERS["gru"]


def _cell(nb, grade_id):
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return cell


def _move_before_its_solution(nb):
    cell = _cell(nb, "check_lstm_forward")
    nb.cells.remove(cell)
    nb.cells.insert(nb.cells.index(_cell(nb, "lstm")), cell)


def _add_check(nb):
    extra = copy.deepcopy(_cell(nb, "check_lstm_forward"))
    extra.metadata.nbgrader["grade_id"] = "check_lstm_again"
    nb.cells.append(extra)


MISTAKES = {
    "points": (
        lambda nb: _cell(nb, "check_lstm_gradients").metadata.nbgrader.update(points=3),
        "check cell check_lstm_gradients has 3 points, autograde/course.py declares 2",
    ),
    "check cell deleted": (lambda nb: nb.cells.remove(_cell(nb, "check_lstm_devices")), "its check cells are ["),
    "check cell added": (_add_check, "'check_lstm_again'"),
    "solution renamed": (
        lambda nb: _cell(nb, "fused_lstm").metadata.nbgrader.update(grade_id="fused"),
        "its solution cells are",
    ),
    "check cell edited": (
        lambda nb: _cell(nb, "check_lstm_forward").update(source="check_lstm_forward(lstm)"),
        "must be exactly 'from autograde.lstm_scratch import check_lstm_forward",
    ),
    "check cell unlocked": (
        lambda nb: _cell(nb, "check_lstm_forward").metadata.nbgrader.update(locked=False),
        "not locked",
    ),
    "tag removed": (lambda nb: _cell(nb, "check_lstm_forward").metadata.pop("tags"), "not tagged 'graded'"),
    "check before its solution": (_move_before_its_solution, "comes before the solution cell lstm"),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_notebook_that_disagrees_with_the_registry_is_named(mistake):
    edit, words = MISTAKES[mistake]
    nb = solution_notebook("lstm-scratch")
    edit(nb)
    problems = course.disagreements(CHAPTERS["lstm-scratch"], nb)
    assert any(words in p for p in problems), problems
    assert all(p.startswith("solutions/lstm-scratch.ipynb: ") for p in problems)


def test_a_chapter_on_one_side_only_is_named(tmp_path):
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    (tmp_path / "solutions" / "gru.ipynb").rename(tmp_path / "solutions" / "peephole.ipynb")
    problems = generate.registry_problems(tmp_path / "solutions")
    assert any("solutions/peephole.ipynb is not a chapter" in p for p in problems), problems
    assert any("lists the chapter 'gru', but solutions/gru.ipynb is missing" in p for p in problems), problems


# ---------------------------------------------------------------------------
# What a training cell reports: declared in the cell itself, held to d2l's table here

TRAINS = re.compile(r"\bd2l\.train_ch8\(")


def _training_cells():
    for ch in course.CHAPTERS:
        for cell in solution_notebook(ch.slug).cells:
            if cell.cell_type == "code" and (TRAINS.search(cell.source) or "rnn_course" in cell.metadata):
                yield ch, cell


def test_every_training_cell_declares_one_of_d2ls_results_with_d2ls_recipe():
    d2l = {(row.model, row.variant): row for row in results.D2L}
    seen = {}
    for ch, cell in _training_cells():
        assert len(TRAINS.findall(cell.source)) == 1, (ch.slug, cell.source)  # one result per cell
        assert "num_epochs" in cell.source, (ch.slug, cell.source)
        declared = cell.metadata["rnn_course"]["result"]
        key = (declared["model"], declared["variant"])
        assert key in d2l, (ch.slug, declared)
        assert (declared["hidden"], declared["lr"]) == (d2l[key].hidden, d2l[key].lr), (ch.slug, declared)
        # the results table has one row per model and variant: a second would silently replace the first
        assert key not in seen, f"{key} is declared by {seen.get(key)} and {ch.slug}"
        seen[key] = ch.slug
    assert set(seen.values()) == {ch.slug for ch in course.CHAPTERS if ch.trains_d2l}


@pytest.mark.parametrize("slug", [ch.slug for ch in course.CHAPTERS if ch.trains_d2l])
def test_the_first_training_cell_sets_d2ls_epochs_through_the_budget(slug):
    first = next(cell for ch, cell in _training_cells() if ch.slug == slug)
    lr = first.metadata["rnn_course"]["result"]["lr"]  # d2l's own learning rate for that row
    assert f"num_epochs, lr = budget.epochs(500), {lr:g}" in first.source


# ---------------------------------------------------------------------------
# The pages that list the chapters, generated from the registry


def test_the_pages_list_the_registered_chapters():
    assert generate.stale_pages(ROOT) == [], "run `make chapters` and commit what it rewrote"
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    intro = (ROOT / "intro.md").read_text(encoding="utf-8")
    positions = [toc.index(f"file: chapters/{slug}\n") for slug in CHAPTERS]
    assert positions == sorted(positions)  # in the registry's (reading) order
    for ch in course.CHAPTERS:
        assert f"| {ch.title} | {ch.summary} | [`chapters/{ch.slug}.ipynb`]" in readme
        assert f"| [{ch.title}](chapters/{ch.slug}.ipynb) | {ch.summary} |" in intro


def test_the_toc_is_what_the_book_reads():
    from sphinx_external_toc.parsing import parse_toc_yaml

    site_map = parse_toc_yaml(ROOT / "_toc.yml")
    assert site_map.root.docname == "intro"
    assert [d for d in site_map if d.startswith("chapters/")] == [ch.docname for ch in course.CHAPTERS]
    assert "reference-results" in list(site_map)


@pytest.fixture
def repository(tmp_path):
    """A copy of what `rnn-course generate` reads and writes in the repository."""
    for name in ("pyproject.toml", "_toc.yml", "README.md", "intro.md"):
        shutil.copyfile(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    return tmp_path


def test_a_new_chapter_reaches_every_page_and_check_names_them(repository, capsys):
    new = dataclasses.replace(course.CHAPTERS[-1], slug="lstm-concise", title="LSTM, concise")
    more = (*course.CHAPTERS, new)
    assert generate.stale_pages(repository, more) == ["_toc.yml", "README.md", "intro.md"]
    assert generate.write_pages(repository, more) == ["_toc.yml", "README.md", "intro.md"]
    assert generate.stale_pages(repository, more) == []
    assert "file: chapters/lstm-concise\n" in (repository / "_toc.yml").read_text(encoding="utf-8")
    assert "[LSTM, concise](chapters/lstm-concise.ipynb)" in (repository / "intro.md").read_text(encoding="utf-8")
    # the committed pages now disagree with the registry: --check says which and how to fix it
    assert generate._pages_and_registry(repository / "solutions", check=True, root=repository) == 1
    err = capsys.readouterr().err
    assert all(
        f"differs: {name} (generated from autograde/course.py)" in err for name in ("_toc.yml", "README.md", "intro.md")
    ), err
    assert "make chapters" in err
    # and writing them fixes it
    assert generate._pages_and_registry(repository / "solutions", check=False, root=repository) == 0
    assert generate._pages_and_registry(repository / "solutions", check=True, root=repository) == 0


def test_a_hand_edit_inside_the_generated_block_is_drift(repository):
    readme = repository / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8").replace("| GRU |", "| Gated units |"), encoding="utf-8")
    assert generate.stale_pages(repository) == ["README.md"]
    text = readme.read_text(encoding="utf-8")
    generate.write_pages(repository)
    fixed = readme.read_text(encoding="utf-8")
    assert "| GRU |" in fixed and fixed.replace("| GRU |", "| Gated units |") == text  # nothing else changed


def test_a_page_without_its_markers_is_named(repository):
    intro = repository / "intro.md"
    intro.write_text(intro.read_text(encoding="utf-8").replace("% end of chapters\n", ""), encoding="utf-8")
    with pytest.raises(generate.SolutionError, match=r"intro\.md: the chapter list must lie between"):
        generate.stale_pages(repository)


def test_a_registry_disagreement_fails_the_check(repository, capsys):
    path = repository / "solutions" / "gru.ipynb"
    nb = nbformat.read(path, as_version=4)
    _cell(nb, "check_gru_devices").metadata.nbgrader["points"] = 2
    nbformat.write(nb, path)
    assert generate._pages_and_registry(repository / "solutions", check=True, root=repository) == 1
    err = capsys.readouterr().err
    assert "registry: solutions/gru.ipynb: check cell check_gru_devices has 2 points" in err, err


def test_folders_outside_a_repository_have_no_pages(tmp_path):
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    assert generate._pages_and_registry(tmp_path / "solutions", check=True, root=tmp_path) == 0
    assert not (tmp_path / "_toc.yml").exists()


# ---------------------------------------------------------------------------
# The README says what a new chapter needs, and what it names exists


def test_the_readme_says_what_a_new_chapter_needs_and_names_what_exists():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## For maintainers") : readme.index("How the checks work")]
    adding = section[section.index("### Adding a chapter") :]
    for needed in (
        "`solutions/<slug>.ipynb`",
        "`autograde/<package>/`",
        "`CHAPTERS`",
        "`autograde/course.py`",
        "`make chapters`",
    ):
        assert needed in adding, needed
    example = course.chapter("lstm-scratch")
    names = {"<slug>": example.slug, "<package>": example.package.split(".")[-1], "<name>": "lstm"}
    quoted = re.findall(r"`([^` ]+)`", section)
    paths = [p for p in quoted if "/" in p or re.search(r"\.(py|yml|md|ipynb|txt|toml)$", p)]
    assert len(paths) > 8
    for path in paths:
        for placeholder, value in names.items():
            path = path.replace(placeholder, value)
        assert (ROOT / path).exists(), path
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in re.findall(r"`make ([\w-]+)`", section):
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert hasattr(course, "CHAPTERS") and "def test_every_chapter_has_a_planted_bug_here" in (
        ROOT / "tests" / "test_grading_chapters.py"
    ).read_text(encoding="utf-8")
