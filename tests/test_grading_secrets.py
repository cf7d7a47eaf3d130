"""What a graded notebook cannot get hold of: the course's right answers, and the inputs in advance.

The grading sandbox gets a copy of the `autograde` package without its judge-only modules (the
references, the planted mistakes, the adapters onto PyTorch's layers: autograde/judge_only.py),
and each batch draws a secret salt for the probes' inputs (autograde/seeds.py). Here: a real
sandbox, real `rnn-course grade` batches of the LSTM chapter, no mocks.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import importlib
import io
import json
import pkgutil
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import nbformat
import pytest
import torch

from autograde import course, devices, engine, judge_only, seeds, state_dicts
from autograde.lstm_scratch import LSTM, check_lstm_forward
from autograde.recurrent import CASES, RecurrentSpec, make_trial
from autograde.tools import grade
from autograde.tools.grading import probe_package
from autograde.tools.grading.sandbox import MEMORY, Box, Limits, problem

import submissions

NAME = "lstm-scratch"
CELL_TIMEOUT = 60
HAS_SANDBOX = problem(Limits(cpu_seconds=60, memory_bytes=MEMORY)) is None
needs_sandbox = pytest.mark.skipif(not HAS_SANDBOX, reason="no sandbox on this machine (bubblewrap)")


# ---------------------------------------------------------------------------
# (a) The probe-only copy: every chapter's probes, none of its references


def _probe_modules(ch: course.Chapter):
    """The chapter's package and its modules that the sandbox keeps."""
    package = ch.module()
    yield package
    for info in pkgutil.iter_modules(package.__path__, f"{ch.package}."):
        if info.name not in probe_package.judge_only_modules():
            yield importlib.import_module(info.name)


def _judged_fields(value):
    """(what, value) of each field of a check's spec that computes or plants an answer."""
    if isinstance(value, RecurrentSpec):
        return [("truth", value.truth), ("mistakes", value.mistakes), ("gradient_mistakes", value.gradient_mistakes)]
    if isinstance(value, engine.Exercise):
        return [("reference", value.reference), ("mistakes", value.mistakes)]
    if isinstance(value, state_dicts.StateDictExercise):
        return [("reference", value.reference), ("mistakes", value.mistakes)]
    return []


@pytest.mark.parametrize("ch", course.CHAPTERS, ids=lambda ch: ch.slug)
def test_every_reference_and_planted_mistake_of_a_chapter_is_judge_only(ch):
    """Each exercise's reference, truth and catalogue of mistakes, as the probe side holds them, is
    a stand-in for a judge-only module's (or nothing): the sandbox's copy has none of them."""
    judge_only_modules = set(probe_package.judge_only_modules())
    seen = 0
    for module in list(_probe_modules(ch)):
        for name, value in list(vars(module).items()):
            for what, field in _judged_fields(value):
                if isinstance(field, (tuple, list)):  # planted as options of a judge-only reference
                    plants = [m.plant for m in field]
                    assert all(isinstance(p, functools.partial) for p in plants), (module.__name__, name, what)
                    field = plants[0].func if plants else None
                    if field is None:
                        continue
                assert isinstance(field, (judge_only.function, judge_only.sequence)), (module.__name__, name, what)
                assert field.path.partition(":")[0] in judge_only_modules, (module.__name__, name, what, field.path)
                seen += 1
    assert seen >= len(ch.exercises), ch.slug


def test_the_judge_only_modules_are_left_out_of_the_copy(tmp_path):
    copy = probe_package.build(tmp_path / "autograde")
    for name in probe_package.judge_only_modules():
        relative = Path(*name.split(".")[1:])
        assert not (copy / relative.with_suffix(".py")).exists(), name
        assert not (copy / relative).exists(), name
    for ch in course.CHAPTERS:
        assert (copy / ch.package.split(".")[1] / "__init__.py").is_file(), ch.slug
        assert any(m.startswith(ch.package + ".") for m in probe_package.judge_only_modules()), ch.slug
    assert (copy / "_data" / "timemachine.txt").stat().st_size > 100_000  # a link in the repository: copied


# Inside the sandbox: every chapter's checks import; no judge-only module does, by any name or path.
IMPORTS = textwrap.dedent(
    """
    import importlib, importlib.util, json, sys
    from autograde import course
    found = {"chapters": [], "imported": [], "by_path": []}
    for ch in course.CHAPTERS:
        importlib.import_module(ch.package)
        found["chapters"].append(ch.slug)
    for name in json.loads(sys.argv[1]):
        try:
            importlib.import_module("".join(name))  # a name the notebook computes
            found["imported"].append(name)
        except ImportError:
            pass
    for path in json.loads(sys.argv[2]):
        try:
            spec = importlib.util.spec_from_file_location("stolen", path)
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
            found["by_path"].append(path)
        except (OSError, ImportError):
            pass
    print("FOUND", json.dumps(found))
    """
)


@needs_sandbox
def test_in_the_sandbox_the_chapters_import_and_no_reference_does(tmp_path):
    names = probe_package.judge_only_modules()
    # Each judge-only file of each checkout a Python here could import from (here, outside, they are there).
    paths = [str(d / Path(*n.split(".")[1:]).with_suffix(".py")) for d in probe_package.package_dirs() for n in names]
    paths = [p for p in paths if Path(p).is_file()]
    assert len(paths) >= len(names)
    box = Box.for_batch(1, Limits(cpu_seconds=120, memory_bytes=MEMORY), [], salt=seeds.fresh())
    box.package = probe_package.build(tmp_path / "package" / "autograde")
    cmd = [sys.executable, "-c", IMPORTS, json.dumps(names), json.dumps(paths)]
    with tempfile.TemporaryDirectory(prefix="rnn-course-grade-") as job, box.wrapping(cmd, Path(job)) as wrapped:
        run = subprocess.run(wrapped, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout.split("FOUND", 1)[1])
    assert found == {"chapters": [ch.slug for ch in course.CHAPTERS], "imported": [], "by_path": []}


LOOK_AROUND = """
import json, sys
from pathlib import Path
import autograde
checkout = Path(sys.argv[1])
seen = {name: (checkout / name).exists() for name in sys.argv[2:]}
seen["the book's text"] = (Path(autograde.__file__).parent / "_data" / "timemachine.txt").stat().st_size > 100_000
print("SEEN", json.dumps(seen))
"""


@needs_sandbox
def test_of_the_course_checkout_the_sandbox_sees_the_package_alone(tmp_path):
    """The checkout the grader runs from holds the solutions in other forms than solutions/:
    .git's objects, the tests' correct implementations, _build's executed notebooks."""
    checkouts = [d.parent for d in probe_package.package_dirs()]
    names = ["autograde", ".git", "tests", "solutions", "_build", "chapters", "benchmarks", "README.md"]
    here = {name: (checkouts[0] / name).exists() for name in names}
    assert here["autograde"] and here[".git"] and here["tests"] and here["solutions"]  # outside, they are there
    box = Box.for_batch(1, Limits(cpu_seconds=120, memory_bytes=MEMORY), [], salt=seeds.fresh())
    for checkout in checkouts:
        cmd = [sys.executable, "-c", LOOK_AROUND, str(checkout), *names]
        with tempfile.TemporaryDirectory(prefix="rnn-course-grade-") as job, box.wrapping(cmd, Path(job)) as wrapped:
            run = subprocess.run(wrapped, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        assert run.returncode == 0, run.stderr
        seen = json.loads(run.stdout.split("SEEN", 1)[1])
        assert seen == {**{name: name == "autograde" for name in names}, "the book's text": True}, (checkout, seen)


# ---------------------------------------------------------------------------
# (c) Salts: one per batch, the same verdicts


def test_salt_0_is_the_courses_own_seeds_and_a_salt_changes_them():
    with seeds.salted(0):
        plain = make_trial(LSTM, CASES[0]).inputs
        assert seeds.seed(5) == 5
    with seeds.salted(seeds.fresh()):
        salted = make_trial(LSTM, CASES[0]).inputs
        assert seeds.seed(5) != 5
    assert plain.shape == salted.shape and not torch.equal(plain, salted)
    assert seeds.fresh() != seeds.fresh()


# ---------------------------------------------------------------------------
# (b) and (d): hostile notebooks, graded in real batches


def _reference_import(source: str) -> str:
    """The stub kept, then the course's own reference imported over it (the copy has none)."""
    return source + textwrap.dedent(
        """
        try:
            from autograde.lstm_scratch.flaws import scratch_lstm as lstm
            print("STOLE the reference")
        except ImportError as exc:
            print("NO REFERENCE:", type(exc).__name__)
        """
    )


def _computed_import(source: str, module: str, attr: str, name: str) -> str:
    """The same through importlib, the module's name computed (`module` is an expression)."""
    return source + textwrap.dedent(
        f"""
        import importlib
        try:
            {name} = getattr(importlib.import_module({module}), "{attr}")
            print("STOLE the reference")
        except ImportError as exc:
            print("NO REFERENCE:", type(exc).__name__)
        """
    )


def lookup_table() -> str:
    """A forward pass that answers from a table of the reference's outputs on the course's public
    inputs (salt 0), computed at home: it passes the self-check in the student's own kernel."""
    from autograde.lstm_scratch.references import torch_lstm

    table = {}
    with seeds.salted(0):
        for case in CASES:
            trial = make_trial(LSTM, case)
            Y, (H, C) = torch_lstm(trial.inputs, trial.state, trial.params)
            key = (case.steps, case.batch, case.vocab, case.hidden)
            table[key] = (Y.tolist(), H.tolist(), C.tolist())
    return textwrap.dedent(
        f"""
        import torch
        TABLE = {table!r}
        def lstm(inputs, state, params):
            T, B, V = inputs.shape
            Y, H, C = TABLE[(T, B, V, state[0].shape[1])]
            like = dict(dtype=inputs.dtype, device=inputs.device)
            return torch.tensor(Y, **like), (torch.tensor(H, **like), torch.tensor(C, **like))
        """
    )


def test_the_lookup_table_passes_the_self_check_with_the_courses_seeds(capsys):
    namespace: dict = {}
    exec(lookup_table(), namespace)
    with seeds.salted(0):
        check_lstm_forward(namespace["lstm"])
    assert "\u2713" in capsys.readouterr().out


SALT_CELL = "import os\nprint('SALT', os.environ.get('RNN_COURSE_SALT'))"


def forget_gate_dropped(source: str) -> str:
    return submissions.replacing("C = F * C + I * C_tilde", "C = C + I * C_tilde")(source)


def honest() -> dict[str, nbformat.NotebookNode]:
    return {
        "ada": submissions.with_cells(submissions.student(NAME), nbformat.v4.new_code_cell(SALT_CELL)),
        "bob_forget": submissions.student(NAME, lstm=forget_gate_dropped),
    }


FLAWS = '".".join(["autograde", "lstm_scratch", "fl" + "aws"])'  # names the notebook computes
REFERENCES = '"autograde.lstm_scratch." + "refer" + "ences"'
LSTM_CHECKS = {"check_lstm_forward", "check_lstm_gradients", "check_lstm_devices"}


def hostile() -> dict[str, nbformat.NotebookNode]:
    stubs = submissions.student(NAME, fill=False)
    stub = {
        gid: c.source
        for c in stubs.cells
        if (gid := c.metadata.get("nbgrader", {}).get("grade_id")) in ("lstm", "to_torch_layout")
    }
    return {
        "ivan_imports": submissions.student(NAME, lstm=lambda s: _reference_import(stub["lstm"])),
        "judy_importlib": submissions.student(
            NAME,
            lstm=lambda s: _computed_import(stub["lstm"], FLAWS, "scratch_lstm", "lstm"),
            to_torch_layout=lambda s: _computed_import(stub["to_torch_layout"], REFERENCES, *["to_torch_layout"] * 2),
        ),
        "lena_lookup": submissions.student(NAME, lstm=lambda s: lookup_table()),
    }


def _grade(base: Path, notebooks: dict[str, nbformat.NotebookNode]) -> Path:
    subs = base / "submissions"
    subs.mkdir(parents=True)
    for who, nb in notebooks.items():
        nbformat.write(nb, subs / f"{who}.ipynb")
    out = base / "grading"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = grade.main(
            [str(subs), "--assignment", NAME, "--out", str(out), "--timeout", str(CELL_TIMEOUT), "--jobs", "2"]
        )
    print(buffer.getvalue())
    assert code == 0, buffer.getvalue()
    return out


@pytest.fixture(scope="module")
def batches(tmp_path_factory):
    """Two batches: the honest class with the hostile notebooks, then the honest class again."""
    if not HAS_SANDBOX:
        pytest.skip("no sandbox on this machine: references and salts are the sandbox's")
    first = _grade(tmp_path_factory.mktemp("first"), {**honest(), **hostile()})
    second = _grade(tmp_path_factory.mktemp("second"), honest())
    return first, second


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def _verdicts(out: Path, who: str) -> dict[str, str]:
    nb = nbformat.read(out / "autograded" / who / NAME / f"{NAME}.ipynb", as_version=4)
    verdicts = {}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("grade"):
            verdicts[gid] = "\n".join(o.get("text", "") or "\n".join(o.get("traceback", [])) for o in cell.outputs)
    return verdicts


def _printed(out: Path, who: str) -> str:
    nb = nbformat.read(out / "autograded" / who / NAME / f"{NAME}.ipynb", as_version=4)
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream")


def _lost(row: dict[str, str]) -> set[str]:
    return {g for g in row if g.startswith("check_") and float(row[g]) == 0}


@pytest.mark.slow
@pytest.mark.parametrize(
    "who, checks",
    [
        ("ivan_imports", {"check_lstm_forward", "check_lstm_gradients", "check_lstm_devices"}),
        (
            "judy_importlib",
            {"check_lstm_forward", "check_lstm_gradients", "check_lstm_devices", "check_to_torch_layout"},
        ),
    ],
)
def test_a_notebook_that_imports_the_reference_scores_0_on_its_checks(batches, who, checks):
    """(b) The reference imported over a stub, by name or through importlib with computed names:
    the sandbox's package has no such module, so the stub is what is graded."""
    first, _ = batches
    assert "NO REFERENCE: ModuleNotFoundError" in _printed(first, who)
    assert "STOLE" not in _printed(first, who)
    assert _lost(_rows(first)[who]) == checks


@pytest.mark.slow
def test_a_table_of_answers_to_the_public_inputs_fails_under_the_batchs_salt(batches):
    """(d) The lookup table passes the self-check (salt 0) but not a batch's inputs."""
    first, _ = batches
    lost = _lost(_rows(first)["lena_lookup"])
    assert {"check_lstm_forward", "check_lstm_gradients"} <= lost, lost
    assert "differ" in _verdicts(first, "lena_lookup")["check_lstm_forward"]


@pytest.mark.slow
def test_two_batches_draw_different_salts_and_give_the_same_verdicts(batches):
    """(c) The solution gets full marks and the planted mistake the same named verdict in both."""
    first, second = batches
    salts = [re.search(r"SALT (\d+)", _printed(out, "ada"))[1] for out in batches]
    assert salts[0] != salts[1] and "0" not in salts, salts
    for out in batches:
        assert _rows(out)["ada"]["score"] == "15"
        assert _lost(_rows(out)["bob_forget"]) == {"check_lstm_forward", "check_lstm_gradients"}
    for who in honest():
        assert _verdicts(first, who) == _verdicts(second, who), who
    assert "the forget gate is missing from the memory update" in _verdicts(first, "bob_forget")["check_lstm_forward"]


# ---------------------------------------------------------------------------
# (e) The accelerator: the grader's word on whether the probes had one, not the record's

HIDE_THE_ACCELERATOR = """
import autograde.recurrent
autograde.recurrent.accelerator = lambda: None  # the probes then find none, and their records say so
"""


def wrong_on_the_accelerator_and_hidden(source: str) -> str:
    """Right in float64 on the CPU and on `meta`; float64 results for float32 inputs on the
    accelerator, which it hides from the probes that come after it."""
    return (
        submissions.replacing(
            "return torch.cat(outputs, dim=0), (H, C)",
            "return torch.cat(outputs, dim=0).double(), (H.double(), C.double())",
        )(source)
        + HIDE_THE_ACCELERATOR
    )


@pytest.mark.slow
@needs_sandbox
def test_a_notebook_that_hides_the_accelerator_from_its_probes_fails_its_check(tmp_path, monkeypatch):
    """Graded where the CPU stands in for an accelerator: the honest class passes there, and the
    record of a notebook whose probes found none fails the accelerator's check instead of skipping it."""
    monkeypatch.setenv(devices.STAND_IN, "cpu")
    out = _grade(
        tmp_path,
        {
            "ada": submissions.student(NAME),
            "mia_hides": submissions.student(NAME, lstm=wrong_on_the_accelerator_and_hidden),
        },
    )
    assert _rows(out)["ada"]["score"] == "15"
    assert _lost(_rows(out)["mia_hides"]) == {"check_lstm_devices", "check_fused_lstm"}
    verdict = _verdicts(out, "mia_hides")["check_lstm_devices"]
    assert f"the check was not run on {devices.accelerator().name}, which the grading machine has" in verdict, verdict
