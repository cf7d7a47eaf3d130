"""What runs in the sandbox when grading is secure: execute one prepared notebook, nothing else.

    python -m autograde.tools.grading.job IN.ipynb OUT.ipynb --timeout SECONDS

The grader has already made IN (secure.prepare_notebook: nbgrader's own sanitizing, in the
grader's process, with every check cell a probe cell), and judges OUT's probe records after the
sandbox is gone, so nothing here decides a grade: this is nbgrader's Execute step alone. It is
run instead of a whole `nbgrader autograde` because that costs a Python start-up with nbgrader's
application, its database and its converters for every submission (about 3 s of CPU each); this
imports nbclient only.

It executes as nbgrader's Execute preprocessor does (its defaults, which the course's config
keeps): every cell, errors allowed; a cell over --timeout interrupted and given nbgrader's
`CellTimeoutError` output; the kernel's history in memory; NBGRADER_EXECUTION set, so training
cells train briefly; the working directory OUT's folder. A kernel that dies ends the run with
"Kernel died" in the log (exit status 1), which the grader reports as nbgrader's would be.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autograde.tools.grading import shell

# nbgrader's output for a cell interrupted at its timeout, as nbclient wants it (no output_type)
TIMEOUT_OUTPUT = {k: v for k, v in shell.TIMEOUT_OUTPUT.items() if k != "output_type"}


def execute(source: Path, out: Path, timeout: int) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    nb = nbformat.read(source, as_version=4)
    out.parent.mkdir(parents=True, exist_ok=True)  # the kernel's working directory

    def keep_reply_error(cell, cell_index, execute_reply, **_):
        # As nbgrader's Execute: an error the kernel replied with but never displayed (a timeout's
        # interrupt) is added to the cell's outputs, so the feedback shows it.
        content = execute_reply["content"]
        if content.get("status") != "error":
            return
        if any(o.get("output_type") == "error" and o.get("ename") == content.get("ename") for o in cell.outputs):
            return
        cell.outputs.append(
            nbformat.v4.new_output(
                "error",
                ename=content.get("ename", ""),
                evalue=content.get("evalue", ""),
                traceback=content.get("traceback") or ["ERROR: An error occurred while showtraceback was disabled"],
            )
        )

    client = NotebookClient(
        nb,
        timeout=timeout,
        interrupt_on_timeout=True,
        allow_errors=True,
        raise_on_iopub_timeout=True,
        error_on_timeout=TIMEOUT_OUTPUT,
        kernel_name="python3",
        extra_arguments=["--HistoryManager.hist_file=:memory:"],
        resources={"metadata": {"path": str(out.parent)}},
        on_cell_executed=keep_reply_error,
        shutdown_kernel="immediate",  # nothing of the kernel is wanted afterwards: no graceful wait
    )
    status = 0
    try:
        client.execute()
    except DeadKernelError as exc:
        print(f"Kernel died while executing the notebook: {exc}", flush=True)
        status = 1
    nbformat.write(nb, out)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograde.tools.grading.job", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--timeout", type=int, required=True, help="seconds a cell may run before it is interrupted")
    args = parser.parse_args(argv)
    os.environ["NBGRADER_EXECUTION"] = "autograde"  # as nbgrader sets it while executing
    return execute(args.source, args.out, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
