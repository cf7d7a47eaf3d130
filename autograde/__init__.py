"""Checks, data and tools for the RNN/GRU/LSTM course.

Each chapter has a check module (e.g. `autograde.lstm_scratch`) whose functions
a notebook's test cells call. A check prints one line when it passes and raises
`CheckFailed` with what is wrong when it does not.
"""

from autograde.verdict import CheckFailed

__all__ = ["CheckFailed", "prepare"]
__version__ = "0.1.0"


def prepare() -> None:
    """A notebook's set-up: put The Time Machine where d2l looks for it."""
    from autograde.data import ensure_time_machine

    ensure_time_machine()
