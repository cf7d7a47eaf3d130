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

from autograde.devices import cuda_device
from autograde.verdict import CheckFailed, calling, passed, quiet

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

    def __init__(self, vocab_size: int, seed: int, style: str = "scratch", hidden: int = 16,
                 device: torch.device = torch.device("cpu")):
        gen = torch.Generator().manual_seed(seed)
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
            raise CheckFailed(EXERCISE, "begin_state got the device where the batch size belongs: d2l's two "
                              "models order these arguments differently.",
                              "call it with keywords, as d2l does: net.begin_state(batch_size=1, device=device).")
        if batch_size != 1:
            raise CheckFailed(EXERCISE, f"begin_state was asked for a batch of {batch_size}; generation runs one "
                              "sequence.", "net.begin_state(batch_size=1, device=device).")
        if device is None or torch.device(device) != self.device:
            raise CheckFailed(EXERCISE, f"begin_state was asked for device {device!r}, not the device predict was "
                              f"given ({self.device}).", "pass it on: net.begin_state(batch_size=1, device=device).")
        self.begun += 1
        H = torch.zeros(1, self.H, dtype=torch.float64, device=self.device)
        return (H,) if self.style == "scratch" else H.unsqueeze(0)

    def __call__(self, X, state):
        if not isinstance(X, torch.Tensor):
            raise CheckFailed(EXERCISE, f"the net was called with a {type(X).__name__}; it takes a tensor of token "
                              "ids.", "torch.tensor([[token_id]], device=device).")
        if X.dtype.is_floating_point or X.dtype == torch.bool:
            raise CheckFailed(EXERCISE, f"the net was called with a {X.dtype} tensor; it takes integer token ids.",
                              "torch.tensor([[token_id]], device=device) makes an int64 tensor.")
        if tuple(X.shape) != (1, 1):
            raise CheckFailed(EXERCISE, f"the net was called with token ids of shape {tuple(X.shape)}; it takes "
                              "(batch_size, num_steps) = (1, 1): one sequence, one step.",
                              "torch.tensor([[token_id]], device=device), or .reshape(1, 1).")
        if X.device != self.device:
            raise CheckFailed(EXERCISE, f"the input is on {X.device}, the net on {self.device}.",
                              "make the input with device=device.")
        H = state[0]  # (1, hidden): the tuple's one tensor, or the (1, 1, hidden) tensor's one layer
        token = int(X.reshape(-1)[0])
        self.fed.append(token)
        x = torch.nn.functional.one_hot(X.reshape(1), self.V).to(torch.float64)
        H = torch.tanh(x @ self.W_xh + H @ self.W_hh)
        logits = (H @ self.W_hq + self.b_q).to(torch.float32)
        return logits, ((H,) if self.style == "scratch" else H.unsqueeze(0))


def reference(prefix, num_preds, net, vocab, device, *, warm_up=True, feed_last_twice=False, keep_prefix=True,
              carry=True, carry_in_generation=True):
    """d2l's predict_ch8, with optional planted mistakes.

    warm_up: False starts the generation from a fresh state; feed_last_twice: the prefix's last
    token is fed once more before the generation; keep_prefix: False returns only the new text;
    carry: False gives every call a fresh state; carry_in_generation: False gives every call of the
    generation the state the warm-up ended with.
    """
    def fresh():
        return net.begin_state(batch_size=1, device=device)

    def step(token, state):
        X = torch.tensor([[token]], device=device)
        return net(X, state if carry else fresh())

    state = fresh()
    outputs = [vocab[prefix[0]]]
    if warm_up:
        for y in prefix[1:]:
            _, state = step(outputs[-1], state)
            outputs.append(vocab[y])
    else:
        outputs = [vocab[y] for y in prefix]
    if feed_last_twice:
        _, state = step(outputs[-1], state)
    for _ in range(num_preds):
        y, new_state = step(outputs[-1], state)
        state = new_state if carry_in_generation else state
        outputs.append(int(y.argmax(dim=1).reshape(1)))
    generated = outputs if keep_prefix else outputs[len(prefix):]
    return "".join(vocab.idx_to_token[i] for i in generated)


MISTAKES = (
    ("the prefix is not fed through the network first (no warm-up), or the warm-up's state is thrown away: "
     "generation starts from a blank state.",
     "feed every prefix token but the last, carrying the state: `_, state = net(X, state)`.", dict(warm_up=False)),
    ("the last prefix character is fed twice: once at the end of the warm-up and again as the first input of "
     "the generation.", "the warm-up feeds prefix[0] ... prefix[-2]; the generation loop starts by feeding "
     "prefix[-1].", dict(feed_last_twice=True)),
    ("the returned text leaves out the prefix.", "return the prefix followed by the generated characters, as "
     "d2l.predict_ch8 does.", dict(keep_prefix=False)),
    ("the state is not carried from one step to the next.",
     "keep the state each call returns and pass it to the next call: `y, state = net(X, state)`.",
     dict(carry=False)),
    ("the state is not carried from one generated character to the next: every step starts from the state "
     "the warm-up ended with.", "keep the state each call returns: `y, state = net(X, state)`.",
     dict(carry_in_generation=False)),
)


@dataclass(frozen=True)
class Case:
    prefix: str
    num_preds: int
    seed: int
    style: str


CASES = (Case("time traveller", 20, 0, "scratch"), Case("the ", 15, 1, "module"),
         Case("m", 12, 2, "scratch"), Case("a machine", 1, 3, "module"), Case("traveller", 0, 4, "scratch"))


def _call(fn, case: Case, device=torch.device("cpu"), seed: int = 0):
    vocab = Vocab()
    net = CheckNet(len(vocab), case.seed, case.style, device=device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with calling(EXERCISE, "predict"):
            text = fn(case.prefix, case.num_preds, net, vocab, device)
    return text, net, vocab


def _expected(case: Case, device=torch.device("cpu"), **planted):
    vocab = Vocab()
    net = CheckNet(len(vocab), case.seed, case.style, device=device)
    with quiet():
        return reference(case.prefix, case.num_preds, net, vocab, device, **planted), net


def _check_case(fn, case: Case) -> None:
    text, net, vocab = _call(fn, case)
    expected, right_net = _expected(case)
    where = f"for the prefix {case.prefix!r} and num_preds={case.num_preds}"
    if not isinstance(text, str):
        raise CheckFailed(EXERCISE, f"`predict` returned a {type(text).__name__}; it returns a string.",
                          "join the tokens: ''.join(vocab.idx_to_token[i] for i in outputs).")
    if text == expected:
        return
    for seed in (1, 2, 3):
        again, _, _ = _call(fn, case, seed=seed)
        if again != text:
            raise CheckFailed(EXERCISE, f"{where}, two runs gave different texts ({text!r} and {again!r}): the next "
                              "character is sampled instead of chosen greedily.",
                              "take the most likely token: int(y.argmax(dim=1).reshape(1)).")
    for problem, hint, planted in MISTAKES:
        if text == _expected(case, **planted)[0]:
            raise CheckFailed(EXERCISE, f"{where}: {problem}", hint)
    if net.begun > 1:
        raise CheckFailed(EXERCISE, f"{where}, begin_state was called {net.begun} times: the state restarts.",
                          "call it once, before the warm-up, and carry the state from then on.")
    if len(text) != len(expected):
        raise CheckFailed(EXERCISE, f"{where}, the text has {len(text)} characters, expected {len(expected)} "
                          f"(the prefix, then {case.num_preds} new ones).")
    if not text.startswith(case.prefix):
        raise CheckFailed(EXERCISE, f"{where}, the text {text!r} does not start with the prefix.")
    if net.fed[:len(right_net.fed)] != right_net.fed[:len(net.fed)] or len(net.fed) != len(right_net.fed):
        got = "".join(vocab.idx_to_token[i] for i in net.fed)
        want = "".join(vocab.idx_to_token[i] for i in right_net.fed)
        raise CheckFailed(EXERCISE, f"{where}, the net was fed {got!r}; expected {want!r} (the prefix, then each "
                          "generated character but the last).")
    raise CheckFailed(EXERCISE, f"{where}, got {text!r}, expected {expected!r}.",
                      "after the warm-up, append the argmax of each output and feed it back in.")


def check(fn) -> None:
    for case in CASES:
        _check_case(fn, case)
    gpu = cuda_device()
    if gpu is not None:
        for case in CASES[:2]:
            text, _, _ = _call(fn, case, device=gpu)
            if text != _expected(case)[0]:
                raise CheckFailed(EXERCISE, f"on CUDA, for the prefix {case.prefix!r}, got {text!r} although the CPU "
                                  "gives the right text.", "make every tensor with device=device.")
    where = "on the CPU and on CUDA" if gpu is not None else "on the CPU; the device you are given is passed on"
    passed(EXERCISE, f"the same text as d2l.predict_ch8 for {len(CASES)} prefixes, with both kinds of d2l model "
                     f"(scratch and nn.Module), {where}.")
