"""Secure grading's warm runner: notebooks executed in a fresh fork of one sandboxed process per
slot (autograde/tools/grading/warm.py, shell.py, zygote.py).

Two things are tested here. The outputs: a notebook executed in-process by IPython comes back as
a real Jupyter kernel (nbclient, grading/job.py) leaves it. The walls: a submission finds nothing
the one before it left in the same runner (files, processes, shared memory), and cannot reach the
runner itself (its memory, its signals, its mounts), whatever it tries.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from autograde.tools.grading import zygote
from autograde.tools.grading.processes import tool_env
from autograde.tools.grading.sandbox import MEMORY, Box, Limits

import submissions
from conftest import ROOT

SANDBOX = not submissions.sandbox_args()
needs_sandbox = pytest.mark.skipif(not SANDBOX, reason="no sandbox here (bubblewrap, user namespaces)")


def notebook(*sources: str) -> dict:
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(textwrap.dedent(s)) for s in sources])


EVERY_KIND = notebook(
    """
    import sys
    from IPython.display import display, Markdown
    print("one")
    print("two", file=sys.stderr)
    display(Markdown("**shown**"))
    41 + 1
    """,
    "raise ValueError('boom')",
    "",
    """
    from IPython.display import clear_output
    print("before")
    clear_output(wait=True)
    print("after")
    """,
    "import time\nwhile True:\n    time.sleep(0.01)",
    "x = 5\nx",
    """
    import matplotlib.pyplot as plt
    plt.plot([1, 2, 3])
    plt.show()
    """,
    "print('end'); None",
)


def _run(module: str, nb: dict, tmp_path: Path, timeout: int) -> dict:
    source, out = tmp_path / f"{module}-in.ipynb", tmp_path / module / "out.ipynb"
    nbformat.write(nbformat.from_dict(nb), source)
    env = tool_env(None, home=tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", f"autograde.tools.grading.{module}", str(source), str(out), "--timeout", str(timeout)]
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(cmd, check=True, env=env, cwd=out.parent, capture_output=True, timeout=180)
    return json.loads(out.read_text(encoding="utf-8"))


def _shape(cell: dict) -> list[tuple]:
    """What a reader sees of a cell's outputs: their kinds, texts, error names and mime types."""
    shape = []
    for o in cell["outputs"]:
        kind = o["output_type"]
        if kind == "stream":
            shape.append((kind, o["name"], "".join(o["text"])))
        elif kind == "error":
            shape.append((kind, o["ename"]))
        else:
            data = o["data"]
            shape.append((kind, tuple(sorted(data)), "".join(data.get("text/plain", ""))))
    return shape


@pytest.mark.slow
def test_a_notebook_executed_in_process_comes_back_as_a_kernel_leaves_it(tmp_path):
    warm = _run("shell", EVERY_KIND, tmp_path, timeout=3)
    kernel = _run("job", EVERY_KIND, tmp_path, timeout=3)
    for mine, theirs in zip(warm["cells"], kernel["cells"]):
        assert _shape(mine) == _shape(theirs), mine["source"]
        assert mine["execution_count"] == theirs["execution_count"], mine["source"]
    first, error, empty, cleared, loop, after, figure, end = warm["cells"]
    assert _shape(first)[-1] == ("execute_result", ("text/plain",), "42")
    assert _shape(error) == [("error", "ValueError")]
    assert empty["execution_count"] is None and not empty["outputs"]
    assert _shape(cleared) == [("stream", "stdout", "after\n")]
    assert ("error", "CellTimeoutError") in _shape(loop)
    assert _shape(after) == [("execute_result", ("text/plain",), "5")]  # the kernel lived on
    assert any(o["output_type"] == "display_data" and "image/png" in o["data"] for o in figure["outputs"])


LOGS: list[Path] = []


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    if not SANDBOX:
        pytest.skip("no sandbox here (bubblewrap, user namespaces)")
    box = Box.for_batch(1, Limits(cpu_seconds=600, memory_bytes=MEMORY), hidden=[])
    box.warm = True
    LOGS[:] = [tmp_path_factory.mktemp("warm-logs")]
    yield box
    box.close()


def run(box: Box, nb: dict, deadline: float = 120, timeout: int = 60) -> zygote.Reply:
    # the runner's HOME is its own job folder, whatever the grader's environment says
    return box.run_warm(json.dumps(nb), tool_env(None, home=LOGS[0]), [], timeout, deadline, LOGS[0])


def printed(reply: zygote.Reply) -> dict:
    assert reply.status == "done", reply
    nb = json.loads(reply.files["notebook.ipynb"])
    texts = [o["text"] for c in nb["cells"] for o in c["outputs"] if o["output_type"] == "stream"]
    errors = [f"{o['ename']}: {o['evalue']}" for c in nb["cells"] for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, errors
    return json.loads(texts[-1])


LIBC = """
import ctypes, glob, json, os, signal, socket, subprocess
libc = ctypes.CDLL(None, use_errno=True)
IPC_CREAT, KEY = 0o1000, 0x5EC2E7
"""

PLANT = (
    LIBC
    + """
for folder in ("/tmp", "/dev/shm", "/job", "/job/data", os.path.expanduser("~"), "/", "/dev"):
    try:
        with open(os.path.join(folder, "planted-by-a"), "w") as fh:
            fh.write("a")
    except OSError:
        pass
libc.shmget(KEY, 4096, IPC_CREAT | 0o666)
subprocess.Popen(["sleep", "1000"], start_new_session=True)
print(json.dumps({"pid": os.getpid()}))
"""
)

LOOK = (
    LIBC
    + """
seen = {
    "files": sorted(glob.glob("/planted*") + glob.glob("/*/planted*") + glob.glob("/*/*/planted*")),
    "shared memory": libc.shmget(KEY, 0, 0) != -1,
    "sleepers": [p for p in os.listdir("/proc") if p.isdigit() and b"sleep" in open(f"/proc/{p}/cmdline", "rb").read()],
}
print(json.dumps(seen))
"""
)

REACH = (
    LIBC
    + """
me = os.getpid()
tried = {}
for name in ("/tmp", "/job", "/dev/shm", "/"):
    tried["umount " + name] = libc.umount2(name.encode(), 2) == 0  # MNT_DETACH
me = os.path.realpath("/proc/self")
others = [int(p) for p in os.listdir("/proc") if p.isdigit() and os.path.realpath(f"/proc/{p}") != me]
opened = []
for pid in others:
    for what in ("mem", "environ", "root/"):
        try:
            os.listdir(f"/proc/{pid}/root") if what == "root/" else open(f"/proc/{pid}/{what}", "rb").close()
            opened.append(f"{pid}/{what}")
        except OSError:
            pass
tried["opened"] = opened
tried["others"] = len(others)
writes = []
for folder in ("/", "/dev", "/usr", "/etc"):
    try:
        open(os.path.join(folder, "x"), "w").close()
        writes.append(folder)
    except OSError:
        pass
tried["writes"] = writes
try:
    socket.create_connection(("192.0.2.1", 80), timeout=1)
    tried["network"] = True
except OSError:
    tried["network"] = False
try:
    os.kill(-1, signal.SIGKILL)  # everything this process may signal, but itself
    tried["signalled"] = True
except ProcessLookupError:
    tried["signalled"] = False  # nothing: the runner and its warden are out of its reach
print(json.dumps(tried))
"""
)


@needs_sandbox
@pytest.mark.slow
def test_a_submission_finds_nothing_the_one_before_it_left(box):
    planted = printed(run(box, notebook(PLANT)))
    assert planted["pid"] == 1  # the first process of a PID namespace of its own
    seen = printed(run(box, notebook(LOOK)))
    assert seen == {"files": [], "shared memory": False, "sleepers": []}


@needs_sandbox
@pytest.mark.slow
def test_a_submission_cannot_reach_the_runner_or_leave_its_walls(box):
    tried = printed(run(box, notebook(REACH)))
    assert tried["others"] >= 2  # the runner and its warden are there to be tried...
    assert tried["opened"] == []  # ...and nothing of theirs opens
    assert not any(v for k, v in tried.items() if k.startswith("umount")), tried
    assert tried["writes"] == [] and tried["network"] is False and tried["signalled"] is False
    assert printed(run(box, notebook(LOOK)))["files"] == []  # the runner served the next one


@needs_sandbox
@pytest.mark.slow
def test_an_exit_a_deadline_and_a_lost_runner_each_cost_one_submission(box):
    died = run(box, notebook("print('started')", "import os; os._exit(3)", "print('never')"))
    assert (died.status, died.code) == ("done", 3)
    nb = json.loads(died.files["notebook.ipynb"])  # saved as far as it got
    assert nb["cells"][0]["outputs"][0]["text"] == "started\n" and not nb["cells"][2]["outputs"]

    start = time.monotonic()
    stuck = run(
        box, notebook("while True:\n    try:\n        pass\n    except BaseException:\n        pass"), deadline=4
    )
    assert stuck.status == "stopped" and time.monotonic() - start < 30

    runner = box._zygotes[next(iter(box._zygotes))]
    runner.proc.kill()  # the warm process itself gone: the next submission gets a new one
    runner.proc.wait()
    assert printed(run(box, notebook(LOOK)))["files"] == []


def test_a_runner_that_sends_what_it_may_not_is_stopped(tmp_path):
    script = tmp_path / "liar.py"
    script.write_text(
        "import sys\nprint('ready', flush=True)\nsys.stdin.readline()\n"
        'print(\'{"status": "done", "code": 0, "files": [["../../etc/passwd", 3]]}\', flush=True)\n'
        "sys.stdin.readline()\n"
    )
    runner = zygote.Zygote([sys.executable, str(script)], dict(os.environ), tmp_path / "log")
    with pytest.raises(zygote.Lost, match="may not send"):
        runner.run("{}", {}, 1, 5)
    assert not runner.alive()


NOBODY = 65534


def _others_may_use(*paths: Path) -> bool:
    """Whether a uid with no group in common can reach each of `paths` (every folder above it
    searchable by others) and read it."""
    for path in paths:
        path = path.resolve()
        if not all(os.stat(p).st_mode & 0o001 for p in path.parents) or not os.stat(path).st_mode & 0o004:
            return False
    return True


@needs_sandbox
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to become an ordinary user")
@pytest.mark.skipif(
    not _others_may_use(Path(sys.executable), Path(sys.prefix), ROOT),
    reason=f"an ordinary user cannot reach this Python ({sys.executable}) or the checkout: a folder above is private",
)
def test_an_ordinary_user_grades_securely_in_user_namespaces():
    """As root the sandbox runs each job as a uid of its own; an instructor without root gets
    bubblewrap's user namespace, and the warm runner nests its own inside it."""
    with tempfile.TemporaryDirectory(prefix="rnn-course-nobody-") as tmp:  # pytest's own is root's alone
        _grade_as_nobody(Path(tmp) / "grading")


def _grade_as_nobody(folder: Path) -> None:
    os.chmod(folder.parent, 0o755)
    (folder / "subs").mkdir(parents=True)
    nbformat.write(submissions.student("lstm-scratch"), folder / "subs" / "alice.ipynb")
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "env", f"HOME={folder}"]
    cmd += [sys.executable, "-m", "autograde.cli", "grade", str(folder / "subs"), "--assignment", "lstm-scratch"]
    cmd += ["--out", str(folder / "out"), "--jobs", "1"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = (folder / "out" / "report.txt").read_text(encoding="utf-8")
    assert f"as {NOBODY}, in a user namespace" in report and "fresh fork of a warm runner" in report
    assert re.search(r"^alice\s+lstm-scratch\s+15/15", report, re.M), report


@needs_sandbox
@pytest.mark.slow
def test_where_no_warm_runner_works_the_batch_runs_a_kernel_per_notebook(tmp_path, monkeypatch):
    from autograde.tools import grade

    monkeypatch.setattr(zygote, "START_SECONDS", 0.01)  # it never says `ready` in time
    (tmp_path / "subs").mkdir()
    nbformat.write(submissions.student("lstm-scratch"), tmp_path / "subs" / "alice.ipynb")
    subs, _ = grade.grade(tmp_path / "subs", tmp_path / "out", "lstm-scratch", jobs=1, echo=lambda *a: None)
    (alice,) = subs
    assert (alice.status, alice.score) == ("graded", 15.0), alice.reason
    assert any("the warm runner cannot work on this machine" in note for note in alice.notes), alice.notes
    report = (tmp_path / "out" / "report.txt").read_text(encoding="utf-8")
    assert "each notebook in a kernel of its own" in report and "warm runner, in namespaces" not in report
