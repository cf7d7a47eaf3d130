"""Exercise 5: a 2-layer bidirectional LSTM built from nn.LSTMCells, equal to nn.LSTM's.

The truth is `nn.LSTM(num_layers=2, bidirectional=True)` itself (`TorchStacked`). The planted
mistakes are the course's own cell-by-cell model (`CellStacked`) with one slip, as keyword
options of its constructor; its cells take nn.LSTM's weights in nn.LSTM's order (layer 1
forward, layer 1 backward, layer 2 forward, layer 2 backward), as `autograde.modules`
copies them.
"""

from __future__ import annotations

import torch
from torch import nn

JUDGE_ONLY = True  # a reference and its planted mistakes: never in the grading sandbox


class TorchStacked(nn.Module):
    """The reference: PyTorch's own stacked bidirectional LSTM (time-major, zero initial state)."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=2, bidirectional=True)

    def forward(self, x):
        return self.lstm(x)


def _direction(cell, inputs, state, reverse):
    """Run one cell over a list of (N, H_in) steps; the outputs in time order, and the final state."""
    order = range(len(inputs) - 1, -1, -1) if reverse else range(len(inputs))
    outputs = [None] * len(inputs)
    h, c = state
    for t in order:
        h, c = cell(inputs[t], (h, c))
        outputs[t] = h
    return outputs, (h, c)


class CellStacked(nn.Module):
    """The same model from four nn.LSTMCells; each keyword option plants one slip."""

    def __init__(
        self,
        input_size,
        hidden_size,
        *,
        unreverse=True,
        layer2_reads="both",
        backward_start="zeros",
        h_n_order="layer by layer",
    ):
        super().__init__()
        self.hidden_size = hidden_size
        upper = 2 * hidden_size if layer2_reads == "both" else hidden_size
        self.cells = nn.ModuleList(
            [
                nn.LSTMCell(input_size, hidden_size),
                nn.LSTMCell(input_size, hidden_size),
                nn.LSTMCell(upper, hidden_size),
                nn.LSTMCell(upper, hidden_size),
            ]
        )
        self.unreverse, self.layer2_reads = unreverse, layer2_reads
        self.backward_start, self.h_n_order = backward_start, h_n_order

    def forward(self, x):
        steps = list(x.unbind(0))
        zeros = x.new_zeros(x.shape[1], self.hidden_size)
        hs, cs = [], []
        for layer in range(2):
            fwd, (hf, cf) = _direction(self.cells[2 * layer], steps, (zeros, zeros), reverse=False)
            start = (hf, cf) if self.backward_start == "forward's final state" else (zeros, zeros)
            bwd, (hb, cb) = _direction(self.cells[2 * layer + 1], steps, start, reverse=True)
            if not self.unreverse:
                bwd = bwd[::-1]
            hs += [hf, hb]
            cs += [cf, cb]
            if layer == 0 and self.layer2_reads != "both":
                steps = fwd
            else:
                steps = [torch.cat([f, b], dim=1) for f, b in zip(fwd, bwd)]
        order = [0, 1, 2, 3] if self.h_n_order == "layer by layer" else [0, 2, 1, 3]
        h_n = torch.stack([hs[i] for i in order])
        c_n = torch.stack([cs[i] for i in order])
        return torch.stack(steps), (h_n, c_n)
