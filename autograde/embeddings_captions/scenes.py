"""The chapter's data: small pictures the course draws, each with the caption that says what is in it.

Nothing is downloaded. A scene is one shape, or two shapes one above the other or side by side,
each of a size (small, large), a colour (red, green, blue, yellow) and a kind (circle, square,
triangle), on a lightly noisy background. Its caption comes from a small grammar:

    a small red circle
    a large blue square above a small yellow triangle
    a small green circle to the left of a large red square

Two shapes are always named top one first ("above") or left one first ("to the left of"), so a
picture has exactly one right caption. Every scene is drawn from its own seed (the split's seed
and its index), so the same split is the same pictures on every machine, whatever its size.

The vocabulary numbers the special tokens as the original Udacity project does, `<start>` 0 and
`<end>` 1, then `<unk>` 2 and `<pad>` 3, then the words in alphabetical order.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

SIZE = 32  # pixels, both ways
SIZES = {"small": 3.5, "large": 6.0}  # half the shape's width, in pixels
COLORS = {
    "red": (0.86, 0.15, 0.15),
    "green": (0.13, 0.62, 0.22),
    "blue": (0.16, 0.32, 0.86),
    "yellow": (0.95, 0.78, 0.08),
}
KINDS = ("circle", "square", "triangle")
RELATIONS = {"above": "above", "left": "to the left of"}
SPLITS = {"train": 101, "valid": 202, "test": 303}  # each split's seed
LENGTHS = {"train": 6000, "valid": 500, "test": 500}  # how many scenes the chapter uses

START, END, UNK, PAD = "<start>", "<end>", "<unk>", "<pad>"
SPECIALS = (START, END, UNK, PAD)  # ids 0, 1, 2, 3


@dataclass(frozen=True)
class Shape:
    size: str
    color: str
    kind: str
    x: float  # centre, in pixels from the left
    y: float  # centre, in pixels from the top

    @property
    def words(self) -> str:
        return f"a {self.size} {self.color} {self.kind}"


def _place(rng: np.random.Generator, size: str, x_range: tuple[float, float], y_range: tuple[float, float]):
    r = SIZES[size] + 1  # a pixel of margin
    x = rng.uniform(x_range[0] + r, x_range[1] - r)
    y = rng.uniform(y_range[0] + r, y_range[1] - r)
    return x, y


def describe(rng: np.random.Generator) -> tuple[list[Shape], str]:
    """The shapes of one scene, and its caption."""

    def pick():
        return str(rng.choice(list(SIZES))), str(rng.choice(list(COLORS))), str(rng.choice(KINDS))

    if rng.random() < 1 / 3:
        size, color, kind = pick()
        shape = Shape(size, color, kind, *_place(rng, size, (0, SIZE), (0, SIZE)))
        return [shape], shape.words
    relation = str(rng.choice(list(RELATIONS)))
    (s1, c1, k1), (s2, c2, k2) = pick(), pick()
    half = SIZE / 2
    if relation == "above":  # the first is in the top half, the second in the bottom half
        first = Shape(s1, c1, k1, *_place(rng, s1, (0, SIZE), (0, half)))
        second = Shape(s2, c2, k2, *_place(rng, s2, (0, SIZE), (half, SIZE)))
    else:  # the first is in the left half
        first = Shape(s1, c1, k1, *_place(rng, s1, (0, half), (0, SIZE)))
        second = Shape(s2, c2, k2, *_place(rng, s2, (half, SIZE), (0, SIZE)))
    return [first, second], f"{first.words} {RELATIONS[relation]} {second.words}"


_ROWS, _COLS = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5  # pixel centres


def _mask(shape: Shape) -> np.ndarray:
    r, dx, dy = SIZES[shape.size], _COLS - shape.x, _ROWS - shape.y
    if shape.kind == "circle":
        return dx**2 + dy**2 <= r**2
    if shape.kind == "square":
        side = r * 0.9  # a square looks larger than a circle of the same width
        return (np.abs(dx) <= side) & (np.abs(dy) <= side)
    # a triangle pointing up: inside the base and the two slanted sides
    top, bottom = -r, r * 0.8
    height = bottom - top
    return (dy <= bottom) & (dy >= top) & (np.abs(dx) <= r * (dy - top) / height)


def draw(shapes: list[Shape], rng: np.random.Generator) -> np.ndarray:
    """The scene as an RGB image, (SIZE, SIZE, 3) uint8."""
    image = rng.standard_normal((SIZE, SIZE, 3), dtype=np.float32) * 0.03  # a little noise
    image += 0.94 + rng.uniform(-0.03, 0.03, size=3).astype(np.float32)  # on a slightly varying grey
    for shape in shapes:
        color = np.array(COLORS[shape.color], dtype=np.float32) + rng.uniform(-0.06, 0.06, size=3).astype(np.float32)
        mask = _mask(shape)
        image[mask] += color - image[mask].mean(axis=0)  # the shape's colour, the noise kept
    np.clip(image, 0, 1, out=image)
    return (image * 255 + 0.5).astype(np.uint8)


def scene(split: str, index: int) -> tuple[np.ndarray, str]:
    """Scene number `index` of a split: its image (SIZE, SIZE, 3) uint8 and its caption."""
    rng = np.random.default_rng((SPLITS[split], index))
    shapes, caption = describe(rng)
    return draw(shapes, rng), caption


@functools.lru_cache(maxsize=8)
def _split(split: str, n: int) -> tuple[torch.Tensor, tuple[str, ...]]:
    images, captions = zip(*(scene(split, i) for i in range(n)))
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(), tuple(captions)


def load(split: str, n: int | None = None) -> tuple[torch.Tensor, list[str]]:
    """The first `n` scenes of a split (default: the chapter's number): images (n, 3, SIZE, SIZE) uint8
    and their captions. The same on every machine."""
    if split not in SPLITS:
        raise ValueError(f"the splits are {', '.join(SPLITS)}, not {split!r}")
    images, captions = _split(split, LENGTHS[split] if n is None else n)
    return images.clone(), list(captions)


def words(caption: str) -> list[str]:
    return caption.lower().split()


class Vocabulary:
    """Words <-> ids: <start> 0, <end> 1, <unk> 2, <pad> 3, then the training captions' words, sorted."""

    def __init__(self, captions: list[str]):
        seen = sorted({w for c in captions for w in words(c)} - set(SPECIALS))
        self.idx2word = [*SPECIALS, *seen]
        self.word2idx = {w: i for i, w in enumerate(self.idx2word)}
        self.start, self.end, self.unk, self.pad = (self.word2idx[s] for s in SPECIALS)

    def __len__(self) -> int:
        return len(self.idx2word)

    def __call__(self, word: str) -> int:
        return self.word2idx.get(word, self.unk)

    def encode(self, caption: str) -> list[int]:
        """<start>, the caption's words, <end>."""
        return [self.start, *(self(w) for w in words(caption)), self.end]

    def decode(self, ids) -> str:
        """The words of a list of ids, up to the first <end>, without the special tokens."""
        out = []
        for i in ids.tolist() if isinstance(ids, torch.Tensor) else ids:
            if i == self.end:
                break
            if i not in (self.start, self.pad):
                out.append(self.idx2word[i])
        return " ".join(out)


class CaptionDataset(Dataset):
    """Pairs (image, caption ids): the image as floats in [0, 1], the caption with <start> and <end>."""

    def __init__(self, images: torch.Tensor, captions: list[str], vocab: Vocabulary):
        self.images, self.captions, self.vocab = images, captions, vocab

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, i: int):
        return self.images[i].float() / 255, torch.tensor(self.vocab.encode(self.captions[i]))


def pad_batch(batch, pad: int = 3):
    """Collate (image, ids) pairs into images (B, 3, S, S) and captions (B, T), the shorter captions
    filled up with `pad` at the end."""
    images, captions = zip(*batch)
    padded = torch.nn.utils.rnn.pad_sequence(list(captions), batch_first=True, padding_value=pad)
    return torch.stack(images), padded


def loader(
    images, captions, vocab: Vocabulary, batch_size: int = 64, shuffle: bool = False, seed: int = 0
) -> DataLoader:
    """Minibatches of (images, padded captions); shuffled with a seeded generator when asked."""
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(
        CaptionDataset(images, captions, vocab),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=gen,
        collate_fn=functools.partial(pad_batch, pad=vocab.pad),
    )
