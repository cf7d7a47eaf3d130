"""The many-to-one task: name the marker hidden near the start of a long sequence.

Each sequence has `length` tokens from a vocabulary of MARKERS + DISTRACTORS symbols: one
marker (0, 1, 2 or 3: the class) sits in one of the first WINDOW positions, every other
token is a random distractor. Reading the answer at the last step means carrying the marker
across the whole sequence; reading it at the first step finds it only when it is at step 0.
Generated here, offline, from a seed.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

MARKERS, DISTRACTORS, WINDOW = 4, 4, 3
VOCAB = MARKERS + DISTRACTORS


def batch(n: int, length: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(x (n, length, VOCAB) one-hot float32, batch-first; y (n,) the class of each sequence)."""
    tokens = MARKERS + torch.randint(DISTRACTORS, (n, length), generator=gen)
    y = torch.randint(MARKERS, (n,), generator=gen)
    where = torch.randint(min(WINDOW, length), (n,), generator=gen)
    tokens[torch.arange(n), where] = y
    return F.one_hot(tokens, VOCAB).float(), y


def open_forget_gates(model: nn.Module, bias: float = 3.0) -> None:
    """Start every LSTM's forget gate nearly open (bias_ih's second quarter): the memory keeps by default."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.LSTM, nn.LSTMCell)):
                for name, p in m.named_parameters():
                    if name.startswith("bias_ih"):
                        quarter = p.shape[0] // 4
                        p[quarter : 2 * quarter].fill_(bias)


def train(model: nn.Module, length: int, steps: int, seed: int = 0, batch_size: int = 64, lr: float = 0.01) -> None:
    """Adam on fresh batches, gradients clipped to norm 1."""
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        x, y = batch(batch_size, length, gen)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()


def accuracy(model: nn.Module, length: int, n: int = 1000, seed: int = 12345) -> float:
    """The share of n fresh test sequences (a fixed seed) whose class the model gets right."""
    x, y = batch(n, length, torch.Generator().manual_seed(seed))
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


@contextlib.contextmanager
def one_thread():
    """Train a small model on one CPU thread: more threads only wait for each other (and for the
    other programs on the machine). The number of threads is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
