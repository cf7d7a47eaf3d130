"""Greedy generation in d2l's form, checked on small fixed models.

`predict(prefix, num_preds, net, vocab, device)` (d2l's predict_ch8): start from
`net.begin_state(batch_size=1, device=device)`, feed the prefix one token at a time carrying
the state (the warm-up), then `num_preds` times feed the last token and append the most likely
next one. The check's nets record what they are fed and say what is wrong with a call; a
catalogue of planted mistakes names the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from autograde import engine, judge_only, seeds
from autograde.engine import Case
from autograde.verdict import CheckFailed, calling

EXERCISE = "Exercise 6 (predict)"
TOKENS = ("<unk>", " ", "e", "t", "a", "i", "r", "h", "m", "l", "v", "s", "n", "o", "c")


class Vocab:
    """What predict_ch8 uses of d2l's Vocab: vocab[token] (or a list), idx_to_token, to_tokens, len."""

    def __init__(self, tokens=TOKENS):
        self.idx_to_token = list(tokens)
        self.token_to_idx = {t: i for i, t in enumerate(self.idx_to_token)}

    def __len__(self):
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        if not isinstance(tokens, (list, tuple)):
            return self.token_to_idx.get(tokens, 0)
        return [self[t] for t in tokens]

    def to_tokens(self, indices):
        if hasattr(indices, "tolist"):
            indices = indices.tolist()
        if not isinstance(indices, (list, tuple)):
            return self.idx_to_token[int(indices)]
        return [self.idx_to_token[int(i)] for i in indices]


class CheckNet:
    """A small seeded RNN with the interface of d2l's models, that checks how it is called.

    style "scratch": like d2l.RNNModelScratch, begin_state(batch_size, device) -> (H,) with H (1, hidden);
    style "module":  like d2l.RNNModel(nn.RNN), begin_state(device, batch_size=1) -> H (1, 1, hidden).
    __call__(X, state) takes token ids X of shape (batch=1, steps=1) and returns (logits (1, V), state).
    """

    def __init__(
        self,
        vocab_size: int,
        seed: int,
        style: str = "scratch",
        hidden: int = 16,
        device: torch.device = torch.device("cpu"),
    ):
        gen = seeds.generator(seed)
        V, H = vocab_size, hidden
        self.V, self.H, self.style, self.device = V, H, style, torch.device(device)
        self.W_xh = (torch.randn(V, H, generator=gen, dtype=torch.float64) * 1.5).to(self.device)
        self.W_hh = (torch.randn(H, H, generator=gen, dtype=torch.float64) * 0.6).to(self.device)
        self.W_hq = (torch.randn(H, V, generator=gen, dtype=torch.float64) * 1.5).to(self.device)
        self.b_q = torch.zeros(V, dtype=torch.float64, device=self.device)
        self.b_q[0] = -100.0  # like a trained model, it never writes <unk>
        self.fed: list[int] = []  # token ids, in the order they were fed
        self.begun = 0  # how many times begin_state was called

    # d2l's two signatures
    def begin_state(self, *args, **kwargs):
        if self.style == "scratch":
            names = ("batch_size", "device")
        else:
            names = ("device", "batch_size")
        given = dict(zip(names, args), **kwargs)
        batch_size, device = given.get("batch_size", 1), given.get("device")
        if isinstance(batch_size, torch.device) or isinstance(device, int):
            raise CheckFailed(
                EXERCISE,
                "begin_state got the device where the batch size belongs: d2l's two "
                "models order these arguments differently.",
                "call it with keywords, as d2l does: net.begin_state(batch_size=1, device=device).",
            )
        if batch_size != 1:
            raise CheckFailed(
                EXERCISE,
                f"begin_state was asked for a batch of {batch_size}; generation runs one sequence.",
                "net.begin_state(batch_size=1, device=device).",
            )
        if device is None or torch.device(device) != self.device:
            raise CheckFailed(
                EXERCISE,
                f"begin_state was asked for device {device!r}, not the device predict was given ({self.device}).",
                "pass it on: net.begin_state(batch_size=1, device=device).",
            )
        self.begun += 1
        H = torch.zeros(1, self.H, dtype=torch.float64, device=self.device)
        return (H,) if self.style == "scratch" else H.unsqueeze(0)

    def __call__(self, X, state):
        if not isinstance(X, torch.Tensor):
            raise CheckFailed(
                EXERCISE,
                f"the net was called with a {type(X).__name__}; it takes a tensor of token ids.",
                "torch.tensor([[token_id]], device=device).",
            )
        if X.dtype.is_floating_point or X.dtype == torch.bool:
            raise CheckFailed(
                EXERCISE,
                f"the net was called with a {X.dtype} tensor; it takes integer token ids.",
                "torch.tensor([[token_id]], device=device) makes an int64 tensor.",
            )
        if tuple(X.shape) != (1, 1):
            raise CheckFailed(
                EXERCISE,
                f"the net was called with token ids of shape {tuple(X.shape)}; it takes "
                "(batch_size, num_steps) = (1, 1): one sequence, one step.",
                "torch.tensor([[token_id]], device=device), or .reshape(1, 1).",
            )
        if X.device != self.device:
            raise CheckFailed(
                EXERCISE, f"the input is on {X.device}, the net on {self.device}.", "make the input with device=device."
            )
        H = state[0]  # (1, hidden): the tuple's one tensor, or the (1, 1, hidden) tensor's one layer
        token = int(X.reshape(-1)[0])
        self.fed.append(token)
        x = torch.nn.functional.one_hot(X.reshape(1), self.V).to(torch.float64)
        H = torch.tanh(x @ self.W_xh + H @ self.W_hh)
        logits = (H @ self.W_hq + self.b_q).to(torch.float32)
        return logits, ((H,) if self.style == "scratch" else H.unsqueeze(0))


@dataclass(frozen=True)
class Prompt:
    prefix: str
    num_preds: int
    seed: int
    style: str


CASES = (
    Prompt("time traveller", 20, 0, "scratch"),
    Prompt("the ", 15, 1, "module"),
    Prompt("m", 12, 2, "scratch"),
    Prompt("a machine", 1, 3, "module"),
    Prompt("traveller", 0, 4, "scratch"),
)


def _case(p: Prompt, index: int) -> Case:
    def make(device, dtype):
        vocab = Vocab()
        return p.prefix, p.num_preds, CheckNet(len(vocab), p.seed, p.style, device=device), vocab, device

    return Case(f"for the prefix {p.prefix!r} and num_preds={p.num_preds}", make, on_devices=index < 2)


def _run(f, args, seed: int = 0):
    """The text, the token ids the net was fed, and how often begin_state was called."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        text = f(*args)
    net = args[2]
    return text, list(net.fed), net.begun


def _again(fn, case: Case, args) -> list:
    """The texts of three more runs with other seeds: greedy generation gives the same every time."""
    texts = []
    for seed in (1, 2, 3):
        with calling(EXERCISE, "predict"):
            texts.append(_run(fn, case.make(engine.CPU, None), seed=seed)[0])
    return texts


def _same(got, want) -> bool:
    return got[0] == want[0]


def _read(got, case: Case):
    if not isinstance(got[0], str):
        raise CheckFailed(
            EXERCISE,
            f"`predict` returned a {type(got[0]).__name__}; it returns a string.",
            "join the tokens: ''.join(vocab.idx_to_token[i] for i in outputs).",
        )
    return got


def _sampled(case: Case, got, want, again: list) -> CheckFailed | None:
    """Greedy generation gives the same text every time; sampling does not."""
    for text in again:
        if text != got[0]:
            return CheckFailed(
                EXERCISE,
                f"{case.label}, two runs gave different texts ({got[0]!r} and "
                f"{text!r}): the next character is sampled instead of chosen greedily.",
                "take the most likely token: int(y.argmax(dim=1).reshape(1)).",
            )
    return None


def _explain(case: Case, got, want) -> CheckFailed:
    (text, fed, begun), (expected, right_fed, _) = got, want
    prefix, num_preds, _, vocab, _ = case.make(engine.CPU, None)
    if begun > 1:
        return CheckFailed(
            EXERCISE,
            f"{case.label}, begin_state was called {begun} times: the state restarts.",
            "call it once, before the warm-up, and carry the state from then on.",
        )
    if len(text) != len(expected):
        return CheckFailed(
            EXERCISE,
            f"{case.label}, the text has {len(text)} characters, expected {len(expected)} "
            f"(the prefix, then {num_preds} new ones).",
        )
    if not text.startswith(prefix):
        return CheckFailed(EXERCISE, f"{case.label}, the text {text!r} does not start with the prefix.")
    if fed != right_fed:
        fed_text = "".join(vocab.idx_to_token[i] for i in fed)
        right = "".join(vocab.idx_to_token[i] for i in right_fed)
        return CheckFailed(
            EXERCISE,
            f"{case.label}, the net was fed {fed_text!r}; expected {right!r} (the prefix, "
            "then each generated character but the last).",
        )
    return CheckFailed(
        EXERCISE,
        f"{case.label}, got {text!r}, expected {expected!r}.",
        "after the warm-up, append the argmax of each output and feed it back in.",
    )


PREDICT = engine.Exercise(
    label=EXERCISE,
    name="predict",
    reference=judge_only.function("autograde.rnn_scratch.references:predict"),
    cases=lambda: [_case(p, i) for i, p in enumerate(CASES)],
    same=_same,
    explain=_explain,
    mistakes=judge_only.sequence("autograde.rnn_scratch.references:PREDICT_MISTAKES"),
    run=_run,
    read=_read,
    observe=_again,
    suspect=_sampled,
    combine=True,
    meta=False,
)  # CheckNet reads token values: the device given is checked by begin_state instead


check = engine.exercise_check(
    PREDICT,
    f"the same text as d2l.predict_ch8 for {len(CASES)} prefixes, with both kinds "
    "of d2l model (scratch and nn.Module); the device you are given is passed on",
    "Exercise 6: greedy generation with a warm-up, like d2l.predict_ch8.",
)
