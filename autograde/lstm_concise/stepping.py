"""Exercise 4: an nn.LSTM fed one time step at a time, carrying its state.

The truth is the LSTM on the whole sequence, `lstm(x, state)`. The planted mistakes are a
step-by-step loop with one slip, as keyword options of `step_by_step`.
"""

from __future__ import annotations

import torch

JUDGE_ONLY = True  # a reference and its planted mistakes: never in the grading sandbox


def whole_sequence(lstm, x, state=None):
    """The reference: one call on the whole sequence."""
    return lstm(x, state)


def step_by_step(lstm, x, state=None, *, carry=True, axis="time", returned="last"):
    """A loop over the time steps; each keyword option plants one slip."""
    time_axis = 1 if lstm.batch_first else 0
    if axis == "other":
        time_axis = 1 - time_axis
    outputs, first = [], None
    current = state
    for t in range(x.shape[time_axis]):
        step = x.narrow(time_axis, t, 1)  # keeps the time axis, of length 1
        out, new = lstm(step, current if carry else state)
        outputs.append(out)
        current = new
        if first is None:
            first = new
    return torch.cat(outputs, dim=time_axis), (first if returned == "first" else current)
