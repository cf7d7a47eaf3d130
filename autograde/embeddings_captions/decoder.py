"""Exercise 3: the captioning decoder of the Udacity CVND project, `DecoderRNN`.

The course's reference is a `DecoderRNN` made of torch.nn layers (nn.Embedding, a batch-first
nn.LSTM, nn.Linear); each planted mistake is a keyword option of it. A student's class may name
and arrange its layers as it likes (one nn.LSTM, batch-first or not, or nn.LSTMCells): the check
finds its layers by kind (`autograde.modules`), copies the reference's weights in, and compares

- forward: the scores (B, T, vocab_size), the gradient of every weight and of the image features;
- sample: the list of token ids greedy decoding returns, for several images, state and max_len.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from autograde import engine, judge_only, modules, seeds
from autograde.engine import Case
from autograde.verdict import CheckFailed, calling

LABEL = "Exercise 3 (DecoderRNN)"
NAME = "DecoderRNN"
START, END, PAD = 0, 1, 3  # the vocabulary's ids, as in the original project (<pad> is the course's choice)
TOL = dict(rtol=1e-7, atol=1e-9)

# The course's DecoderRNN and its planted mistakes (judge only).
Reference = judge_only.function("autograde.embeddings_captions.references:Reference")
FORWARD_MISTAKES = judge_only.sequence("autograde.embeddings_captions.references:FORWARD_MISTAKES")
SAMPLE_MISTAKES = judge_only.sequence("autograde.embeddings_captions.references:SAMPLE_MISTAKES")


# ---------------------------------------------------------------------------
# forward


@dataclass(frozen=True)
class Size:
    embed: int
    hidden: int
    vocab: int
    layers: int
    batch: int
    steps: int  # T, the captions' length
    seed: int


FORWARD_SIZES = (Size(6, 5, 11, 1, 3, 7, 0), Size(4, 7, 9, 2, 4, 4, 1), Size(5, 5, 8, 1, 1, 5, 2))


def reference_weights(embed, hidden, vocab, layers, seed: int, scale: float = 1.0, salted: bool = True):
    """The weights of a seeded reference as plain data (tensors by kind of layer); `salted`: with the
    batch's salt (autograde.seeds), else the course's own seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seeds.seed(seed) if salted else seed)
        # The reference's layers, made in its order: the same numbers, without the reference's code.
        model = nn.ModuleList(
            [nn.Embedding(vocab, embed), nn.LSTM(embed, hidden, layers, batch_first=True), nn.Linear(hidden, vocab)]
        ).double()
    weights = modules.weights_by_kind(model)
    if scale != 1.0:
        weights = {
            kind: [{k: v * scale for k, v in layer.items()} for layer in layers_] for kind, layers_ in weights.items()
        }
    return weights


def _captions(s: Size, gen: torch.Generator) -> torch.Tensor:
    """<start>, words (ids 4 and up: no special token inside), <end>."""
    middle = torch.randint(PAD + 1, s.vocab, (s.batch, s.steps - 2), generator=gen)
    return torch.cat([torch.full((s.batch, 1), START), middle, torch.full((s.batch, 1), END)], dim=1)


def _forward_case(s: Size) -> Case:
    ctor = (s.embed, s.hidden, s.vocab, s.layers)
    weights = reference_weights(*ctor, s.seed)
    gen = seeds.generator(100 + s.seed)
    features = torch.randn(s.batch, s.embed, generator=gen, dtype=torch.float64)
    captions = _captions(s, gen)
    loss_weights = torch.randn(s.batch, s.steps, s.vocab, generator=gen, dtype=torch.float64)

    def make(device, dtype):
        dtype = dtype or torch.float64
        moved = {k: [{n: t.to(device, dtype) for n, t in layer.items()} for layer in v] for k, v in weights.items()}
        return ctor, moved, features.to(device, dtype), captions.to(device), loss_weights.to(device, dtype)

    return Case(
        f"for embed_size={s.embed}, hidden_size={s.hidden}, vocab_size={s.vocab}, num_layers={s.layers}, "
        f"features ({s.batch}, {s.embed}) and captions ({s.batch}, {s.steps})",
        make,
    )


def _build(cls, ctor, weights):
    """The class built on the weights' device and in their dtype, the weights loaded."""
    some = next(iter(next(iter(weights.values()))[0].values()))
    with torch.device(some.device):
        model = cls(*ctor)
    if not isinstance(model, nn.Module):
        raise CheckFailed(LABEL, f"`{NAME}(...)` made a {type(model).__name__}; the class is an nn.Module.")
    return model.to(some.dtype).eval()


def _forward_run(cls, args):
    with torch.enable_grad():  # the engine runs the planted mistakes under no_grad: gradients are compared too
        return _forward_with_grad(cls, args)


def _forward_with_grad(cls, args):
    ctor, weights, features, captions, loss_weights = args
    model = _build(cls, ctor, weights)
    features = features.detach().clone().requires_grad_(True)
    got = modules.run_model(LABEL, model, weights, (features, captions.clone()), loss_weights)
    got["features"] = None if features.grad is None else features.grad.detach().clone()
    return got


def _forward_same(got, want, tol=None) -> bool:
    tol = tol or TOL
    if got["output"].shape != want["output"].shape or not engine.close(got["output"], want["output"], tol):
        return False
    grads = {**got["grads"], "features": got["features"]}
    truth = {**want["grads"], "features": want["features"]}
    return all(
        (g is None and t is None) or (g is not None and t is not None and engine.close(g, t, tol))
        for g, t in ((grads.get(k), v) for k, v in truth.items())
    )


def _forward_explain(case: Case, got, want) -> CheckFailed:
    out, right = got["output"], want["output"]
    B, T, V = right.shape
    shape = tuple(out.shape)
    if shape != (B, T, V):
        known = {
            (T, B, V): (
                "the scores are time-major, (T, B, vocab_size); forward returns (B, T, vocab_size).",
                "with a time-major LSTM, transpose its output back: out.transpose(0, 1).",
            ),
            (B * T, V): (
                "the scores are flattened to (B*T, vocab_size); forward returns (B, T, vocab_size).",
                "flatten them for the loss only, outside forward.",
            ),
        }
        problem, hint = known.get(
            shape,
            (
                f"the scores have shape {shape}; expected (B, T, vocab_size) = {(B, T, V)}.",
                "one step of scores per caption token: the features, then the words but the last.",
            ),
        )
        return CheckFailed(LABEL, f"{case.label}, {problem}", hint)
    if engine.close(out, right, TOL):
        if got["features"] is None:
            return CheckFailed(
                LABEL,
                f"{case.label}, the scores are right but no gradient reaches the image "
                "features: the encoder could not learn.",
                "do not detach the features.",
            )
        unequal = modules.gradient_problem(LABEL, got["grads"], want["grads"], TOL)
        if unequal is not None:
            return CheckFailed(LABEL, f"{case.label}, {unequal.problem}", unequal.hint)
        return CheckFailed(
            LABEL,
            f"{case.label}, the scores are right but the gradient of the features differs.",
            "something changes the gradient on its way to the features.",
        )
    bad = next(t for t in range(T) if not engine.close(out[:, t], right[:, t], TOL))
    hint = (
        "step 0 already differs: it reads the image features, with the LSTM's state starting at zero."
        if bad == 0
        else "step 0 is right: look at which words feed the later steps, and how."
    )
    return CheckFailed(
        LABEL,
        f"{case.label}, the scores differ from the reference's with the same weights, first at step {bad} of {T}.",
        hint,
    )


FORWARD = engine.Exercise(
    label=LABEL,
    name=NAME,
    reference=Reference,
    cases=lambda: [_forward_case(s) for s in FORWARD_SIZES],
    same=_forward_same,
    explain=_forward_explain,
    mistakes=FORWARD_MISTAKES,
    run=_forward_run,
    meta_inputs="the weights, features and captions",
    meta_allowed=(),
    meta_hint="make new tensors (an initial state, say) on the features' device, or let nn.LSTM start from zeros; "
    "never write 'cpu' or .cuda().",
    same_float32=lambda a, b: _forward_same(a, b, engine.FLOAT32_TOL),
)


check_forward = engine.exercise_check(
    FORWARD,
    f"forward's scores and the gradient of every weight and of the features match the "
    f"reference's with the same weights ({len(FORWARD_SIZES)} sizes, one and two layers)",
    "Exercise 3: DecoderRNN.forward (teacher forcing) against the reference with the same weights.",
)


# ---------------------------------------------------------------------------
# sample


@dataclass(frozen=True)
class Prompt:
    size: Size  # batch and steps unused
    max_len: int | None  # None: sample's default
    states: bool  # give sample a (h, c)
    seed: int  # for the image features and the state
    scale: float  # the weights, scaled: decisive argmaxes, and <end> within reach


# Seeds chosen so that each case shows something (held by tests/test_embeddings_captions_checks.py):
# <end> before max_len, max_len reached first, the default max_len, a given state, two layers.
SAMPLE_PROMPTS = (
    Prompt(Size(6, 8, 10, 1, 1, 1, 18), None, False, 3, 2.5),  # <end> after 7 ids
    Prompt(Size(6, 8, 10, 1, 1, 1, 0), 5, False, 5, 3.0),  # max_len before <end>
    Prompt(Size(5, 6, 9, 2, 1, 1, 2), 12, True, 1, 2.0),  # two layers, a given state, <end> after 6 ids
    Prompt(Size(6, 8, 10, 1, 1, 1, 3), None, False, 9, 3.0),  # no <end>: the default max_len, 20
)


def _sample_case(p: Prompt, index: int) -> Case:
    s = p.size
    ctor = (s.embed, s.hidden, s.vocab, s.layers)
    # Not salted: these seeds were chosen so that each case shows what it is there for (<end> first,
    # max_len first...), and other draws do not (a planted mistake would then pass). The price: the
    # sample check's inputs are public, so a table of its answers would pass.
    weights = reference_weights(*ctor, s.seed, p.scale, salted=False)
    gen = torch.Generator().manual_seed(500 + p.seed)
    inputs = torch.randn(1, 1, s.embed, generator=gen, dtype=torch.float64)
    states = tuple(torch.randn(s.layers, 1, s.hidden, generator=gen, dtype=torch.float64) for _ in range(2))

    def make(device, dtype):
        dtype = dtype or torch.float64
        moved = {k: [{n: t.to(device, dtype) for n, t in layer.items()} for layer in v] for k, v in weights.items()}
        given = tuple(t.to(device, dtype) for t in states) if p.states else None
        return ctor, moved, inputs.to(device, dtype), given, p.max_len

    said = (f"max_len={p.max_len}" if p.max_len is not None else "the default max_len") + (
        ", a given state (h, c)" if p.states else ""
    )
    return Case(f"for an image's features with {said} (vocab_size={s.vocab}, num_layers={s.layers})", make)


def _sample_cases() -> list[Case]:
    return [_sample_case(p, i) for i, p in enumerate(SAMPLE_PROMPTS)]


def _as_data(result):
    """What sample returned, as plain data: its kind and its ids."""
    if isinstance(result, torch.Tensor):
        return {"kind": "tensor", "ids": [int(i) for i in result.detach().cpu().reshape(-1).tolist()]}
    if isinstance(result, (list, tuple)):
        if all(isinstance(i, int) and not isinstance(i, bool) for i in result):
            return {"kind": "list" if isinstance(result, list) else "tuple", "ids": [int(i) for i in result]}
        if all(isinstance(i, torch.Tensor) and i.numel() == 1 for i in result):
            return {"kind": "list of tensors", "ids": [int(i.detach().cpu().reshape(-1)[0]) for i in result]}
    return {"kind": type(result).__name__, "ids": None}


def _sample_run(cls, args, seed: int = 0):
    ctor, weights, inputs, states, max_len = args
    model = _build(cls, ctor, weights)
    modules.load_weights(LABEL, model, weights)
    call = {} if max_len is None else {"max_len": max_len}
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        result = model.sample(inputs.clone(), *(() if states is None else (tuple(states),)), **call)
    return _as_data(result)


def _sample_same(got, want) -> bool:
    return got == want


def _again(cls, case: Case, args) -> list:
    """Two more runs with other seeds (the probe's side): greedy decoding gives the same ids every time."""
    runs = []
    for seed in (1, 2):
        with calling(LABEL, NAME):
            runs.append(_sample_run(cls, case.make(engine.CPU, None), seed=seed))
    return runs


def _sampled(case: Case, got, want, runs: list) -> CheckFailed | None:
    """Greedy decoding gives the same ids every time; sampling from the softmax does not."""
    for again in runs:
        if again != got:
            return CheckFailed(
                LABEL,
                f"{case.label}, two runs of sample gave different ids ({got['ids']} and "
                f"{again['ids']}): the next word is drawn at random instead of chosen greedily.",
                "take the most likely word: scores.argmax(dim=1).",
            )
    return None


def _sample_explain(case: Case, got, want) -> CheckFailed:
    if got["ids"] is None or got["kind"] not in ("list", "tensor"):
        hint = (
            "append int(best) or best.item(), not the tensor itself."
            if got["kind"] == "list of tensors"
            else "collect the ids in a list of ints."
        )
        return CheckFailed(LABEL, f"sample returned a {got['kind']}; it returns a list of token ids (ints).", hint)
    ids, right = got["ids"], want["ids"]
    if ids[: len(right)] == right:
        return CheckFailed(
            LABEL,
            f"{case.label}, sample returned {ids}; expected {right}: it goes on too long.",
            "stop after <end> (id 1), or after max_len ids.",
        )
    if right[: len(ids)] == ids:
        return CheckFailed(
            LABEL,
            f"{case.label}, sample returned {ids}; expected {right}: it stops too early.",
            "go on until <end> (included) or max_len ids.",
        )
    first = next(i for i, (a, b) in enumerate(zip(ids, right)) if a != b)
    hint = (
        "the first id is already wrong: step 0 reads the image features, from `states`."
        if first == 0
        else "feed the embedding of each predicted id back in, carrying the LSTM's state."
    )
    return CheckFailed(
        LABEL, f"{case.label}, sample returned {ids}; expected {right} (first different at position {first}).", hint
    )


SAMPLE = engine.Exercise(
    label=LABEL,
    name=NAME,
    reference=Reference,
    cases=_sample_cases,
    same=_sample_same,
    explain=_sample_explain,
    mistakes=SAMPLE_MISTAKES,
    run=_sample_run,
    observe=_again,
    suspect=_sampled,
    meta=False,
)  # greedy decoding reads values (argmax, <end>): the accelerator path checks the device instead


check_sample = engine.exercise_check(
    SAMPLE,
    f"sample returns the same token ids as the reference for {len(SAMPLE_PROMPTS)} "
    "images (stopping at <end> or at max_len, with and without a given state)",
    "Exercise 3: DecoderRNN.sample (greedy) against the reference with the same weights.",
)
