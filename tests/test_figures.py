"""The course's diagrams: they draw, save, scale with their arguments and reject bad ones."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")  # before pyplot: tests never open a window

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

from autograde.lstm_scratch.figures import lstm_cell, unrolled

DRAWINGS = {
    "lstm_cell": lstm_cell,
    "unrolled_3x1": lambda: unrolled(3, 1),
    "unrolled_3x2": lambda: unrolled(3, 2),
    "unrolled_1x1": lambda: unrolled(1, 1),
    "unrolled_4x3": lambda: unrolled(4, 3),
}


@pytest.fixture(autouse=True)
def close_new_figures():
    """The functions leave their figure open for the notebook; each test closes what it made."""
    before = set(plt.get_fignums())
    yield
    for number in set(plt.get_fignums()) - before:
        plt.close(number)


def cells(fig: Figure) -> list[str]:
    return sorted(
        patch.get_gid() for ax in fig.axes for patch in ax.patches if (patch.get_gid() or "").startswith("lstm-cell-")
    )


@pytest.mark.parametrize("name", DRAWINGS)
def test_returns_one_figure_with_a_drawing(name):
    before = set(plt.get_fignums())
    fig = DRAWINGS[name]()
    assert isinstance(fig, Figure)
    assert set(plt.get_fignums()) - before == {fig.number}, "one call, one pyplot figure"
    (ax,) = fig.axes
    assert len(ax.patches) >= 7  # unrolled(1, 1): a cell and six arrows
    assert len(ax.texts) >= 7


def test_lstm_cell_has_every_part():
    fig = lstm_cell()
    (ax,) = fig.axes
    gids = {patch.get_gid() for patch in ax.patches}
    gates = {"gate-input", "gate-forget", "gate-candidate", "gate-output"}
    operations = {"op-forget", "op-add", "op-input", "op-tanh", "op-output"}
    assert gates | operations | {"lstm-cell"} <= gids
    assert len(ax.patches) >= 30  # boxes, circles, arrows, junction dots, legend swatches
    text = " ".join(t.get_text() for t in ax.texts)
    for symbol in (r"C_{t-1}", r"C_t", r"H_{t-1}", r"H_t", r"X_t", r"\tilde{C}_t", r"W_{xi}", r"W_{hf}", r"\odot"):
        assert symbol in text, symbol


def test_sigmoid_and_tanh_gates_have_their_own_colours():
    fig = lstm_cell()
    (ax,) = fig.axes
    face = {patch.get_gid(): patch.get_facecolor() for patch in ax.patches if patch.get_gid()}
    assert face["gate-input"] == face["gate-forget"] == face["gate-output"]
    assert face["gate-candidate"] == face["op-tanh"]
    assert face["gate-candidate"] != face["gate-input"]
    assert face["op-forget"] == face["op-add"] == face["op-input"] == face["op-output"]


@pytest.mark.parametrize("name", DRAWINGS)
def test_no_two_labels_overlap(name):
    fig = DRAWINGS[name]()
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in fig.axes[0].texts if t.get_text()]
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        assert not box_a.overlaps(box_b), f"{a!r} overlaps {b!r}"


@pytest.mark.parametrize("name", DRAWINGS)
def test_every_label_is_inside_the_figure(name):
    fig = DRAWINGS[name]()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    for text in fig.axes[0].texts:
        box = text.get_window_extent(renderer)
        assert page.x0 <= box.x0 and box.x1 <= page.x1, text.get_text()
        assert page.y0 <= box.y0 and box.y1 <= page.y1, text.get_text()


@pytest.mark.parametrize("name", DRAWINGS)
def test_saves_as_png_and_svg(name, tmp_path):
    fig = DRAWINGS[name]()
    png, svg = tmp_path / f"{name}.png", tmp_path / f"{name}.svg"
    fig.savefig(png, dpi=100)
    fig.savefig(svg)
    assert png.read_bytes().startswith(b"\x89PNG")
    assert png.stat().st_size > 10_000
    assert "<svg" in svg.read_text()
    assert svg.stat().st_size > 10_000


def test_two_layers_have_twice_the_cells_of_one():
    one, two = cells(unrolled(3, 1)), cells(unrolled(3, 2))
    assert len(one) == 3
    assert len(two) == 2 * len(one)
    assert two == sorted(f"lstm-cell-l{layer}-t{step}" for layer in (1, 2) for step in (1, 2, 3))


@pytest.mark.parametrize("steps, layers", [(1, 1), (2, 1), (5, 2), (4, 3)])
def test_cell_count_is_steps_times_layers(steps, layers):
    assert len(cells(unrolled(steps, layers))) == steps * layers


@pytest.mark.parametrize("steps, layers", [(1, 1), (3, 2), (4, 3)])
def test_every_arrow_is_drawn(steps, layers):
    fig = unrolled(steps, layers)
    arrows = [patch for patch in fig.axes[0].patches if isinstance(patch, FancyArrowPatch)]
    h_and_c = 2 * layers * (steps + 1)  # from h_0, c_0, then out of every step
    inputs = steps * layers  # x_t into layer 1, h_t into each layer above
    outputs = steps
    assert len(arrows) == h_and_c + inputs + outputs


def test_cell_ids_reach_the_svg(tmp_path):
    svg = tmp_path / "unrolled.svg"
    unrolled(3, 2).savefig(svg)
    text = svg.read_text()
    assert text.count('id="lstm-cell-') == 6


def test_unrolled_labels_states_and_inputs():
    fig = unrolled(3, 2)
    text = " ".join(t.get_text() for t in fig.axes[0].texts)
    for label in (r"$x_{1}$", r"$x_{3}$", r"$h^{(1)}_0 = 0$", r"$c^{(2)}_0 = 0$", r"$h^{(1)}_{2}$", r"$c^{(2)}_{3}$"):
        assert label in text, label
    assert "LSTM\nlayer 2" in text


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(steps=0), "steps must be a positive integer"),
        (dict(steps=-2), "steps must be a positive integer"),
        (dict(layers=0), "layers must be a positive integer"),
    ],
)
def test_rejects_non_positive_sizes(kwargs, message):
    before = set(plt.get_fignums())
    with pytest.raises(ValueError, match=message):
        unrolled(**kwargs)
    assert set(plt.get_fignums()) == before, "no figure is left behind"


@pytest.mark.parametrize("kwargs", [dict(steps=2.5), dict(layers="2"), dict(steps=True)])
def test_rejects_non_integers(kwargs):
    with pytest.raises(TypeError, match="must be a positive integer"):
        unrolled(**kwargs)
