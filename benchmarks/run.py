"""The course's benchmark (not a test): how fast the course's code is, on this machine.

    python benchmarks/run.py                  every section (the same as --all)
    python benchmarks/run.py --only tokens    one section; repeat --only for several

Sections
--------
tokens  Training speed in tokens/s on the CPU with d2l's recipe (The Time Machine through
        `d2l.load_data_time_machine(32, 35)`, hidden size 256, lr 1, `d2l.train_epoch_ch8`,
        which clips gradients to norm 1 as `train_ch8` does) for
          - the solution's `lstm` (Exercise 3) and `fused_lstm` (Exercise 4), executed from the
            solution cells of solutions/lstm-scratch.ipynb (nothing is copied here),
          - d2l's own per-gate scratch LSTM (the formulation of d2l's chapter, for comparison),
          - `d2l.RNNModel(nn.LSTM(28, 256), 28)`, the reference the ratios are taken against,
          - with --candidates, the formulations in benchmarks/candidates.py.
        All models train the same number of epochs, interleaved epoch by epoch in a shuffled
        order (a round: every model one epoch), after a few warm-up epochs. Each epoch's tokens/s
        is d2l's own figure; a model's speed is the median over its epochs, and its ratio to
        nn.LSTM the median over rounds of the two speeds' ratio in the same round, which cancels
        the slow drifts of a shared machine. The torch thread counts in --threads (default: torch's
        own, then 1) are measured one after the other.
grade   Seconds `rnn-course grade` takes to autograde one submission per chapter (the chapter's
        student notebook with the solutions filled in), from nbgrader's report and for the whole
        command.
class   A whole class: `rnn-course grade` on 1, 10 and 100 submissions of one chapter
        (--class-chapter, default lstm-scratch: its student notebook with the solutions filled
        in, one copy per student), secure (the default: sandbox and probes, the verdicts judged
        outside) and --insecure (the checks in the students' kernels), with --jobs the cores:
        the batch's wall time from the command's start to its report, and the seconds per
        submission the report gives (median and worst), against the target of 5 minutes for 100
        secure submissions on the course's 2-core machine.
notebooks
        Seconds each chapter's solution notebook takes to run top to bottom with the full recipe
        (500 epochs per training cell), in a fresh kernel as a student's "Run All" would, against
        the course's budget of 5 minutes per chapter on this CPU; and the perplexities its
        training cells printed.
book    Seconds for a cold `rnn-course book` (fresh copy of the working tree, empty _build/:
        executes the solutions, then jupyter-book) and for a warm one (the same copy again);
        how long each solution notebook took in the cold build; against the target of 15 minutes
        for a cold build of every chapter, with the full recipe, on the course's 2-core machine.

A section whose tool is missing is skipped with a note. Results go to benchmarks/results/
(git-ignored): one JSON file per section and results.md, a table of every section measured so
far; the same table is printed at the end. The machine is shared: every figure comes with the
load average, the CPU that other processes used and the hypervisor took (steal) while it was
measured, and (tokens) this process's page faults per epoch.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import importlib.util
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "benchmarks"
RESULTS = HERE / "results"
NOTEBOOK = ROOT / "solutions" / "lstm-scratch.ipynb"
SOLUTION_CELLS = ("get_lstm_params", "init_lstm_state", "lstm", "get_fused_lstm_params", "fused_lstm")
SECTIONS = ("tokens", "notebooks", "grade", "class", "book")
CLASS_TARGET_S = 300  # a class of 100 submissions of one chapter, secure, on the course's 2-core CPU
BOOK_TARGET_S = 900  # a cold build of every chapter with the full recipe, on the same CPU
CHAPTER_BUDGET_S = 300  # each chapter notebook, top to bottom, full recipe, on the course's CPU

# d2l's recipe
BATCH_SIZE, NUM_STEPS, NUM_HIDDENS, LR = 32, 35, 256, 1
REFERENCE = "nn.LSTM (d2l.RNNModel)"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# The machine and its load


def _proc_stat() -> tuple[float, float] | None:
    """(busy, stolen) CPU seconds of the whole machine so far, or None off Linux.

    busy leaves out idle, iowait and steal; steal is time the hypervisor gave our vCPUs to others.
    """
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq) / hz, steal / hz


class Meter:
    """Wall seconds of a block; the cores that *other* processes kept busy, and that the
    hypervisor took (steal), during it."""

    def __enter__(self):
        self._wall, self._own, self._stat = time.perf_counter(), _own_cpu(), _proc_stat()
        self._faults = _minor_faults()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._wall
        own = _own_cpu() - self._own
        self.faults = _minor_faults() - self._faults
        stat = _proc_stat()
        if stat is None or self._stat is None or self.wall <= 0:
            self.others = self.steal = None
        else:
            self.others = max(0.0, (stat[0] - self._stat[0]) - own) / self.wall
            self.steal = max(0.0, stat[1] - self._stat[1]) / self.wall
        return False


def _own_cpu() -> float:
    """CPU seconds of this process and of its finished children (the tools' subprocesses)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _minor_faults() -> int:
    """Page faults of this process so far: memory the allocator gave back and takes again."""
    try:
        import resource
    except ImportError:  # not on Unix
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict:
    from autograde.tools.common import cpu_name

    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpu": cpu_name(),
    }
    with contextlib.suppress(Exception):
        info["git_commit"] = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
            or None
        )
    return info


def now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


# ---------------------------------------------------------------------------
# Section "tokens"


def solution_functions() -> dict:
    """Execute the solution cells of the notebook; return their namespace."""
    import nbformat
    import torch
    from d2l import torch as d2l
    from torch import nn

    nb = nbformat.read(NOTEBOOK, as_version=4)
    namespace = {"torch": torch, "nn": nn, "d2l": d2l}
    found = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution") and meta.get("grade_id") in SOLUTION_CELLS:
            exec(compile(cell.source, f"{NOTEBOOK.name}:{meta['grade_id']}", "exec"), namespace)
            found.append(meta["grade_id"])
    missing = [g for g in SOLUTION_CELLS if g not in found or g not in namespace]
    if missing:
        raise SystemExit(f"{NOTEBOOK}: no solution cell (nbgrader grade_id) defining {', '.join(missing)}.")
    return namespace


def d2l_lstm(inputs, state, params):
    """The per-gate scratch LSTM the way d2l's chapter computes it (d2l 0.17, "Long Short-Term
    Memory"): at every step, for each gate, X @ W_x* and H @ W_h* plus the bias, and the output
    layer H @ W_hq + b_q applied inside the loop, step by step. Re-typed here from the equations
    in that structure (d2l's package does not ship its chapter's `lstm`)."""
    import torch

    W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q = params
    H, C = state
    step_outputs = []
    for X_t in inputs:
        input_gate = torch.sigmoid((X_t @ W_xi) + (H @ W_hi) + b_i)
        forget_gate = torch.sigmoid((X_t @ W_xf) + (H @ W_hf) + b_f)
        output_gate = torch.sigmoid((X_t @ W_xo) + (H @ W_ho) + b_o)
        candidate = torch.tanh((X_t @ W_xc) + (H @ W_hc) + b_c)
        C = forget_gate * C + input_gate * candidate
        H = output_gate * torch.tanh(C)
        step_outputs.append((H @ W_hq) + b_q)
    return torch.cat(step_outputs, dim=0), (H, C)


def load_candidates() -> dict:
    spec = importlib.util.spec_from_file_location("benchmark_candidates", HERE / "candidates.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.CANDIDATES)


def check_candidate(name: str, forward) -> str | None:
    """None if the course's Exercise 4 checks pass, else what they said."""
    from autograde import CheckFailed
    from autograde.lstm_scratch import check_fused_lstm

    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        try:
            check_fused_lstm(forward)
        except CheckFailed as failure:
            return str(failure)
    return None


class Trainee:
    """One model with its updater, trained epoch by epoch exactly as d2l.train_ch8 does."""

    def __init__(self, name: str, net, updater, formulation: str):
        self.name, self.net, self.updater, self.formulation = name, net, updater, formulation
        self.speeds: list[float] = []  # d2l's tokens/s, one per timed epoch (= round)
        self.others: list[float] = []  # cores other processes used during that epoch
        self.steal: list[float] = []  # cores the hypervisor took during that epoch
        self.faults: list[int] = []  # page faults of this process during that epoch
        self.ppl = float("nan")

    def epoch(self, train_iter, loss, device, timed: bool = True) -> None:
        from d2l import torch as d2l

        with Meter() as m:
            ppl, speed = d2l.train_epoch_ch8(self.net, train_iter, loss, self.updater, device, False)
        self.ppl = ppl
        if timed:
            self.speeds.append(speed)
            self.faults.append(m.faults)
            if m.others is not None:
                self.others.append(m.others)
                self.steal.append(m.steal)


def make_trainees(ns: dict, vocab_size: int, device, candidates: dict) -> list[Trainee]:
    import torch
    from d2l import torch as d2l
    from torch import nn

    def scratch(name, get_params, init_state, forward, formulation):
        net = d2l.RNNModelScratch(vocab_size, NUM_HIDDENS, device, get_params, init_state, forward)
        return Trainee(name, net, lambda batch_size: d2l.sgd(net.params, LR, batch_size), formulation)

    trainees = [
        scratch(
            "lstm (solution, Ex. 3)",
            ns["get_lstm_params"],
            ns["init_lstm_state"],
            ns["lstm"],
            "solution cell `lstm`: per gate, 14 parameters",
        ),
        scratch(
            "fused_lstm (solution, Ex. 4)",
            ns["get_fused_lstm_params"],
            ns["init_lstm_state"],
            ns["fused_lstm"],
            "solution cell `fused_lstm`: one (V,4H) and one (H,4H) matrix",
        ),
        scratch(
            "d2l's scratch lstm", ns["get_lstm_params"], ns["init_lstm_state"], d2l_lstm, "d2l's chapter code, per gate"
        ),
    ]
    for name, forward in candidates.items():
        trainees.append(
            scratch(name, ns["get_fused_lstm_params"], ns["init_lstm_state"], forward, "benchmarks/candidates.py")
        )
    net = d2l.RNNModel(nn.LSTM(vocab_size, NUM_HIDDENS), vocab_size).to(device)
    trainees.append(Trainee(REFERENCE, net, torch.optim.SGD(net.parameters(), LR), "PyTorch's nn.LSTM"))
    return trainees


def gemm_probe() -> tuple[float, float]:
    """Microseconds for one step's product (32, 256) @ (256, 1024), plain and with the right
    operand transposed (as autograd's backward does it), at the current thread count.

    Taken before every round: on this shared VM the two-thread speed of such small products
    changes for tens of seconds at a time, and this shows which state a round ran in.
    """
    import torch

    gen = torch.Generator().manual_seed(0)
    h, w = torch.randn(32, 256, generator=gen), torch.randn(256, 1024, generator=gen)
    g, wt = torch.randn(32, 1024, generator=gen), torch.randn(256, 1024, generator=gen)
    out = []
    for fn in (lambda: h @ w, lambda: g @ wt.T):
        for _ in range(5):
            fn()
        times = []
        for _ in range(7):
            t = time.perf_counter()
            for _ in range(10):
                fn()
            times.append((time.perf_counter() - t) / 10 * 1e6)
        out.append(statistics.median(times))
    return out[0], out[1]


def _q(values: list[float], q: float) -> float:
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    pos = q * (len(s) - 1)
    lo = int(pos)
    return s[lo] + (s[min(lo + 1, len(s) - 1)] - s[lo]) * (pos - lo)


def bench_tokens(args) -> dict:
    import torch
    from d2l import torch as d2l
    from torch import nn

    from autograde.data import ensure_time_machine

    ns = solution_functions()
    candidates = {}
    if args.candidates:
        for name, forward in load_candidates().items():
            problem = check_candidate(name, forward)
            if problem:
                log(f"candidate {name!r} fails the course's check, not timed: {problem}")
            else:
                candidates[name] = forward
    device = torch.device("cpu")
    default_threads = torch.get_num_threads()
    thread_counts = []
    for t in args.threads.split(","):
        t = t.strip()
        n = default_threads if t == "default" else int(t)
        if n not in thread_counts:
            thread_counts.append(n)

    previous_dir = os.getcwd()
    os.chdir(HERE)  # d2l reads ../data/timemachine.txt
    try:
        ensure_time_machine(HERE)
        train_iter, vocab = d2l.load_data_time_machine(BATCH_SIZE, NUM_STEPS)
        loss = nn.CrossEntropyLoss()
        runs = []
        for threads in thread_counts:
            torch.set_num_threads(threads)
            torch.manual_seed(0)
            trainees = make_trainees(ns, len(vocab), device, candidates)
            order_rng = random.Random(0)
            load_before = loadavg()
            log(
                f"tokens: {len(trainees)} models, {threads} thread(s): {args.warmup} warm-up + {args.epochs} "
                f"timed epochs each, interleaved"
            )
            start = time.perf_counter()
            for _ in range(args.warmup):
                for tr in trainees:
                    tr.epoch(train_iter, loss, device, timed=False)
            probes = []
            for epoch in range(args.epochs):  # one round: every model one epoch, in a shuffled order
                probes.append(gemm_probe())
                order = trainees[:]
                order_rng.shuffle(order)
                for tr in order:
                    tr.epoch(train_iter, loss, device)
                if (epoch + 1) % 5 == 0:
                    log(f"  epoch {epoch + 1}/{args.epochs}, {time.perf_counter() - start:.0f} s")
            reference = next(t for t in trainees if t.name == REFERENCE)
            ref = statistics.median(reference.speeds)
            rows = []
            for tr in trainees:
                med = statistics.median(tr.speeds)
                # The machine's speed drifts (other VMs, other processes) over seconds to minutes,
                # and each round takes a few seconds: the ratio within a round cancels the drift.
                per_round = [s / r for s, r in zip(tr.speeds, reference.speeds)]
                rows.append(
                    {
                        "model": tr.name,
                        "formulation": tr.formulation,
                        "tokens_per_s_median": round(med, 1),
                        "tokens_per_s_p25": round(_q(tr.speeds, 0.25), 1),
                        "tokens_per_s_p75": round(_q(tr.speeds, 0.75), 1),
                        "ratio_to_nn_lstm": round(statistics.median(per_round), 3),
                        "ratio_to_nn_lstm_p25": round(_q(per_round, 0.25), 3),
                        "ratio_to_nn_lstm_p75": round(_q(per_round, 0.75), 3),
                        "ratio_of_medians": round(med / ref, 3),
                        "epochs": len(tr.speeds),
                        "perplexity_last_epoch": round(tr.ppl, 2),
                        "other_processes_cores_mean": round(statistics.fmean(tr.others), 2) if tr.others else None,
                        "steal_cores_mean": round(statistics.fmean(tr.steal), 3) if tr.steal else None,
                        "page_faults_per_epoch_median": statistics.median(tr.faults),
                        "tokens_per_s_each_epoch": [round(s, 1) for s in tr.speeds],
                        "page_faults_each_epoch": tr.faults,
                    }
                )
            runs.append(
                {
                    "threads": threads,
                    "default_threads": threads == default_threads,
                    "seconds": round(time.perf_counter() - start, 1),
                    "loadavg_before": load_before,
                    "loadavg_after": loadavg(),
                    "gemm_probe_us": {
                        "what": "(32,256)@(256,1024) before each round: [plain, right operand transposed]",
                        "median": [round(statistics.median(p[i] for p in probes), 1) for i in (0, 1)],
                        "each_round": [[round(x, 1) for x in p] for p in probes],
                    },
                    "rows": rows,
                }
            )
        torch.set_num_threads(default_threads)
    finally:
        os.chdir(previous_dir)

    import d2l as d2l_package

    return {
        "section": "tokens",
        "when": now(),
        "machine": machine(),
        "torch": torch.__version__,
        "d2l": getattr(d2l_package, "__version__", "?"),
        "recipe": {
            "data": f"d2l.load_data_time_machine({BATCH_SIZE}, {NUM_STEPS})",
            "vocab_size": len(vocab),
            "num_hiddens": NUM_HIDDENS,
            "lr": LR,
            "grad_clipping": 1,
            "device": "cpu",
            "tokens_per_epoch": sum(int(Y.numel()) for _, Y in train_iter),
            "loop": "d2l.train_epoch_ch8 (its own tokens/s)",
        },
        "epochs": args.epochs,
        "warmup_epochs": args.warmup,
        "reference": REFERENCE,
        "runs": runs,
    }


# ---------------------------------------------------------------------------
# Sections "grade" and "book": the course's tools, run as the instructor would


def _tool_missing(module: str, executables: tuple[str, ...] = ()) -> str | None:
    try:
        if importlib.util.find_spec(module) is None:
            return f"{module} does not exist yet"
    except ModuleNotFoundError:
        return f"{module} does not exist yet"
    bin_dir = Path(sys.executable).parent
    for exe in executables:
        if not (bin_dir / exe).exists() and shutil.which(exe) is None:
            return f"`{exe}` is not installed"
    return None


def _run_tool(cmd: list[str], cwd: Path, logfile: Path, timeout: float, env: dict | None = None):
    """Run a course command; return (rc, wall seconds, others' cores, tail of its output)."""
    with open(logfile, "w") as out, Meter() as m:
        try:
            proc = subprocess.run(
                cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, env=env or os.environ.copy()
            )
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    text = logfile.read_text(errors="replace")
    return rc, m.wall, m.others, "\n".join(text.splitlines()[-15:])


def submission_notebook(name: str):
    """A chapter's student notebook with the solutions' code in its solution cells."""
    import nbformat

    solution = ROOT / "solutions" / f"{name}.ipynb"
    solved = nbformat.read(solution, as_version=4)
    bodies = {
        c.metadata.nbgrader["grade_id"]: "\n".join(l for l in c.source.splitlines() if "SOLUTION" not in l)
        for c in solved.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    }
    nb = nbformat.read(ROOT / "chapters" / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in bodies and cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            cell.source = bodies[gid]
    return nb


REPORT_ROW = re.compile(
    r"^(?P<student>\S+)\s+(?P<assignment>\S+)\s+(?P<score>\S+/\S+)\s+(?P<seconds>[\d.]+)\s+(?P<result>.*)$"
)


def bench_grade(args) -> dict:
    missing = _tool_missing("autograde.tools.grade", ("nbgrader",))
    if missing:
        return {"section": "grade", "when": now(), "skipped": f"{missing}: `rnn-course grade` cannot run."}
    import nbformat

    chapters = chapter_names()
    trials = []
    with tempfile.TemporaryDirectory(prefix="rnn-course-bench-grade-") as tmp:
        tmp = Path(tmp)
        subs = tmp / "submissions" / "bench"
        subs.mkdir(parents=True)
        for name in chapters:
            nbformat.write(submission_notebook(name), subs / f"{name}.ipynb")
        for i in range(args.grade_repeats):
            out = tmp / f"grading-{i}"
            cmd = [
                sys.executable,
                "-m",
                "autograde.cli",
                "grade",
                str(tmp / "submissions"),
                "--out",
                str(out),
                "--jobs",
                "1",
            ]
            log(f"grade: run {i + 1}/{args.grade_repeats}: rnn-course grade (one submission per chapter)")
            rc, wall, others, tail = _run_tool(cmd, ROOT, tmp / f"grade-{i}.log", args.tool_timeout)
            trial = {
                "rc": rc,
                "command_seconds": round(wall, 1),
                "other_processes_cores_mean": None if others is None else round(others, 2),
                "submissions": {},
            }
            report = out / "report.txt"
            if report.is_file():
                for line in report.read_text().splitlines():
                    m = REPORT_ROW.match(line.strip())
                    if m and m["student"] == "bench":
                        trial["submissions"][m["assignment"]] = {
                            "seconds": float(m["seconds"]),
                            "score": m["score"],
                            "result": m["result"],
                        }
            if rc != 0 or set(trial["submissions"]) != set(chapters):
                trial["output_tail"] = tail
            trials.append(trial)
    ok = [t for t in trials if t["rc"] == 0 and set(t["submissions"]) == set(chapters)]
    result = {
        "section": "grade",
        "when": now(),
        "machine": machine(),
        "loadavg_after": loadavg(),
        "submission": "chapters/<chapter>.ipynb with the solutions' code in its solution cells, one per chapter",
        "command": "rnn-course grade SUBMISSIONS --out TMP --jobs 1",
        "trials": trials,
    }
    if ok:
        result["submission_seconds_median"] = {
            name: round(statistics.median(t["submissions"][name]["seconds"] for t in ok), 1) for name in chapters
        }
        result["command_seconds_median"] = round(statistics.median(t["command_seconds"] for t in ok), 1)
    else:
        result["failed"] = "no run of `rnn-course grade` finished with a report: see trials[].output_tail"
    return result


def bench_class(args) -> dict:
    missing = _tool_missing("autograde.tools.grade", ("nbgrader",))
    if missing:
        return {"section": "class", "when": now(), "skipped": f"{missing}: `rnn-course grade` cannot run."}
    import nbformat

    chapter = args.class_chapter
    sizes = [int(n) for n in args.class_sizes.split(",")]
    modes = args.class_modes.split(",")
    jobs = args.class_jobs or os.cpu_count() or 1
    runs: list[dict] = []
    result = {
        "section": "class",
        "when": now(),
        "machine": machine(),
        "chapter": chapter,
        "submission": f"chapters/{chapter}.ipynb with the solutions' code in its solution cells, one copy per student",
        "target": f"100 secure submissions in <= {CLASS_TARGET_S} s",
        "runs": runs,
    }
    with tempfile.TemporaryDirectory(prefix="rnn-course-bench-class-") as tmp:
        tmp = Path(tmp)
        solved = submission_notebook(chapter)
        for size in sizes:
            folder = tmp / f"class-{size}"
            folder.mkdir()
            for i in range(size):
                nbformat.write(solved, folder / f"student{i:03d}.ipynb")
            for mode in modes:
                out = tmp / f"grading-{size}-{mode}"
                cmd = [sys.executable, "-m", "autograde.cli", "grade", str(folder), "--assignment", chapter]
                cmd += ["--out", str(out), "--jobs", str(jobs)] + (["--insecure"] if mode == "insecure" else [])
                log(f"class: {size} submission(s) of {chapter}, {mode}, --jobs {jobs}")
                rc, wall, others, tail = _run_tool(cmd, ROOT, tmp / f"class-{size}-{mode}.log", args.tool_timeout)
                seconds, scores = [], []
                report = out / "report.txt"
                if report.is_file():
                    for line in report.read_text().splitlines():
                        m = REPORT_ROW.match(line.strip())
                        if m and m["student"].startswith("student"):
                            seconds.append(float(m["seconds"]))
                            scores.append(m["score"])
                run = {
                    "submissions": size,
                    "mode": mode,
                    "jobs": jobs,
                    "rc": rc,
                    "wall_seconds": round(wall, 1),
                    "other_processes_cores_mean": None if others is None else round(others, 2),
                    "graded": len(seconds),
                    "scores": sorted(set(scores)),
                }
                if seconds:
                    run["seconds_per_submission_median"] = round(statistics.median(seconds), 1)
                    run["seconds_per_submission_worst"] = round(max(seconds), 1)
                    run["wall_seconds_per_submission"] = round(wall / size, 2)
                if rc != 0 or len(seconds) != size:
                    run["output_tail"] = tail
                runs.append(run)
                result["loadavg_after"] = loadavg()
                save("class", result)  # each run as it ends: a long batch stopped half-way keeps the rest
                log(f"class: {size} {mode}: {wall:.0f} s, rc {rc}, {len(seconds)} graded, scores {sorted(set(scores))}")
    return result


def chapter_names() -> list[str]:
    """The chapters in the order of _toc.yml (those without a solution notebook left out)."""
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    listed = re.findall(r"file:\s*chapters/([\w.-]+)", toc)
    return [n for n in listed if (ROOT / "solutions" / f"{n}.ipynb").is_file()]


def bench_notebooks(args) -> dict:
    missing = _tool_missing("nbconvert", ("jupyter",))
    if missing:
        return {"section": "notebooks", "when": now(), "skipped": f"{missing}: notebooks cannot be executed."}
    import nbformat

    from autograde.tools import results
    from autograde.tools.common import kernel_env

    env = kernel_env(quick=False)
    jupyter = Path(sys.executable).with_name("jupyter")
    runs = []
    with tempfile.TemporaryDirectory(prefix="rnn-course-bench-notebooks-") as tmp:
        for name in chapter_names():
            folder = Path(tmp) / "chapters"  # the set-up cell puts The Time Machine in ../data
            folder.mkdir(exist_ok=True)
            shutil.copy(ROOT / "solutions" / f"{name}.ipynb", folder / f"{name}.ipynb")
            cmd = [
                str(jupyter) if jupyter.exists() else "jupyter",
                "nbconvert",
                "--to",
                "notebook",
                "--execute",
                "--ExecutePreprocessor.timeout=3600",
                "--output",
                f"{name}.executed.ipynb",
                f"{name}.ipynb",
            ]
            log(f"notebooks: solutions/{name}.ipynb top to bottom, full recipe")
            rc, wall, others, tail = _run_tool(cmd, folder, Path(tmp) / f"{name}.log", args.tool_timeout, env)
            run = {
                "chapter": name,
                "rc": rc,
                "seconds": round(wall, 1),
                "budget_seconds": CHAPTER_BUDGET_S,
                "within_budget": rc == 0 and wall <= CHAPTER_BUDGET_S,
                "other_processes_cores_mean": None if others is None else round(others, 2),
            }
            executed = folder / f"{name}.executed.ipynb"
            if rc == 0 and executed.is_file():
                nb = nbformat.read(executed, as_version=4)
                try:
                    run["trained"] = [
                        {
                            "model": m.model,
                            "variant": m.variant,
                            "hidden": m.hidden,
                            "perplexity": m.perplexity,
                            "tokens_per_s": m.tokens_per_s,
                        }
                        for m in results.collect({name: nb})
                    ]
                except results.ResultsError as exc:
                    run["trained_error"] = str(exc)
            else:
                run["output_tail"] = tail
            runs.append(run)
    return {
        "section": "notebooks",
        "when": now(),
        "machine": machine(),
        "loadavg_after": loadavg(),
        "command": "jupyter nbconvert --execute solutions/<chapter>.ipynb (RNN_COURSE_QUICK=0)",
        "runs": runs,
    }


def _copy_worktree(dest: Path) -> None:
    """The working tree as `make book` would see it: tracked and untracked, not ignored, files."""
    try:
        names = (
            subprocess.run(
                ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                cwd=ROOT,
                capture_output=True,
                check=True,
                timeout=60,
            )
            .stdout.decode()
            .split("\0")
        )
    except (OSError, subprocess.SubprocessError):
        names = None
    if names is None:
        shutil.copytree(
            ROOT,
            dest,
            symlinks=True,
            ignore=shutil.ignore_patterns(
                ".git", ".venv", "_build", "grading", "results", "__pycache__", ".ipynb_checkpoints"
            ),
        )
        return
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file() and not name.startswith("benchmarks/results/"):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def _notebook_seconds(executed: Path) -> dict[str, float]:
    """{chapter: seconds} of the solution notebooks a build executed (their cached copies)."""
    seconds = {}
    for path in sorted(executed.glob("*.ipynb")):
        meta = json.loads(path.read_text(encoding="utf-8"))["metadata"].get("rnn_course", {})
        if "seconds" in meta:
            seconds[path.name.split(".")[0]] = meta["seconds"]
    return seconds


def bench_book(args) -> dict:
    missing = _tool_missing("autograde.tools.book", ("jupyter-book",))
    if missing:
        return {"section": "book", "when": now(), "skipped": f"{missing}: `rnn-course book` cannot run."}
    env = {k: v for k, v in os.environ.items() if k != "RNN_COURSE_QUICK"}
    mode = "quick (--quick: 2 epochs per training cell)" if args.book_quick else "full (d2l's 500 epochs)"
    trials, chapters = [], {}
    with tempfile.TemporaryDirectory(prefix="rnn-course-bench-book-") as tmp:
        tree = Path(tmp) / "course"
        tree.mkdir()
        _copy_worktree(tree)
        cmd = [sys.executable, "-m", "autograde.cli", "book", "--root", str(tree)] + (
            ["--quick"] if args.book_quick else []
        )
        for i, kind in enumerate(["cold"] + ["warm"] * args.book_warm_repeats):
            log(f"book: {kind} build {i + 1}/{1 + args.book_warm_repeats} ({mode}) of a copy of the working tree")
            rc, wall, others, tail = _run_tool(cmd, tree, Path(tmp) / f"book-{i}.log", args.tool_timeout, env)
            trial = {
                "kind": kind,
                "rc": rc,
                "seconds": round(wall, 1),
                "other_processes_cores_mean": None if others is None else round(others, 2),
                "html_built": (tree / "_build" / "html" / "index.html").is_file(),
            }
            if rc != 0:
                trial["output_tail"] = tail
            trials.append(trial)
            if kind == "cold" and rc != 0:
                break
            if kind == "cold":
                chapters = _notebook_seconds(tree / "_build" / "executed")
    result = {
        "section": "book",
        "when": now(),
        "machine": machine(),
        "loadavg_after": loadavg(),
        "mode": mode,
        "command": " ".join(["rnn-course book", "--root COPY"] + (["--quick"] if args.book_quick else [])),
        "trials": trials,
        "target": f"a cold build with the full recipe in <= {BOOK_TARGET_S} s",
    }
    cold = [t for t in trials if t["kind"] == "cold" and t["rc"] == 0]
    warm = [t for t in trials if t["kind"] == "warm" and t["rc"] == 0]
    if cold:
        result["cold_seconds"] = cold[0]["seconds"]
        result["within_target"] = cold[0]["seconds"] <= BOOK_TARGET_S
        result["notebook_seconds"] = chapters
    if warm:
        result["warm_seconds_median"] = round(statistics.median(t["seconds"] for t in warm), 1)
    if not cold:
        result["failed"] = "the cold build did not finish: see trials[].output_tail"
    return result


# ---------------------------------------------------------------------------
# Results


def _fmt_int(x) -> str:
    return f"{x:,.0f}" if isinstance(x, (int, float)) else "-"


def _probe_text(run: dict) -> str:
    probe = run.get("gemm_probe_us")
    if not probe:
        return "-"
    each = probe["each_round"]
    return " / ".join(
        f"{probe['median'][i]:.0f} [{min(p[i] for p in each):.0f}-{max(p[i] for p in each):.0f}]" for i in (0, 1)
    )


def markdown(results: dict) -> str:
    lines = [
        "# Benchmark results",
        "",
        "Written by `benchmarks/run.py`; machine-readable figures in the JSON files beside this one.",
        "",
    ]
    tokens = results.get("tokens")
    if tokens:
        m = tokens["machine"]
        lines += [
            f"## Training speed (tokens/s, CPU) — {tokens['when']}",
            "",
            f"{m.get('cpu', '?')}, {m.get('cpus')} cores; torch {tokens['torch']}, d2l {tokens['d2l']}; "
            f"{tokens['recipe']['data']}, hidden {tokens['recipe']['num_hiddens']}, lr {tokens['recipe']['lr']}, "
            f"clipping 1, `d2l.train_epoch_ch8`; {tokens['epochs']} timed epochs per model "
            f"({tokens['recipe']['tokens_per_epoch']:,} tokens each) after {tokens['warmup_epochs']} warm-up, "
            "interleaved. tokens/s: median over epochs [25th-75th percentile]; ratio: median over rounds of "
            "(the model's tokens/s / nn.LSTM's in the same round), which cancels the machine's drift.",
            "",
        ]
        for run in tokens["runs"]:
            lines += [
                f"**{run['threads']} torch thread(s)**{' (the default here)' if run['default_threads'] else ''}"
                f" — load average {run['loadavg_before']} before, {run['loadavg_after']} after; "
                f"{run['seconds']} s; one step's product (32,256)@(256,1024) took "
                f"{_probe_text(run)} µs (plain / transposed operand, median of the rounds "
                "[range])",
                "",
                "| model | tokens/s | [p25-p75] | ratio to nn.LSTM | [p25-p75] | other processes / steal (cores) "
                "| perplexity |",
                "|---|---:|---:|---:|---:|---:|---:|",
            ]
            for r in run["rows"]:
                others, steal = r["other_processes_cores_mean"], r["steal_cores_mean"]
                load = "-" if others is None else f"{others:.2f} / {steal:.2f}"
                lines.append(
                    f"| {r['model']} | {_fmt_int(r['tokens_per_s_median'])} | "
                    f"[{_fmt_int(r['tokens_per_s_p25'])}-{_fmt_int(r['tokens_per_s_p75'])}] | "
                    f"**{r['ratio_to_nn_lstm']:.2f}x** | "
                    f"[{r['ratio_to_nn_lstm_p25']:.2f}-{r['ratio_to_nn_lstm_p75']:.2f}] | {load} | "
                    f"{r['perplexity_last_epoch']:.1f} |"
                )
            lines.append("")
    grade = results.get("grade")
    if grade:
        lines += [f"## Autograding one submission — {grade['when']}", ""]
        if "skipped" in grade:
            lines += [f"Skipped: {grade['skipped']}", ""]
        else:
            lines += [
                f"`{grade['command']}`; the submissions: {grade['submission']}.",
                "",
                "| run | chapter | seconds (nbgrader, the submission) | score | whole command (s) "
                "| other processes (cores) |",
                "|---|---|---:|---|---:|---:|",
            ]
            for i, t in enumerate(grade["trials"], 1):
                for name, sub in (t.get("submissions") or {"-": {}}).items():
                    lines.append(
                        f"| {i} | {name} | {sub.get('seconds', '-')} | {sub.get('score', 'rc ' + str(t['rc']))} "
                        f"| {t['command_seconds']} | {t['other_processes_cores_mean']} |"
                    )
            medians = grade.get("submission_seconds_median")
            if isinstance(medians, dict):
                lines += [
                    "",
                    "Median per submission: "
                    + ", ".join(f"{n} **{v} s**" for n, v in medians.items())
                    + f" ({grade['command_seconds_median']} s for the whole command).",
                ]
            if "failed" in grade:
                lines += ["", f"Failed: {grade['failed']}"]
            lines.append("")
    klass = results.get("class")
    if klass:
        lines += [f"## Grading a class — {klass['when']}", ""]
        if "skipped" in klass:
            lines += [f"Skipped: {klass['skipped']}", ""]
        else:
            lines += [
                f"`rnn-course grade` on N copies of {klass['submission']}; target: {klass['target']}.",
                "",
                "| submissions | mode | jobs | batch wall (s) | wall per submission (s) "
                "| per submission, median / worst (s) | graded | scores | other processes (cores) |",
                "|---:|---|---:|---:|---:|---:|---:|---|---:|",
            ]
            for r in klass["runs"]:
                lines.append(
                    f"| {r['submissions']} | {r['mode']} | {r['jobs']} | **{r['wall_seconds']}** "
                    f"| {r.get('wall_seconds_per_submission', '-')} "
                    f"| {r.get('seconds_per_submission_median', '-')} / {r.get('seconds_per_submission_worst', '-')} "
                    f"| {r['graded']} | {', '.join(r['scores']) or 'rc ' + str(r['rc'])} "
                    f"| {r['other_processes_cores_mean']} |"
                )
            lines.append("")
    notebooks = results.get("notebooks")
    if notebooks:
        lines += [f"## Each chapter top to bottom (full recipe) — {notebooks['when']}", ""]
        if "skipped" in notebooks:
            lines += [f"Skipped: {notebooks['skipped']}", ""]
        else:
            m = notebooks["machine"]
            lines += [
                f"`{notebooks['command']}` on {m.get('cpu', '?')}, {m.get('cpus')} cores; budget "
                f"{CHAPTER_BUDGET_S} s per chapter.",
                "",
                "| chapter | seconds | within budget | trained (perplexity, tokens/s) | other processes (cores) |",
                "|---|---:|---|---|---:|",
            ]
            for r in notebooks["runs"]:
                trained = "; ".join(
                    f"{t['model']} {t['variant']}: {t['perplexity']:.1f}, {_fmt_int(t['tokens_per_s'])}"
                    for t in r.get("trained", [])
                ) or r.get("trained_error", "-")
                seconds = r["seconds"] if r["rc"] == 0 else f"failed (rc {r['rc']})"
                lines.append(
                    f"| {r['chapter']} | {seconds} | {'yes' if r['within_budget'] else '**no**'} | "
                    f"{trained} | {r['other_processes_cores_mean']} |"
                )
            lines.append("")
    book = results.get("book")
    if book:
        lines += [f"## Building the book — {book['when']}", ""]
        if "skipped" in book:
            lines += [f"Skipped: {book['skipped']}", ""]
        else:
            lines += [
                f"`{book['command']}`, {book['mode']}.",
                "",
                "| build | seconds | html | other processes (cores) |",
                "|---|---:|---|---:|",
            ]
            for t in book["trials"]:
                lines.append(
                    f"| {t['kind']} | {t['seconds'] if t['rc'] == 0 else 'failed (rc ' + str(t['rc']) + ')'} | "
                    f"{'yes' if t['html_built'] else 'no'} | {t['other_processes_cores_mean']} |"
                )
            if "cold_seconds" in book:
                met = "within" if book.get("within_target") else "**over**"
                lines += [
                    "",
                    f"Cold: **{book['cold_seconds']} s** ({met} the target: {book.get('target', '-')}); "
                    f"warm: **{book.get('warm_seconds_median', '-')} s** (median).",
                ]
            if book.get("notebook_seconds"):
                lines += ["", "| notebook (cold build) | seconds |", "|---|---:|"]
                lines += [f"| {name} | {sec} |" for name, sec in book["notebook_seconds"].items()]
            if "failed" in book:
                lines += ["", f"Failed: {book['failed']}"]
            lines.append("")
    return "\n".join(lines)


def save(section: str, data: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{section}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def load_all() -> dict:
    results = {}
    for section in SECTIONS:
        path = RESULTS / f"{section}.json"
        if path.is_file():
            with contextlib.suppress(ValueError):
                results[section] = json.loads(path.read_text(encoding="utf-8"))
    return results


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="every section (the default)")
    which.add_argument(
        "--only",
        action="append",
        choices=SECTIONS,
        metavar="SECTION",
        help=f"run only this section ({', '.join(SECTIONS)}); may be repeated",
    )
    p.add_argument("--epochs", type=int, default=20, help="timed epochs per model (default 20)")
    p.add_argument("--warmup", type=int, default=2, help="untimed epochs per model first (default 2)")
    p.add_argument(
        "--threads",
        default="default,1",
        help="torch thread counts to measure, comma-separated; 'default' is torch's own (default: 'default,1')",
    )
    p.add_argument(
        "--candidates",
        action="store_true",
        help="also time the formulations in benchmarks/candidates.py (each checked first)",
    )
    p.add_argument("--grade-repeats", type=int, default=3, help="times `rnn-course grade` runs (default 3)")
    p.add_argument("--class-chapter", default="lstm-scratch", help="section class: the chapter")
    p.add_argument("--class-sizes", default="1,10,100", help="class sizes, comma-separated (default 1,10,100)")
    p.add_argument("--class-modes", default="secure,insecure", help="secure, insecure or both (the default)")
    p.add_argument("--class-jobs", type=int, default=0, help="--jobs of rnn-course grade (default: the CPU cores)")
    p.add_argument("--book-warm-repeats", type=int, default=2, help="warm builds after the cold one (default 2)")
    p.add_argument("--book-quick", action="store_true", help="build the book with --quick (2 epochs per training cell)")
    p.add_argument("--tool-timeout", type=float, default=3600, help="seconds before a tool's run is abandoned")
    args = p.parse_args(argv)
    if args.epochs < 1 or args.warmup < 0:
        p.error("--epochs must be >= 1 and --warmup >= 0")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    sections = args.only or list(SECTIONS)
    warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad=True to a scalar")
    sys.path.insert(0, str(ROOT))  # the course's package, installed or not
    runners = {
        "tokens": bench_tokens,
        "notebooks": bench_notebooks,
        "grade": bench_grade,
        "class": bench_class,
        "book": bench_book,
    }
    for section in SECTIONS:
        if section in sections:
            data = runners[section](args)
            if "skipped" in data:
                log(f"{section}: SKIPPED: {data['skipped']}")
            save(section, data)
    text = markdown(load_all())
    (RESULTS / "results.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"(written to {RESULTS.relative_to(ROOT)}/: {', '.join(s + '.json' for s in sections)}, results.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
