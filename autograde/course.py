"""The course's chapters, each declared once.

A chapter is its solution notebook `solutions/<slug>.ipynb`, its check package and one entry
in `CHAPTERS`. Everything else that names chapters is generated from here or checked against
it: `rnn-course generate` writes `_toc.yml`, the README's chapter table and intro.md's chapter
list, and the tests hold each notebook's nbgrader cells (solution cells, check cells, points)
to its entry and run every check of every exercise on the solution and on a stub.

What a training cell reports on the reference-results page is not listed here: the cell
itself declares it in its metadata (see `autograde.tools.results`), next to the code that
prints it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Check:
    """A graded check cell: its grade id is the name of the check function it calls."""

    name: str
    points: int


@dataclass(frozen=True)
class Exercise:
    """A solution cell (grade id = the function the student writes) and the checks that grade it."""

    name: str
    checks: tuple[Check, ...]


def exercise(name: str, **points: int) -> Exercise:
    """`exercise("lstm", check_lstm_forward=3, check_lstm_gradients=2)`, in notebook order."""
    return Exercise(name, tuple(Check(check, p) for check, p in points.items()))


@dataclass(frozen=True)
class Chapter:
    slug: str  # the notebook's name: solutions/<slug>.ipynb, chapters/<slug>.ipynb
    title: str
    package: str  # the check package the check cells import from
    summary: str  # what the reader builds, one line, for the README and the introduction
    exercises: tuple[Exercise, ...]
    # Whether it trains d2l's character models with d2l.train_ch8 (each such cell declares one of d2l's
    # rows for the reference-results page); a chapter that trains models of its own reports them itself.
    trains_d2l: bool = True
    # Seconds its solution took in a cold `rnn-course book` on the course's 2-core machine (full recipe, one
    # torch thread, two notebooks at a time): a first build's estimate of the time left. 0: not measured.
    build_seconds: int = 0

    @property
    def docname(self) -> str:
        return f"chapters/{self.slug}"

    @property
    def points(self) -> int:
        return sum(check.points for ex in self.exercises for check in ex.checks)

    def module(self) -> ModuleType:
        return importlib.import_module(self.package)

    def checks(self, exercise_name: str) -> list[Callable[[Any], None]]:
        """The check functions of one exercise, in notebook order."""
        (ex,) = [ex for ex in self.exercises if ex.name == exercise_name]
        module = self.module()
        return [getattr(module, check.name) for check in ex.checks]

    def check_cell_source(self, ex: Exercise, check: Check) -> str:
        """The whole source of a check cell: it imports one check and calls it, nothing else."""
        return f"from {self.package} import {check.name}\n{check.name}({ex.name})"


# In reading order: each chapter builds on the one before.
CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        slug="rnn-scratch",
        title="Recurrent neural networks",
        package="autograde.rnn_scratch",
        summary=(
            "n-gram language models and perplexity; an RNN from scratch checked against `nn.RNN`; gradient "
            "clipping; greedy generation; trained on *The Time Machine* and compared with the n-gram baseline"
        ),
        exercises=(
            exercise("count_ngrams", check_count_ngrams=1),
            exercise("ngram_perplexity", check_ngram_perplexity=2),
            exercise("get_rnn_params", check_get_rnn_params=1),
            exercise("init_rnn_state", check_init_rnn_state=1),
            exercise("rnn", check_rnn_forward=3, check_rnn_gradients=1, check_rnn_devices=1),
            exercise("grad_clipping", check_grad_clipping=2),
            exercise("perplexity", check_perplexity=1),
            exercise("predict", check_predict=2),
        ),
        build_seconds=275,
    ),
    Chapter(
        slug="gru",
        title="GRU",
        package="autograde.gru",
        summary=(
            "a GRU in d2l's form and in PyTorch's (they differ in where the reset gate acts), and the mapping "
            "of its weights into `nn.GRU`"
        ),
        exercises=(
            exercise("get_gru_params", check_get_gru_params=2),
            exercise("init_gru_state", check_init_gru_state=1),
            exercise("gru", check_gru_forward=3, check_gru_gradients=2, check_gru_devices=1),
            exercise("torch_gru", check_torch_gru_forward=2, check_torch_gru_gradients=1, check_torch_gru_devices=1),
            exercise("to_torch_gru_layout", check_to_torch_gru_layout=2),
        ),
        build_seconds=380,
    ),
    Chapter(
        slug="lstm-scratch",
        title="LSTM from scratch",
        package="autograde.lstm_scratch",
        summary=(
            "an LSTM from its equations, a faster version with fused gates, and the mapping of its weights into "
            "`nn.LSTM`; trained on *The Time Machine*"
        ),
        exercises=(
            exercise("get_lstm_params", check_get_lstm_params=2),
            exercise("init_lstm_state", check_init_lstm_state=1),
            exercise("lstm", check_lstm_forward=3, check_lstm_gradients=2, check_lstm_devices=1),
            exercise("get_fused_lstm_params", check_get_fused_lstm_params=1),
            exercise("fused_lstm", check_fused_lstm=3),
            exercise("to_torch_layout", check_to_torch_layout=2),
        ),
        build_seconds=385,
    ),
    Chapter(
        slug="lstm-concise",
        title="The concise API: nn.LSTM inside out",
        package="autograde.lstm_concise",
        summary=(
            "every argument and shape of `nn.LSTM` (what `h_n` holds, why `output[-1]` misleads with two "
            "directions), a sequence fed step by step, a stacked bidirectional LSTM from `nn.LSTMCell`s, a "
            "many-to-one classifier that beats `nn.RNN` on long memories, and d2l's 2-layer LSTM language model"
        ),
        exercises=(
            exercise("lstm_output_shapes", check_lstm_output_shapes=2),
            exercise("lstm_num_parameters", check_lstm_num_parameters=2),
            exercise("last_step_features", check_last_step_features=3),
            exercise("run_step_by_step", check_run_step_by_step=3),
            exercise("StackedBiLSTM", check_stacked_bilstm=4),
            exercise("ManyToOne", check_many_to_one=2, check_many_to_one_training=2),
        ),
        build_seconds=320,
    ),
    Chapter(
        slug="embeddings-captions",
        title="Embeddings and an LSTM that writes captions",
        package="autograde.embeddings_captions",
        summary=(
            "`nn.Embedding` as a one-hot product and its options (`padding_idx`, `max_norm`); the image-captioning "
            "decoder `DecoderRNN` (teacher forcing, greedy `sample`), trained with a small CNN on pictures the "
            "course draws and scored with BLEU-4 against a baseline that never sees them"
        ),
        exercises=(
            exercise("embed_by_matmul", check_embed_by_matmul=2),
            exercise("caption_embedding", check_caption_embedding=2),
            exercise("DecoderRNN", check_decoder_forward=3, check_decoder_sample=2),
        ),
        trains_d2l=False,
        build_seconds=75,
    ),
    Chapter(
        slug="bigram-lstm",
        title="A bigram LSTM with embeddings and dropout",
        package="autograde.bigram_lstm",
        summary=(
            "batches of bigram ids, an LSTM with one fused gate product fed by an embedding, dropout on the "
            "non-recurrent connections only, an LSTM with a projection (LSTMP) and one with peepholes; a character "
            "LSTM, a bigram LSTM and a bigram LSTM with dropout compared in perplexity per character"
        ),
        exercises=(
            exercise("bigram_batches", check_bigram_batches=3),
            exercise("fused_lstm", check_fused_lstm_forward=3, check_fused_lstm_gradients=2),
            exercise("BigramLSTM", check_dropout=3),
            exercise("lstmp", check_lstmp_forward=2, check_lstmp_gradients=1),
            exercise("PeepholeLSTM", check_peephole=3),
        ),
        trains_d2l=False,
        build_seconds=75,
    ),
)


def chapter(slug: str) -> Chapter:
    for ch in CHAPTERS:
        if ch.slug == slug:
            return ch
    raise KeyError(
        f"no chapter {slug!r} in autograde/course.py; the chapters are {', '.join(ch.slug for ch in CHAPTERS)}"
    )


def _nbgrader(cell: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, Mapping) else {}


def _source(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def disagreements(ch: Chapter, notebook: Mapping[str, Any]) -> list[str]:
    """Where the solution notebook's nbgrader cells differ from the chapter's entry; [] if nowhere."""
    where = f"solutions/{ch.slug}.ipynb"
    problems: list[str] = []
    solutions: dict[str, int] = {}  # grade id: cell index
    checks: dict[str, tuple[int, Any, str]] = {}  # grade id: (cell index, points, source)
    for index, cell in enumerate(notebook.get("cells", [])):
        meta = _nbgrader(cell)
        grade_id = str(meta.get("grade_id"))
        if meta.get("solution"):
            solutions[grade_id] = index
        elif meta.get("grade"):
            checks[grade_id] = (index, meta.get("points"), _source(cell).strip())
            if not meta.get("locked"):
                problems.append(f"{where}: check cell {grade_id} is not locked (read-only)")
            if cell.get("metadata", {}).get("tags") != ["graded"]:
                problems.append(
                    f"{where}: check cell {grade_id} is not tagged 'graded' (the website hides its code by that tag)"
                )
    declared = [ex.name for ex in ch.exercises]
    if list(solutions) != declared:
        problems.append(f"{where}: its solution cells are {list(solutions)}, autograde/course.py declares {declared}")
    expected = [(ex, check) for ex in ch.exercises for check in ex.checks]
    if list(checks) != [check.name for _, check in expected]:
        problems.append(
            f"{where}: its check cells are {list(checks)}, autograde/course.py declares "
            f"{[check.name for _, check in expected]}"
        )
    for ex, check in expected:
        if check.name not in checks:
            continue
        index, points, source = checks[check.name]
        if points != check.points:
            problems.append(
                f"{where}: check cell {check.name} has {points} points, autograde/course.py declares {check.points}"
            )
        if source != ch.check_cell_source(ex, check):
            problems.append(
                f"{where}: check cell {check.name} must be exactly {ch.check_cell_source(ex, check)!r}, not {source!r}"
            )
        if ex.name in solutions and index < solutions[ex.name]:
            problems.append(f"{where}: check cell {check.name} comes before the solution cell {ex.name} it checks")
    return problems
