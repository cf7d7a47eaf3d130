"""The RNN chapter's own tests: the references are right, planted bugs fail with their names,
correct solutions written differently pass. What every chapter's checks must do (pass the
solution, fail a stub, stay off stderr...) is tests/test_chapters.py.

The planted bugs are edits of the solution notebook's own code (tests/planting.py), so when a
solution changes and an edit no longer applies, the test fails instead of silently testing nothing.
"""

from __future__ import annotations

import collections
import itertools
import math
import random
from fractions import Fraction

import matplotlib

matplotlib.use("Agg")  # before pyplot: tests never open a window

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograde import course, torch_layers
from autograde import rnn_scratch as checks
from autograde.recurrent import CASES, FLOAT64_TOL, make_trial, same_result
from autograde.rnn_scratch import clipping, generation, ngram
from autograde.rnn_scratch import references as refs
from autograde.rnn_scratch.figures import rnn_unrolled
from autograde.rnn_scratch.flaws import catalogue, scratch_rnn

from planting import passes, short, solution, verdict

RNN_SOLUTION = solution("rnn-scratch")
plant = RNN_SOLUTION.plant
checks_of = course.chapter("rnn-scratch").checks

# ---------------------------------------------------------------------------
# The references, held to PyTorch or to a brute-force computation


@pytest.mark.parametrize("case", CASES)
def test_graders_scratch_rnn_equals_nn_rnn(case):
    """The grader's own RNN (the base of the catalogue) and its ground truth agree with a real nn.RNN."""
    trial = make_trial(checks.RNN, case)
    params = [p.detach() for p in trial.params]
    with torch.no_grad():
        loaded = torch_layers.load(
            nn.RNN, refs.to_torch_layout(params), trial.inputs, trial.state, params[3], params[4]
        )
        assert same_result(scratch_rnn(trial.inputs, trial.state, params), loaded, FLOAT64_TOL)
        assert same_result(refs.torch_rnn(trial.inputs, trial.state, params), loaded, FLOAT64_TOL)


def _brute_force_perplexity(train, test, n, V, alpha):
    """Exact: every conditional distribution as fractions, checked to sum to 1 over the vocabulary."""
    alpha = Fraction(alpha).limit_denominator(1000)
    vocabulary = sorted(set(train) | set(test), key=repr)
    vocabulary += [("unseen", i) for i in range(V - len(vocabulary))]
    assert len(vocabulary) == V
    grams = {}
    for i in range(len(train) - n + 1):
        key = tuple(train[i : i + n])
        grams[key] = grams.get(key, 0) + 1

    def prob(context, w):
        seen = sum(c for g, c in grams.items() if g[:-1] == context)
        return (grams.get(context + (w,), 0) + alpha) / (seen + alpha * V)

    log_sum, count = 0.0, 0
    for t in range(n - 1, len(test)):
        context = tuple(test[t - n + 1 : t])
        assert sum(prob(context, w) for w in vocabulary) == 1
        log_sum += math.log(prob(context, test[t]))
        count += 1
    return math.exp(-log_sum / count)


def _random_texts(seed):
    rng = random.Random(seed)
    symbols = "abcde"[: rng.randint(2, 5)]
    train = [rng.choice(symbols) for _ in range(rng.randint(3, 25))]
    test = [rng.choice(symbols + "xy") for _ in range(rng.randint(3, 15))]
    n = rng.randint(1, 3)
    return train, test, n, len(set(train) | set(test)) + rng.randint(0, 3), rng.choice([1.0, 0.5, 0.1, 2.0])


@pytest.mark.parametrize("args", [c[1:] for c in checks.HAND_MADE] + [_random_texts(s) for s in range(12)])
def test_ngram_reference_equals_brute_force(args):
    train, test, n, V, alpha = args
    if len(test) < n:
        pytest.skip("no position to score")
    assert math.isclose(
        refs.perplexity(train, test, n, V, alpha), _brute_force_perplexity(train, test, n, V, alpha), rel_tol=1e-12
    )


def test_ngram_reference_on_the_book_equals_brute_force_counts():
    """On the real text: the smoothed probabilities, summed over the vocabulary, give 1 for every context."""
    train, held_out = ngram.train_and_held_out()
    grams = refs.count_ngrams(train, 3)
    contexts = collections.Counter()
    for g, c in grams.items():
        contexts[g[:-1]] += c
    for context in [tuple(held_out[t - 2 : t]) for t in range(2, 200)]:
        total = sum((grams[context + (w,)] + 0.1) / (contexts[context] + 0.1 * 28) for w in set(train) | {"<unk>"})
        assert math.isclose(total, 1.0)
    # perplexity in two ways: the reference, and the product of those probabilities
    logp = [
        math.log((grams[tuple(held_out[t - 2 : t + 1])] + 0.1) / (contexts[tuple(held_out[t - 2 : t])] + 2.8))
        for t in range(2, len(held_out))
    ]
    assert math.isclose(refs.perplexity(train, held_out, 3, 28, 0.1), math.exp(-sum(logp) / len(logp)))


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_count_ngrams_reference_equals_brute_force(n):
    tokens = list("the time traveller for so it will be convenient to speak of him")
    brute = {}
    for i in range(len(tokens)):
        if i + n <= len(tokens):
            key = tuple(tokens[j] for j in range(i, i + n))
            brute[key] = brute.get(key, 0) + 1
    assert dict(refs.count_ngrams(tokens, n)) == brute
    assert sum(brute.values()) == len(tokens) - n + 1


@pytest.fixture
def d2l_in_tmp(tmp_path, monkeypatch):
    """d2l, with The Time Machine where it looks (../data from the working directory)."""
    from d2l import torch as d2l

    from autograde.data import ensure_time_machine

    (tmp_path / "nb").mkdir()
    ensure_time_machine(tmp_path / "nb")
    monkeypatch.chdir(tmp_path / "nb")
    return d2l


def test_the_checks_text_is_d2ls_tokenisation(d2l_in_tmp):
    d2l = d2l_in_tmp
    corpus, vocab = d2l.load_corpus_time_machine(max_tokens=-1)
    assert tuple(vocab.to_tokens(corpus)) == ngram.time_machine_chars()
    assert len(vocab) == ngram.VOCAB_SIZE
    train_iter, train_vocab = d2l.load_data_time_machine(32, 35)  # what the notebook trains on
    train, held_out = ngram.train_and_held_out()
    assert train_vocab.idx_to_token == vocab.idx_to_token
    assert vocab.to_tokens(train_iter.corpus) == train and len(held_out) == ngram.HELD_OUT_TOKENS
    assert len(corpus) > len(train) + len(held_out)  # the two texts do not overlap


def test_clipping_reference_equals_clip_grad_norm():
    gen = torch.Generator().manual_seed(0)
    for scale, theta in ((3.0, 1.0), (0.01, 1.0), (1.0, 0.3)):
        grads = [torch.randn(s, generator=gen, dtype=torch.float64) * scale for s in ((4, 3), (3,), (5, 5))]
        params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        torch.nn.utils.clip_grad_norm_(params, theta)
        assert all(torch.allclose(a, p.grad, **clipping.TOL) for a, p in zip(refs.clip(grads, theta), params))


def test_perplexity_truth_equals_a_manual_computation():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(20, 9, generator=gen, dtype=torch.float64)
    targets = torch.randint(9, (20,), generator=gen)
    probs = torch.softmax(logits, dim=1)[torch.arange(20), targets]
    assert math.isclose(refs.perplexity_of_logits(logits, targets), math.exp(-probs.log().mean().item()), rel_tol=1e-12)


def test_predict_reference_equals_d2l_predict_ch8(d2l_in_tmp):
    d2l = d2l_in_tmp
    for case in generation.CASES:
        vocab = generation.Vocab()
        ours = refs.predict(
            case.prefix,
            case.num_preds,
            generation.CheckNet(len(vocab), case.seed, case.style),
            vocab,
            torch.device("cpu"),
        )
        theirs = d2l.predict_ch8(
            case.prefix,
            case.num_preds,
            generation.CheckNet(len(vocab), case.seed, case.style),
            vocab,
            torch.device("cpu"),
        )
        assert ours == theirs and ours.startswith(case.prefix)
    assert (
        len(
            {
                refs.predict(
                    c.prefix, 20, generation.CheckNet(15, c.seed, c.style), generation.Vocab(), torch.device("cpu")
                )[len(c.prefix) :]
                for c in generation.CASES
            }
        )
        > 3
    )


def test_the_solutions_predict_equals_d2l_on_a_d2l_model(d2l_in_tmp):
    d2l = d2l_in_tmp
    torch.manual_seed(0)
    vocab = generation.Vocab()
    scratch = d2l.RNNModelScratch(
        len(vocab),
        8,
        "cpu",
        RNN_SOLUTION.define("get_rnn_params"),
        RNN_SOLUTION.define("init_rnn_state"),
        RNN_SOLUTION.define("rnn"),
    )
    scratch.params = [(p * 100).detach().requires_grad_(True) for p in scratch.params]  # opinions, not ties
    concise = d2l.RNNModel(nn.RNN(len(vocab), 8), len(vocab))
    predict = RNN_SOLUTION.define("predict")
    for net in (scratch, concise):
        assert predict("time traveller", 30, net, vocab, "cpu") == d2l.predict_ch8(
            "time traveller", 30, net, vocab, "cpu"
        )


def test_d2l_train_ch8_clips_with_d2l_grad_clipping(d2l_in_tmp, monkeypatch):
    """The notebook's `d2l.grad_clipping = grad_clipping` works: train_epoch_ch8 looks the name up in d2l.torch."""
    d2l = d2l_in_tmp
    calls = []
    student = RNN_SOLUTION.define("grad_clipping")

    def spy(net, theta):
        calls.append(theta)
        student(net, theta)

    monkeypatch.setattr(d2l, "grad_clipping", spy)
    train_iter, vocab = d2l.load_data_time_machine(32, 35, max_tokens=2000)
    for net in (
        d2l.RNNModelScratch(
            len(vocab),
            16,
            "cpu",
            RNN_SOLUTION.define("get_rnn_params"),
            RNN_SOLUTION.define("init_rnn_state"),
            RNN_SOLUTION.define("rnn"),
        ),
        d2l.RNNModel(nn.RNN(len(vocab), 16), len(vocab)),
    ):
        calls.clear()
        updater = (
            torch.optim.SGD(net.parameters(), 1)
            if isinstance(net, nn.Module)
            else (lambda batch_size, net=net: d2l.sgd(net.params, 1, batch_size))
        )
        d2l.train_epoch_ch8(net, train_iter, nn.CrossEntropyLoss(), updater, "cpu", False)
        assert calls and set(calls) == {1}


# ---------------------------------------------------------------------------
# The other exercises' catalogues of mistakes: each is named as itself


@pytest.mark.parametrize("index", range(len(checks.NGRAM_MISTAKES)))
def test_each_ngram_mistake_is_named_as_itself(index):
    problem, _, planted = checks.NGRAM_MISTAKES[index]
    assert problem in verdict(checks.check_ngram_perplexity, planted).problem


@pytest.mark.parametrize("index", range(len(refs.CLIPPING_MISTAKES)))
def test_each_clipping_mistake_is_named_as_itself(index):
    problem, _, planted = refs.CLIPPING_MISTAKES[index]
    assert problem in verdict(checks.check_grad_clipping, planted).problem


@pytest.mark.parametrize("index", range(len(refs.PERPLEXITY_MISTAKES)))
def test_each_perplexity_mistake_is_named_as_itself(index):
    problem, _, mistake = refs.PERPLEXITY_MISTAKES[index]
    assert problem in verdict(checks.check_perplexity, mistake).problem


@pytest.mark.parametrize("salt", [0, 1, 2, 3, 5, 8, 13, 21])
def test_the_solutions_perplexity_passes_whatever_salt_a_batch_draws(salt, capsys):
    """The solution's torch.exp(F.cross_entropy(...)) in float32, on every batch's inputs: once,
    random targets under scores of up to 120 gave a mean loss over 88.7, and the solution's own
    perplexity overflowed where the float64 truth did not, in about half the batches."""
    from autograde import seeds

    def perplexity(logits, targets):
        return torch.exp(F.cross_entropy(logits, targets))

    with seeds.salted(salt):
        passes([checks.check_perplexity], perplexity, capsys)


@pytest.mark.parametrize("index", range(len(refs.PREDICT_MISTAKES)))
def test_each_predict_mistake_is_named_as_itself(index):
    problem, _, planted = refs.PREDICT_MISTAKES[index]
    assert problem in verdict(checks.check_predict, planted).problem


# ---------------------------------------------------------------------------
# Planted bugs in the solution's own code: (grade_id, edits, check, words the verdict must contain)

HIDDEN = "H = torch.tanh(X @ W_xh + H @ W_hh + b_h)"
OUTPUT = "outputs.append(H @ W_hq + b_q)"
RETURN = "return torch.cat(outputs, dim=0), (H,)"
CONTEXT = "context = tuple(test[t - n + 1:t])"
PROB = "p = (ngrams[context + (test[t],)] + alpha) / (context_counts[context] + alpha * vocab_size)"
CONTEXT_LOOP = "    for gram, count in ngrams.items():\n        context_counts[gram[:-1]] += count\n"
CLIP_LOOP = "        for g in grads:\n            g *= theta / norm"
NORM = "norm = torch.sqrt(sum(torch.sum(g ** 2) for g in grads))"
WARM_UP = "        _, state = net(last_token(), state)\n"
GENERATE = "        y, state = net(last_token(), state)\n"
ARGMAX = "outputs.append(int(y.argmax(dim=1).reshape(1)))"

BUGS = {
    # Exercise 1
    "count: last window missed": (
        "count_ngrams",
        [("range(len(tokens) - n + 1)", "range(len(tokens) - n)")],
        "last window is missed",
    ),
    "count: string keys": (
        "count_ngrams",
        [("tuple(tokens[i:i + n])", "''.join(map(str, tokens[i:i + n]))")],
        "each key is a tuple",
    ),
    "count: (n-1)-grams": (
        "count_ngrams",
        [("tuple(tokens[i:i + n])", "tuple(tokens[i:i + n - 1])")],
        "an n-gram has n=",
    ),
    "no smoothing": (
        "ngram_perplexity",
        [(PROB, "p = ngrams[context + (test[t],)] / context_counts[context]")],
        "no smoothing",
    ),
    "denominator + alpha": ("ngram_perplexity", [("alpha * vocab_size)", "alpha)")], "adds alpha instead of alpha * V"),
    "denominator + V": ("ngram_perplexity", [("alpha * vocab_size)", "vocab_size)")], "adds V instead of alpha * V"),
    "numerator only": ("ngram_perplexity", [(" + alpha * vocab_size)", ")")], "only the numerator is smoothed"),
    "context one short": (
        "ngram_perplexity",
        [
            ("ngrams = count_ngrams(train, n)", "ngrams = count_ngrams(train, n - 1)"),
            (CONTEXT, "context = tuple(test[t - n + 2:t])"),
        ],
        "context is one token short",
    ),
    "context ends early": (
        "ngram_perplexity",
        [(CONTEXT, "context = tuple(test[t - n:t - 1])"), ("range(n - 1, len(test))", "range(n, len(test))")],
        "context is off by one",
    ),
    "context counted with (n-1)-grams": (
        "ngram_perplexity",
        [(CONTEXT_LOOP, ""), ("context_counts = collections.Counter()", "context_counts = count_ngrams(train, n - 1)")],
        "context's count includes the last n-1 training tokens",
    ),
    "log2": ("ngram_perplexity", [("math.log(p)", "math.log2(p)")], "base 2"),
    "no exp": (
        "ngram_perplexity",
        [("return math.exp(total / len(positions))", "return total / len(positions)")],
        "exponential is missing",
    ),
    "sum": ("ngram_perplexity", [("math.exp(total / len(positions))", "math.exp(total)")], "summed"),
    "mean over len(test)": (
        "ngram_perplexity",
        [("total / len(positions)", "total / len(test)")],
        "divides by len(test)",
    ),
    "V from the training text": (
        "ngram_perplexity",
        [("alpha * vocab_size", "alpha * len(set(train))")],
        "number of distinct tokens",
    ),
    # Exercise 2
    "params transposed": (
        "get_rnn_params",
        [("normal((num_inputs, num_hiddens))", "normal((num_hiddens, num_inputs))")],
        "transposed",
    ),
    "params not trainable": ("get_rnn_params", [("param.requires_grad_(True)", "pass")], "not trainable"),
    "params std 1": (
        "get_rnn_params",
        [("torch.randn(size=shape, device=device) * 0.01", "torch.randn(size=shape, device=device)")],
        "normal(0, 0.01)",
    ),
    "params device": (
        "get_rnn_params",
        [("torch.zeros(num_hiddens, device=device)", "torch.zeros(num_hiddens)")],
        "hard-coded",
    ),
    "state not a tuple": ("init_rnn_state", [("device=device),)", "device=device))")], "must return a tuple"),
    "state device": ("init_rnn_state", [("device=device),)", "),)")], "hard-coded"),
    # Exercise 3
    "tanh missing": ("rnn", [(HIDDEN, "H = X @ W_xh + H @ W_hh + b_h")], "tanh is missing"),
    "sigmoid": ("rnn", [(HIDDEN, HIDDEN.replace("tanh", "sigmoid"))], "sigmoid where tanh belongs"),
    "W_hh transposed": ("rnn", [("H @ W_hh", "H @ W_hh.T")], "W_hh is transposed"),
    "state not carried": (
        "rnn",
        [
            (HIDDEN, "H_t = torch.tanh(X @ W_xh + H @ W_hh + b_h)"),
            (OUTPUT, "outputs.append(H_t @ W_hq + b_q)"),
            ("(H,)\n", "(H_t,)\n"),
        ],
        "state is not carried",
    ),
    "given state ignored": (
        "rnn",
        [("H, = state", "H = torch.zeros_like(state[0])")],
        "state you are given is ignored",
    ),
    "initial state returned": (
        "rnn",
        [("H, = state", "H, = H0, = state"), (RETURN, "return torch.cat(outputs, dim=0), (H0,)")],
        "returned state is the initial one",
    ),
    "output layer missing": ("rnn", [(OUTPUT, "outputs.append(H)")], "output layer is missing"),
    "batch-major": (
        "rnn",
        [(RETURN, "return torch.stack(outputs, dim=1).reshape(-1, W_hq.shape[1]), (H,)")],
        "batch-major",
    ),
    "stacked": ("rnn", [(RETURN, "return torch.stack(outputs), (H,)")], "(T, B, V)"),
    "hidden bias missing": ("rnn", [(" + b_h)", ")")], "hidden bias b_h is missing"),
    "output bias missing": ("rnn", [(OUTPUT, "outputs.append(H @ W_hq)")], "output bias b_q is missing"),
    "detached in the loop": ("rnn", [(OUTPUT, OUTPUT + "\n        H = H.detach()")], "gradient is cut"),
    "no autograd": (
        "rnn",
        [
            ("H, = state", "H, = state\n    torch.set_grad_enabled(False)"),
            (RETURN, "torch.set_grad_enabled(True)\n    " + RETURN),
        ],
        "carry no gradient",
    ),
    "rnn device": (
        "rnn",
        [(OUTPUT, "outputs.append(H @ W_hq + b_q + torch.zeros(W_hq.shape[1]))")],
        "hard-codes a device",
    ),
    "rnn crash": ("rnn", [(HIDDEN, "H = torch.tanh(X @ W_hh + H @ W_hh + b_h)")], "raised RuntimeError"),
    # Exercise 4
    "clip per parameter": (
        "grad_clipping",
        [
            (
                NORM + "\n    if norm > theta:\n" + CLIP_LOOP,
                "for g in grads:\n        norm = torch.sqrt(torch.sum(g ** 2))\n"
                "        if norm > theta:\n            g *= theta / norm",
            )
        ],
        "clipped by its own norm",
    ),
    "clip not in place": ("grad_clipping", [("g *= theta / norm", "g = g * theta / norm")], "not changed"),
    "clip no sqrt": (
        "grad_clipping",
        [(NORM, "norm = sum(torch.sum(g ** 2) for g in grads)")],
        "square root is missing",
    ),
    "clip always": (
        "grad_clipping",
        [("    if norm > theta:\n" + CLIP_LOOP, "    for g in grads:\n        g *= theta / norm")],
        "always scaled",
    ),
    "clip None grads": (
        "grad_clipping",
        [("[p.grad for p in params if p.grad is not None]", "[p.grad for p in params]")],
        "crashed on a parameter without a gradient",
    ),
    "clip frozen too": ("grad_clipping", [(" if p.requires_grad]", "]")], "requires_grad=False"),
    "clip the parameters": (
        "grad_clipping",
        [(CLIP_LOOP, "        for p in params:\n            p.data *= theta / norm")],
        "parameters themselves changed",
    ),
    "clip by value": (
        "grad_clipping",
        [("    if norm > theta:\n" + CLIP_LOOP, "    for g in grads:\n        g.clamp_(-theta, theta)")],
        "clipping by value",
    ),
    "clip device": (
        "grad_clipping",
        [(NORM, "norm = torch.sqrt(sum((torch.sum(g ** 2) for g in grads), torch.zeros(1, device='cpu')))")],
        "hard-codes a device",
    ),
    "clip of a module": (
        "grad_clipping",
        [
            (
                "    if isinstance(net, nn.Module):\n"
                "        params = [p for p in net.parameters() if p.requires_grad]\n"
                "    else:\n"
                "        params = net.params",
                "    params = net.params",
            )
        ],
        "raised AttributeError",
    ),
    # Exercise 5
    "ppl no exp": (
        "perplexity",
        [("torch.exp(F.cross_entropy(logits, targets))", "F.cross_entropy(logits, targets)")],
        "exponential is missing",
    ),
    "ppl sum": (
        "perplexity",
        [("F.cross_entropy(logits, targets)", "F.cross_entropy(logits, targets, reduction='sum')")],
        "summed",
    ),
    "ppl log2": (
        "perplexity",
        [("torch.exp(F.cross_entropy(logits, targets))", "torch.exp(F.cross_entropy(logits, targets) / math.log(2))")],
        "base 2",
    ),
    "ppl 2**": (
        "perplexity",
        [("torch.exp(F.cross_entropy(logits, targets))", "2 ** F.cross_entropy(logits, targets)")],
        "bases do not match",
    ),
    "ppl sign": ("perplexity", [("torch.exp(F.cross_entropy", "torch.exp(-F.cross_entropy")], "sign is wrong"),
    "ppl softmax twice": (
        "perplexity",
        [("F.cross_entropy(logits, targets)", "F.cross_entropy(torch.softmax(logits, dim=1), targets)")],
        "softmax is applied twice",
    ),
    "ppl per token": (
        "perplexity",
        [("F.cross_entropy(logits, targets)", "F.cross_entropy(logits, targets, reduction='none')")],
        "one number",
    ),
    "ppl unstable": (
        "perplexity",
        [
            (
                "torch.exp(F.cross_entropy(logits, targets))",
                "torch.exp(-torch.log(torch.exp(logits)[torch.arange(len(targets)), targets]"
                " / torch.exp(logits).sum(dim=1)).mean())",
            )
        ],
        "overflows",
    ),
    "ppl device": (
        "perplexity",
        [
            (
                "torch.exp(F.cross_entropy(logits, targets))",
                "torch.exp(F.cross_entropy(logits, targets)) + torch.zeros(1, device='cpu')",
            )
        ],
        "hard-codes a device",
    ),
    # Exercise 6
    "no warm-up": ("predict", [(WARM_UP, "        pass\n")], "no warm-up"),
    "warm-up state thrown away": ("predict", [(WARM_UP, "        _, _ = net(last_token(), state)\n")], "no warm-up"),
    "last prefix char twice": (
        "predict",
        [("    for _ in range(num_preds):", "    _, state = net(last_token(), state)\n    for _ in range(num_preds):")],
        "fed twice",
    ),
    "prefix left out": ("predict", [("for i in outputs)", "for i in outputs[len(prefix):])")], "leaves out the prefix"),
    "sampling": (
        "predict",
        [(ARGMAX, "outputs.append(int(torch.multinomial(F.softmax(y, dim=1), 1).reshape(1)))")],
        "sampled",
    ),
    "state not carried in generation": (
        "predict",
        [(GENERATE, "        y, _ = net(last_token(), state)\n")],
        "not carried from one generated character",
    ),
    "state never carried": (
        "predict",
        [
            (GENERATE, "        y, _ = net(last_token(), state)\n"),
            (WARM_UP, "        _, _ = net(last_token(), state)\n"),
        ],
        "not carried",
    ),
    "begin_state positional": (
        "predict",
        [("net.begin_state(batch_size=1, device=device)", "net.begin_state(1, device)")],
        "call it with keywords",
    ),
    "wrong input shape": (
        "predict",
        [("torch.tensor([[outputs[-1]]], device=device)", "torch.tensor([outputs[-1]], device=device)")],
        "(1, 1)",
    ),
    "float input": (
        "predict",
        [("torch.tensor([[outputs[-1]]], device=device)", "torch.tensor([[float(outputs[-1])]], device=device)")],
        "integer token ids",
    ),
    "one too many": ("predict", [("range(num_preds)", "range(num_preds + 1)")], "characters, expected"),
    "returns a list": (
        "predict",
        [('return "".join(vocab.idx_to_token[i] for i in outputs)', "return [vocab.idx_to_token[i] for i in outputs]")],
        "returns a string",
    ),
}


@pytest.mark.parametrize("bug", list(BUGS))
def test_planted_bug_is_named(bug):
    grade_id, edits, words = BUGS[bug]
    fn = plant(grade_id, *edits)
    failures = []
    for check in checks_of(grade_id):
        try:
            check(fn)
        except checks.CheckFailed as failure:
            failures.append(str(short(failure)))
    assert failures, f"{bug}: every check passed"
    assert words in failures[0] or any(words in f for f in failures), failures


# ---------------------------------------------------------------------------
# Correct solutions, written differently


def count_ngrams_zip(tokens, n):
    counts = {}
    for gram in zip(*(tokens[i:] for i in range(n))):
        counts[gram] = counts.get(gram, 0) + 1
    return counts


def ngram_perplexity_torch(train, test, n, vocab_size, alpha=1.0):
    """Contexts counted as (n-1)-grams of train[:-1] (equivalent), log-probabilities in float64 torch."""
    grams = count_ngrams_zip(list(train), n)
    contexts = count_ngrams_zip(list(train)[:-1], n - 1) if n > 1 else {(): len(train)}
    logp = []
    for t in range(n - 1, len(test)):
        c = tuple(test[t - n + 1 : t]) if n > 1 else ()
        logp.append(math.log(grams.get(c + (test[t],), 0) + alpha) - math.log(contexts.get(c, 0) + alpha * vocab_size))
    return torch.tensor(logp, dtype=torch.float64).neg().mean().exp()


def params_with_init(vocab_size, num_hiddens, device):
    shapes = [
        (vocab_size, num_hiddens),
        (num_hiddens, num_hiddens),
        (num_hiddens,),
        (num_hiddens, vocab_size),
        (vocab_size,),
    ]
    params = []
    for shape in shapes:
        p = torch.empty(shape, device=device)
        torch.nn.init.normal_(p, std=0.01) if len(shape) == 2 else torch.nn.init.zeros_(p)
        params.append(nn.Parameter(p))
    return params


def state_as_list(batch_size, num_hiddens, device):
    return [torch.zeros(batch_size, num_hiddens, device=device)]


def rnn_precomputed(inputs, state, params):
    W_xh, W_hh, b_h, W_hq, b_q = params
    H = state[0]
    xs = inputs @ W_xh + b_h  # every step's input part at once
    hs = []
    for x in xs:
        H = torch.tanh(torch.addmm(x, H, W_hh))
        hs.append(H)
    return torch.stack(hs).flatten(0, 1) @ W_hq + b_q, [H]


def rnn_functional(inputs, state, params):
    W_xh, W_hh, b_h, W_hq, b_q = params
    (H,) = state
    out = []
    for t in range(inputs.shape[0]):
        H = F.linear(torch.cat([inputs[t], H], dim=1), torch.cat([W_xh, W_hh]).T, b_h).tanh()
        out.append(F.linear(H, W_hq.T, b_q))
    return torch.cat(out), (H,)


def clipping_clamped(net, theta):
    params = [
        p
        for p in (net.parameters() if isinstance(net, nn.Module) else net.params)
        if p.requires_grad and p.grad is not None
    ]
    norm = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in params]))
    factor = torch.clamp(theta / norm, max=1.0)
    for p in params:
        p.grad.mul_(factor)


def clipping_rebinding(net, theta):
    params = list(net.parameters()) if isinstance(net, nn.Module) else net.params
    params = [p for p in params if p.requires_grad and p.grad is not None]
    norm = math.sqrt(sum(float((p.grad**2).sum()) for p in params))
    if norm > theta:
        for p in params:
            p.grad = p.grad * (theta / norm)  # a new tensor: the optimizer reads p.grad, so this works too


def perplexity_manual(logits, targets):
    logp = torch.log_softmax(logits, dim=1).gather(1, targets.unsqueeze(1))
    return math.exp(-logp.mean().item())


def perplexity_module(logits, targets):
    return nn.CrossEntropyLoss()(logits, targets).exp()


def predict_other_way(prefix, num_preds, net, vocab, device):
    state = net.begin_state(device=device, batch_size=1)
    ids = vocab[list(prefix)]
    for i in ids[:-1]:
        _, state = net(torch.tensor(i, device=device).reshape(1, 1), state)
    out = list(ids)
    for _ in range(num_preds):
        y, state = net(torch.full((1, 1), out[-1], device=device), state)
        out.append(y.argmax().item())
    return "".join(vocab.to_tokens(out))


ALTERNATIVES = {
    "zip and dict": (count_ngrams_zip, checks_of("count_ngrams")),
    "(n-1)-grams of train[:-1], torch": (ngram_perplexity_torch, checks_of("ngram_perplexity")),
    "nn.init and Parameter": (params_with_init, checks_of("get_rnn_params")),
    "state as a list": (state_as_list, checks_of("init_rnn_state")),
    "precomputed inputs, addmm, stack": (rnn_precomputed, checks_of("rnn")),
    "one matmul on [X, H], F.linear": (rnn_functional, checks_of("rnn")),
    "vector_norm and clamp, no branch": (clipping_clamped, checks_of("grad_clipping")),
    "p.grad rebound to a new tensor": (clipping_rebinding, checks_of("grad_clipping")),
    "log_softmax and gather, a float": (perplexity_manual, checks_of("perplexity")),
    "nn.CrossEntropyLoss": (perplexity_module, checks_of("perplexity")),
    "keywords in another order, .item(), to_tokens": (predict_other_way, checks_of("predict")),
}


@pytest.mark.parametrize("name", list(ALTERNATIVES))
def test_correct_alternative_passes(name, capsys):
    fn, check_list = ALTERNATIVES[name]
    passes(check_list, fn, capsys)


# ---------------------------------------------------------------------------
# Verdicts and the figure


def test_failure_renders_as_a_short_verdict_in_jupyter():
    failure = verdict(checks.check_rnn_forward, plant("rnn", ("H @ W_hh", "H @ W_hh.T")))
    lines = failure._render_traceback_()
    assert lines[0].startswith("\u2717 Exercise 3 (rnn): W_hh is transposed")
    assert len(lines) == 2 and failure.hint  # planting.verdict holds the second line to "  hint: ..."


def test_the_check_model_rejects_bad_calls_with_a_verdict():
    net = generation.CheckNet(15, 0, "module")
    with pytest.raises(checks.CheckFailed, match="keywords"):
        net.begin_state(1, torch.device("cpu"))
    with pytest.raises(checks.CheckFailed, match="batch of 2"):
        net.begin_state(batch_size=2, device=torch.device("cpu"))
    state = net.begin_state(batch_size=1, device=torch.device("cpu"))
    y, state = net(torch.tensor([[3]]), state)
    assert y.shape == (1, 15) and state.shape == (1, 1, 16) and net.fed == [3]


@pytest.fixture
def close_new_figures():
    before = set(plt.get_fignums())
    yield
    for number in set(plt.get_fignums()) - before:
        plt.close(number)


@pytest.mark.parametrize("steps", [1, 3, 5])
def test_the_figure_draws_one_cell_per_step(steps, close_new_figures, tmp_path):
    fig = rnn_unrolled(steps)
    gids = sorted(p.get_gid() for ax in fig.axes for p in ax.patches if p.get_gid())
    assert gids == sorted(["rnn-cell-folded"] + [f"rnn-cell-t{t}" for t in range(1, steps + 1)])
    fig.savefig(tmp_path / "rnn.svg")
    assert (tmp_path / "rnn.svg").stat().st_size > 1000


@pytest.mark.parametrize("bad, error", [(0, ValueError), (True, TypeError), (2.5, TypeError)])
def test_the_figure_rejects_bad_arguments(bad, error):
    with pytest.raises(error):
        rnn_unrolled(bad)


def test_every_combination_of_two_rnn_mistakes_still_fails():
    """Two planted mistakes at once are not taken for a right answer."""
    forward, _ = catalogue()
    for a, b in itertools.combinations(range(len(forward)), 2):
        pa = forward[a].plant.keywords
        pb = forward[b].plant.keywords
        if set(pa) & set(pb):  # one holds the other (both biases missing holds each)
            continue

        def both(x, s, p, pa=pa, pb=pb):
            return scratch_rnn(x, s, p, **pa, **pb)

        verdict(checks.check_rnn_forward, both)
