"""Checks for the chapter "Embeddings and an LSTM that writes captions".

Each function takes the student's function (or class), prints one line when it is right and raises
`CheckFailed` naming the mistake when it is not. The data (pictures the course draws, their
captions, a vocabulary and a DataLoader) is `autograde.embeddings_captions.scenes`.
"""

from __future__ import annotations

from autograde import engine
from autograde.embeddings_captions import decoder, embedding
from autograde.embeddings_captions.decoder import FORWARD as DECODER_FORWARD
from autograde.embeddings_captions.decoder import SAMPLE as DECODER_SAMPLE
from autograde.embeddings_captions.embedding import EMBED, LAYER
from autograde.verdict import CheckFailed

__all__ = [
    "check_embed_by_matmul",
    "check_caption_embedding",
    "check_decoder_forward",
    "check_decoder_sample",
    "CheckFailed",
    "EMBED",
    "LAYER",
    "DECODER_FORWARD",
    "DECODER_SAMPLE",
]


check_embed_by_matmul = embedding.check_embed_by_matmul
check_caption_embedding = embedding.check_caption_embedding
check_decoder_forward = decoder.check_forward
check_decoder_sample = decoder.check_sample

engine.name_checks(globals())
