"""The benchmark's report (benchmarks/run.py): what it says about a section it measured."""

from __future__ import annotations

import importlib.util
import json

from conftest import ROOT

spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def _book(cold_seconds: float) -> dict:
    return {
        "when": "2026-12-02 22:00",
        "command": "rnn-course book --root COPY",
        "mode": "full (d2l's 500 epochs)",
        "trials": [
            {"kind": "cold", "rc": 0, "seconds": cold_seconds, "html_built": True, "other_processes_cores_mean": 0.01}
        ],
        "target": f"a cold build with the full recipe in <= {bench.BOOK_TARGET_S} s",
        "cold_seconds": cold_seconds,
        "within_target": cold_seconds <= bench.BOOK_TARGET_S,
        "notebook_seconds": {"gru": 411.2, "rnn-scratch": 287.0},
    }


def test_the_book_section_says_each_notebook_s_time_and_whether_the_target_is_met():
    within = bench.markdown({"book": _book(836.7)})
    assert "Cold: **836.7 s** (within the target: a cold build with the full recipe in <= 900 s)" in within
    assert "| gru | 411.2 |" in within and "| rnn-scratch | 287.0 |" in within
    assert "**over** the target" in bench.markdown({"book": _book(1331.0)})


def test_the_notebook_seconds_come_from_the_executed_copies(tmp_path):
    for name, meta in [("gru.full.0123", {"rnn_course": {"seconds": 411.2}}), ("rnn-scratch.full.4567", {})]:
        (tmp_path / f"{name}.ipynb").write_text(json.dumps({"metadata": meta}))
    assert bench._notebook_seconds(tmp_path) == {"gru": 411.2}
