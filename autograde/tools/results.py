"""The reference-results page: d2l's published numbers beside the course's own, measured by
the book build itself.

A training cell of a solution notebook declares the result it produces in its metadata:

    "rnn_course": {"result": {"model": "GRU", "variant": "scratch", "hidden": 256, "lr": 1}}

and prints d2l's `train_ch8` line, `perplexity 1.1, 20460.3 tokens/sec on cpu`. The same
notebook glues (autograde.glue) the model's perplexity on held-out text, text it never
trained on, as `<variant>_held_out` ("scratch_held_out", "concise_held_out"). When the
book is built, `collect` reads both from the executed solutions, and `render` turns them,
d2l's table and the machine the notebooks ran on into Markdown that replaces the line
`RESULTS_MARKER` of any page of the book.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import nbformat

from autograde.tools.common import machine  # noqa: F401  (the machine a results page names)

RESULTS_MARKER = "% rnn-course: reference results table"
TRAINED = re.compile(r"perplexity ([0-9.]+|inf|nan), ([0-9.]+) tokens/sec on (\S+)")


class ResultsError(Exception):
    """A training cell's metadata or output is not what the results page needs."""


@dataclass(frozen=True)
class Published:
    """One row of d2l's own results (its executed notebooks, on a GPU)."""

    model: str
    variant: str
    hidden: int
    lr: float
    perplexity: float
    tokens_per_s: float
    label: str


D2L = (
    Published("RNN", "scratch", 512, 1, 1.2, 43_616, "RNN from scratch"),
    Published("RNN", "concise", 256, 1, 1.3, 279_664, "RNN, `nn.RNN`"),
    Published("GRU", "scratch", 256, 1, 1.1, 20_460, "GRU from scratch"),
    Published("GRU", "concise", 256, 1, 1.0, 283_913, "GRU, `nn.GRU`"),
    Published("LSTM", "scratch", 256, 1, 1.1, 22_161, "LSTM from scratch"),
    Published("LSTM", "concise", 256, 1, 1.0, 315_171, "LSTM, `nn.LSTM`"),
    Published("2-layer LSTM", "concise", 256, 2, 1.0, 210_022, "2-layer LSTM, `nn.LSTM`"),
)


@dataclass(frozen=True)
class Measured:
    """A result the course's own notebook printed."""

    model: str
    variant: str
    hidden: int
    lr: float
    perplexity: float
    tokens_per_s: float
    device: str
    chapter: str  # the chapter's docname, e.g. chapters/gru
    held_out: float | None = None  # the perplexity on held-out text, where the notebook glued it


def _stdout(cell) -> str:
    return "".join(
        out.get("text", "")
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream" and out.get("name") == "stdout"
    )


GLUE_PREFIX = "application/papermill.record/"


def glued(nb: nbformat.NotebookNode) -> dict[str, str]:
    """{name: text/plain} of every value a notebook's cells glued (autograde.glue)."""
    values = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                values[name] = out.get("data", {}).get(GLUE_PREFIX + "text/plain", "")
    return values


def collect(executed: dict[str, nbformat.NotebookNode]) -> list[Measured]:
    """The results declared by the training cells of executed notebooks {docname: notebook}."""
    found: list[Measured] = []
    for docname, nb in executed.items():
        values = glued(nb)
        for number, cell in enumerate(nb.cells, start=1):
            declared = cell.get("metadata", {}).get("rnn_course", {}).get("result")
            if declared is None:
                continue
            where = f"{docname}, cell {number}"
            try:
                model, variant = str(declared["model"]), str(declared["variant"])
                hidden, lr = int(declared["hidden"]), float(declared["lr"])
            except (KeyError, TypeError, ValueError):
                raise ResultsError(
                    f"{where}: rnn_course.result must be {{'model': ..., 'variant': 'scratch' or "
                    f"'concise', 'hidden': int, 'lr': number}}, not {declared!r}."
                ) from None
            printed = TRAINED.findall(_stdout(cell))
            if len(printed) != 1:
                raise ResultsError(
                    f"{where} declares the result {model} {variant} but printed "
                    f"{len(printed)} lines like 'perplexity 1.0, 1000.0 tokens/sec on cpu' "
                    "(one d2l.train_ch8 call per training cell)."
                )
            perplexity, speed, device = printed[0]
            try:
                held_out = float(values[f"{variant}_held_out"])
            except (KeyError, ValueError):
                held_out = None
            found.append(
                Measured(model, variant, hidden, lr, float(perplexity), float(speed), device, docname, held_out)
            )
    return found


TABLE = "results_table"  # the glued name under which a chapter hands the page a table of its own


def tables(executed: dict[str, nbformat.NotebookNode]) -> dict[str, str]:
    """{docname: Markdown table} that chapters training models of their own glued from their run
    (`glue("results_table", ...)`): the page shows them as they were computed."""
    return {docname: glued(nb)[TABLE] for docname, nb in executed.items() if TABLE in glued(nb)}


def _number(x: float) -> str:
    return f"{x:,.0f}"


def _lr(x: float) -> str:
    return f"{x:g}"


def _held_out(m: Measured) -> str:
    return f"**{m.held_out:.1f}**" if m.held_out is not None else "not measured"


def render(
    measured: list[Measured],
    quick: bool,
    run_seconds: dict[str, float],
    where: str,
    own: dict[str, tuple[str, str]] | None = None,
) -> str:
    """Markdown: the results table, the tables of chapters that train models of their own
    (`own`: {docname: (title, table)}), the machine, and how long each chapter took to run."""
    ours = {(m.model, m.variant): m for m in measured}
    lines = []
    if quick:
        lines += [
            ":::{warning}",
            "This copy of the book was built in **quick mode**: every training cell trained for "
            "2 epochs, not 500, so the course's perplexities below are not reference results. "
            "Build with `make book` for the real ones.",
            ":::",
            "",
        ]
    lines += [
        "| model | hidden, lr | training perplexity, d2l | training perplexity, here "
        "| held-out perplexity, here | tokens/s, d2l (GPU) | tokens/s, here |",
        "|---|---|---|---|---|---|---|",
    ]
    listed = set()
    for row in D2L:
        m = ours.get((row.model, row.variant))
        listed.add((row.model, row.variant))
        setting = f"{row.hidden}, {_lr(row.lr)}"
        if m is None:
            lines.append(
                f"| {row.label} | {setting} | {row.perplexity:.1f} | not in the course yet "
                f"| | {_number(row.tokens_per_s)} | |"
            )
            continue
        if (m.hidden, m.lr) != (row.hidden, row.lr):
            setting = f"d2l {setting}; here {m.hidden}, {_lr(m.lr)}"
        lines.append(
            f"| [{row.label}]({m.chapter}.ipynb) | {setting} | {row.perplexity:.1f} | **{m.perplexity:.1f}** "
            f"| {_held_out(m)} | {_number(row.tokens_per_s)} | {_number(m.tokens_per_s)} ({m.device}) |"
        )
    for m in measured:
        if (m.model, m.variant) not in listed:
            lines.append(
                f"| [{m.model} ({m.variant})]({m.chapter}.ipynb) | {m.hidden}, {_lr(m.lr)} | "
                f"| **{m.perplexity:.1f}** | {_held_out(m)} | | {_number(m.tokens_per_s)} ({m.device}) |"
            )
    for docname, (title, table) in (own or {}).items():
        lines += ["", f"**[{title}]({docname}.ipynb)**, measured by its own notebook:", "", table.strip()]
    mode = "quick mode, a short budget per training cell" if quick else "the full recipe of every chapter"
    lines += ["", f"Measured by this build ({mode}) on: {where}.", ""]
    if run_seconds:
        lines += ["| chapter notebook | ran top to bottom in |", "|---|---|"]
        for docname, seconds in run_seconds.items():
            lines.append(f"| [{docname.split('/')[-1]}]({docname}.ipynb) | {seconds / 60:.1f} min ({seconds:.0f} s) |")
        lines.append("")
    return "\n".join(lines)


def fill(page: str, table: str) -> str:
    """`page` with its marker line replaced by `table`."""
    out = [table if line.strip() == RESULTS_MARKER else line for line in page.splitlines()]
    return "\n".join(out) + "\n"
