"""The bigram chapter's own tests: the grader's references are right, every named mistake planted
in the solution notebook's code fails with its name (alone, everywhere, two at once), correct
solutions written differently pass, what the checks compare is plain data, and the notebooks run.
What every chapter's checks must do (pass the solution, fail a stub, stay off stderr...) is
tests/test_chapters.py.
"""

from __future__ import annotations

import re

import nbformat
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from autograde import bigram_lstm as checks
from autograde import devices
from autograde.bigram_lstm import cell, model, peephole, text
from autograde.verdict import CheckFailed

from conftest import ROOT
from notebooks import execute, grade_id, outputs_text
from planting import named, passes, solution, verdict

SLUG = "bigram-lstm"
plant = solution(SLUG).plant
define = solution(SLUG).define


# ---------------------------------------------------------------------------
# The grader's references


def _batches_by_the_letter(ids, batch_size, num_unrollings, count):
    """The issue's words, in plain Python: an independent reading of the generator."""
    ids = [int(i) for i in ids]
    n = len(ids)
    cursors = [b * (n // batch_size) for b in range(batch_size)]

    def step():
        out = []
        for b in range(batch_size):
            p = cursors[b]
            out.append(27 * ids[p] + ids[(p + 1) % n])
            cursors[b] = (p + 2) % n
        return out

    batches, last = [], step()
    for _ in range(count):
        rows = [last] + [step() for _ in range(num_unrollings)]
        last = rows[-1]
        batches.append(torch.tensor(rows))
    return batches


@pytest.mark.parametrize("n, batch_size, num_unrollings", [(37, 4, 3), (20, 5, 2), (101, 7, 6), (9, 1, 5)])
def test_the_reference_generator_follows_the_issue_by_the_letter(n, batch_size, num_unrollings):
    ids = torch.randint(27, (n,), generator=torch.Generator().manual_seed(n))
    ours = text.bigram_batches(ids, batch_size, num_unrollings)
    for want in _batches_by_the_letter(ids, batch_size, num_unrollings, 12):
        got = next(ours)
        assert got.dtype == torch.int64 and torch.equal(got, want)


def test_the_text_has_27_symbols_and_the_ids_round_trip():
    book = text.time_machine()
    assert set(book) == set(" abcdefghijklmnopqrstuvwxyz")
    assert "  " not in book and book == book.strip()
    assert text.clean("The Time-Machine, [1898]!\n\nBy  H. G. Wells") == "the time machine by h g wells"
    assert "".join(text.id2char(i) for i in text.char_ids(book[:500]).tolist()) == book[:500]
    assert text.char2id(" ") == 0 and text.char2id("a") == 1 and text.char2id("z") == 26


def test_the_draws_reach_past_the_end_of_every_text():
    """Each case draws enough batches that the last cursor wraps around (and the others with it)."""
    for case in checks._batch_cases():
        ids, batch_size, num_unrollings = case.make(torch.device("cpu"), None)
        n, k = len(ids), checks._draws(len(ids), batch_size, num_unrollings)
        last_cursor_moves = 2 * (1 + num_unrollings * k)
        assert (batch_size - 1) * (n // batch_size) + last_cursor_moves > n + 2, case.label


@pytest.mark.parametrize("case", checks.CELL_CASES)
def test_the_graders_scratch_lstm_equals_nn_lstm(case):
    X, state, params, _ = checks._cell_case(*case).make(torch.device("cpu"), None)
    Y, (H, C) = cell.scratch_lstm(X, state, params)
    Y_t, (H_t, C_t) = cell.torch_lstm(X, state, params)
    for a, b in ((Y, Y_t), (H, H_t), (C, C_t)):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", checks.LSTMP_CASES)
def test_the_graders_scratch_lstmp_equals_nn_lstm_with_proj_size(case):
    X, state, params, _ = checks._cell_case(*case).make(torch.device("cpu"), None)
    assert len(params) == 3 and state[0].shape[1] < state[1].shape[1]  # a real projection: P < N
    Y, (H, C) = cell.scratch_lstm(X, state, params)
    Y_t, (H_t, C_t) = cell.torch_lstm(X, state, params)
    for a, b in ((Y, Y_t), (H, H_t), (C, C_t)):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", checks.PEEPHOLE_CASES)
def test_the_graders_peephole_lstm_is_nn_lstm_when_its_peepholes_are_zero(case):
    (D, H), X, state, weights, _ = checks._peephole_case(*case).make(torch.device("cpu"), None)
    reference = peephole.PeepholeLSTM(D, H).double()
    with torch.no_grad():
        reference.W.copy_(weights["W"])
        reference.b.copy_(weights["b"])
    Y, (h, c) = reference(X, state)
    Y_t, (h_t, c_t) = cell.torch_lstm(X, state, [weights["W"], weights["b"]])
    for a, b in ((Y, Y_t), (h, h_t), (c, c_t)):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        reference.w_co.copy_(weights["peep"][2])  # and with a peephole, it is not
    assert not torch.allclose(reference(X, state)[0], Y_t)


def test_the_nn_lstm_weights_follow_the_fused_layout():
    """nn.LSTM loaded with `torch_weights` as a state dict computes what scratch_lstm computes."""
    D, H = 3, 4
    gen = torch.Generator().manual_seed(0)
    params = [
        torch.randn(D + H, 4 * H, generator=gen, dtype=torch.float64),
        torch.randn(4 * H, generator=gen, dtype=torch.float64),
    ]
    layer = nn.LSTM(D, H).double()
    layer.load_state_dict(cell.torch_weights(params, D))
    X = torch.randn(5, 2, D, generator=gen, dtype=torch.float64)
    zeros = (torch.zeros(1, 2, H, dtype=torch.float64),) * 2
    Y, _ = layer(X, zeros)
    assert torch.allclose(Y, cell.scratch_lstm(X, (zeros[0][0], zeros[1][0]), params)[0])


def test_the_reference_model_without_dropout_is_embedding_lstm_linear():
    torch.manual_seed(0)
    m = model.BigramLSTM(13, 4, 5, 0.5).double().eval()
    ids = torch.randint(13, (6, 2))
    state = (torch.zeros(2, 5, dtype=torch.float64),) * 2
    logits, _ = m(ids, state)
    Y, _ = cell.torch_lstm(m.embedding(ids), state, [m.W, m.b])
    assert torch.allclose(logits, m.classifier(Y).reshape(-1, 13))


# ---------------------------------------------------------------------------
# Planted mistakes, as edits of the solution notebook's code: (grade id, edits, check, words)

CURSORS = "cursors = torch.arange(batch_size) * segment"
EMIT = "bigrams = 27 * ids[cursors] + ids[(cursors + 1) % n]"
MOVE = "cursors = (cursors + 2) % n"
CARRY = "steps = [last] + [step() for _ in range(num_unrollings)]"
GATES = "I, F, O = torch.sigmoid(z[:, :3 * n]).chunk(3, dim=1)"
CANDIDATE = "C_tilde = torch.tanh(z[:, 3 * n:])"
UPDATE = "C = F * C + I * C_tilde"
HIDDEN = "H = O * torch.tanh(C)"
DROP_IN = "X = F.dropout(self.embedding(ids), self.dropout, training=self.training)"
DROP_OUT = "logits = self.classifier(F.dropout(Y, self.dropout, training=self.training))"
RECURRENT = """H, C = state
        outputs = []
        for x in X:
            H = F.dropout(H, self.dropout, training=self.training)
            y, (H, C) = fused_lstm(x[None], (H, C), [self.W, self.b])
            outputs.append(y[0])
        Y, state = torch.stack(outputs), (H, C)"""
BY_HAND = """mask = (torch.rand_like({x}) >= self.dropout).to({x}.dtype)
        {x} = {x} * mask if self.training else {x}
"""

b1, b2, b3 = checks.check_bigram_batches, checks.check_fused_lstm_forward, checks.check_fused_lstm_gradients
b4 = checks.check_dropout
b5, b6 = checks.check_lstmp_forward, checks.check_lstmp_gradients
b7 = checks.check_peephole

BUGS = {
    # Exercise 1
    "no carry-over": (
        "bigram_batches",
        [(CARRY, "steps = [step() for _ in range(num_unrollings + 1)]")],
        b1,
        "the carry-over is missing",
    ),
    "overlapping bigrams": ("bigram_batches", [(MOVE, "cursors = (cursors + 1) % n")], b1, "the bigrams overlap"),
    "cursors all at 0": (
        "bigram_batches",
        [(CURSORS, "cursors = torch.zeros(batch_size, dtype=torch.long)")],
        b1,
        "the cursors are not spread over the text",
    ),
    "cursors side by side": (
        "bigram_batches",
        [(CURSORS, "cursors = torch.arange(batch_size) * 2")],
        b1,
        "the cursors are not spread over the text",
    ),
    "character ids": ("bigram_batches", [(EMIT, "bigrams = ids[cursors]")], b1, "character ids, not bigram ids"),
    "pair swapped": (
        "bigram_batches",
        [(EMIT, "bigrams = ids[cursors] + 27 * ids[(cursors + 1) % n]")],
        b1,
        "the pair's order is swapped",
    ),
    "transposed": (
        "bigram_batches",
        [("yield torch.stack(steps)", "yield torch.stack(steps, dim=1)")],
        b1,
        "the batches are transposed",
    ),
    "a list, not an iterator": (
        "bigram_batches",
        [("yield torch.stack(steps)", "return [torch.stack(steps)]")],
        b1,
        "returned something that next() cannot step through",
    ),
    "runs off the end": (
        "bigram_batches",
        [(EMIT, "bigrams = 27 * ids[cursors] + ids[cursors + 1]"), (MOVE, "cursors = cursors + 2")],
        b1,
        "a cursor ran off the end",
    ),
    # Exercise 2
    "PyTorch's gate order": (
        "fused_lstm",
        [
            (
                GATES,
                "I, F, C_tilde, O = z.chunk(4, dim=1)\n"
                "        I, F, O, C_tilde = I.sigmoid(), F.sigmoid(), O.sigmoid(), "
                "C_tilde.tanh()",
            ),
            (CANDIDATE, ""),
        ],
        b2,
        "W's column blocks are read in PyTorch's order",
    ),
    "rows [h, x]": (
        "fused_lstm",
        [("torch.cat([x, H], dim=1)", "torch.cat([H, x], dim=1)")],
        b2,
        "W's rows are read as [h, x]",
    ),
    "no tanh on C": ("fused_lstm", [(HIDDEN, "H = O * C")], b2, "the tanh in H = O * tanh(C) is missing"),
    "sigmoid candidate": (
        "fused_lstm",
        [(CANDIDATE, "C_tilde = torch.sigmoid(z[:, 3 * n:])")],
        b2,
        "C~ uses a sigmoid where tanh belongs",
    ),
    "forget gate missing": ("fused_lstm", [(UPDATE, "C = C + I * C_tilde")], b2, "forget gate is missing"),
    "state ignored": (
        "fused_lstm",
        [("H, C = state", "H, C = torch.zeros_like(state[0]), torch.zeros_like(state[1])")],
        b2,
        "the state you are given is ignored",
    ),
    "initial state returned": (
        "fused_lstm",
        [("H, C = state", "H, C = H0, C0 = state"), ("(H, C)\n", "(H0, C0)\n")],
        b2,
        "the returned state is the initial one",
    ),
    "(C, H) returned": (
        "fused_lstm",
        [("return torch.stack(outputs), (H, C)", "return torch.stack(outputs), (C, H)")],
        b2,
        "the returned state is (C, H)",
    ),
    "Y holds C": ("fused_lstm", [("outputs.append(H)", "outputs.append(C)")], b2, "Y holds the memory C"),
    "cat instead of stack": (
        "fused_lstm",
        [("torch.stack(outputs)", "torch.cat(outputs)")],
        b2,
        "stack the steps' hidden states",
    ),
    "two at once": (
        "fused_lstm",
        [(HIDDEN, "H = O * C"), (UPDATE, "C = C + I * C_tilde")],
        b2,
        "two mistakes at once: the tanh in H = O * tanh(C) is missing; and the forget gate is missing",
    ),
    "gradient cut": (
        "fused_lstm",
        [("outputs.append(H)", "outputs.append(H)\n        H, C = H.detach(), C.detach()")],
        b3,
        "the gradient is cut between time steps: H and C are detached",
    ),
    "forward wrong, so no gradients": ("fused_lstm", [(HIDDEN, "H = O * C")], b3, "the forward pass is not right yet"),
    # Exercise 4
    "LSTMP: no tanh": (
        "lstmp",
        [("H = (O * torch.tanh(C)) @ W_hr", "H = (O * C) @ W_hr")],
        b5,
        "the tanh in h = (O * tanh(C)) @ W_hr is missing",
    ),
    "LSTMP: forget gate missing": (
        "lstmp",
        [("C = F * C + I * torch.tanh(z[:, 3 * n:])", "C = C + I * torch.tanh(z[:, 3 * n:])")],
        b5,
        "forget gate is missing",
    ),
    "LSTMP: rows [h, x]": (
        "lstmp",
        [("torch.cat([x, H], dim=1)", "torch.cat([H, x], dim=1)")],
        b5,
        "W's rows are read as [h, x]",
    ),
    "LSTMP: Y unprojected": (
        "lstmp",
        [
            ("H = (O * torch.tanh(C)) @ W_hr", "h = O * torch.tanh(C)\n        H = h @ W_hr"),
            ("outputs.append(H)", "outputs.append(h)"),
        ],
        b5,
        "Y holds the projected hidden states",
    ),
    "LSTMP: projection missing": (
        "lstmp",
        [("H = (O * torch.tanh(C)) @ W_hr", "H = O * torch.tanh(C)")],
        b5,
        "raised RuntimeError",
    ),
    "LSTMP: gradient cut": (
        "lstmp",
        [("outputs.append(H)", "outputs.append(H)\n        H = H.detach()")],
        b6,
        "the gradient is cut between time steps: H is detached",
    ),
    # Exercise 5
    "output gate peeks at C_{t-1}": (
        "PeepholeLSTM",
        [
            ("            C = F * C + I * torch.tanh(z[:, 3 * n:])\n", ""),
            (
                "            H = O * torch.tanh(C)",
                "            C = F * C + I * torch.tanh(z[:, 3 * n:])\n            H = O * torch.tanh(C)",
            ),
        ],
        b7,
        "the output gate peeks at the previous memory C_{t-1}",
    ),
    "full peephole matrices": (
        "PeepholeLSTM",
        [
            ("torch.zeros(num_hiddens))", "torch.zeros(num_hiddens, num_hiddens))"),
            ("self.w_ci * C", "C @ self.w_ci"),
            ("self.w_cf * C", "C @ self.w_cf"),
            ("self.w_co * C", "C @ self.w_co"),
        ],
        b7,
        "the peepholes are full (H, H) matrices",
    ),
    "no peephole on O": ("PeepholeLSTM", [(" + self.w_co * C)", ")")], b7, "the output gate has no peephole"),
    "peepholes unused": (
        "PeepholeLSTM",
        [(" + self.w_ci * C)", ")"), (" + self.w_cf * C)", ")"), (" + self.w_co * C)", ")")],
        b7,
        "the peepholes are missing",
    ),
    "peepholes of another shape": (
        "PeepholeLSTM",
        [("torch.zeros(num_hiddens))", "torch.zeros(1, num_hiddens))")],
        b7,
        "the peepholes are three vectors of H",
    ),
    # Exercise 3
    "recurrent dropout": (
        "BigramLSTM",
        [("Y, state = fused_lstm(X, state, [self.W, self.b])", RECURRENT)],
        b4,
        "the state carried from step to step is dropped out",
    ),
    "active in eval()": (
        "BigramLSTM",
        [(DROP_IN, DROP_IN.replace("self.training", "True")), (DROP_OUT, DROP_OUT.replace("self.training", "True"))],
        b4,
        "dropout is still active in eval()",
    ),
    "F.dropout's default": (
        "BigramLSTM",
        [(", training=self.training)", ")")],
        b4,
        "dropout is still active in eval()",
    ),
    "not rescaled": (
        "BigramLSTM",
        [
            (DROP_IN, "X = self.embedding(ids)\n        " + BY_HAND.format(x="X")),
            (DROP_OUT, BY_HAND.format(x="Y") + "        logits = self.classifier(Y)"),
        ],
        b4,
        "the kept values are not rescaled by 1 / (1 - p)",
    ),
    "dropout missing": (
        "BigramLSTM",
        [(DROP_IN, "X = self.embedding(ids)"), (DROP_OUT, "logits = self.classifier(Y)")],
        b4,
        "dropout is missing",
    ),
    "no dropout into the LSTM": (
        "BigramLSTM",
        [(DROP_IN, "X = self.embedding(ids)")],
        b4,
        "no dropout on the embeddings fed into the LSTM",
    ),
    "no dropout out of the LSTM": (
        "BigramLSTM",
        [(DROP_OUT, "logits = self.classifier(Y)")],
        b4,
        "no dropout between the LSTM's outputs and the classifier",
    ),
    "recurrent and active in eval()": (
        "BigramLSTM",
        [
            ("Y, state = fused_lstm(X, state, [self.W, self.b])", RECURRENT.replace("self.training", "True")),
            (DROP_IN, DROP_IN.replace("self.training", "True")),
            (DROP_OUT, DROP_OUT.replace("self.training", "True")),
        ],
        b4,
        "two mistakes at once: the state carried from step to step is dropped out",
    ),
    "no classifier as nn.Linear": (
        "BigramLSTM",
        [
            (
                "self.classifier = nn.Linear(num_hiddens, vocab_size)",
                "self.V = nn.Parameter(torch.randn(num_hiddens, vocab_size) * 0.1)",
            ),
            (
                "logits = self.classifier(F.dropout(Y, self.dropout, training=self.training))",
                "logits = F.dropout(Y, self.dropout, training=self.training) @ self.V",
            ),
        ],
        b4,
        "the classifier could not be found",
    ),
}


@pytest.mark.parametrize("bug", BUGS)
def test_a_planted_bug_is_named(bug):
    grade_id_, edits, check, words = BUGS[bug]
    named(check, plant(grade_id_, *edits), words)


def test_the_gradient_check_passes_a_forward_that_is_only_wrong_in_its_gradient():
    """The detached state is right in the forward pass: only the gradient check catches it."""
    fn = plant("fused_lstm", ("outputs.append(H)", "outputs.append(H)\n        H, C = H.detach(), C.detach()"))
    checks.check_fused_lstm_forward(fn)
    assert "detached" in verdict(checks.check_fused_lstm_gradients, fn).problem


# ---------------------------------------------------------------------------
# Correct solutions written differently


def batches_as_a_class(ids, batch_size, num_unrollings):
    class Batches:
        def __init__(self):
            self.n = len(ids)
            self.cursors = [b * (self.n // batch_size) for b in range(batch_size)]
            self.last = self.step()

        def step(self):
            out = torch.empty(batch_size, dtype=torch.long)
            for b, p in enumerate(self.cursors):
                out[b] = 27 * ids[p] + ids[(p + 1) % self.n]
                self.cursors[b] = (p + 2) % self.n
            return out

        def __iter__(self):
            return self

        def __next__(self):
            rows = [self.last]
            for _ in range(num_unrollings):
                rows.append(self.step())
            self.last = rows[-1]
            return torch.stack(rows)

    return Batches()


def lstm_with_the_input_part_first(X, state, params):
    W, b = params
    H, C = state
    D = X.shape[-1]
    from_inputs = X @ W[:D] + b  # every step's input part at once
    Y = []
    for part in from_inputs:
        i, f, o, g = (part + H @ W[D:]).split(H.shape[1], dim=1)
        C = torch.sigmoid(f) * C + torch.sigmoid(i) * torch.tanh(g)
        H = torch.sigmoid(o) * torch.tanh(C)
        Y.append(H)
    return torch.stack(Y), (H, C)


def lstmp_with_nn_linear_layout(X, state, params):
    """Another student: the projection as F.linear with W_hr transposed, gates split with torch.split."""
    W, b, W_hr = params
    H, C = state
    Y = []
    for x in X:
        i, f, o, g = torch.split(torch.cat([x, H], dim=1) @ W + b, C.shape[1], dim=1)
        C = f.sigmoid() * C + i.sigmoid() * g.tanh()
        H = F.linear(o.sigmoid() * C.tanh(), W_hr.T)
        Y.append(H)
    return torch.stack(Y), (H, C)


class PeepholesStacked(nn.Module):
    """Another student: the three peepholes in one (3, H) parameter, other names, gates by chunk."""

    def __init__(self, input_size, num_hiddens):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(input_size + num_hiddens, 4 * num_hiddens) * 0.1)
        self.bias = nn.Parameter(torch.zeros(4 * num_hiddens))
        self.peep = nn.Parameter(torch.zeros(3, num_hiddens))

    def forward(self, X, state):
        h, c = state
        ys = []
        for x in X:
            i, f, o, g = (torch.cat([x, h], 1) @ self.weight + self.bias).chunk(4, dim=1)
            c = torch.sigmoid(f + self.peep[1] * c) * c + torch.sigmoid(i + self.peep[0] * c) * torch.tanh(g)
            h = torch.sigmoid(o + self.peep[2] * c) * torch.tanh(c)
            ys.append(h)
        return torch.stack(ys), (h, c)


def model_with_modules(fused):
    class WithModules(nn.Module):
        def __init__(self, vocab_size, embed_size, num_hiddens, dropout=0.0):
            super().__init__()
            self.words = nn.Embedding(vocab_size, embed_size)
            self.weights = nn.Parameter(torch.randn(embed_size + num_hiddens, 4 * num_hiddens) * 0.1)
            self.bias = nn.Parameter(torch.zeros(4 * num_hiddens))
            self.drop_in, self.drop_out = nn.Dropout(dropout), nn.Dropout(dropout)
            self.out = nn.Linear(num_hiddens, vocab_size)

        def forward(self, ids, state):
            Y, state = fused(self.drop_in(self.words(ids)), state, [self.weights, self.bias])
            return self.out(self.drop_out(Y)).flatten(0, 1), state

    return WithModules


def model_by_hand(fused):
    class ByHand(nn.Module):
        def __init__(self, vocab_size, embed_size, num_hiddens, dropout=0.0):
            super().__init__()
            self.p = dropout
            self.emb = nn.Embedding(vocab_size, embed_size)
            self.cell = nn.LSTM(embed_size, num_hiddens)  # PyTorch's LSTM in place of the fused one
            self.fc = nn.Linear(num_hiddens, vocab_size)

        def drop(self, x):
            if not self.training or self.p == 0:
                return x
            return x * torch.bernoulli(torch.full_like(x, 1 - self.p)) / (1 - self.p)

        def forward(self, ids, state):
            Y, (h, c) = self.cell(self.drop(self.emb(ids)), tuple(s[None] for s in state))
            logits = self.fc(self.drop(Y))
            return logits.reshape(-1, logits.shape[-1]), (h[0], c[0])

    return ByHand


@pytest.mark.parametrize(
    "check, fn",
    [
        (b1, batches_as_a_class),
        (b2, lstm_with_the_input_part_first),
        (b3, lstm_with_the_input_part_first),
        (b4, model_with_modules(cell.scratch_lstm)),
        (b4, model_by_hand(cell.scratch_lstm)),
        (b5, lstmp_with_nn_linear_layout),
        (b6, lstmp_with_nn_linear_layout),
        (b7, PeepholesStacked),
    ],
    ids=[
        "generator as a class",
        "input part first",
        "its gradients",
        "nn.Dropout modules",
        "dropout by hand around nn.LSTM",
        "LSTMP with F.linear",
        "LSTMP's gradients",
        "peepholes as one (3, H)",
    ],
)
def test_a_correct_solution_written_differently_passes(check, fn, capsys):
    passes([check], fn, capsys)


@pytest.mark.slow  # many dropout masks: seconds each
def test_the_dropout_verdict_does_not_depend_on_the_random_state_and_leaves_it_alone(capsys):
    bug = plant("BigramLSTM", (DROP_IN, "X = self.embedding(ids)"))
    verdicts = set()
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        before = torch.random.get_rng_state()
        verdicts.add(str(verdict(b4, bug)))
        checks.check_dropout(define("BigramLSTM"))
        assert torch.equal(torch.random.get_rng_state(), before)
    assert len(verdicts) == 1


@pytest.mark.slow  # many dropout masks: seconds each
def test_the_dropout_fingerprint_holds_for_many_masks():
    """The judgement is about every mask, not one: other seeds give the same fingerprint, right or wrong."""
    case = checks._model_case()
    for cls in (model.BigramLSTM, *(m.plant for m in checks.DROPOUT_MISTAKES)):
        seen = set()
        for seed in range(6):
            args = case.make(torch.device("cpu"), None)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                original = torch.manual_seed
                torch.manual_seed = lambda s, _o=original, _d=seed: _o(s + 100 * _d)  # other masks each time
                try:
                    seen.add(tuple(sorted(model.fingerprint(cls, args, "x").items())))
                finally:
                    torch.manual_seed = original
        assert len(seen) == 1, (cls, seen)


# ---------------------------------------------------------------------------
# What crosses from the student's code to the judge is plain data; the accelerator path


@pytest.mark.parametrize(
    "exercise, fn",
    [
        (checks.BATCHES, "bigram_batches"),
        (checks.FORWARD, "fused_lstm"),
        (checks.GRADIENTS, "fused_lstm"),
        (checks.DROPOUT, "BigramLSTM"),
        (checks.LSTMP_FORWARD, "lstmp"),
        (checks.LSTMP_GRADIENTS, "lstmp"),
        (checks.PEEPHOLE, "PeepholeLSTM"),
    ],
)
def test_what_run_returns_round_trips_torch_save_with_weights_only(exercise, fn, tmp_path):
    case = exercise.cases()[0]
    got = exercise.run(define(fn), case.make(torch.device("cpu"), None))
    torch.save(got, tmp_path / "result.pt")
    back = torch.load(tmp_path / "result.pt", weights_only=True)
    assert exercise.same(back, got)


@pytest.fixture
def stand_in(monkeypatch):
    monkeypatch.setenv(devices.STAND_IN, "cpu")


@pytest.mark.parametrize(
    "grade_id_, check",
    [
        ("bigram_batches", b1),
        ("fused_lstm", b2),
        ("fused_lstm", b3),
        ("BigramLSTM", b4),
        ("lstmp", b5),
        ("lstmp", b6),
        ("PeepholeLSTM", b7),
    ],
)
def test_the_solution_passes_in_float32_on_the_accelerator_stand_in(stand_in, grade_id_, check, capsys):
    check(define(grade_id_))
    out = capsys.readouterr().out
    assert "\u2713" in out and "\u2717" not in out


@pytest.mark.parametrize(
    "edit",
    [
        ("outputs = []", "outputs = []\n    H = H.to('cpu')"),
        ("H, C = state", "H, C = state\n    C = C + torch.zeros(C.shape, device='cpu')"),
    ],
)
def test_a_hard_coded_device_is_caught_on_meta(edit):
    assert "hard-codes a device" in verdict(b2, plant("fused_lstm", edit)).problem


def test_a_crash_in_the_model_names_the_class():
    with pytest.raises(CheckFailed, match="`BigramLSTM` raised ZeroDivisionError"):
        b4(plant("BigramLSTM", ("### BEGIN SOLUTION", "### BEGIN SOLUTION\n        1 / 0")))


# ---------------------------------------------------------------------------
# The notebooks, with real kernels (quick training)


def _alone(path, tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    target = folder / path.name
    target.write_bytes(path.read_bytes())
    return target


@pytest.mark.slow
def test_the_solution_runs_top_to_bottom_and_compares_three_models(tmp_path):
    path = _alone(ROOT / "solutions" / f"{SLUG}.ipynb", tmp_path)
    nb = execute(nbformat.read(path, as_version=4), path.parent)
    errors = [
        (i, o.ename)
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]
    assert errors == []
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(graded) == 7 and all(outputs_text(c).startswith("\u2713") for c in graded), [
        (grade_id(c), outputs_text(c)) for c in graded
    ]
    text_out = "\n".join(outputs_text(c) for c in nb.cells if c.cell_type == "code")
    for name in ("character LSTM", "bigram LSTM", "bigram LSTM, dropout 0.3"):
        assert f"\n{name} " in "\n" + text_out
    assert text_out.count(" tokens/sec on ") == 3
    assert any("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    stderr = [
        o.text
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "stream" and o.name == "stderr"
    ]
    assert stderr == []


def test_the_chapter_quotes_no_perplexity_the_run_does_not_print():
    """The prose gives no number of its own for the three models (the run prints them); 4.25 is the
    original assignment's, on text8."""
    nb = nbformat.read(ROOT / "solutions" / f"{SLUG}.ipynb", as_version=4)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    quoted = set(re.findall(r"\b\d+\.\d+\b", prose))
    assert quoted <= {"4.25", "0.5", "0.3", "0.2", "1409.2329"}, quoted  # the last: Zaremba et al.'s arXiv number


# ---------------------------------------------------------------------------
# Probe and judge apart, as the grader runs them


@pytest.mark.parametrize(
    "grade_id_, name",
    [
        ("bigram_batches", "check_bigram_batches"),
        ("fused_lstm", "check_fused_lstm_forward"),
        ("fused_lstm", "check_fused_lstm_gradients"),
        ("BigramLSTM", "check_dropout"),
        ("lstmp", "check_lstmp_forward"),
        ("lstmp", "check_lstmp_gradients"),
        ("PeepholeLSTM", "check_peephole"),
    ],
)
def test_the_judge_alone_gives_the_verdict_on_a_record(grade_id_, name, tmp_path, monkeypatch, capsys):
    from autograde import probing

    monkeypatch.setenv(probing.RECORDS, str(tmp_path))
    probing.record("autograde.bigram_lstm", name, define(grade_id_))
    right = probing.verdict("autograde.bigram_lstm", name, tmp_path / f"{name}.pt")
    assert right.passed, right.text
    probing.record("autograde.bigram_lstm", name, BUGS_BY_CHECK[name])
    wrong = probing.verdict("autograde.bigram_lstm", name, tmp_path / f"{name}.pt")
    assert not wrong.passed and "\u2717" in wrong.text


def _first_bug(check):
    grade_id_, edits, _, _ = next(bug for bug in BUGS.values() if bug[2] is check)
    return plant(grade_id_, *edits)


BUGS_BY_CHECK = {name: _first_bug(getattr(checks, name)) for name in checks.__all__}
