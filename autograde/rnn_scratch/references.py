"""The right answers of the chapter's exercises, and the mistakes planted in them (judge only).

The n-gram model's counts and perplexity, PyTorch's clipping, the perplexity of a model's
outputs, d2l's greedy generation and `nn.RNN` on the course's weights. The grading sandbox
does not have this module (`autograde.judge_only`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from autograde import torch_layers
from autograde.mistakes import Mistake, mistake
from autograde.rnn_scratch.clipping import _clipped, _global_norm
from autograde.verdict import quiet

JUDGE_ONLY = True

# ---------------------------------------------------------------------------
# Exercise 1: n-grams


def count_ngrams(tokens: Sequence[Hashable], n: int) -> Counter:
    """{(t_i, ..., t_{i+n-1}): how often it occurs} over every window of n tokens."""
    tokens = list(tokens)
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def perplexity(
    train,
    test,
    n: int,
    vocab_size: int,
    alpha: float = 1.0,
    *,
    order: int | str | None = None,
    denominator: str = "alpha*V",
    context_counts: str = "ngrams",
    shift: int = 0,
    start: int | str | None = None,
    log=math.log,
    reduce: str = "mean",
    exponent: str = "e",
    divide_by: str = "positions",
    vocab: str = "given",
    smooth: bool = True,
) -> float:
    """The add-alpha n-gram model's perplexity on `test`, with optional planted mistakes.

    order:          the model's order actually used ("n-1" or "n+1": the context is one token off)
    denominator:    "alpha*V" (right) | "alpha" | "V" | "none"
    context_counts: "ngrams" (right: sum of N(c, w) over w) | "n-1 grams" (counts of the context
                    anywhere in the text, including the last n-1 tokens)
    shift:          1 looks up the n-1 tokens that end one step early (w_{t-n} ... w_{t-2})
    start:          the first scored position (default: the first with a full context; "n-1", "n"...)
    log:            math.log (right) or math.log2
    reduce:         "mean" (right) or "sum"; exponent: "e" (right) | "2" | "none"
    divide_by:      "positions" (right) or "tokens" (len(test))
    vocab:          "given" (right) or "seen" (V = number of distinct training tokens)
    smooth:         False leaves alpha out (no smoothing)
    """
    train, test = list(train), list(test)
    relative = {"n-1": n - 1, "n": n, "n+1": n + 1}
    order = n if order is None else relative.get(order, order)  # type: ignore[call-overload]
    start = relative.get(start, start) if isinstance(start, str) else start
    if order < 1:
        raise ValueError(f"no model of order {order}")
    alpha = alpha if smooth else 0.0
    V = vocab_size if vocab == "given" else len(set(train))
    grams = count_ngrams(train, order)
    if context_counts == "ngrams":
        contexts: Counter = Counter()
        for gram, count in grams.items():
            contexts[gram[:-1]] += count
    else:
        contexts = count_ngrams(train, order - 1)
    extra = {"alpha*V": alpha * V, "alpha": alpha, "V": V, "none": 0}[denominator]
    first = order - 1 + shift if start is None else start
    first = max(first, order - 1 + shift)
    positions = range(first, len(test))
    total = 0.0
    for t in positions:
        context = tuple(test[t - order + 1 - shift : t - shift]) if order > 1 else ()
        numerator = grams[context + (test[t],)] + alpha
        denom = contexts[context] + extra
        if numerator <= 0 or denom <= 0:
            return math.inf
        total -= log(numerator / denom)
    count = len(positions) if divide_by == "positions" else len(test)
    value = total / count if reduce == "mean" else total
    if exponent == "none":
        return value
    try:
        return math.exp(value) if exponent == "e" else 2.0**value
    except OverflowError:
        return math.inf


def _slip(problem: str, hint: str, **options) -> Mistake:
    return mistake(perplexity, problem, hint, **options)


# Each plants one slip in the reference, `perplexity`; the first that matches names the mistake.
NGRAM_MISTAKES = (
    _slip(
        "no smoothing: alpha is not added, so an n-gram never seen in training gets probability 0.",
        "P(w | c) = (N(c, w) + alpha) / (sum over w' of N(c, w') + alpha * V).",
        smooth=False,
    ),
    _slip(
        "the denominator adds alpha instead of alpha * V, so the probabilities over the vocabulary do not sum to 1.",
        "each of the V tokens gets alpha extra counts: add alpha * V to the context's count.",
        denominator="alpha",
    ),
    _slip(
        "the denominator adds V instead of alpha * V.",
        "add alpha * V: alpha extra counts for each of the V tokens.",
        denominator="V",
    ),
    _slip(
        "only the numerator is smoothed: the denominator needs + alpha * V.",
        "P(w | c) = (N(c, w) + alpha) / (sum over w' of N(c, w') + alpha * V).",
        denominator="none",
    ),
    _slip(
        "V is taken as the number of distinct tokens in the training text; use the vocabulary size you are given.",
        "tokens the training text never shows are still in the vocabulary: use vocab_size.",
        vocab="seen",
    ),
    _slip(
        "the context is one token short: this is the model of order n-1.",
        "the context of w_t is the n-1 tokens before it: tokens[t-n+1:t].",
        order="n-1",
    ),
    _slip(
        "the context is one token short: this is the model of order n-1.",
        "the context of w_t is the n-1 tokens before it: tokens[t-n+1:t].",
        order="n-1",
        start="n-1",
    ),
    _slip(
        "the context is one token too long: this is the model of order n+1.",
        "the context of w_t is the n-1 tokens before it: tokens[t-n+1:t].",
        order="n+1",
    ),
    _slip(
        "the context is off by one: it ends at w_{t-2}, one token before the one it should end at.",
        "the context of w_t is tokens[t-n+1:t], which ends with w_{t-1}.",
        shift=1,
    ),
    _slip(
        "the first position with a full context (t = n-1) is not scored.",
        "score every t from n-1 to len(test)-1.",
        start="n",
    ),
    _slip(
        "the context's count includes the last n-1 training tokens, which no token follows, so the probabilities "
        "do not sum to 1.",
        "count the context as the number of n-grams that start with it: the sum over w' of N(c, w').",
        context_counts="n-1 grams",
    ),
    _slip(
        "the logarithm is in base 2 but the exponential in base e: the bases must match.",
        "use math.log (natural log) with math.exp, as the definition does.",
        log=math.log2,
    ),
    _slip(
        "the exponential is missing: that is the mean cross-entropy (in nats), not the perplexity.",
        "perplexity = exp(mean of -ln P).",
        exponent="none",
    ),
    _slip(
        "the exponential is missing, and the logarithm is in base 2: that is the cross-entropy in bits.",
        "perplexity = exp(mean of -ln P).",
        exponent="none",
        log=math.log2,
    ),
    _slip(
        "it is the exponential of the summed negative log-probability; perplexity uses the mean.",
        "divide the sum by the number of scored positions before taking exp.",
        reduce="sum",
    ),
    _slip(
        "the mean divides by len(test), not by the number of scored positions (len(test) - n + 1).",
        "only positions with a full context are scored; divide by how many there are.",
        divide_by="tokens",
    ),
)


# ---------------------------------------------------------------------------
# Exercise 3: nn.RNN on the course's weights


def to_torch_layout(params) -> dict:
    """The state dict of `nn.RNN(V, H)` that computes the course's RNN (differentiable)."""
    W_xh, W_hh, b_h = params[:3]
    return {"weight_ih_l0": W_xh.T, "weight_hh_l0": W_hh.T, "bias_ih_l0": b_h, "bias_hh_l0": torch.zeros_like(b_h)}


def torch_rnn(inputs, state, params):
    """Ground truth: nn.RNN with the course's weights, then the output layer -> (outputs, (H,))."""
    return torch_layers.run(nn.RNN, to_torch_layout(params), inputs, state, params[3], params[4])


# ---------------------------------------------------------------------------
# Exercise 4: clipping


def clip(grads: list, theta: float) -> list:
    """The reference: the clipped copies of `grads` (entries may be None)."""
    present = [g for g in grads if g is not None]
    if not present:
        return list(grads)
    factor = min(1.0, theta / float(_global_norm(present)))
    return [None if g is None else g * factor for g in grads]


def _per_parameter(grads, theta):
    return [g * min(1.0, theta / float(g.norm())) for g in grads]


def _factor(fn):
    def planted(grads, theta):
        norm = float(_global_norm(grads))
        return [g * fn(norm, theta) for g in grads]

    return planted


def _sum_of_norms(grads, theta):
    norm = sum(float(g.norm()) for g in grads)
    return [g * min(1.0, theta / norm) for g in grads]


def _in_place(mistake):
    """A slip on the gradients as the student's code would leave it: in place, on the clipped parameters."""

    def planted(net, theta):
        params = [p for p in _clipped(net) if p.grad is not None]
        for p, g in zip(params, mistake([p.grad for p in params], theta)):
            p.grad.copy_(g)

    return planted


def _clipping_slip(problem, hint, on_grads) -> Mistake:
    return Mistake(problem, hint, _in_place(on_grads))


CLIPPING_MISTAKES: tuple[Mistake, ...] = (
    _clipping_slip(
        "each parameter's gradient is clipped by its own norm; the norm must be global, over all gradients together.",
        "norm = sqrt(sum over ALL parameters of (p.grad ** 2).sum()), then scale every p.grad by theta / norm.",
        _per_parameter,
    ),
    _clipping_slip(
        "the norm is the sum of the gradients' norms; the global norm is the square root of the sum of squares.",
        "norm = torch.sqrt(sum((p.grad ** 2).sum() for p in params)).",
        _sum_of_norms,
    ),
    _clipping_slip(
        "the square root is missing: the gradients are scaled by theta / ||g||^2.",
        "norm = torch.sqrt(sum((p.grad ** 2).sum() for p in params)).",
        _factor(lambda n, t: min(1.0, t / n**2)),
    ),
    _clipping_slip(
        "the gradients are always scaled to norm theta, even when their norm is below theta.",
        "clip only when the norm exceeds theta: factor = min(1, theta / norm).",
        _factor(lambda n, t: t / n),
    ),
    _clipping_slip(
        "the factor is upside down: the gradients are scaled by norm / theta.",
        "scale by theta / norm.",
        _factor(lambda n, t: n / t if n > t else 1.0),
    ),
    _clipping_slip(
        "theta is left out: the gradients are scaled by 1 / norm.",
        "scale by theta / norm.",
        _factor(lambda n, t: 1.0 / n if n > t else 1.0),
    ),
    _clipping_slip(
        "each element is clamped to [-theta, theta]; that is clipping by value, not by norm.",
        "compute the global norm and scale all the gradients by the same factor.",
        lambda grads, theta: [g.clamp(-theta, theta) for g in grads],
    ),
)


def clip_in_place(net, theta) -> None:
    """PyTorch's own clipping, in place, on the parameters that require a gradient."""
    torch.nn.utils.clip_grad_norm_([p for p in _clipped(net) if p.grad is not None], theta)


# ---------------------------------------------------------------------------
# Exercise 5: perplexity


def perplexity_of_logits(logits, targets) -> float:
    """exp(F.cross_entropy) in float64."""
    with quiet():
        return math.exp(float(F.cross_entropy(logits.double(), targets)))


def _ce(logits, targets, reduction="mean"):
    return float(F.cross_entropy(logits.double(), targets, reduction=reduction))


def _safe_exp(x):
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


PERPLEXITY_MISTAKES = (
    Mistake(
        "the exponential is missing: that is the mean cross-entropy, not the perplexity.",
        "perplexity = exp(mean cross-entropy).",
        lambda l, t: _ce(l, t),
    ),
    Mistake(
        "it is the exponential of the summed cross-entropy; perplexity uses the mean over the tokens.",
        "F.cross_entropy averages by default (reduction='mean'); take exp of that.",
        lambda l, t: _safe_exp(_ce(l, t, "sum")),
    ),
    Mistake(
        "the log-probabilities are in base 2 (bits) but exponentiated with e.",
        "use the natural log throughout (F.cross_entropy does), then exp.",
        lambda l, t: _safe_exp(_ce(l, t) / math.log(2)),
    ),
    Mistake(
        "it is 2 to the power of the cross-entropy in nats: the bases do not match.",
        "F.cross_entropy uses the natural log, so exponentiate with e: torch.exp.",
        lambda l, t: 2.0 ** _ce(l, t),
    ),
    Mistake(
        "the sign is wrong: exp(-cross-entropy) is the geometric mean probability, 1 / perplexity.",
        "perplexity = exp(+ mean cross-entropy), at least 1.",
        lambda l, t: _safe_exp(-_ce(l, t)),
    ),
    Mistake(
        "softmax is applied twice: F.cross_entropy takes raw scores (logits) and applies log-softmax itself.",
        "pass the logits to F.cross_entropy directly.",
        lambda l, t: _safe_exp(_ce(torch.softmax(l.double(), dim=1), t)),
    ),
)


# ---------------------------------------------------------------------------
# Exercise 6: generation


def predict(
    prefix,
    num_preds,
    net,
    vocab,
    device,
    *,
    warm_up=True,
    feed_last_twice=False,
    keep_prefix=True,
    carry=True,
    carry_in_generation=True,
):
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
    generated = outputs if keep_prefix else outputs[len(prefix) :]
    return "".join(vocab.idx_to_token[i] for i in generated)


PREDICT_MISTAKES = (
    mistake(
        predict,
        "the prefix is not fed through the network first (no warm-up), or the warm-up's state is "
        "thrown away: generation starts from a blank state.",
        "feed every prefix token but the last, carrying the state: `_, state = net(X, state)`.",
        warm_up=False,
    ),
    mistake(
        predict,
        "the last prefix character is fed twice: once at the end of the warm-up and again as the "
        "first input of the generation.",
        "the warm-up feeds prefix[0] ... prefix[-2]; the generation loop starts by feeding prefix[-1].",
        feed_last_twice=True,
    ),
    mistake(
        predict,
        "the returned text leaves out the prefix.",
        "return the prefix followed by the generated characters, as d2l.predict_ch8 does.",
        keep_prefix=False,
    ),
    mistake(
        predict,
        "the state is not carried from one step to the next.",
        "keep the state each call returns and pass it to the next call: `y, state = net(X, state)`.",
        carry=False,
    ),
    mistake(
        predict,
        "the state is not carried from one generated character to the next: every step starts "
        "from the state the warm-up ended with.",
        "keep the state each call returns: `y, state = net(X, state)`.",
        carry_in_generation=False,
    ),
)
