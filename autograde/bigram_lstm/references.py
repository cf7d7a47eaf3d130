"""The right answers of the chapter's exercises, whose keyword options plant the mistakes students
make (judge only: the grading sandbox does not have this module, see `autograde.judge_only`).

The reference batch generator of bigram ids, the chapter's model with dropout and the peephole
LSTM; the fused LSTM's truth and planted mistakes are `autograde.bigram_lstm.cell`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn

from autograde.bigram_lstm.cell import scratch_lstm
from autograde.bigram_lstm.text import SYMBOLS

JUDGE_ONLY = True


def bigram_batches(
    ids,
    batch_size: int,
    num_unrollings: int,
    *,
    carry: bool | str = True,
    stride: int = 2,
    spread: str = "segments",
    emit: str = "bigram",
    transpose: bool = False,
) -> Iterator:
    """Batches of bigram ids, (num_unrollings + 1, batch_size) each, with optional planted mistakes.

    carry:     False starts every batch with a fresh step instead of the previous batch's last one;
               "lost" does too, after drawing a first step that no batch holds
    stride:    how far a cursor moves per step (2: bigrams do not overlap; 1: they overlap)
    spread:    "segments" (cursor b at b * (n // batch_size)) | "together" (every cursor at 0) |
               "adjacent" (cursor b at 2 * b: the rows read neighbouring bigrams)
    emit:      "bigram" (27 * first + second) | "chars" (the first character's id) |
               "swapped" (27 * second + first)
    transpose: True yields (batch_size, num_unrollings + 1)
    """
    ids = torch.as_tensor(ids).reshape(-1).to(torch.int64).cpu()
    n = len(ids)
    segment = n // batch_size
    start = {"segments": segment, "together": 0, "adjacent": 2}[spread]
    cursors = torch.arange(batch_size) * start % n

    def step() -> torch.Tensor:
        nonlocal cursors
        first, second = ids[cursors], ids[(cursors + 1) % n]
        out = {"bigram": SYMBOLS * first + second, "chars": first, "swapped": SYMBOLS * second + first}[emit]
        cursors = (cursors + stride) % n
        return out

    last = step() if carry else torch.empty(0)  # carry="lost": drawn, then never used
    while True:
        steps = (
            [last] + [step() for _ in range(num_unrollings)]
            if carry is True
            else [step() for _ in range(num_unrollings + 1)]
        )
        last = steps[-1]
        batch = torch.stack(steps)
        yield batch.T.contiguous() if transpose else batch


class BigramLSTM(nn.Module):
    """The course's model; options plant mistakes (see the module's docstring)."""

    def __init__(
        self,
        vocab_size,
        embed_size,
        num_hiddens,
        dropout=0.0,
        *,
        where=("input", "output"),
        recurrent=False,
        in_eval=False,
        rescale=True,
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        bound = num_hiddens**-0.5
        self.W = nn.Parameter(torch.empty(embed_size + num_hiddens, 4 * num_hiddens).uniform_(-bound, bound))
        self.b = nn.Parameter(torch.zeros(4 * num_hiddens))
        self.classifier = nn.Linear(num_hiddens, vocab_size)
        self.dropout, self.where, self.recurrent = dropout, where, recurrent
        self.in_eval, self.rescale = in_eval, rescale

    def _drop(self, x):
        if self.dropout == 0 or not (self.training or self.in_eval):
            return x
        keep = (torch.rand_like(x) >= self.dropout).to(x.dtype)
        return x * keep / (1 - self.dropout) if self.rescale else x * keep

    def forward(self, ids, state):
        X = self.embedding(ids)
        if "input" in self.where:
            X = self._drop(X)
        if self.recurrent:  # dropout on the state passed from each step to the next
            ys = []
            for x in X:
                H, C = state
                y, state = scratch_lstm(x[None], (self._drop(H), C), [self.W, self.b])
                ys.append(y[0])
            Y = torch.stack(ys)
        else:
            Y, state = scratch_lstm(X, state, [self.W, self.b])
        if "output" in self.where:
            Y = self._drop(Y)
        logits = self.classifier(Y)
        return logits.reshape(-1, logits.shape[-1]), state


class PeepholeLSTM(nn.Module):
    """The reference; options plant mistakes: o_peek="old" (the output gate reads C_{t-1}),
    full=True (peepholes as full (H, H) matrices), peep="if" (no peephole on the output gate)."""

    def __init__(self, input_size, num_hiddens, *, o_peek="new", full=False, peep="ifo"):
        super().__init__()
        bound = 1 / math.sqrt(num_hiddens)
        self.W = nn.Parameter(torch.empty(input_size + num_hiddens, 4 * num_hiddens).uniform_(-bound, bound))
        self.b = nn.Parameter(torch.zeros(4 * num_hiddens))
        shape = (num_hiddens, num_hiddens) if full else (num_hiddens,)
        self.w_ci, self.w_cf, self.w_co = (nn.Parameter(torch.zeros(shape)) for _ in range(3))
        self.o_peek, self.full, self.peep = o_peek, full, peep

    def _look(self, C, w, gate):
        if gate not in self.peep:
            return 0
        return C @ w if self.full else w * C

    def forward(self, X, state):
        H, C = state
        n = C.shape[1]
        outputs = []
        for x in X:
            z = torch.cat([x, H], dim=1) @ self.W + self.b
            I = torch.sigmoid(z[:, :n] + self._look(C, self.w_ci, "i"))
            F = torch.sigmoid(z[:, n : 2 * n] + self._look(C, self.w_cf, "f"))
            C_new = F * C + I * torch.tanh(z[:, 3 * n :])
            O = torch.sigmoid(z[:, 2 * n : 3 * n] + self._look(C_new if self.o_peek == "new" else C, self.w_co, "o"))
            C = C_new
            H = O * torch.tanh(C)
            outputs.append(H)
        return torch.stack(outputs), (H, C)
