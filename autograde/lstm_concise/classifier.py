"""Exercise 6: a many-to-one classifier, an nn.LSTM then a linear layer on the last step.

`Classifier` is the course's own; its keyword options plant the mistakes students make.
"""

from __future__ import annotations

from torch import nn

JUDGE_ONLY = True  # a reference and its planted mistakes: never in the grading sandbox


class Classifier(nn.Module):
    """(N, L, vocab_size) one-hot, batch-first -> (N, num_classes) scores, read at the last step."""

    def __init__(self, vocab_size, hidden_size, num_classes, *, read="last", batch_first=True):
        super().__init__()
        self.lstm = nn.LSTM(vocab_size, hidden_size, batch_first=batch_first)
        self.head = nn.Linear(hidden_size, num_classes)
        self.read = read

    def forward(self, x):
        output, _ = self.lstm(x)
        step = output[:, -1] if self.read == "last" else output[:, 0]
        return self.head(step)
