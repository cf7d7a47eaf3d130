"""The reference-results table: what the training cells declare and print, rendered."""

from __future__ import annotations

import nbformat
import pytest

from autograde.tools import results


def training_cell(printed: str, **declared) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("d2l.train_ch8(model, train_iter, vocab, lr, num_epochs, device)")
    cell.metadata["rnn_course"] = {"result": declared}
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed)]
    return cell


def notebook(*cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter"), *cells]
    return nb


GRU_SCRATCH = dict(model="GRU", variant="scratch", hidden=256, lr=1)


def test_collect_reads_the_declared_cells_only():
    nb = notebook(
        training_cell("perplexity 1.1, 20460.3 tokens/sec on cpu\ntime traveller ...\n", **GRU_SCRATCH),
        nbformat.v4.new_code_cell("print('perplexity 9.9, 1.0 tokens/sec on cpu')"),
    )
    (m,) = results.collect({"chapters/gru": nb})
    assert (m.model, m.variant, m.hidden, m.lr, m.perplexity, m.tokens_per_s, m.device, m.chapter) == (
        "GRU",
        "scratch",
        256,
        1.0,
        1.1,
        20460.3,
        "cpu",
        "chapters/gru",
    )


def glued(name: str, value: float) -> dict:
    """An output as autograde.glue (and MyST-NB's glue) writes it."""
    return nbformat.v4.new_output(
        "display_data",
        data={results.GLUE_PREFIX + "text/plain": repr(value)},
        metadata={"scrapbook": {"name": name, "mime_prefix": results.GLUE_PREFIX}},
    )


def test_collect_reads_the_held_out_perplexity_the_notebook_glued():
    later = nbformat.v4.new_code_cell("glue('scratch_held_out', held_out_perplexity(model))")
    later.outputs = [glued("scratch_held_out", 7.25), glued("concise_held_out", 6.0)]
    nb = notebook(training_cell("perplexity 1.1, 20460.3 tokens/sec on cpu\n", **GRU_SCRATCH), later)
    (m,) = results.collect({"chapters/gru": nb})
    assert m.held_out == 7.25
    (m,) = results.collect(
        {"chapters/gru": notebook(training_cell("perplexity 1.1, 2.0 tokens/sec on cpu\n", **GRU_SCRATCH))}
    )
    assert m.held_out is None


@pytest.mark.parametrize(
    "printed, declared, words",
    [
        ("no training line\n", GRU_SCRATCH, "printed 0 lines"),
        ("perplexity 1.1, 2.0 tokens/sec on cpu\nperplexity 1.0, 2.0 tokens/sec on cpu\n", GRU_SCRATCH, "printed 2"),
        ("perplexity 1.1, 2.0 tokens/sec on cpu\n", dict(model="GRU"), "must be"),
    ],
)
def test_collect_says_which_cell_is_wrong(printed, declared, words):
    with pytest.raises(results.ResultsError) as info:
        results.collect({"chapters/gru": notebook(training_cell(printed, **declared))})
    assert "chapters/gru, cell 2" in str(info.value) and words in str(info.value)


def test_render_puts_d2l_and_the_course_side_by_side():
    measured = [
        results.Measured("GRU", "scratch", 256, 1.0, 1.06, 20460.3, "cuda:0", "chapters/gru", 4.2),
        results.Measured("RNN", "scratch", 128, 1.0, 1.9, 1000.0, "cpu", "chapters/rnn-scratch"),
        results.Measured("Peephole LSTM", "scratch", 64, 1.0, 2.5, 10.0, "cpu", "chapters/x"),
    ]
    table = results.render(measured, quick=False, run_seconds={"chapters/gru": 150.0}, where="a test machine")
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")}
    gru = rows["[GRU from scratch](chapters/gru.ipynb)"]  # linked to the chapter that measured it
    # d2l's training perplexity, the course's, the course's held-out one, then the speeds
    assert "| 256, 1 | 1.1 | **1.1** | **4.2** | 20,460 | 20,460 (cuda:0) |" in gru
    assert "not measured" in rows["[RNN from scratch](chapters/rnn-scratch.ipynb)"]
    assert "d2l 512, 1; here 128, 1" in rows["[RNN from scratch](chapters/rnn-scratch.ipynb)"]
    assert "not in the course yet" in rows["GRU, `nn.GRU`"]
    assert "[Peephole LSTM (scratch)](chapters/x.ipynb)" in rows  # a result d2l has no row for is still shown
    assert "on: a test machine" in table and "2.5 min (150 s)" in table
    assert "quick mode" not in table
    assert "quick mode" in results.render(measured, quick=True, run_seconds={}, where="x")


def test_fill_replaces_the_marker_line_only():
    page = f"# Results\n\nBefore.\n\n{results.RESULTS_MARKER}\n\nAfter.\n"
    assert results.fill(page, "| a | b |") == "# Results\n\nBefore.\n\n| a | b |\n\nAfter.\n"


def test_machine_names_the_processor_and_torch():
    words = results.machine()
    assert "core" in words and "PyTorch" in words


def test_a_chapter_that_trains_its_own_models_hands_the_page_its_table():
    cell = nbformat.v4.new_code_cell("glue('results_table', table)")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={results.GLUE_PREFIX + "text/plain": "| model | BLEU-4 |\n|---|---|\n| ours | 0.891 |"},
            metadata={"scrapbook": {"name": results.TABLE, "mime_prefix": results.GLUE_PREFIX}},
        )
    ]
    executed = {
        "chapters/embeddings-captions": nbformat.v4.new_notebook(cells=[cell]),
        "chapters/gru": nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]),
    }
    own = {d: ("Captions", t) for d, t in results.tables(executed).items()}
    assert list(own) == ["chapters/embeddings-captions"]
    page = results.render([], quick=False, run_seconds={}, where="x", own=own)
    assert "**[Captions](chapters/embeddings-captions.ipynb)**" in page and "| ours | 0.891 |" in page
