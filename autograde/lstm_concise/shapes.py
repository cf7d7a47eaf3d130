"""Exercises 1 and 2: nn.LSTM's shapes and its number of parameters, by arithmetic.

The ground truth is a real `nn.LSTM` (for the parameters, built on the `meta` device: shapes
without numbers); the planted mistakes are the arithmetic with one slip, as keyword options of
`shapes` and `count`.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from autograde.verdict import quiet

JUDGE_ONLY = True  # a reference and its planted mistakes: never in the grading sandbox

META = torch.device("meta")


def lstm_shapes(input_shape, hidden_size, num_layers=1, bidirectional=False, proj_size=0, batch_first=False):
    """The ground truth: run a real nn.LSTM and read the shapes it returns."""
    return _real_shapes(tuple(input_shape), hidden_size, num_layers, bidirectional, proj_size, batch_first)


@functools.cache
def _real_shapes(input_shape, hidden_size, num_layers, bidirectional, proj_size, batch_first):
    # On the CPU, tiny and without gradients: nn.LSTM's forward on `meta` is ten times slower.
    with quiet(), torch.no_grad():
        lstm = nn.LSTM(
            input_shape[-1],
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            proj_size=proj_size,
            batch_first=batch_first,
        )
        output, (h_n, c_n) = lstm(torch.zeros(input_shape))
    return tuple(output.shape), tuple(h_n.shape), tuple(c_n.shape)


def shapes(
    input_shape,
    hidden_size,
    num_layers=1,
    bidirectional=False,
    proj_size=0,
    batch_first=False,
    *,
    width="D*H_out",
    rows="D*num_layers",
    projection="used",
    cell="H_cell",
    states="fixed",
    output_layout="follows batch_first",
    unbatched_states="no batch",
):
    """The shapes by arithmetic; each keyword option plants one slip."""
    D = 2 if bidirectional else 1
    H_out = proj_size if proj_size > 0 and projection == "used" else hidden_size
    H_cell = hidden_size if cell == "H_cell" else (proj_size or hidden_size)
    features = {"D*H_out": D * H_out, "H_out": H_out}[width]
    n_rows = {"D*num_layers": D * num_layers, "num_layers": num_layers, "D": D}[rows]
    if len(input_shape) == 2:  # unbatched (L, H_in)
        L = input_shape[0]
        if unbatched_states == "batch of 1":
            return (L, features), (n_rows, 1, H_out), (n_rows, 1, H_cell)
        return (L, features), (n_rows, H_out), (n_rows, H_cell)
    if batch_first:
        N, L = input_shape[0], input_shape[1]
    else:
        L, N = input_shape[0], input_shape[1]
    out_batch_first = batch_first if output_layout == "follows batch_first" else False
    output = (N, L, features) if out_batch_first else (L, N, features)
    if states == "follow batch_first" and batch_first:
        return output, (N, n_rows, H_out), (N, n_rows, H_cell)
    return output, (n_rows, N, H_out), (n_rows, N, H_cell)


def lstm_count(input_size, hidden_size, num_layers=1, bidirectional=False, proj_size=0, bias=True):
    """The ground truth: sum(p.numel()) over a real nn.LSTM's parameters (on `meta`: no memory)."""
    with quiet():
        lstm = nn.LSTM(
            input_size,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            proj_size=proj_size,
            bias=bias,
            device=META,
        )
    return sum(p.numel() for p in lstm.parameters())


def count(
    input_size,
    hidden_size,
    num_layers=1,
    bidirectional=False,
    proj_size=0,
    bias=True,
    *,
    gates=4,
    biases=2,
    bias_flag="read",
    upper_input="D*H_out",
    directions="all",
    recurrent_input="H_out",
    projection="counted",
):
    """The number of parameters by arithmetic; each keyword option plants one slip."""
    D = 2 if bidirectional else 1
    H_out = proj_size if proj_size > 0 else hidden_size
    rows = gates * hidden_size
    total = 0
    for layer in range(num_layers):
        if layer == 0:
            inputs = input_size
        else:
            inputs = {"D*H_out": D * H_out, "H_out": H_out, "input_size": input_size}[upper_input]
        recurrent = H_out if recurrent_input == "H_out" else hidden_size
        one = rows * inputs + rows * recurrent
        if bias or bias_flag == "ignored":
            one += biases * rows
        if proj_size > 0 and projection == "counted":
            one += proj_size * hidden_size
        total += one * (D if directions == "all" else 1)
    return total
