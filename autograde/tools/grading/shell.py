"""Executing a notebook's code cells in this very process, with IPython, the outputs kept as a
Jupyter kernel would have sent them (streams, displays, results, errors, in order).

    python -m autograde.tools.grading.shell IN.ipynb OUT.ipynb --timeout SECONDS

Secure grading's warm runner (grading/warm.py) forks one process per submission from a process
that has already imported torch, d2l and matplotlib, so a notebook starts in milliseconds rather
than seconds; a Jupyter kernel cannot be forked, so the forked process is the kernel: the same
IPython shell that ipykernel wraps, its outputs captured here instead of sent over ZeroMQ.

What nbgrader's Execute does and this does too: every cell runs, errors allowed; a cell over
`timeout` seconds is interrupted (KeyboardInterrupt, as the kernel's SIGINT) and given nbgrader's
CellTimeoutError output; history in memory; matplotlib's inline backend draws each figure into
its cell; `clear_output(wait=True)` (d2l's Animator) replaces a cell's outputs.
"""

from __future__ import annotations

import datetime
import io
import signal
import sys
from collections.abc import Callable
from typing import Any

TIMEOUT_OUTPUT = {
    "output_type": "error",
    "ename": "CellTimeoutError",
    "evalue": "",
    "traceback": ["\x1b[0;31mCellTimeoutError\x1b[0m: No reply from kernel before timeout"],
}
INLINE = "module://matplotlib_inline.backend_inline"


class _Outputs:
    """The outputs of the cell that is running, as nbformat dicts."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.clear_on_next = False

    def add(self, output: dict) -> None:
        if self.clear_on_next:
            self.items.clear()
            self.clear_on_next = False
        self.items.append(output)

    def stream(self, name: str, text: str) -> None:
        if not text:
            return
        last = self.items[-1] if self.items and not self.clear_on_next else None
        if last is not None and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self.add({"output_type": "stream", "name": name, "text": text})

    def clear(self, wait: bool) -> None:
        if wait:
            self.clear_on_next = True
        else:
            self.items.clear()
            self.clear_on_next = False


class _Stream(io.TextIOBase):
    """sys.stdout or sys.stderr: text into the running cell's outputs."""

    def __init__(self, name: str, outputs: _Outputs, fd: int) -> None:
        self.name, self._outputs, self._fd = name, outputs, fd

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._outputs.stream(self.name, text)
        return len(text)

    def fileno(self) -> int:  # faulthandler, subprocess and the like write there directly
        return self._fd

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


def _shell(outputs: _Outputs):
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs) -> None:
            output = {"output_type": "display_data", "data": dict(data), "metadata": dict(metadata or {})}
            if transient:
                output["transient"] = dict(transient)
            if update:
                output["output_type"] = "update_display_data"
            outputs.add(output)

        def clear_output(self, wait: bool = False) -> None:
            outputs.clear(wait)

    class Hook(DisplayHook):
        def write_output_prompt(self) -> None:
            pass

        def write_format_data(self, format_dict, md_dict=None) -> None:
            outputs.add(
                {
                    "output_type": "execute_result",
                    "execution_count": self.prompt_count,
                    "data": dict(format_dict),
                    "metadata": dict(md_dict or {}),
                }
            )

    class Shell(InteractiveShell):
        def _showtraceback(self, etype, evalue, stb) -> None:
            outputs.add(
                {"output_type": "error", "ename": etype.__name__, "evalue": str(evalue), "traceback": list(stb)}
            )

        def enable_gui(self, gui=None):  # no event loop here, as in a kernel that was asked for none
            pass

    from traitlets.config import Config

    if InteractiveShell.initialized():  # a shell of this process's own, from an earlier call
        InteractiveShell.clear_instance()
    config = Config()
    config.HistoryManager.hist_file = ":memory:"  # as the grader's kernels: nothing written to HOME
    return Shell.instance(config=config, display_pub_class=Publisher, displayhook_class=Hook, colors="linux")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def execute(nb: dict, timeout: int, after_each: Callable[[], None] | None = None) -> None:
    """Run every code cell of `nb` (nbformat v4, as a dict) in order, in this process, and put its
    outputs and execution count in it; call `after_each()` after each code cell (to save the
    notebook as far as it got: a cell may end the process). The working directory is the caller's."""
    outputs = _Outputs()
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = _Stream("stdout", outputs, 1)
    sys.stderr = _Stream("stderr", outputs, 2)
    shell = _shell(outputs)
    _inline_figures(shell)
    previous = signal.signal(signal.SIGALRM, _interrupt)
    try:
        for cell in nb.get("cells", []):
            if cell.get("cell_type") != "code":
                continue
            outputs.items, outputs.clear_on_next = [], False
            source = "".join(cell["source"]) if isinstance(cell.get("source"), list) else str(cell.get("source", ""))
            if not source.strip():  # as nbclient: an empty cell is not sent to the kernel
                cell["outputs"], cell["execution_count"] = [], None
                continue
            timed_out = False
            started = _now()
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                shell.run_cell(source, store_history=True)
            except KeyboardInterrupt:  # the alarm rang between two of IPython's own steps
                timed_out = True
            finally:
                left, _ = signal.setitimer(signal.ITIMER_REAL, 0)
            if left == 0 and not timed_out:
                timed_out = any(o.get("ename") == "KeyboardInterrupt" for o in outputs.items)
            if timed_out:
                outputs.add(dict(TIMEOUT_OUTPUT))
            cell["outputs"] = _without_updates(outputs.items)
            cell["execution_count"] = shell.execution_count - 1
            # as nbclient records it: when the cell started and ended
            cell.setdefault("metadata", {})["execution"] = {
                "shell.execute_reply.started": started,
                "shell.execute_reply": _now(),
            }
            if after_each is not None:
                after_each()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        sys.stdout, sys.stderr = stdout, stderr


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def _inline_figures(shell) -> None:
    """matplotlib's inline backend, hooked into the shell as ipykernel hooks it (figures drawn
    into the cell that made them), whether or not pyplot was imported before the shell existed.

    After each cell pyplot also redraws every open figure, for a window the inline backend does
    not have, and the inline backend then draws each one again into its output: a kernel renders
    every figure twice. The first, whose picture nobody sees, is left out here (it is half the
    time of a cell that draws one of the course's diagrams)."""
    try:
        import matplotlib
        import matplotlib.pyplot as plt
        from matplotlib_inline import backend_inline
    except ImportError:
        return
    matplotlib.use(INLINE)
    backend_inline._enable_matplotlib_integration()
    redraw = getattr(plt, "_draw_all_if_interactive", None)
    if redraw is not None and redraw in shell.events.callbacks["post_execute"]:
        shell.events.unregister("post_execute", redraw)


def _without_updates(items: list[dict]) -> list[dict[str, Any]]:
    """Outputs as a notebook keeps them: an update of a display replaces the display it names
    (nbclient's rule), and no `transient` part."""
    kept: list[dict[str, Any]] = []
    for item in items:
        display_id = (item.get("transient") or {}).get("display_id")
        if item["output_type"] == "update_display_data":
            for old in kept:
                if old.get("_display_id") == display_id:
                    old["data"], old["metadata"] = item["data"], item["metadata"]
            continue
        item = dict(item)
        item.pop("transient", None)
        if display_id is not None:
            item["_display_id"] = display_id
        kept.append(item)
    for item in kept:
        item.pop("_display_id", None)
    return kept


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(
        prog="python -m autograde.tools.grading.shell", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("source")
    parser.add_argument("out")
    parser.add_argument("--timeout", type=int, required=True, help="seconds a cell may run before it is interrupted")
    args = parser.parse_args(argv)
    with open(args.source, encoding="utf-8") as fh:
        nb = json.load(fh)
    execute(nb, args.timeout)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(nb, fh, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
