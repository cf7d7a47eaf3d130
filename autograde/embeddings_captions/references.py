"""The right answers of the chapter's exercises, and the mistakes planted in them (judge only).

`F.embedding` for the one-hot product, the caption model's `nn.Embedding`, and the course's
`DecoderRNN`; each planted mistake is a keyword option of one of them. The grading sandbox
does not have this module (`autograde.judge_only`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from autograde.embeddings_captions.decoder import END
from autograde.mistakes import mistake

JUDGE_ONLY = True


def embed_reference(ids, weight, *, transpose=False, flatten=False, detach=False):
    """F.embedding(ids, weight), with optional planted mistakes."""
    w = weight.detach() if detach else weight
    out = F.embedding(ids, w.T if transpose else w)
    return out.reshape(-1, out.shape[-1]) if flatten else out


EMBED_MISTAKES = (
    mistake(
        embed_reference,
        "the weight is transposed: row i of weight is the embedding of id i.",
        "one_hot(ids) @ weight, with weight of shape (num_embeddings, embedding_dim).",
        transpose=True,
    ),
    mistake(
        embed_reference,
        "the result is flattened to (number of ids, E); it has the shape ids.shape + (E,).",
        "F.one_hot keeps the ids' shape and adds one dimension; the product with weight keeps it too: do not reshape.",
        flatten=True,
    ),
    mistake(
        embed_reference,
        "no gradient reaches weight: it is detached (or the product runs under torch.no_grad()).",
        "use weight itself, not weight.detach() or weight.data.",
        detach=True,
    ),
)


def layer_reference(
    num_embeddings,
    embedding_dim,
    pad_id,
    max_norm,
    *,
    padding="given",
    renorm=True,
    rows=0,
    swap=False,
    norm_type=2.0,
    scale_grad=False,
    sparse=False,
):
    """The caption model's embedding, with optional planted mistakes."""
    padding_idx = {"given": pad_id, "none": None, "zero": 0}[padding]
    size = (embedding_dim, num_embeddings + rows) if swap else (num_embeddings + rows, embedding_dim)
    return nn.Embedding(
        *size,
        padding_idx=padding_idx,
        max_norm=max_norm if renorm else None,
        norm_type=norm_type,
        scale_grad_by_freq=scale_grad,
        sparse=sparse,
    )


LAYER_MISTAKES = (
    mistake(
        layer_reference,
        "padding_idx is not set: the <pad> row does not start at zero and a gradient reaches it.",
        "nn.Embedding(..., padding_idx=pad_id).",
        padding="none",
    ),
    mistake(
        layer_reference,
        "padding_idx is 0 (the id of <start>), not pad_id.",
        "nn.Embedding(..., padding_idx=pad_id).",
        padding="zero",
    ),
    mistake(
        layer_reference,
        "max_norm is ignored: rows longer than max_norm are not renormalised when they are looked up.",
        "nn.Embedding(..., max_norm=max_norm).",
        renorm=False,
    ),
    mistake(
        layer_reference,
        "the table has num_embeddings - 1 rows; ids run from 0 to num_embeddings - 1, so it needs num_embeddings rows.",
        "nn.Embedding(num_embeddings, embedding_dim, ...).",
        rows=-1,
    ),
    mistake(
        layer_reference,
        "the table has num_embeddings + 1 rows: one too many.",
        "nn.Embedding(num_embeddings, embedding_dim, ...): ids 0 to num_embeddings - 1.",
        rows=1,
    ),
    mistake(
        layer_reference,
        "the sizes are swapped: the table has embedding_dim rows of num_embeddings numbers.",
        "nn.Embedding(num_embeddings, embedding_dim, ...): one row per id.",
        swap=True,
    ),
    mistake(
        layer_reference,
        "the norm is not the Euclidean one: max_norm compares the 2-norm of each row (norm_type=2, the default).",
        "leave norm_type at 2.",
        norm_type=1.0,
    ),
    mistake(
        layer_reference,
        "scale_grad_by_freq is on: each row's gradient is divided by how often its id occurs in the batch.",
        "leave scale_grad_by_freq=False.",
        scale_grad=True,
    ),
    mistake(
        layer_reference,
        "the gradient is sparse (sparse=True): optimizers such as Adam do not take sparse gradients.",
        "leave sparse=False.",
        sparse=True,
    ),
)


class Reference(nn.Module):
    """The course's DecoderRNN. Keyword options plant mistakes (the defaults are right)."""

    def __init__(
        self,
        embed_size,
        hidden_size,
        vocab_size,
        num_layers=1,
        *,
        words="drop last",
        features="first",
        time_major=False,
        softmax=False,
        returns="list",
        stop=True,
        include_end=True,
        feed="prediction",
        carry=True,
        given_states=True,
        max_len_used=True,
        extra_steps=0,
    ):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
        self.linear = nn.Linear(hidden_size, vocab_size)
        self.words, self.features, self.time_major, self.softmax = words, features, time_major, softmax
        self.returns, self.stop, self.include_end, self.feed = returns, stop, include_end, feed
        self.carry, self.given_states, self.max_len_used, self.extra_steps = (
            carry,
            given_states,
            max_len_used,
            extra_steps,
        )

    def forward(self, features, captions):
        words = {"drop last": captions[:, :-1], "drop first": captions[:, 1:], "all": captions}[self.words]
        embeddings = self.embed(words)  # (B, T-1, E)
        image = features.unsqueeze(1)  # (B, 1, E)
        inputs = {
            "first": lambda: torch.cat([image, embeddings], dim=1),
            "last": lambda: torch.cat([embeddings, image], dim=1),
            "none": lambda: embeddings,
        }[self.features]()
        if self.time_major:  # a batch-first tensor read as time-major: the batch becomes time
            out = self.lstm(inputs.transpose(0, 1))[0].transpose(0, 1)
        else:
            out = self.lstm(inputs)[0]
        scores = self.linear(out)  # (B, T, V)
        return scores.softmax(dim=-1) if self.softmax else scores

    def sample(self, inputs, states=None, max_len=20):
        given = states if self.given_states else None
        states, x, ids = given, inputs, []
        for _ in range((max_len if self.max_len_used else 20) + self.extra_steps):
            out, new_states = self.lstm(x, states)  # out (1, 1, H)
            states = new_states if self.carry else given
            best = self.linear(out.squeeze(1)).argmax(dim=1)  # (1,)
            if int(best) == END and not self.include_end:
                break
            ids.append(int(best))
            if int(best) == END and self.stop:
                break
            x = self.embed(best).unsqueeze(1) if self.feed == "prediction" else inputs
        return torch.tensor(ids) if self.returns == "tensor" else ids


FORWARD_MISTAKES = (
    mistake(
        Reference,
        "the last caption token is not dropped: the LSTM reads the features and all T words, so "
        "there are T + 1 steps of scores.",
        "embed captions[:, :-1]: <end> is only ever a target, never an input.",
        words="all",
    ),
    mistake(
        Reference,
        "the first caption token (<start>) is dropped instead of the last.",
        "embed captions[:, :-1]: the features predict <start>, <start> predicts the first word...",
        words="drop first",
    ),
    mistake(
        Reference,
        "the image features are not fed: the LSTM reads only the words.",
        "torch.cat([features.unsqueeze(1), embeddings], dim=1): the features are step 0's input.",
        features="none",
    ),
    mistake(
        Reference,
        "the image features are fed last, after the words; they are the first input.",
        "torch.cat([features.unsqueeze(1), embeddings], dim=1).",
        features="last",
    ),
    mistake(
        Reference,
        "time and batch are swapped: the LSTM reads the (B, T, E) inputs as time-major, so it runs along the batch.",
        "nn.LSTM(..., batch_first=True), or transpose to (T, B, E) and back.",
        time_major=True,
    ),
    mistake(
        Reference,
        "forward applies a softmax: nn.CrossEntropyLoss applies log-softmax itself, so forward returns the raw scores.",
        "return the linear layer's output as it is.",
        softmax=True,
    ),
)


SAMPLE_MISTAKES = (
    mistake(
        Reference,
        "sample returns a tensor; it returns a Python list of token ids (ints).",
        "append int(best) (or best.item()) to a list, and return the list.",
        returns="tensor",
    ),
    mistake(
        Reference,
        "sample goes on after <end>: the list has ids beyond it.",
        "stop right after appending the id of <end> (1).",
        stop=False,
    ),
    mistake(
        Reference,
        "<end> is left out: the list stops before it; it ends with <end>.",
        "append the predicted id first, then stop if it is <end>.",
        include_end=False,
    ),
    mistake(
        Reference,
        "sample does not feed back its own prediction: every step reads the image features again.",
        "after step 0, the input is the embedding of the id just predicted: self.embed(best).unsqueeze(1).",
        feed="features",
    ),
    mistake(
        Reference,
        "the state is not carried from step to step: every step starts again from `states`.",
        "keep what the LSTM returns: out, states = self.lstm(x, states).",
        carry=False,
    ),
    mistake(
        Reference,
        "the `states` you are given are ignored: sample starts from zeros.",
        "pass states to the LSTM's first step.",
        given_states=False,
    ),
    mistake(
        Reference,
        "max_len is ignored: sample always stops after 20 ids at most.",
        "loop at most max_len times.",
        max_len_used=False,
    ),
    mistake(
        Reference,
        "one id too many: sample makes up to max_len + 1 ids.",
        "loop at most max_len times: range(max_len).",
        extra_steps=1,
    ),
)
