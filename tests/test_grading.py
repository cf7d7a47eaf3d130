"""`rnn-course grade`: a class's notebooks through real nbgrader, one batch for the whole module.

The sample class is made from chapters/lstm-scratch.ipynb with the solutions' code filled in
(by grade_id), then broken in the ways students break notebooks. All of them are graded in
ONE `rnn-course grade` run (each notebook starts a kernel and imports torch and d2l).
"""

from __future__ import annotations

import ast
import contextlib
import csv
import io
import os
import re
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import nbformat
import pytest

from autograde.tools import grade
from autograde.tools.grading import find

import submissions
from conftest import ROOT

NAME = "lstm-scratch"
CELL_TIMEOUT = 40  # seconds; the planted infinite loop costs this much
POINTS = {
    "check_get_lstm_params": 2,
    "check_init_lstm_state": 1,
    "check_lstm_forward": 3,
    "check_lstm_gradients": 2,
    "check_lstm_devices": 1,
    "check_get_fused_lstm_params": 1,
    "check_fused_lstm": 3,
    "check_to_torch_layout": 2,
}


def student(fill: bool = True, **edits) -> nbformat.NotebookNode:
    return submissions.student(NAME, fill, **edits)


def forget_gate_dropped(source: str) -> str:
    assert "C = F * C + I * C_tilde" in source
    return source.replace("C = F * C + I * C_tilde", "C = C + I * C_tilde")


# Student code runs in autograded/<student>/<assignment>/ of the course directory nbgrader
# uses (--insecure), or in a folder of its own (secure): this looks around it, every folder up
# to /, and tries to give everybody 99 points in a gradebook there.
PROBE = """
import os, pathlib, sqlite3
above = [pathlib.Path.cwd(), *pathlib.Path.cwd().parents]
course = next((p for p in above if (p / "submitted").is_dir() or (p / "gradebook.db").exists()), above[-1])
print("PROBE source/ exists:", any((p / "source").exists() for p in above))
print("PROBE submitted:", sorted(os.listdir(course / "submitted")) if (course / "submitted").is_dir() else [])
try:
    con = sqlite3.connect(course / "gradebook.db")
    print("PROBE gradebook students:", [r[0] for r in con.execute("select id from student")])
    con.execute("update grade set auto_score = 99")
    con.commit()
    con.close()
except Exception as exc:
    print("PROBE gradebook:", exc)
"""

# Tries to read the solutions, write into the repository and reach the network.
ESCAPE = f"""
import os, socket
print("ESCAPE uid:", os.getuid())
try:
    open({str(ROOT / "solutions" / f"{NAME}.ipynb")!r}).read(10)
    print("ESCAPE read the solutions")
except OSError as exc:
    print("ESCAPE cannot read the solutions:", type(exc).__name__)
try:
    open({str(ROOT / "escape.txt")!r}, "w").write("x")
    print("ESCAPE wrote into the repository")
except OSError as exc:
    print("ESCAPE cannot write into the repository:", type(exc).__name__)
try:
    socket.create_connection(("1.1.1.1", 80), timeout=3)
    print("ESCAPE reached the network")
except OSError as exc:
    print("ESCAPE no network:", type(exc).__name__)
"""

PATCH = """
import autograde.lstm_scratch
autograde.lstm_scratch.check_lstm_forward = lambda lstm: print("looks fine")
"""

# The forgeries that beat the checks when they ran in the student's kernel (the issue "Grading a
# class you cannot trust"). Secure grading (the default) must give each what it earned.
SECURE = not submissions.sandbox_args()  # without a sandbox the tests grade with --insecure
LINGER = "rnn-course-linger-marker"  # a process a student starts and leaves running

# (a) Every later cell wrapped in try/except, a fake pass printed: with the stubs, 15/15 in the kernel.
TRANSFORMER = f"""
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)  # {LINGER}"], start_new_session=True)
def _forgive(lines):
    body = "".join("    " + l if l.endswith("\\n") else "    " + l + "\\n" for l in lines) or "    pass\\n"
    return ["try:\\n", body, "except BaseException:\\n", "    print('\\u2713 Exercise: passed')\\n"]
get_ipython().input_transformers_post.append(_forgive)
"""

# (b) A fake `autograde` package in the kernel's working folder, imported in place of the course's.
FAKE_PACKAGE = """
import os, pathlib, sys
fake = pathlib.Path("autograde")
(fake / "lstm_scratch").mkdir(parents=True, exist_ok=True)
(fake / "__init__.py").write_text("")
(fake / "probing.py").write_text("def record(package, name, fn):\\n    print('\\u2713 ' + name)\\n")
(fake / "lstm_scratch" / "__init__.py").write_text(
    "def __getattr__(name):\\n    return lambda fn: print('\\u2713 ' + name)\\n")
for name in [m for m in sys.modules if m == "autograde" or m.startswith("autograde.")]:
    del sys.modules[name]
sys.path.insert(0, os.getcwd())
"""

# (c) Every comparison made in the kernel says "equal".
ALLCLOSE = """
import torch
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
"""

# (d) Records written by hand after the probes ran: the solution's numbers cut to one case; a
# pickle that would run a command in the grader if it were unpickled; a link to a file outside.
PWNED = ROOT / "pwned-by-a-record.txt"
FORGE = f"""
import os, torch
from autograde import probing
folder = os.environ["RNN_COURSE_PROBES"]
{submissions.solution_bodies(NAME)["lstm"]}
seen = probing._check("autograde.lstm_scratch", "check_lstm_forward").probe(lstm)
seen["cases"] = seen["cases"][:1]
torch.save(seen, os.path.join(folder, "check_lstm_forward.pt"))
class Evil:
    def __reduce__(self):
        return (os.system, ("touch {PWNED}",))
torch.save({{"cases": [Evil()]}}, os.path.join(folder, "check_get_lstm_params.pt"))
os.remove(os.path.join(folder, "check_init_lstm_state.pt"))
os.symlink("/etc/hostname", os.path.join(folder, "check_init_lstm_state.pt"))
print("FORGED", sorted(os.listdir(folder)))
"""


def fake_check_cell(source: str) -> str:
    """(e) A check cell replaced by a printed pass (its metadata unlocked too, in `sample_class`)."""
    return "print('\u2713 Exercise 3 (lstm): the outputs match nn.LSTM')"


def unlocked(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.metadata.nbgrader["locked"] = False
            cell.metadata["editable"] = True
    return nb


def forgeries() -> dict[str, nbformat.NotebookNode]:
    return {
        "tina_transformer": student(fill=False, c01=lambda s: s + "\n" + TRANSFORMER),
        "uma_fake_package": student(fill=False, c02=lambda s: s + "\n" + FAKE_PACKAGE),
        "victor_allclose": student(lstm=forget_gate_dropped, c02=lambda s: s + "\n" + ALLCLOSE),
        "wendy_forges": submissions.with_cells(student(fill=False), nbformat.v4.new_code_cell(FORGE)),
        "xena_edits_check": unlocked(student(fill=False, check_lstm_forward=fake_check_cell), "check_lstm_forward"),
    }


def sample_class() -> dict[str, nbformat.NotebookNode]:
    """(b) .. (g) of the brief and two who try their luck; (a) alice is added in a folder."""
    return {
        **forgeries(),
        "bob_forget": student(lstm=forget_gate_dropped),
        "carol_zerodiv": student(c02=lambda s: "1/0\n" + s),  # the imports cell raises at its top
        # gives everybody 99 in the gradebook it can see, then kills its kernel before nbgrader saves
        "dave_exit": student(c01=lambda s: s + "\n" + PROBE, init_lstm_state=lambda s: "import os; os._exit(1)\n" + s),
        "erin_loop": student(to_torch_layout=lambda s: "while True:\n    pass\n" + s),
        "frank_edits_test": student(check_lstm_forward=lambda s: "pass"),
        "heidi_stubs": student(fill=False),
        "mallory_probe": student(c01=lambda s: s + "\n" + PROBE, lstm=forget_gate_dropped),
        # nbgrader runs the checks in the student's kernel: a check the student replaces passes
        "oscar_patches": student(lstm=lambda s: forget_gate_dropped(s) + PATCH),
        "trudy_escapes": student(fill=False, c01=lambda s: s + "\n" + ESCAPE),
    }


NOT_JSON = '{"cells": [{"cell_type": "code", "source": "import torch"'  # cut off mid-download


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Grade the whole sample class once: (submissions folder, course dir, output, seconds)."""
    base = tmp_path_factory.mktemp("grading")
    subs = base / "submissions"
    (subs / "alice").mkdir(parents=True)
    nbformat.write(student(), subs / "alice" / f"{NAME}.ipynb")  # (a) <student>/<notebook>.ipynb
    for name, nb in sample_class().items():
        nbformat.write(nb, subs / f"{name}.ipynb")
    (subs / "grace_notjson.ipynb").write_text(NOT_JSON, encoding="utf-8")
    out = base / "grading"
    buffer = io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stdout(buffer):
        code = grade.main(
            [
                str(subs),
                "--assignment",
                NAME,
                "--out",
                str(out),
                "--timeout",
                str(CELL_TIMEOUT),
                "--jobs",
                "2",
                *submissions.sandbox_args(),
            ]
        )
    seconds = time.monotonic() - start
    print(buffer.getvalue())  # shown by pytest when a test fails (or with -s)
    assert code == 0, buffer.getvalue()
    return subs, out, buffer.getvalue(), seconds


@pytest.fixture(scope="module")
def grades(batch) -> dict[str, dict[str, str]]:
    _, out, _, _ = batch
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def feedback(out: Path, who: str) -> str:
    return submissions.feedback(out, who, NAME)


def lost(row: dict[str, str]) -> set[str]:
    return {gid for gid, pts in POINTS.items() if float(row[gid]) != pts}


@pytest.mark.slow
def test_every_submission_has_a_row_out_of_15(grades):
    assert set(grades) == {"alice", "grace_notjson", *sample_class()}
    assert len(grades) == 16
    for row in grades.values():
        assert row["assignment"] == NAME and row["max_score"] == "15"
        assert float(row["score"]) == sum(float(row[g]) for g in POINTS)


@pytest.mark.slow
def test_a_correct_notebook_gets_15(grades):
    assert grades["alice"]["score"] == "15"


@pytest.mark.slow
def test_a_dropped_forget_gate_loses_exactly_the_forward_and_gradient_points(batch, grades):
    assert lost(grades["bob_forget"]) == {"check_lstm_forward", "check_lstm_gradients"}
    assert grades["bob_forget"]["score"] == "10"
    text = feedback(batch[1], "bob_forget")
    assert "the forget gate is missing from the memory update" in text


@pytest.mark.slow
def test_crashing_notebooks_are_graded_and_the_batch_goes_on(batch, grades):
    assert float(grades["carol_zerodiv"]["score"]) < 15
    assert {"check_get_lstm_params", "check_lstm_forward"} <= lost(grades["carol_zerodiv"])
    # a kernel that exits: nbgrader fails the notebook as a whole
    assert grades["dave_exit"]["score"] == "0"
    report = (batch[1] / "report.txt").read_text(encoding="utf-8")
    assert re.search(r"dave_exit .*kernel died", report), report


@pytest.mark.slow
def test_an_infinite_loop_is_interrupted_and_only_what_depends_on_it_scores_0(batch, grades):
    assert lost(grades["erin_loop"]) == {"check_to_torch_layout"}
    report = (batch[1] / "report.txt").read_text(encoding="utf-8")
    assert f"ran over {CELL_TIMEOUT} s and were interrupted: to_torch_layout" in report


@pytest.mark.slow
def test_an_edited_test_cell_is_restored_by_nbgrader(batch, grades):
    assert grades["frank_edits_test"]["score"] == "15"
    assert "check_lstm_forward(lstm)" in feedback(batch[1], "frank_edits_test")


@pytest.mark.slow
def test_a_file_that_is_not_json_gets_0_with_the_reason_and_is_kept(batch, grades):
    subs, out, output, _ = batch
    assert grades["grace_notjson"]["score"] == "0"
    assert re.search(r"grace_notjson .*0/15 .*not a notebook: not valid JSON", output), output
    assert (subs / "grace_notjson.ipynb").read_text(encoding="utf-8") == NOT_JSON  # untouched
    kept = out / "submitted" / "grace_notjson" / NAME / f"{NAME}.ipynb"
    assert kept.read_text(encoding="utf-8") == NOT_JSON  # and recorded in the course


@pytest.mark.slow
def test_stubs_only_get_0(grades):
    row = grades["heidi_stubs"]
    assert row["score"] == "0", {g: row[g] for g in POINTS if row[g] != "0"}


@pytest.mark.slow
def test_feedback_shows_verdicts_but_not_the_checks_or_the_solutions(batch):
    out = batch[1]
    pages = {p.parts[-3]: p for p in (out / "feedback").glob(f"*/{NAME}/{NAME}.html")}
    assert {"alice", "bob_forget", "heidi_stubs", "frank_edits_test"} <= set(pages)
    for who in pages:
        text = feedback(out, who)
        assert "def check_" not in text and "BEGIN SOLUTION" not in text, who
        assert "autograde/lstm_scratch" not in text, who  # no traceback into the grader's source
    # the student's own code is in their page; nobody else's code or the solution is in a stub's
    assert "torch.sigmoid(X @ W_xi" in feedback(out, "alice")
    stubs = feedback(out, "heidi_stubs")
    assert "torch.sigmoid(X @ W_xi" not in stubs and "torch.cat([W_xi, W_xf, W_xc, W_xo]" not in stubs
    assert "`lstm` is not implemented yet" in stubs


@pytest.mark.slow
def test_student_code_finds_no_solutions_classmates_or_gradebook_to_tamper_with(batch, grades):
    out = batch[1]
    config = (out / "nbgrader_config.py").read_text(encoding="utf-8")
    assert f"c.Execute.timeout = {CELL_TIMEOUT}" in config
    assert (out / "source" / NAME / f"{NAME}.ipynb").is_file()  # the instructor's course has it...
    nb = nbformat.read(out / "autograded" / "mallory_probe" / NAME / f"{NAME}.ipynb", as_version=4)
    probe = "".join(o.get("text", "") for o in nb.cells[1].outputs if o.output_type == "stream")
    assert "PROBE source/ exists: False" in probe, probe  # ...but not where the student's code ran
    if SECURE:  # nothing but its own empty folder, no gradebook at all: the grades are the judge's
        assert "PROBE submitted: []" in probe, probe
        assert "PROBE gradebook: unable to open database file" in probe, probe
    else:  # the private course directory, with this student alone
        assert "PROBE submitted: ['mallory_probe']" in probe, probe
        assert "PROBE gradebook students: ['mallory_probe']" in probe, probe
    # the 99s went into a private gradebook that nbgrader then overwrote with the real grades
    assert grades["mallory_probe"]["score"] == "10"
    assert grades["alice"]["score"] == "15" and grades["bob_forget"]["score"] == "10"
    assert not list(out.glob("autograded/*/data"))  # autograde.prepare() wrote its data elsewhere


@pytest.mark.slow
def test_the_summary_and_timing(batch, grades):
    _, out, output, seconds = batch
    assert "student" in output and "seconds" in output and "Done in" in output
    assert "s per graded submission" in output
    print(f"\nwhole batch: {seconds:.0f} s for {len(grades)} submissions")


@pytest.mark.slow
def test_code_that_patches_the_checks_is_flagged_for_review(batch, grades):
    """Patching the checks in the kernel: with --insecure (checks in the student's kernel) the
    patched check passes and oscar keeps the forward points his LSTM does not deserve; graded
    securely, the check's judge runs in the grader and he loses them. Either way the report flags it."""
    if SECURE:
        assert lost(grades["oscar_patches"]) == {"check_lstm_forward", "check_lstm_gradients"}
    else:
        assert lost(grades["oscar_patches"]) == {"check_lstm_gradients"}
    report = (batch[1] / "report.txt").read_text(encoding="utf-8")
    assert re.search(r"oscar_patches .*\[REVIEW\]", report), report
    assert "REVIEW: lstm mentions autograde" in report
    assert "REVIEW: cell 1 mentions gradebook" in report  # mallory's probe
    for honest in ("alice", "bob_forget", "frank_edits_test", "heidi_stubs"):
        assert not re.search(rf"^{honest} .*\[REVIEW\]", report, flags=re.M), honest


secure_only = pytest.mark.skipif(not SECURE, reason="no sandbox here: graded with --insecure, checks in the kernel")


@pytest.mark.slow
@secure_only
def test_the_report_says_the_checks_were_judged_outside_the_students_code(batch):
    report = (batch[1] / "report.txt").read_text(encoding="utf-8")
    assert "Grading mode: checks judged outside the students' code (secure" in report
    assert "NOT tamper-proof" not in report


@pytest.mark.slow
@secure_only
@pytest.mark.parametrize("who", ["tina_transformer", "uma_fake_package", "wendy_forges", "xena_edits_check"])
def test_forged_passes_of_stubs_score_0(batch, grades, who):
    """(a) an input transformer that wraps every later cell in try/except, (b) a fake `autograde`
    package in the working folder, (d) records written by hand, (e) an edited, unlocked check cell:
    all on untouched stubs, which is what each scores."""
    row = grades[who]
    assert row["score"] == "0", {g: row[g] for g in POINTS if row[g] != "0"}
    text = feedback(batch[1], who)
    assert "check_lstm_forward(lstm)" in text  # the course's check cell, whatever the student made of it
    nb = nbformat.read(batch[1] / "autograded" / who / NAME / f"{NAME}.ipynb", as_version=4)
    checks = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(checks) == len(POINTS)
    for cell in checks:  # the judge's verdict is each check cell's only output: a failure
        assert [o.output_type for o in cell.outputs] == ["error"], (who, cell.outputs)
        assert cell.outputs[0].traceback[0].startswith("\u2717 "), (who, cell.outputs)


@pytest.mark.slow
@secure_only
def test_a_patched_allclose_fools_nothing(batch, grades):
    """(c) torch.allclose and torch.equal patched in the kernel: the judge compares in the grader."""
    assert lost(grades["victor_allclose"]) == {"check_lstm_forward", "check_lstm_gradients"}
    assert "the forget gate is missing from the memory update" in feedback(batch[1], "victor_allclose")


@pytest.mark.slow
@secure_only
def test_hand_written_records_earn_nothing_and_are_never_unpickled(batch, grades):
    """(d) the solution's numbers cut to one case, a pickle that would run a command, a link."""
    out = batch[1]
    nb = nbformat.read(out / "autograded" / "wendy_forges" / NAME / f"{NAME}.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    assert "FORGED" in printed, printed  # the forgery did run, and wrote its records
    text = feedback(out, "wendy_forges")
    assert "not run on every case" in text
    assert "could not be read as plain data" in text
    assert "symbolic link" in text
    assert not PWNED.exists()


@pytest.mark.slow
@secure_only
def test_an_edited_check_cell_is_graded_by_the_courses_check(batch, grades):
    """(e) the check cell turned into a printed pass: the course's check ran in its place."""
    assert "`lstm` is not implemented yet" in feedback(batch[1], "xena_edits_check")
    assert "the outputs match nn.LSTM" not in feedback(batch[1], "xena_edits_check")
    assert grades["frank_edits_test"]["score"] == "15"


@pytest.mark.slow
def test_nothing_a_student_started_is_alive_after_the_batch(batch):
    left = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if LINGER.encode() in (entry / "cmdline").read_bytes():
                left.append(entry.name)
        except OSError:
            continue
    assert not left, left


@pytest.mark.slow
def test_student_code_runs_in_a_sandbox(batch, grades):
    """Where this machine can sandbox (bubblewrap), the student's code cannot read the solutions,
    write into the repository or reach the network, and runs as a uid of its own."""
    if submissions.sandbox_args():
        pytest.skip("no sandbox on this machine: graded with --insecure")
    out = batch[1]
    nb = nbformat.read(out / "autograded" / "trudy_escapes" / NAME / f"{NAME}.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for o in nb.cells[1].outputs if o.output_type == "stream")
    assert "ESCAPE cannot read the solutions: FileNotFoundError" in printed, printed
    assert "ESCAPE cannot write into the repository" in printed, printed
    assert "ESCAPE no network" in printed, printed
    assert not (ROOT / "escape.txt").exists()
    uid = int(re.search(r"ESCAPE uid: (\d+)", printed)[1])
    assert uid != os.getuid() or os.getuid() != 0, uid
    report = (out / "report.txt").read_text(encoding="utf-8")
    assert "Students' code ran sandboxed: bubblewrap" in report


def test_without_a_sandbox_grading_refuses_unless_insecure(tmp_path, monkeypatch, capsys):
    _write(tmp_path / "subs" / "ann.ipynb")
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without bubblewrap
    assert grade.main([str(tmp_path / "subs"), "--assignment", NAME, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "cannot sandbox the students' code: `bwrap` is not installed" in err and "--insecure" in err
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------
# Honest students the grader must not wrong: a second batch, in folders as a class hands them in


def debug_print_to_stderr(source: str) -> str:
    first, rest = source.split("\n", 1)
    assert first.startswith("def lstm("), first
    return f"{first}\n    import sys; print('DEBUG lstm was called', file=sys.stderr)\n{rest}"


def stderr_bound_early(source: str) -> str:
    """A debug print to a stderr imported before the check runs: out of the check's reach."""
    first, rest = source.split("\n", 1)
    assert first.startswith("def lstm("), first
    return f"from sys import stderr\n{first}\n    print('DEBUG to the stderr I imported', file=stderr)\n{rest}"


def interrupted(source: str) -> str:
    first, rest = source.split("\n", 1)
    assert first.startswith("def lstm("), first
    return f"{first}\n    raise KeyboardInterrupt\n{rest}"


SECRET = ("INSTRUCTOR_API_TOKEN", "not-for-students")  # in the instructor's environment while grading
ENV_PROBE = """import os
print("ENV names:", sorted(os.environ))
print("ENV HOME:", os.environ.get("HOME"))
print("ENV token:", os.environ.get("INSTRUCTOR_API_TOKEN"))
"""
PAGE_PROBES = [
    nbformat.v4.new_markdown_cell("<script>document.title = 'PWNED by markdown'</script>"),
    nbformat.v4.new_code_cell(
        "from IPython.display import HTML, display\n"
        "display(HTML(\"<script>document.title = 'PWNED by output'</script><b>bold</b>\"))"
    ),
    nbformat.v4.new_code_cell('print("x" * 60_000_000)'),
    nbformat.v4.new_code_cell(
        'import os, autograde\nprint("PATHS", os.getcwd(), autograde.__file__, os.path.expanduser("~"))'
    ),
]


def honest_class() -> dict[str, dict[str, nbformat.NotebookNode]]:
    """{student folder: {file: notebook}}."""
    file = f"{NAME}.ipynb"
    return {
        "Zoë": {file: student()},
        "Zoe": {file: student(fill=False)},
        "王小明": {file: student()},
        "李华": {file: student(fill=False)},
        "kim": {file: student(fill=False), "scratch.ipynb": nbformat.v4.new_notebook()},
        "pat": {file: submissions.pasted_twice(student(), "lstm")},
        "dan": {file: student(lstm=debug_print_to_stderr)},
        "eve": {file: submissions.with_cells(student(fill=False), *PAGE_PROBES)},
        "fay": {file: submissions.with_cells(student(fill=False), nbformat.v4.new_code_cell(ENV_PROBE))},
        "ivan": {file: student(lstm=interrupted)},
        "gil": {file: student(lstm=stderr_bound_early)},
    }


@pytest.fixture(scope="module")
def honest(tmp_path_factory):
    """The honest class graded once: (course dir, grades.csv rows by student id, report)."""
    base = tmp_path_factory.mktemp("honest")
    subs = base / "submissions"
    for folder, files in honest_class().items():
        (subs / folder).mkdir(parents=True)
        for name, nb in files.items():
            nbformat.write(nb, subs / folder / name)
    out = base / "grading"
    buffer = io.StringIO()
    with pytest.MonkeyPatch.context() as env, contextlib.redirect_stdout(buffer):
        env.setenv(*SECRET)
        code = grade.main(
            [str(subs), "--assignment", NAME, "--out", str(out), "--jobs", "2", *submissions.sandbox_args()]
        )
    print(buffer.getvalue())
    assert code == 0, buffer.getvalue()
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = {row["student"]: row for row in csv.DictReader(fh)}
    return out, rows, (out / "report.txt").read_text(encoding="utf-8")


@pytest.mark.slow
def test_names_that_differ_by_an_accent_or_are_written_in_chinese_are_different_students(honest):
    _, rows, report = honest
    expected = {"Zoë": "15", "Zoe": "0", "王小明": "15", "李华": "0"}
    ids = {name: find.student_id(name) for name in expected}
    assert len(set(ids.values())) == len(expected), ids
    assert {name: rows[sid]["score"] for name, sid in ids.items()} == expected
    assert "second submission" not in report


@pytest.mark.slow
def test_a_second_notebook_in_a_students_folder_is_reported_not_dropped(honest):
    _, rows, report = honest
    assert rows["kim"]["score"] == "0"  # kim/lstm-scratch.ipynb, the stubs, is the one graded
    assert re.search(r"kim/scratch\.ipynb: not graded", report), report
    assert "also handed in scratch.ipynb: not graded" in report


@pytest.mark.slow
def test_a_cell_pasted_twice_is_graded_once(honest):
    _, rows, report = honest
    assert rows["pat"]["score"] == "15", rows["pat"]
    assert "cell 'lstm' is in the notebook 2 times" in report


@pytest.mark.slow
def test_a_debug_print_to_stderr_in_graded_code_costs_nothing_and_is_shown(honest):
    out, rows, _ = honest
    assert rows["dan"]["score"] == "15", rows["dan"]
    if not SECURE:  # graded securely, a check cell shows the judge's verdict only
        assert "DEBUG lstm was called" in feedback(out, "dan")


def page(out: Path, who: str) -> str:
    return (out / "feedback" / who / NAME / f"{NAME}.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_feedback_pages_show_the_students_html_as_text_not_live(honest):
    out = honest[0]
    html = page(out, "eve")
    assert "PWNED" in html  # the student's script is on the page...
    assert not re.search(r"<script[^>]*>\s*document\.title = 'PWNED", html, flags=re.I)  # ...but not live
    assert "<b>bold</b>" in html  # harmless markup still shows


@pytest.mark.slow
def test_a_60_MB_output_line_makes_a_page_of_a_few_MB_that_says_it_was_cut(honest):
    out = honest[0]
    size = (out / "feedback" / "eve" / NAME / f"{NAME}.html").stat().st_size
    assert size < 4_000_000, size
    assert "output cut short by the grader: 60,000,001 characters" in feedback(out, "eve")


@pytest.mark.slow
def test_feedback_pages_hold_no_path_of_the_instructors_machine(honest):
    out = honest[0]
    paths = {
        str(ROOT),
        sys.prefix,
        sys.base_prefix,
        str(out),
        str(Path.home()) + "/",
        f"{tempfile.gettempdir()}/rnn-course-grade-",
    }
    for who in ("eve", "Zoe", "dan"):
        html = page(out, who)
        assert not [p for p in paths if p in html], who
    # the notebook's folder and HOME: the warm runner's own (secure), or the job's (--insecure)
    job, home = ("/job/notebook", "/job") if SECURE else ("<job>/autograded/eve/lstm-scratch", "<job>")
    assert f"PATHS {job} <course repository>/autograde/__init__.py {home}" in feedback(out, "eve")


@pytest.mark.slow
def test_the_students_kernel_gets_a_minimal_environment(honest):
    out = honest[0]
    nb = nbformat.read(out / "autograded" / "fay" / NAME / f"{NAME}.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    assert "ENV token: None" in printed, printed
    home = re.search(r"ENV HOME: (\S+)", printed)[1]
    if SECURE:  # the warm runner's folder of its own for this notebook
        assert home == "/job", home
    else:
        assert home != str(Path.home()) and Path(home).name.startswith("rnn-course-grade-fay"), home
    names = set(ast.literal_eval(re.search(r"ENV names: (\[.*\])", printed)[1]))
    assert {"PATH", "HOME", "LANG", "RNN_COURSE_QUICK"} <= names
    # (PWD may be there: bubblewrap sets it to the job's folder, where the kernel runs)
    assert not names & {"INSTRUCTOR_API_TOKEN", "OLDPWD", "VIRTUAL_ENV", "SSH_AUTH_SOCK"}, names


@pytest.mark.slow
def test_a_check_that_lost_its_points_to_stderr_says_so_in_the_report(honest):
    """A stderr the student bound before the check ran (`from sys import stderr`) escapes the
    check's redirection. In the kernel (--insecure) nbgrader takes the points and the report says
    why, not the ✓; graded securely, what a check cell printed does not count: the verdict does."""
    _, rows, report = honest
    if SECURE:
        assert rows["gil"]["score"] == "15", rows["gil"]
        return
    assert float(rows["gil"]["check_lstm_forward"]) == 0
    assert (
        "check_lstm_forward 0/3: wrote to stderr, which nbgrader scores 0: DEBUG to the stderr I imported" in report
    ), report


@pytest.mark.slow
def test_an_interrupt_in_graded_code_gets_a_verdict_not_a_traceback_through_the_checks(honest):
    out, rows, _ = honest
    text = feedback(out, "ivan")
    assert "`lstm` was interrupted before it returned" in text
    assert "autograde/recurrent.py" not in text and "autograde/lstm_scratch" not in text
    assert float(rows["ivan"]["check_get_lstm_params"]) == POINTS["check_get_lstm_params"]


# ---------------------------------------------------------------------------
# Finding submissions and reading them (no nbgrader run: fast)


def _write(path: Path, text: str = "{}") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_both_layouts_and_odd_names_are_found(tmp_path):
    _write(tmp_path / "ann.ipynb")
    _write(tmp_path / "ben" / f"{NAME}.ipynb")
    _write(tmp_path / "cy" / NAME / f"{NAME}.ipynb")  # nbgrader's own submitted/ layout
    _write(tmp_path / "dee" / f"{NAME} (1).ipynb")  # renamed by a download: the only notebook
    (tmp_path / "eve").mkdir()  # handed in nothing
    _write(tmp_path / "Zoë Ng.ipynb")
    _write(tmp_path / "ben.ipynb")  # ben twice
    _write(tmp_path / "notes.txt", "hello")
    _write(tmp_path / ".DS_Store", "")
    subs, ignored = grade.find_submissions(tmp_path, [NAME], None)
    found = {s.student: s for s in subs}
    zoe = find.student_id("Zoë Ng")
    assert set(found) == {"ann", "ben", "cy", "dee", "eve", zoe}
    assert all(s.assignment == NAME for s in subs)
    assert found["cy"].original == tmp_path / "cy" / NAME / f"{NAME}.ipynb"
    assert found["dee"].original.name == f"{NAME} (1).ipynb" and "only notebook" in found["dee"].notes[0]
    assert found["eve"].original is None
    assert any("Zoë Ng" in n for n in found[zoe].notes)
    assert any("second submission" in x and "ben" in x for x in ignored)
    assert any("notes.txt" in x for x in ignored)


def test_student_ids_keep_distinct_names_apart_and_are_stable():
    names = ["Zoë", "Zoe", "Zoe_", "王小明", "李华", "Zoë Ng", "Zoe Ng", "Zoe_Ng", "ann"]
    ids = [find.student_id(n) for n in names]
    assert len(set(ids)) == len(names), ids
    assert all(re.fullmatch(r"[A-Za-z0-9._@+-]+", i) for i in ids), ids
    assert find.student_id("ann") == "ann"  # a name nbgrader can take is its own id
    assert find.student_id("Zoë") == find.student_id(unicodedata.normalize("NFD", "Zoë"))  # macOS's Zoë
    assert find.student_id("王小明") == ids[3]  # the same id in every batch


def test_flat_notebooks_need_an_assignment_when_there_are_several(tmp_path):
    _write(tmp_path / "ann.ipynb")
    with pytest.raises(grade.UsageError, match="--assignment"):
        grade.find_submissions(tmp_path, [NAME, "gru-scratch"], None)
    subs, _ = grade.find_submissions(tmp_path, [NAME, "gru-scratch"], "gru-scratch")
    assert [(s.student, s.assignment) for s in subs] == [("ann", "gru-scratch")]


def test_an_unknown_assignment_is_a_usage_error(tmp_path, capsys):
    _write(tmp_path / "ann.ipynb")
    assert grade.main([str(tmp_path), "--assignment", "nope", "--out", str(tmp_path / "out")]) == 2
    assert "unknown assignment 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "the file is empty"),
        ('{"cells": [', "not valid JSON"),
        ("[1, 2]", "not a notebook"),
        ('{"cells": "x", "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', "nbformat cannot read it"),
    ],
)
def test_why_a_file_is_not_a_notebook(tmp_path, text, reason):
    assert reason in find.read_notebook(_write(tmp_path / "x.ipynb", text))


def test_a_notebook_is_accepted(tmp_path):
    assert find.read_notebook(ROOT / "chapters" / f"{NAME}.ipynb") is None


@pytest.mark.slow
def test_insecure_runs_the_checks_in_the_kernel_and_says_it_is_not_tamper_proof(tmp_path):
    """--insecure is nbgrader's own path: the transformer's forged passes count there, and the
    report says which mode ran."""
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(forgeries()["tina_transformer"], subs / "tina_transformer.ipynb")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = grade.main([str(subs), "--assignment", NAME, "--out", str(tmp_path / "out"), "--insecure"])
    assert code == 0, buffer.getvalue()
    report = (tmp_path / "out" / "report.txt").read_text(encoding="utf-8")
    assert "Grading mode: checks run in the students' kernels (--insecure): NOT tamper-proof" in report
    assert re.search(r"tina_transformer .*15/15", report), report  # the hole secure grading closes
