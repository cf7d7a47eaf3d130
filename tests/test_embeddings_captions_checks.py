"""The captioning chapter's own tests: the scenes are deterministic, the references are right
(held to nn.Embedding, F.one_hot and nn.LSTMCell loops), planted bugs in the solution's own code
fail with their names, and correct solutions written differently pass. What every chapter's
checks must do (pass the solution, fail a stub, stay off stderr...) is tests/test_chapters.py.
"""

from __future__ import annotations

import hashlib

import matplotlib

matplotlib.use("Agg")  # before pyplot: tests never open a window

import matplotlib.pyplot as plt
import nbformat
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograde import course, devices
from autograde import embeddings_captions as checks
from autograde.embeddings_captions import decoder, embedding, figures, scenes

from conftest import ROOT
from notebooks import execute, outputs_text
from planting import passes, short, solution, verdict

SLUG = "embeddings-captions"
SOLUTION = solution(SLUG)
plant = SOLUTION.plant
checks_of = course.chapter(SLUG).checks
CPU = torch.device("cpu")

# ---------------------------------------------------------------------------
# The scenes: deterministic, captions that say what is drawn


def _digest(images: torch.Tensor, captions: list[str]) -> str:
    h = hashlib.sha1(images.numpy().tobytes())
    h.update("\n".join(captions).encode())
    return h.hexdigest()


def test_the_same_split_is_the_same_pictures_every_time():
    images, captions = scenes.load("test")
    scenes._split.cache_clear()
    again, again_captions = scenes.load("test")
    assert torch.equal(images, again) and captions == again_captions
    # each scene has its own seed: a shorter split is a prefix of the longer one
    few, few_captions = scenes.load("test", 20)
    assert torch.equal(few, images[:20]) and few_captions == captions[:20]
    image, caption = scenes.scene("test", 7)
    assert torch.equal(torch.from_numpy(image).permute(2, 0, 1), images[7]) and caption == captions[7]


def test_the_splits_are_different_pictures():
    train, _ = scenes.load("train", 50)
    valid, _ = scenes.load("valid", 50)
    test, _ = scenes.load("test", 50)
    assert not torch.equal(train, valid) and not torch.equal(valid, test)


def test_the_pictures_are_pinned():
    """The same numbers on every machine: a change of the drawing code shows here first."""
    images, captions = scenes.load("test", 40)
    assert images.shape == (40, 3, scenes.SIZE, scenes.SIZE) and images.dtype == torch.uint8
    assert _digest(images, captions) == PINNED


PINNED = "4ae2af976582b037ebd573bf07c4f22b897353f4"


def test_a_split_that_does_not_exist_is_named():
    with pytest.raises(ValueError, match="the splits are train, valid, test"):
        scenes.load("dev")


def test_captions_follow_the_grammar_and_the_drawing():
    import numpy as np

    for index in range(200):
        rng = np.random.default_rng((scenes.SPLITS["train"], index))
        shapes, caption = scenes.describe(rng)
        assert caption == " ".join(
            [shapes[0].words]
            + (
                [scenes.RELATIONS["above" if "above" in caption else "left"], shapes[1].words]
                if len(shapes) == 2
                else []
            )
        )
        if len(shapes) == 2:
            first, second = shapes
            if "above" in caption:
                assert first.y < scenes.SIZE / 2 < second.y
            else:
                assert first.x < scenes.SIZE / 2 < second.x
        for shape in shapes:  # inside the picture
            r = scenes.SIZES[shape.size]
            assert r <= shape.x <= scenes.SIZE - r and r <= shape.y <= scenes.SIZE - r


def test_every_shape_is_drawn_in_its_colour():
    import numpy as np

    for index in range(30):
        rng = np.random.default_rng((5, index))
        shapes, _ = scenes.describe(rng)
        image = scenes.draw(shapes, rng).astype(float) / 255
        for shape in shapes:
            mean = image[scenes._mask(shape)].mean(axis=0)
            assert np.abs(mean - np.array(scenes.COLORS[shape.color])).max() < 0.1, (shape, mean)


def test_the_vocabulary_numbers_the_special_tokens_as_the_original_project():
    _, captions = scenes.load("train", 300)
    vocab = scenes.Vocabulary(captions)
    assert vocab.idx2word[:4] == ["<start>", "<end>", "<unk>", "<pad>"]
    assert (
        (vocab.start, vocab.end, vocab.unk, vocab.pad) == (0, 1, 2, 3) == (decoder.START, decoder.END, 2, decoder.PAD)
    )
    ids = vocab.encode(captions[0])
    assert ids[0] == 0 and ids[-1] == 1 and vocab.decode(ids) == captions[0]
    assert vocab("zebra") == vocab.unk
    assert vocab.decode([0, vocab("a"), 1, vocab("red")]) == "a"  # stops at <end>


def test_batches_are_padded_at_the_end():
    images, captions = scenes.load("train", 64)
    vocab = scenes.Vocabulary(captions)
    batch_images, batch = next(iter(scenes.loader(images, captions, vocab, 64)))
    assert batch_images.shape == (64, 3, 32, 32) and batch_images.dtype == torch.float32
    assert batch_images.max() <= 1 and batch.shape == (64, max(len(c.split()) + 2 for c in captions))
    for row, caption in zip(batch, captions):
        n = len(caption.split()) + 2
        assert row[:n].tolist() == vocab.encode(caption) and (row[n:] == vocab.pad).all()


# ---------------------------------------------------------------------------
# The references, held to PyTorch and to step-by-step loops


def test_embed_reference_is_a_one_hot_product():
    for case in embedding._embed_cases():
        ids, weight, _ = case.make(CPU, None)
        want = F.one_hot(ids, weight.shape[0]).double() @ weight
        assert torch.allclose(embedding.embed_reference(ids, weight), want)
        assert torch.allclose(nn.Embedding.from_pretrained(weight)(ids), want)


def test_the_layer_reference_zeroes_and_freezes_the_pad_row_and_renormalises():
    layer = embedding.layer_reference(10, 4, 3, 1.0)
    assert (layer.weight[3] == 0).all()
    with torch.no_grad():
        layer.weight.mul_(5)
    layer(torch.tensor([0, 3, 3, 5])).sum().backward()
    assert (layer.weight.grad[3] == 0).all() and (layer.weight.grad[0] != 0).all()
    norms = layer.weight.detach().norm(dim=1)
    assert torch.allclose(norms[[0, 5]], torch.ones(2)) and (norms[[1, 2]] > 1.5).all()


def _cells_decoder(model: decoder.Reference, features, captions):
    """The reference's forward recomputed with nn.LSTMCells and an explicit loop over time."""
    lstm = model.lstm
    cells = []
    for layer in range(lstm.num_layers):
        cell = nn.LSTMCell(lstm.input_size if layer == 0 else lstm.hidden_size, lstm.hidden_size).double()
        cell.load_state_dict(
            {n: getattr(lstm, f"{n}_l{layer}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        )
        cells.append(cell)
    B = features.shape[0]
    state = [(torch.zeros(B, lstm.hidden_size, dtype=torch.float64),) * 2 for _ in cells]
    inputs = [features] + [model.embed(captions[:, t]) for t in range(captions.shape[1] - 1)]
    scores = []
    for x in inputs:
        for i, cell in enumerate(cells):
            state[i] = cell(x, state[i])
            x = state[i][0]
        scores.append(model.linear(x))
    return torch.stack(scores, dim=1)


@pytest.mark.parametrize("size", decoder.FORWARD_SIZES)
def test_the_decoder_reference_equals_a_loop_of_lstm_cells(size):
    case = decoder._forward_case(size)
    ctor, weights, features, captions, _ = case.make(CPU, None)
    model = decoder.Reference(*ctor).double()
    from autograde import modules

    modules.load_weights("test", model, weights)
    with torch.no_grad():
        assert torch.allclose(model(features, captions), _cells_decoder(model, features, captions), atol=1e-12)


@pytest.mark.parametrize("index", range(len(decoder.SAMPLE_PROMPTS)))
def test_sample_reference_equals_greedy_decoding_by_hand(index):
    """Greedy decoding written out with the full-sequence forward: the prefix read so far, each time."""
    case = decoder._sample_case(decoder.SAMPLE_PROMPTS[index], index)
    ctor, weights, inputs, states, max_len = case.make(CPU, None)
    model = decoder.Reference(*ctor).double()
    from autograde import modules

    modules.load_weights("test", model, weights)
    ids = []
    with torch.no_grad():
        for _ in range(max_len or 20):
            sequence = torch.cat([inputs] + [model.embed(torch.tensor([[i]])) for i in ids], dim=1)
            out, _ = model.lstm(sequence, states)
            ids.append(int(model.linear(out[:, -1]).argmax()))
            if ids[-1] == decoder.END:
                break
    assert model.sample(inputs, states, max_len or 20) == ids


def test_the_sample_cases_show_what_they_are_for():
    runs = [decoder._sample_run(decoder.Reference, c.make(CPU, None))["ids"] for c in decoder._sample_cases()]
    assert runs[0][-1] == decoder.END and len(runs[0]) < 20  # <end> before the default max_len
    assert len(runs[1]) == 5 and decoder.END not in runs[1]  # max_len first
    assert runs[2][-1] == decoder.END  # two layers, a given state
    assert len(runs[3]) == 20 and decoder.END not in runs[3]  # the default max_len
    for m in decoder.SAMPLE_MISTAKES:  # every mistake shows in at least one case
        planted = [decoder._sample_run(m.plant, c.make(CPU, None)) for c in decoder._sample_cases()]
        assert planted != [{"kind": "list", "ids": r} for r in runs], m.problem


def test_float32_samples_the_same_ids():
    for case in decoder._sample_cases():
        want = decoder._sample_run(decoder.Reference, case.make(CPU, None))
        assert decoder._sample_run(decoder.Reference, case.make(CPU, torch.float32)) == want


@pytest.mark.parametrize(
    "exercise",
    [checks.EMBED, checks.LAYER, checks.DECODER_FORWARD, checks.DECODER_SAMPLE],
    ids=lambda e: e.run.__name__,
)
def test_what_the_student_side_returns_is_plain_data(exercise, tmp_path):
    """What `run` returns crosses from a sandbox to the judge: it loads with weights_only=True."""
    fn = SOLUTION.define(exercise.name)
    for case in exercise.cases():
        got = exercise.run(fn, case.make(CPU, None))
        torch.save(got, tmp_path / "got.pt")
        loaded = torch.load(tmp_path / "got.pt", weights_only=True)
        assert exercise.same(loaded, exercise.run(exercise.reference, case.make(CPU, None)))


# ---------------------------------------------------------------------------
# Planted bugs in the solution's own code: (grade_id, edits, words the first failing verdict must contain)

ONE_HOT = "F.one_hot(ids, num_classes=weight.shape[0]).to(weight.dtype)"
LAYER = "nn.Embedding(num_embeddings, embedding_dim, padding_idx=pad_id, max_norm=max_norm)"
WORDS = "self.embed(captions[:, :-1])"
CAT = "torch.cat([features.unsqueeze(1), embeddings], dim=1)"
LSTM = "nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)"
RETURN_SCORES = "return self.linear(out)"
APPEND = "ids.append(best.item())"
FEED = "inputs = self.embed(best).unsqueeze(1)"
STEP = "out, states = self.lstm(inputs, states)"
STOP = "            if ids[-1] == 1:                                   # <end>\n                break\n"

BUGS = {
    # Exercise 1
    "transposed": ("embed_by_matmul", [("one_hot @ weight ", "one_hot @ weight.T ")], "the weight is transposed"),
    "flattened": (
        "embed_by_matmul",
        [("return one_hot @ weight", "return (one_hot @ weight).reshape(-1, weight.shape[1])")],
        "flattened",
    ),
    "detached": ("embed_by_matmul", [("one_hot @ weight ", "one_hot @ weight.detach() ")], "no gradient reaches"),
    "no num_classes": (
        "embed_by_matmul",
        [(ONE_HOT, "F.one_hot(ids).to(weight.dtype)")],
        "without num_classes, F.one_hot makes only",
    ),
    "int64 one-hot": (
        "embed_by_matmul",
        [(ONE_HOT, "F.one_hot(ids, num_classes=weight.shape[0])")],
        "different dtypes",
    ),
    "float32 one-hot": (
        "embed_by_matmul",
        [(ONE_HOT, "F.one_hot(ids, num_classes=weight.shape[0]).float()")],
        "different dtypes",
    ),
    "width E": (
        "embed_by_matmul",
        [(ONE_HOT, "F.one_hot(ids, num_classes=weight.shape[1]).to(weight.dtype)")],
        "one entry per row of weight",
    ),
    "a list": (
        "embed_by_matmul",
        [("return one_hot @ weight", "return (one_hot @ weight).tolist()")],
        "returns a tensor",
    ),
    # Exercise 2
    "no padding_idx": ("caption_embedding", [(", padding_idx=pad_id", "")], "padding_idx is not set"),
    "padding_idx 0": ("caption_embedding", [("padding_idx=pad_id", "padding_idx=0")], "padding_idx is 0"),
    "no max_norm": ("caption_embedding", [(", max_norm=max_norm", "")], "max_norm is ignored"),
    "max_norm in norm_type's place": (
        "caption_embedding",
        [("max_norm=max_norm", "norm_type=max_norm")],
        "max_norm is ignored",
    ),
    "one row short": (
        "caption_embedding",
        [("nn.Embedding(num_embeddings,", "nn.Embedding(num_embeddings - 1,")],
        "num_embeddings - 1 rows",
    ),
    "sizes swapped": (
        "caption_embedding",
        [("nn.Embedding(num_embeddings, embedding_dim,", "nn.Embedding(embedding_dim, num_embeddings,")],
        "sizes are swapped",
    ),
    "norm 1": ("caption_embedding", [("max_norm=max_norm)", "max_norm=max_norm, norm_type=1)")], "Euclidean"),
    "scaled gradient": (
        "caption_embedding",
        [("max_norm=max_norm)", "max_norm=max_norm, scale_grad_by_freq=True)")],
        "scale_grad_by_freq",
    ),
    "sparse": ("caption_embedding", [("max_norm=max_norm)", "max_norm=max_norm, sparse=True)")], "sparse"),
    "padding and max_norm both missing": (
        "caption_embedding",
        [(LAYER, "nn.Embedding(num_embeddings, embedding_dim)")],
        "two mistakes at once",
    ),
    "a linear layer": ("caption_embedding", [(LAYER, "nn.Linear(num_embeddings, embedding_dim)")], "returned a Linear"),
    "the weight, not the layer": ("caption_embedding", [(LAYER, LAYER + ".weight")], "returned a Parameter"),
    # Exercise 3: forward
    "last token kept": ("DecoderRNN", [(WORDS, "self.embed(captions)")], "last caption token is not dropped"),
    "first token dropped": ("DecoderRNN", [(WORDS, "self.embed(captions[:, 1:])")], "(<start>) is dropped"),
    "no features": ("DecoderRNN", [(CAT, "embeddings")], "image features are not fed"),
    "features last": ("DecoderRNN", [(CAT, "torch.cat([embeddings, features.unsqueeze(1)], dim=1)")], "fed last"),
    "time-major LSTM on batch-first inputs": (
        "DecoderRNN",
        [(LSTM, "nn.LSTM(embed_size, hidden_size, num_layers)"), (STEP, STEP)],
        "time and batch are swapped",
    ),
    "softmax": ("DecoderRNN", [(RETURN_SCORES, "return self.linear(out).softmax(dim=-1)")], "applies a softmax"),
    "log-softmax": (
        "DecoderRNN",
        [(RETURN_SCORES, "return F.log_softmax(self.linear(out), dim=-1)")],
        "the scores differ from the reference's",
    ),
    "time-major scores": (
        "DecoderRNN",
        [(RETURN_SCORES, "return self.linear(out).transpose(0, 1)")],
        "time-major, (T, B, vocab_size)",
    ),
    "flattened scores": (
        "DecoderRNN",
        [(RETURN_SCORES, "return self.linear(out).reshape(-1, self.linear.out_features)")],
        "flattened to (B*T, vocab_size)",
    ),
    "no linear layer": ("DecoderRNN", [(RETURN_SCORES, "return out")], "the scores have shape (3, 7, 5)"),
    "features detached": (
        "DecoderRNN",
        [("features.unsqueeze(1), embeddings", "features.detach().unsqueeze(1), embeddings")],
        "no gradient reaches the image features",
    ),
    "hard-coded initial state": (
        "DecoderRNN",
        [
            (
                "out, _ = self.lstm(inputs)",
                "zeros = torch.zeros(self.lstm.num_layers, inputs.shape[0], "
                "self.lstm.hidden_size, dtype=inputs.dtype)\n"
                "        out, _ = self.lstm(inputs, (zeros, zeros))",
            )
        ],
        "hard-codes a device",
    ),
    "extra linear layer": (
        "DecoderRNN",
        [
            (
                "self.linear = nn.Linear(hidden_size, vocab_size)",
                "self.linear = nn.Linear(hidden_size, vocab_size)\n"
                "        self.project = nn.Linear(embed_size, embed_size)",
            )
        ],
        "2 nn.Linear layer(s)",
    ),
    "two mistakes in forward": (
        "DecoderRNN",
        [(WORDS, "self.embed(captions)"), (RETURN_SCORES, "return self.linear(out).softmax(dim=-1)")],
        "two mistakes at once",
    ),
    # Exercise 3: sample
    "sample returns a tensor": (
        "DecoderRNN",
        [("        return ids\n", "        return torch.tensor(ids)\n")],
        "sample returns a tensor",
    ),
    "sample returns tensors in a list": (
        "DecoderRNN",
        [(APPEND, "ids.append(best)"), ("if ids[-1] == 1:", "if ids[-1].item() == 1:")],
        "list of tensors",
    ),
    "never stops at <end>": ("DecoderRNN", [(STOP, "")], "goes on after <end>"),
    "<end> left out": (
        "DecoderRNN",
        [
            (APPEND + "\n            if ids[-1] == 1:", "if best.item() == 1:"),
            ("                break\n", "                break\n            ids.append(best.item())\n"),
        ],
        "<end> is left out",
    ),
    "features fed every step": ("DecoderRNN", [(FEED, "pass")], "does not feed back its own prediction"),
    "state not carried": ("DecoderRNN", [(STEP, "out, _ = self.lstm(inputs, states)")], "state is not carried"),
    "given states ignored": ("DecoderRNN", [("ids = []\n", "ids, states = [], None\n")], "are ignored"),
    "max_len ignored": ("DecoderRNN", [("range(max_len)", "range(20)")], "max_len is ignored"),
    "one too many": ("DecoderRNN", [("range(max_len)", "range(max_len + 1)")], "one id too many"),
    "sampling": (
        "DecoderRNN",
        [
            (
                "best = self.linear(out.squeeze(1)).argmax(dim=1)",
                "best = torch.multinomial(self.linear(out.squeeze(1)).softmax(dim=1), 1)[0]",
            )
        ],
        "drawn at random",
    ),
    "tensor and no stop at <end>": (
        "DecoderRNN",
        [("        return ids\n", "        return torch.tensor(ids)\n"), (STOP, "")],
        "two mistakes at once",
    ),
}


@pytest.mark.parametrize("bug", list(BUGS))
def test_planted_bug_is_named(bug):
    grade_id, edits, words = BUGS[bug]
    fn = plant(grade_id, *edits)
    failures = []
    for check in checks_of(grade_id):
        try:
            check(fn)
        except checks.CheckFailed as failure:
            failures.append(str(short(failure)))
    assert failures, f"{bug}: every check passed"
    assert words in failures[0], failures


def test_forward_bugs_leave_sample_alone_and_back(capsys):
    """A slip in forward costs forward's points only, and one in sample sample's only."""
    forward_bug = plant("DecoderRNN", (WORDS, "self.embed(captions)"))
    verdict(checks.check_decoder_forward, forward_bug)
    checks.check_decoder_sample(forward_bug)
    sample_bug = plant("DecoderRNN", (STOP, ""))
    checks.check_decoder_forward(sample_bug)
    verdict(checks.check_decoder_sample, sample_bug)
    assert capsys.readouterr().out.count("\u2713") == 2


# ---------------------------------------------------------------------------
# Correct solutions, written differently


def embed_by_indexing(ids, weight):
    return weight[ids]


def embed_with_einsum(ids, weight):
    one_hot = torch.zeros(*ids.shape, weight.shape[0], dtype=weight.dtype, device=weight.device)
    one_hot.scatter_(-1, ids.unsqueeze(-1), 1.0)
    return torch.einsum("...v,ve->...e", one_hot, weight)


def embedding_by_keywords(num_embeddings, embedding_dim, pad_id, max_norm):
    layer = nn.Embedding(
        embedding_dim=embedding_dim,
        num_embeddings=num_embeddings,
        max_norm=max_norm,
        norm_type=2.0,
        padding_idx=pad_id,
        scale_grad_by_freq=False,
        sparse=False,
    )
    return layer


class TimeMajorDecoder(nn.Module):
    """Other names, a time-major LSTM with transposes, torch.max in sample, states as a list."""

    def __init__(self, embed_size, hidden_size, vocab_size, num_layers=1):
        super().__init__()
        self.rnn = nn.LSTM(input_size=embed_size, hidden_size=hidden_size, num_layers=num_layers)
        self.fc = nn.Linear(hidden_size, vocab_size)
        self.word_embeddings = nn.Embedding(vocab_size, embed_size)

    def forward(self, features, captions):
        seq = torch.cat((features[None], self.word_embeddings(captions[:, :-1].T)))  # (T, B, E)
        hiddens, _ = self.rnn(seq)
        return self.fc(hiddens).permute(1, 0, 2)

    def sample(self, inputs, states=None, max_len=20):
        out = []
        x = inputs.transpose(0, 1)
        while len(out) < max_len:
            h, states = self.rnn(x, states)
            _, index = torch.max(self.fc(h[0]), dim=1)
            out.append(int(index[0]))
            if out[-1] == 1:
                return out
            x = self.word_embeddings(index)[None]
        return out


class CellsDecoder(nn.Module):
    """nn.LSTMCells stepped by hand, a state made on the inputs' device."""

    def __init__(self, embed_size, hidden_size, vocab_size, num_layers=1):
        super().__init__()
        self.hidden_size = hidden_size
        self.words = nn.Embedding(vocab_size, embed_size)
        self.cells = nn.ModuleList(
            nn.LSTMCell(embed_size if i == 0 else hidden_size, hidden_size) for i in range(num_layers)
        )
        self.out = nn.Linear(hidden_size, vocab_size)

    def _step(self, x, state):
        new = []
        for cell, (h, c) in zip(self.cells, state):
            h, c = cell(x, (h, c))
            new.append((h, c))
            x = h
        return x, new

    def _zeros(self, x):
        return [(x.new_zeros(x.shape[0], self.hidden_size),) * 2 for _ in self.cells]

    def forward(self, features, captions):
        inputs = [features] + [self.words(captions[:, t]) for t in range(captions.shape[1] - 1)]
        state = self._zeros(features)
        scores = []
        for x in inputs:
            top, state = self._step(x, state)
            scores.append(self.out(top))
        return torch.stack(scores, dim=1)

    def sample(self, inputs, states=None, max_len=20):
        x = inputs[:, 0]
        if states is None:
            state = self._zeros(x)
        else:
            h, c = states
            state = [(h[i], c[i]) for i in range(len(self.cells))]
        ids = []
        for _ in range(max_len):
            top, state = self._step(x, state)
            word = self.out(top).argmax(dim=1)
            ids.append(word.item())
            if word.item() == 1:
                break
            x = self.words(word)
        return ids


ALTERNATIVES = {
    "weight[ids]": (embed_by_indexing, "embed_by_matmul"),
    "scatter_ and einsum": (embed_with_einsum, "embed_by_matmul"),
    "keywords, defaults spelled out": (embedding_by_keywords, "caption_embedding"),
    "time-major nn.LSTM, other names, torch.max": (TimeMajorDecoder, "DecoderRNN"),
    "nn.LSTMCells stepped by hand": (CellsDecoder, "DecoderRNN"),
}


@pytest.mark.parametrize("name", list(ALTERNATIVES))
def test_correct_alternative_passes(name, capsys):
    fn, grade_id = ALTERNATIVES[name]
    passes(checks_of(grade_id), fn, capsys)


@pytest.fixture
def stand_in(monkeypatch):
    monkeypatch.setenv(devices.STAND_IN, "cpu")


@pytest.mark.parametrize(
    "fn, grade_id",
    [
        (None, "embed_by_matmul"),
        (None, "caption_embedding"),
        (None, "DecoderRNN"),
        (CellsDecoder, "DecoderRNN"),
        (TimeMajorDecoder, "DecoderRNN"),
    ],
)
def test_solutions_pass_in_float32_against_the_float64_truth(stand_in, fn, grade_id, capsys):
    for check in checks_of(grade_id):
        check(fn or SOLUTION.define(grade_id))
    out = capsys.readouterr().out
    assert "float32" in out and "\u2717" not in out


def test_a_decoder_that_moves_its_result_to_the_cpu_is_caught_on_meta():
    fn = plant("DecoderRNN", (RETURN_SCORES, "return self.linear(out).cpu()"))
    assert "hard-codes a device" in verdict(checks.check_decoder_forward, fn).problem


# ---------------------------------------------------------------------------
# Figures


@pytest.fixture
def close_new_figures():
    before = set(plt.get_fignums())
    yield
    for number in set(plt.get_fignums()) - before:
        plt.close(number)


def test_the_figures_draw_what_they_are_given(close_new_figures, tmp_path):
    images, captions = scenes.load("test", 6)
    grid = figures.scene_grid(images, captions)
    assert len([ax for ax in grid.axes if ax.images]) == 6 and grid.get_figwidth() == pytest.approx(6.9)
    assert [ax.get_xlabel().replace("\n", " ") for ax in grid.axes if ax.images] == captions
    written = list(captions[:5]) + ["a large blue circle"]
    marked = figures.caption_grid(images, captions, written)
    titles = [ax.get_title(loc="left") for ax in marked.axes if ax.images]
    assert [t[0] for t in titles] == ["\u2713"] * 5 + ["\u2717"]
    curves = figures.training_curves({"a": {"training": [3, 2, 1], "validation": [3, 2.5, 2]}})
    assert len(curves.axes[0].lines) == 2
    for fig in (grid, marked, curves):
        fig.savefig(tmp_path / "f.png", dpi=100)
        assert (tmp_path / "f.png").stat().st_size > 2000


# ---------------------------------------------------------------------------
# The notebooks, with real kernels (quick training)


def _copy_alone(src, tmp_path):
    import shutil

    folder = tmp_path / "notebooks"
    folder.mkdir()
    return shutil.copy(src, folder)


@pytest.mark.slow
def test_the_solution_runs_top_to_bottom_and_captions_pictures(tmp_path):
    path = _copy_alone(ROOT / "solutions" / f"{SLUG}.ipynb", tmp_path)
    nb = execute(nbformat.read(path, as_version=4), tmp_path / "notebooks")
    errors = [
        (i, o.get("ename"))
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert errors == []
    graded = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    assert len(graded) == 4 and all(outputs_text(c).startswith("\u2713") for c in graded)
    scores = outputs_text(next(c for c in nb.cells if "corpus_bleu(" in c.source and "blind_bleu" in c.source))
    assert "CNN encoder" in scores and "blind baseline" in scores
    figures_drawn = [c for c in nb.cells if "mystnb" in c.metadata]
    assert figures_drawn and all(any("image/png" in o.get("data", {}) for o in c.outputs) for c in figures_drawn)
