"""Checks for the chapter "Embeddings and an LSTM that writes captions".

Each function takes the student's function (or class), prints one line when it is right and raises
`CheckFailed` naming the mistake when it is not. The data (pictures the course draws, their
captions, a vocabulary and a DataLoader) is `autograde.embeddings_captions.scenes`.
"""

from __future__ import annotations

from autograde.embeddings_captions import decoder, embedding
from autograde.embeddings_captions.decoder import FORWARD as DECODER_FORWARD
from autograde.embeddings_captions.decoder import SAMPLE as DECODER_SAMPLE
from autograde.embeddings_captions.embedding import EMBED, LAYER
from autograde.verdict import CheckFailed

__all__ = ["check_embed_by_matmul", "check_caption_embedding", "check_decoder_forward", "check_decoder_sample",
           "CheckFailed", "EMBED", "LAYER", "DECODER_FORWARD", "DECODER_SAMPLE"]


def check_embed_by_matmul(embed_by_matmul) -> None:
    """Exercise 1: one-hot times weight equals nn.Embedding's lookup, values and gradient."""
    embedding.check_embed_by_matmul(embed_by_matmul)


def check_caption_embedding(caption_embedding) -> None:
    """Exercise 2: the nn.Embedding with padding_idx and max_norm that a spec asks for."""
    embedding.check_caption_embedding(caption_embedding)


def check_decoder_forward(DecoderRNN) -> None:  # noqa: N803 - the class the notebook defines
    """Exercise 3: DecoderRNN.forward (teacher forcing) against the reference with the same weights."""
    decoder.check_forward(DecoderRNN)


def check_decoder_sample(DecoderRNN) -> None:  # noqa: N803
    """Exercise 3: DecoderRNN.sample (greedy) against the reference with the same weights."""
    decoder.check_sample(DecoderRNN)
