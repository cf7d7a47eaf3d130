"""Real kernels executing the real notebooks (training on a quick budget)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from autograde import course
from autograde.data import SHA1, sha1

from conftest import ROOT, kernel_env
from notebooks import execute, grade_id, outputs_text

pytestmark = pytest.mark.slow

CHAPTERS = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))


def errors(nb) -> list[tuple[int, str]]:
    return [
        (i, out.get("ename", ""))
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        for out in c.get("outputs", [])
        if out.get("output_type") == "error"
    ]


def copy_alone(src: Path, tmp_path: Path) -> Path:
    """The notebook by itself in an empty folder: its ../data does not exist yet."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    return Path(shutil.copy(src, folder))


@pytest.mark.parametrize("name", CHAPTERS)
def test_solution_runs_top_to_bottom_and_passes_every_check(name, tmp_path):
    path = copy_alone(ROOT / "solutions" / f"{name}.ipynb", tmp_path)
    nb = execute(nbformat.read(path, as_version=4), path.parent)
    assert errors(nb) == []
    graded = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    assert graded, "no graded cells"
    for cell in graded:
        text = outputs_text(cell)
        assert text.startswith("\u2713"), f"{grade_id(cell)}: {text}"
    assert sha1(tmp_path / "data" / "timemachine.txt") == SHA1  # the set-up cell put the text there
    if course.chapter(name).trains_d2l:  # its training cells print d2l's line
        training = [outputs_text(c) for c in nb.cells if "d2l.train_ch8(" in c.source and c.cell_type == "code"]
        assert training and all("perplexity" in t and "tokens/sec" in t for t in training)


def test_moved_weights_generate_the_same_text(tmp_path):
    path = copy_alone(ROOT / "solutions" / "lstm-scratch.ipynb", tmp_path)
    nb = execute(nbformat.read(path, as_version=4), path.parent)
    last = outputs_text([c for c in nb.cells if "predict_ch8" in c.source][-1]).splitlines()
    scratch, moved = (line.split(":", 1)[1].strip() for line in last)
    assert scratch == moved and scratch.startswith("time traveller")


@pytest.mark.parametrize("name", CHAPTERS)
def test_student_notebook_runs_to_its_stubs_and_each_check_says_what_to_do(name, tmp_path):
    path = copy_alone(ROOT / "chapters" / f"{name}.ipynb", tmp_path)
    nb = execute(nbformat.read(path, as_version=4), path.parent, allow_errors=True)
    first_stub = next(i for i, c in enumerate(nb.cells) if "raise NotImplementedError()" in c.source)
    assert [e for e in errors(nb) if e[0] < first_stub] == [], "a cell before the first exercise fails"
    for cell in nb.cells:
        if not cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            continue
        (error,) = [o for o in cell.outputs if o.output_type == "error"]
        assert len(error.traceback) <= 2, "a wall of traceback:\n" + "\n".join(error.traceback)
        assert error.traceback[0].startswith("\u2717") and "is not implemented yet" in error.traceback[0]
        assert "replace `raise NotImplementedError()`" in error.traceback[1]


def test_setup_cell_prepares_a_fresh_colab_like_environment(tmp_path):
    """A Python with the packages Colab has, without the course's package or data.

    The new environment sees this one's site-packages through a .pth line, which (unlike a
    site directory) does not run the .pth of the editable install: `autograde` is absent.
    The set-up cell must install it (here from this checkout instead of GitHub) and the data.
    """
    env_dir = tmp_path / "colab"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "_packages_colab_has.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # A PYTHONPATH pointing at a checkout (how a worktree's tests are run) would show the
    # course's package to the fresh environment: Colab has none.
    env = kernel_env(RNN_COURSE_PACKAGE=str(ROOT))
    env.pop("PYTHONPATH", None)
    probe = [
        python,
        "-c",
        "import importlib.util as u; print(u.find_spec('autograde') is None, u.find_spec('torch') is None)",
    ]
    found = subprocess.run(probe, cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert found == ["True", "False"]

    path = copy_alone(ROOT / "solutions" / "lstm-scratch.ipynb", tmp_path)
    env["PATH"] = f"{env_dir / 'bin'}:{env['PATH']}"
    env.pop("VIRTUAL_ENV", None)
    run = subprocess.run(
        [
            python,
            "-m",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--output",
            "executed.ipynb",
            "--ExecutePreprocessor.timeout=900",
            str(path),
        ],
        cwd=path.parent,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    nb = nbformat.read(path.parent / "executed.ipynb", as_version=4)
    assert errors(nb) == []
    assert (site / "autograde" / "_data" / "timemachine.txt").is_file(), "the course's wheel was not installed"
    assert sha1(tmp_path / "data" / "timemachine.txt") == SHA1
    assert all(
        outputs_text(c).startswith("\u2713") for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")
    )


def test_setup_cell_does_nothing_harmful_locally(tmp_path):
    """Run where everything is installed: no install, and an existing file is never lost."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "timemachine.txt").write_text("my own notes")
    (tmp_path / "chapters").mkdir()
    setup = nbformat.read(ROOT / "chapters" / "lstm-scratch.ipynb", as_version=4).cells[1].source
    assert "autograde.prepare()" in setup
    run = subprocess.run(
        [sys.executable, "-c", setup],
        cwd=tmp_path / "chapters",
        capture_output=True,
        text=True,
        env=kernel_env(RNN_COURSE_PACKAGE="/nonexistent/should-not-be-installed"),
    )
    assert run.returncode == 0, run.stderr
    assert sha1(data / "timemachine.txt") == SHA1
    assert (data / "timemachine.txt.bad").read_text() == "my own notes"


def setup_cell(name: str) -> str:
    nb = nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and "COURSE_PACKAGE" in c.source]
    return cell.source


@pytest.mark.parametrize("name", CHAPTERS)
def test_the_set_up_cell_is_not_fooled_by_another_package_called_autograde(name, tmp_path):
    """PyPI has an unrelated `autograde`: installed, it must not pass for the course's."""
    source = setup_cell(name)
    definition = source[: source.index("if not course_installed()")]
    probe = definition + "\nprint(course_installed())\n"
    impostor = tmp_path / "site" / "autograde"
    impostor.mkdir(parents=True)
    (impostor / "__init__.py").write_text("# another project's package of the same name\n")

    def run(pythonpath: str) -> str:
        env = {**kernel_env(), "PYTHONPATH": pythonpath}
        result = subprocess.run(
            [sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert run(str(ROOT)) == "True"  # the course's own package, as `make setup` installs it
    assert run(str(impostor.parent)) == "False"  # the impostor first on the path: reinstall


def test_every_set_up_cell_installs_from_the_address_in_config(tmp_path):
    from autograde.tools.book import BookError, check_repository_address, repository_url

    notebooks = sorted((ROOT / "solutions").glob("*.ipynb")) + sorted((ROOT / "chapters").glob("*.ipynb"))
    check_repository_address(ROOT, notebooks)  # raises when one differs
    assert repository_url(ROOT).startswith("https://")
    moved = tmp_path / "repo"
    moved.mkdir()
    config = (ROOT / "_config.yml").read_text().replace(repository_url(ROOT), "https://example.org/course")
    (moved / "_config.yml").write_text(config)
    with pytest.raises(BookError, match="example.org/course"):
        check_repository_address(moved, notebooks)
