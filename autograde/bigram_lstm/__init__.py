"""Checks for the chapter "A bigram LSTM with embeddings and dropout".

Each function takes the student's function (or class), prints one line when it is right and
raises `CheckFailed` naming the mistake when it is not. The notebook's check cells call these
and nothing else. Every check is `engine.check` on one of the module-level exercises below.
"""

from __future__ import annotations

import torch

from autograde import engine, judge_only, seeds
from autograde.bigram_lstm import model, peephole, text
from autograde.devices import FLOAT32_TOL
from autograde.mistakes import mistake
from autograde.verdict import CheckFailed

__all__ = [
    "check_bigram_batches",
    "check_fused_lstm_forward",
    "check_fused_lstm_gradients",
    "check_dropout",
    "check_lstmp_forward",
    "check_lstmp_gradients",
    "check_peephole",
]

# ---------------------------------------------------------------------------
# Exercise 1: batches of bigram ids

EX1 = "Exercise 1 (bigram_batches)"
TRANSPOSED = "the batches are transposed: (batch_size, num_unrollings + 1) instead of (num_unrollings + 1, batch_size)."


def _slip(problem: str, hint: str, **options):
    return mistake(text.bigram_batches, problem, hint, **options)


BATCH_MISTAKES = (
    _slip(
        "a batch does not start with the previous batch's last step: the carry-over is missing.",
        "keep the last step of each batch and make it the first step of the next one, then add num_unrollings "
        "new steps.",
        carry=False,
    ),
    _slip(
        "a batch does not start with the previous batch's last step: the carry-over is missing.",
        "the step drawn before the loop must be the first step of the first batch; then keep the last step of "
        "each batch as the first step of the next one.",
        carry="lost",
    ),
    _slip(
        "the bigrams overlap: each cursor moves on by 1 character a step; it moves by 2.",
        "a bigram covers two characters, so the next one starts two characters later: cursor = (cursor + 2) % n.",
        stride=1,
    ),
    _slip(
        "the cursors are not spread over the text: every row of the batch reads the same place.",
        "cursor b starts at b * (len(ids) // batch_size).",
        spread="together",
    ),
    _slip(
        "the cursors are not spread over the text: the rows read neighbouring bigrams.",
        "cursor b starts at b * (len(ids) // batch_size), one segment of the text per row.",
        spread="adjacent",
    ),
    _slip(
        "the batches hold character ids, not bigram ids.",
        "the bigram at p has the id 27 * ids[p] + ids[(p + 1) % n].",
        emit="chars",
    ),
    _slip(
        "the pair's order is swapped: the id is 27 * second + first.",
        "the first character is the 'tens' digit in base 27: 27 * ids[p] + ids[(p + 1) % n].",
        emit="swapped",
    ),
    _slip(TRANSPOSED, "stack the steps along dim 0: torch.stack(steps), one row per step.", transpose=True),
)


def _draws(n: int, batch_size: int, num_unrollings: int) -> int:
    """Enough batches for the last cursor to wrap past the end of the text, and a few more."""
    segment = n // batch_size
    last_start = (batch_size - 1) * segment
    return -(-(n - last_start + 2) // (2 * num_unrollings)) + 3


def _batch_case(label: str, ids: torch.Tensor, batch_size: int, num_unrollings: int) -> engine.Case:
    k = _draws(len(ids), batch_size, num_unrollings)
    return engine.Case(
        f"for {label}, batch_size={batch_size}, num_unrollings={num_unrollings} ({k} batches)",
        lambda device, dtype: (ids.clone(), batch_size, num_unrollings),
        on_devices=False,
    )


def _batch_cases() -> list[engine.Case]:
    gen = seeds.generator(0)
    valid = text.char_ids(text.time_machine()[: text.VALID_SIZE])
    return [
        _batch_case("37 random ids", torch.randint(27, (37,), generator=gen), 4, 3),
        _batch_case("50 random ids", torch.randint(27, (50,), generator=gen), 3, 5),
        _batch_case("20 random ids (20 // 5: no remainder)", torch.randint(27, (20,), generator=gen), 5, 2),
        _batch_case("23 random ids", torch.randint(27, (23,), generator=gen), 1, 4),
        _batch_case(f"The Time Machine's first {text.VALID_SIZE:,} characters", valid, 64, 10),
    ]


def _draw_batches(f, args) -> list:
    ids, batch_size, num_unrollings = args
    batches = f(ids, batch_size, num_unrollings)
    return [next(batches) for _ in range(_draws(len(ids), batch_size, num_unrollings))]


def _read_batches(got, case: engine.Case) -> list:
    ids, batch_size, num_unrollings = case.make(engine.CPU, None)
    want = (num_unrollings + 1, batch_size)
    for k, batch in enumerate(got):
        if not isinstance(batch, torch.Tensor):
            raise CheckFailed(
                EX1,
                f"{case.label}, batch {k + 1} is a {type(batch).__name__}; each is one tensor.",
                "torch.stack(steps) makes one (num_unrollings + 1, batch_size) tensor.",
            )
        if tuple(batch.shape) == want[::-1] and want[0] != want[1]:
            raise CheckFailed(EX1, f"{case.label}: {TRANSPOSED}", BATCH_MISTAKES[-1].hint)
        if tuple(batch.shape) != want:
            raise CheckFailed(
                EX1,
                f"{case.label}, batch {k + 1} has shape {tuple(batch.shape)}; expected "
                f"(num_unrollings + 1, batch_size) = {want}.",
            )
        if batch.dtype != torch.int64:
            raise CheckFailed(
                EX1,
                f"{case.label}, the batches are {batch.dtype}; ids are int64 (what nn.Embedding "
                "and F.cross_entropy take).",
                "torch.long, the dtype of the ids you are given.",
            )
    return [b.detach().cpu() for b in got]


def _same_batches(got, want) -> bool:
    return len(got) == len(want) and all(a.shape == b.shape and torch.equal(a.cpu(), b) for a, b in zip(got, want))


def _explain_batches(case: engine.Case, got, want) -> CheckFailed:
    for k, (a, b) in enumerate(zip(got, want)):
        if not torch.equal(a, b):
            step, row = (a != b).nonzero()[0].tolist()
            return CheckFailed(
                EX1,
                f"{case.label}, batch {k + 1} differs from the reference first at step {step}, "
                f"row {row}: {int(a[step, row])} instead of {int(b[step, row])}.",
                "cursor b starts at b * (n // batch_size), emits 27 * ids[p] + ids[(p + 1) % n] and "
                "moves on by 2 (mod n); each batch starts with the last step of the one before.",
            )
    return CheckFailed(EX1, f"{case.label}, the batches differ from the reference.")


def _batches_crash(case: engine.Case, args: tuple, exc: Exception) -> CheckFailed | None:
    if isinstance(exc, StopIteration):
        return CheckFailed(
            EX1,
            f"{case.label}, the iterator stopped: it must go on for ever, the cursors wrapping around the text.",
            "loop with `while True:` and `yield` each batch.",
        )
    if isinstance(exc, TypeError) and "not an iterator" in str(exc):
        return CheckFailed(
            EX1,
            f"`bigram_batches` returned something that next() cannot step through ({exc}).",
            "make it a generator: a function that `yield`s one batch after another.",
        )
    if isinstance(exc, IndexError):
        return CheckFailed(
            EX1,
            f"{case.label}, `bigram_batches` raised IndexError ({exc}): a cursor ran off the end of the text.",
            "wrap around with % len(ids), for the cursor and for p + 1.",
        )
    return None


BATCHES = engine.Exercise(
    label=EX1,
    name="bigram_batches",
    reference=text.bigram_batches,
    cases=_batch_cases,
    same=_same_batches,
    explain=_explain_batches,
    mistakes=BATCH_MISTAKES,
    run=_draw_batches,
    read=_read_batches,
    crash=_batches_crash,
    meta=False,
)  # a data pipeline on the CPU: the training loop moves each batch to the model's device


check_bigram_batches = engine.exercise_check(
    BATCHES,
    f"the same batches as the reference on {len(_batch_cases())} texts (cursors wrapping past the end of each)",
    "Exercise 1: the same batches as the reference, wrap-around included.",
)


# ---------------------------------------------------------------------------
# Exercise 2: the fused LSTM on embedded inputs

EX2 = "Exercise 2 (fused_lstm)"
FLOAT64_TOL = dict(rtol=1e-7, atol=1e-9)
CELL_CASES = ((5, 3, 4, 6, 0), (1, 2, 7, 3, 1), (6, 2, 5, 5, 2))  # T, B, D, H, seed: D != H shows the rows' order


def _cell_case(T: int, B: int, D: int, H: int, seed: int, P: int | None = None) -> engine.Case:
    """Inputs, state, weights and loss weights; with P, an LSTMP's: H memory units projected to P."""
    gen = seeds.generator(seed)
    R = H if P is None else P  # the size of the state h that W's last rows read
    X = torch.randn(T, B, D, generator=gen, dtype=torch.float64)
    state = (
        torch.randn(B, R, generator=gen, dtype=torch.float64),
        torch.randn(B, H, generator=gen, dtype=torch.float64),
    )
    params = [
        torch.randn(D + R, 4 * H, generator=gen, dtype=torch.float64) * 0.5,
        torch.randn(4 * H, generator=gen, dtype=torch.float64) * 0.5,
    ]
    if P is not None:
        params.append(torch.randn(H, P, generator=gen, dtype=torch.float64) * 0.7)
    weights = [torch.randn(*shape, generator=gen, dtype=torch.float64) for shape in ((T, B, R), (B, R), (B, H))]

    def make(device, dtype):
        def move(t):
            return t.to(device, dtype or t.dtype)

        return move(X), tuple(move(s) for s in state), [move(p) for p in params], [move(w) for w in weights]

    sizes = f"H={H} hidden" if P is None else f"H={H} memory units projected to P={P}"
    return engine.Case(f"for T={T} steps, B={B}, D={D} inputs, {sizes}", make)


def _cell_cases() -> list[engine.Case]:
    return [_cell_case(*c) for c in CELL_CASES]


def _forward(f, args, grads: bool, label: str = EX2, name: str = "fused_lstm") -> dict:
    # The engine diagnoses under torch.no_grad(); gradients are what this run compares, so it turns them back on.
    with torch.enable_grad() if grads else torch.no_grad():
        return _run_lstm(f, args, grads, label, name)


def _run_lstm(f, args, grads: bool, label: str, name: str) -> dict:
    X, state, params, weights = args
    leaves = [t.detach().clone().requires_grad_(grads) for t in (X, *state, *params)]
    X, H0, C0 = leaves[:3]
    out = f(X, (H0, C0), leaves[3:])
    if not (
        isinstance(out, (tuple, list))
        and len(out) == 2
        and isinstance(out[0], torch.Tensor)
        and isinstance(out[1], (tuple, list))
        and len(out[1]) == 2
        and all(isinstance(s, torch.Tensor) for s in out[1])
    ):
        raise CheckFailed(
            label,
            f"`{name}` must return a pair (Y, (H, C)) of tensors.",
            "end with `return torch.stack(outputs), (H, C)`.",
        )
    Y, (H, C) = out
    T, B, H_size, N = X.shape[0], X.shape[1], H0.shape[1], C0.shape[1]
    projected = len(leaves) == 6
    if tuple(Y.shape) != (T, B, H_size):
        hint = (
            "stack the steps' hidden states: torch.stack(outputs) (not torch.cat)."
            if tuple(Y.shape) == (T * B, H_size)
            else None
        )
        if projected and tuple(Y.shape) == (T, B, N):
            hint = "Y holds the projected hidden states: h = (O * tanh(C)) @ W_hr at each step."
        size = "P" if projected else "H"
        raise CheckFailed(
            label,
            f"Y has shape {tuple(Y.shape)}; with T={T} steps, B={B}, {size}={H_size} it is "
            f"(T, B, {size}) = ({T}, {B}, {H_size}), like nn.LSTM's output.",
            hint,
        )
    for state_name, s, size in (("H", H, H_size), ("C", C, N)):
        if tuple(s.shape) != (B, size):
            raise CheckFailed(
                label,
                f"the returned {state_name} has shape {tuple(s.shape)}; expected ({B}, {size}).",
                "return (H, C): the (projected) hidden state first, then the memory.",
            )
        if s.dtype != X.dtype or Y.dtype != X.dtype:
            raise CheckFailed(
                label,
                f"the results are {Y.dtype} although the inputs are {X.dtype}.",
                "make new tensors like the inputs (torch.zeros_like, dtype=...).",
            )
    result = {"Y": Y.detach(), "H": H.detach(), "C": C.detach()}
    if grads:
        if Y.requires_grad:
            loss = sum((t * w.to(t.device, t.dtype)).sum() for t, w in zip((Y, H, C), weights) if t.requires_grad)
            loss.backward()
        result["grads"] = {
            leaf_name: None if t.grad is None else t.grad.detach()
            for leaf_name, t in zip(("X", "H0", "C0", "W", "b", "W_hr"), leaves)
        }
    return result


def _close(a, b, tol) -> bool:
    return (
        a is not None
        and b is not None
        and a.shape == b.shape
        and torch.allclose(a.detach().cpu().to(b.dtype), b.detach().cpu(), **tol)
    )


def _same_forward(got, want, tol=FLOAT64_TOL) -> bool:
    return all(_close(got[k], want[k], tol) for k in ("Y", "H", "C"))


def _same_gradients(got, want, tol=FLOAT64_TOL) -> bool:
    return _same_forward(got, want, tol) and all(
        (g is None) == (w is None) and (w is None or _close(g, w, tol))
        for g, w in zip(got["grads"].values(), want["grads"].values())
    )


_SCRATCH_LSTM = judge_only.function("autograde.bigram_lstm.cell:scratch_lstm")
_TORCH_LSTM = judge_only.function("autograde.bigram_lstm.cell:torch_lstm")  # the truth


def _flaw(problem, hint, **options):
    return mistake(_SCRATCH_LSTM, problem, hint, **options)


CELL_MISTAKES = (
    _flaw(
        "W's column blocks are read in PyTorch's order (i, f, g, o); the course's is [I | F | O | C~].",
        "the blocks of z = [x, h] @ W + b, each H wide, are I, F, O, then C~.",
        order="ifco",
    ),
    _flaw(
        "W's rows are read as [h, x]: the state's rows first; the input's come first.",
        "z = torch.cat([x, H], dim=1) @ W + b: W[:D] multiplies the input, W[D:] the state.",
        rows="hx",
    ),
    _flaw("the tanh in H = O * tanh(C) is missing.", "H = O * tanh(C), not O * C.", h_act="none"),
    _flaw("the candidate memory C~ uses a sigmoid where tanh belongs.", "C~ = tanh(its block of z).", c_act="sigmoid"),
    _flaw(
        "the gates use tanh where a sigmoid belongs.",
        "I, F and O are sigmoids, with values in [0, 1].",
        gate_act="tanh",
    ),
    _flaw(
        "the forget gate is missing from the memory update.",
        "C = F * C + I * C~: F scales the previous memory.",
        cell="no forget",
    ),
    _flaw(
        "the state you are given is ignored: the steps start from zeros.",
        "unpack it, `H, C = state`: training carries the state from one batch to the next.",
        use_given_state=False,
    ),
    _flaw(
        "the returned state is the initial one, not the last step's.",
        "return the H and C computed at the last time step.",
        returned="initial",
    ),
    _flaw("the returned state is (C, H); it must be (H, C).", "return `Y, (H, C)`.", returned="swapped"),
    _flaw(
        "Y holds the memory C of each step; it holds the hidden state H, as nn.LSTM's output does.",
        "append H, not C, at each step.",
        out_from="C",
    ),
)
GRADIENT_MISTAKES = (
    _flaw(
        "the gradient is cut between time steps: H and C are detached inside the loop.",
        "do not .detach() (or use .data) inside the loop: the training loop detaches between batches itself.",
        detach=("H", "C"),
    ),
    _flaw(
        "the gradient is cut between time steps: H is detached inside the loop.",
        "do not .detach() H (or use H.data) inside the loop.",
        detach=("H",),
    ),
    _flaw(
        "the gradient is cut between time steps: C is detached inside the loop.",
        "do not .detach() C (or use C.data) inside the loop.",
        detach=("C",),
    ),
)


def _lstm_exercises(label: str, name: str, cases, mistakes, gradient_mistakes, truth: str, first: str):
    """The forward and the gradient exercise of an LSTM function in the form (X, state, params)."""

    def explain_forward(case: engine.Case, got, want) -> CheckFailed:
        if _close(got["Y"], want["Y"], FLOAT64_TOL):
            bad = [k for k in ("H", "C") if not _close(got[k], want[k], FLOAT64_TOL)]
            return CheckFailed(
                label,
                f"{case.label}, Y matches {truth} but the returned {' and '.join(bad)} does not.",
                "return the H and C of the last time step.",
            )
        steps = [t for t in range(want["Y"].shape[0]) if not _close(got["Y"][t], want["Y"][t], FLOAT64_TOL)]
        hint = (
            "step 0 is right and a later one is not: look at how H and C are carried."
            if steps[0] > 0
            else "the first step is already wrong: compare each gate with its equation."
        )
        return CheckFailed(
            label, f"{case.label}, Y differs from {truth} with the same weights, first at step {steps[0]}.", hint
        )

    def explain_gradients(case: engine.Case, got, want) -> CheckFailed:
        for leaf, w in want["grads"].items():
            g = got["grads"][leaf]
            if w is not None and g is None:
                return CheckFailed(
                    label,
                    f"{case.label}, no gradient reached {leaf}.",
                    "use every input through operations autograd can follow (no .detach(), .data).",
                )
            if w is not None and not _close(g, w, FLOAT64_TOL):
                return CheckFailed(
                    label,
                    f"{case.label}, the outputs are right but the gradient of {leaf} differs from {truth}'s.",
                    "something between the steps stops or changes the gradient "
                    "(an in-place operation, .detach(), .data?).",
                )
        return CheckFailed(label, f"{case.label}, the gradients differ from {truth}'s.")

    def forward_first(case: engine.Case, got, want, observed) -> CheckFailed | None:
        """The gradient check: a wrong forward pass is the forward check's business."""
        if _same_forward(got, want):
            return None
        return CheckFailed(
            label,
            f"{case.label}, the forward pass is not right yet, so the gradients cannot be compared.",
            f"run {first} first: it names the mistake.",
        )

    forward = engine.Exercise(
        label=label,
        name=name,
        reference=_TORCH_LSTM,
        cases=cases,
        same=_same_forward,
        explain=explain_forward,
        mistakes=mistakes,
        run=lambda f, args: _forward(f, args, False, label, name),
        meta_inputs="the inputs, the state and the weights",
        meta_allowed=(),  # nothing needs to leave the device
        same_float32=lambda a, b: _same_forward(a, b, FLOAT32_TOL),
    )
    gradients = engine.Exercise(
        label=label,
        name=name,
        reference=_TORCH_LSTM,
        cases=cases,
        same=_same_gradients,
        explain=explain_gradients,
        mistakes=gradient_mistakes,
        run=lambda f, args: _forward(f, args, True, label, name),
        suspect=forward_first,
        combine=False,
        meta=False,
        same_float32=lambda a, b: _same_gradients(a, b, FLOAT32_TOL),
    )
    return forward, gradients


FORWARD, GRADIENTS = _lstm_exercises(
    EX2, "fused_lstm", _cell_cases, CELL_MISTAKES, GRADIENT_MISTAKES, "nn.LSTM", "check_fused_lstm_forward"
)


check_fused_lstm_forward = engine.exercise_check(
    FORWARD,
    f"Y and the last (H, C) match nn.LSTM with the same weights ({len(CELL_CASES)} shapes and seeds, float64)",
    "Exercise 2: Y and the last (H, C) against nn.LSTM with the same weights.",
)
check_fused_lstm_gradients = engine.exercise_check(
    GRADIENTS,
    f"the gradients of X, the initial (H, C), W and b match nn.LSTM's ({len(CELL_CASES)} shapes and seeds, float64)",
    "Exercise 2: the gradients of X, the initial state, W and b against nn.LSTM's.",
)


# ---------------------------------------------------------------------------
# Exercise 3: dropout where Zaremba et al. put it

EX3 = "Exercise 3 (BigramLSTM)"
MODEL_SIZES = (11, 4, 5, 0.5)  # vocab, embedding, hidden, dropout: vocab > hidden, so the scaling can be solved for


def _model_case() -> engine.Case:
    gen = seeds.generator(0)
    V, E, H, p = MODEL_SIZES
    ids = torch.randint(V, (4, 3), generator=gen)
    state = tuple(torch.randn(3, H, generator=gen, dtype=torch.float64) for _ in range(2))
    return engine.Case(
        f"for a model with vocab {V}, embedding {E}, {H} hidden and dropout {p} on 4 steps of a batch of 3",
        lambda device, dtype: (MODEL_SIZES, ids.clone(), tuple(s.clone() for s in state)),
        on_devices=False,
    )


def _slip_model(problem, hint, **options):
    return mistake(model.BigramLSTM, problem, hint, **options)


DROPOUT_MISTAKES = (
    _slip_model(
        "the state carried from step to step is dropped out: Zaremba et al. drop only the non-recurrent connections.",
        "apply dropout to the embeddings before the LSTM and to its outputs before the "
        "classifier, never to H or C between steps.",
        recurrent=True,
    ),
    _slip_model(
        "dropout is still active in eval(): the same input gives other outputs each time.",
        "drop only while training: F.dropout(x, p, training=self.training) (F.dropout's default is "
        "training=True), or an nn.Dropout module.",
        in_eval=True,
    ),
    _slip_model(
        "the kept values are not rescaled by 1 / (1 - p): in training the classifier sees inputs about "
        "(1 - p) times smaller than in evaluation.",
        "x * mask / (1 - p), or F.dropout, which rescales.",
        rescale=False,
    ),
    _slip_model(
        "dropout is missing: with dropout > 0 the model computes in training exactly what it computes with dropout 0.",
        "apply F.dropout(x, self.dropout, self.training) to the embeddings and to the LSTM's outputs.",
        where=(),
    ),
    _slip_model(
        "there is no dropout on the embeddings fed into the LSTM.",
        "drop the embedded inputs too: X = F.dropout(self.embedding(ids), self.dropout, self.training).",
        where=("output",),
    ),
    _slip_model(
        "there is no dropout between the LSTM's outputs and the classifier.",
        "drop Y before the classifier: self.classifier(F.dropout(Y, self.dropout, self.training)).",
        where=("input",),
    ),
)

_WORDS = {
    "eval": "in eval() the model does not compute what the same weights compute with dropout 0",
    "state": "in training the state does not depend on dropout on the embeddings",
    "state without input": "with zero embeddings the state still changes with dropout: the recurrent path is dropped",
    "logits without input": "with zero embeddings the logits do not change with dropout: the LSTM's outputs are not "
    "dropped before the classifier",
    "scale": "the kept values of the LSTM's outputs are not scaled by 1 / (1 - p)",
}


def _explain_dropout(case: engine.Case, got, want) -> CheckFailed:
    if got.get("scale") == "unknown":
        return CheckFailed(
            EX3,
            f"{case.label}, the classifier could not be found: the model needs one nn.Linear "
            "from the hidden state to the vocabulary.",
            "keep the layers the skeleton's __init__ builds.",
        )
    key = next(k for k in want if got.get(k) != want[k])
    return CheckFailed(
        EX3,
        f"{case.label}, {_WORDS[key]}.",
        "dropout on the embeddings and on the LSTM's outputs, "
        "in training only: F.dropout(x, self.dropout, self.training).",
    )


DROPOUT = engine.Exercise(
    label=EX3,
    name="BigramLSTM",
    reference=model.BigramLSTM,
    cases=lambda: [_model_case()],
    same=lambda got, want: got == want,
    explain=_explain_dropout,
    mistakes=DROPOUT_MISTAKES,
    run=lambda cls, args: model.fingerprint(cls, args, EX3),
    meta=False,
)


check_dropout = engine.exercise_check(
    DROPOUT,
    "dropout acts on the embeddings and on the LSTM's outputs, never on the state between steps, only in "
    "training, and rescales what it keeps by 1 / (1 - p)",
    "Exercise 3: dropout on the non-recurrent connections only, in training only, rescaled.",
)


# ---------------------------------------------------------------------------
# Exercise 4: an LSTM with a projection (LSTMP)

EX4 = "Exercise 4 (lstmp)"
LSTMP_CASES = ((5, 3, 4, 6, 0, 3), (1, 2, 7, 5, 1, 2), (4, 2, 3, 4, 2, 3))  # T, B, D, H, seed, P


def _lstmp_cases() -> list[engine.Case]:
    return [_cell_case(*c) for c in LSTMP_CASES]


_NOT_FOR_LSTMP = ("the returned state is (C, H)", "Y holds the memory C")  # shapes differ: caught before
LSTMP_MISTAKES = tuple(m for m in CELL_MISTAKES if not m.problem.startswith(_NOT_FOR_LSTMP)) + (
    _flaw("the tanh in h = (O * tanh(C)) @ W_hr is missing.", "h = (O * tanh(C)) @ W_hr.", h_act="none"),
)
LSTMP_MISTAKES = tuple(m for m in LSTMP_MISTAKES if m.problem != "the tanh in H = O * tanh(C) is missing.")
LSTMP_FORWARD, LSTMP_GRADIENTS = _lstm_exercises(
    EX4, "lstmp", _lstmp_cases, LSTMP_MISTAKES, GRADIENT_MISTAKES, "nn.LSTM(proj_size=P)", "check_lstmp_forward"
)


check_lstmp_forward = engine.exercise_check(
    LSTMP_FORWARD,
    f"Y and the last (H, C) match nn.LSTM(proj_size=P) with the same weights ({len(LSTMP_CASES)} "
    "shapes and seeds, float64)",
    "Exercise 4: Y and the last (H, C) against nn.LSTM(proj_size=P), same weights.",
)
check_lstmp_gradients = engine.exercise_check(
    LSTMP_GRADIENTS,
    "the gradients of X, the initial (H, C), W, b and W_hr match nn.LSTM(proj_size=P)'s "
    f"({len(LSTMP_CASES)} shapes and seeds, float64)",
    "Exercise 4: the gradients of X, the initial state, W, b and W_hr against nn.LSTM(proj_size=P)'s.",
)


# ---------------------------------------------------------------------------
# Exercise 5: peephole connections

EX5 = "Exercise 5 (PeepholeLSTM)"
PEEPHOLE_CASES = ((5, 3, 4, 6, 0), (3, 2, 5, 3, 1))  # T, B, D, H, seed


def _peephole_case(T: int, B: int, D: int, H: int, seed: int) -> engine.Case:
    gen = seeds.generator(seed)

    def randn(*shape, scale=1.0):
        return torch.randn(*shape, generator=gen, dtype=torch.float64) * scale

    X, state = randn(T, B, D), (randn(B, H), randn(B, H))
    weights = {"W": randn(D + H, 4 * H, scale=0.5), "b": randn(4 * H, scale=0.5), "peep": randn(3, H)}
    loss = (randn(T, B, H), randn(B, H), randn(B, H))
    return engine.Case(
        f"for T={T} steps, B={B}, D={D} inputs, H={H} hidden",
        lambda device, dtype: (
            (D, H),
            X.clone(),
            tuple(s.clone() for s in state),
            {k: v.clone() for k, v in weights.items()},
            loss,
        ),
        on_devices=False,
    )


def _same_peephole(got, want) -> bool:
    return (
        got["peepholes"] == want["peepholes"]
        and _same_forward(got, want)
        and all(
            (g is None) == (w is None) and (w is None or _close(g, w, FLOAT64_TOL))
            for g, w in zip(got["grads"].values(), want["grads"].values())
        )
    )


def _explain_peephole(case: engine.Case, got, want) -> CheckFailed:
    if not _same_forward(got, want):
        steps = [t for t in range(want["Y"].shape[0]) if not _close(got["Y"][t], want["Y"][t], FLOAT64_TOL)]
        where = f"first at step {steps[0]}" if steps else "in the returned state"
        return CheckFailed(
            EX5,
            f"{case.label}, the outputs differ from the reference's with the same weights, {where}.",
            "I and F look at C_{t-1}, O at the new C_t, each through w * C (one weight per unit).",
        )
    leaf = next(
        k
        for k, w in want["grads"].items()
        if w is not None and not (got["grads"][k] is not None and _close(got["grads"][k], w, FLOAT64_TOL))
    )
    return CheckFailed(
        EX5,
        f"{case.label}, the outputs are right but the gradient of {leaf} differs.",
        "something stops or changes the gradient (.detach(), .data, an in-place operation?).",
    )


PEEPHOLE_MISTAKES = (
    mistake(
        peephole.PeepholeLSTM,
        "the output gate peeks at the previous memory C_{t-1}; it looks at the new C_t.",
        "update the memory first, then O = sigmoid(z_O + w_co * C) with the new C.",
        o_peek="old",
    ),
    mistake(
        peephole.PeepholeLSTM,
        "the peepholes are full (H, H) matrices; in the paper each unit sees only its "
        "own cell: one weight per unit, a vector of H values.",
        "nn.Parameter(torch.zeros(num_hiddens)) and w * C (element-wise), not C @ M.",
        full=True,
    ),
    mistake(
        peephole.PeepholeLSTM,
        "the output gate has no peephole.",
        "O = sigmoid(z_O + w_co * C), with the new C.",
        peep="if",
    ),
    mistake(
        peephole.PeepholeLSTM,
        "the peepholes are missing: no gate looks at the memory.",
        "add w_ci * C_{t-1} to I's block, w_cf * C_{t-1} to F's, and w_co * C_t to O's.",
        peep="",
    ),
)

PEEPHOLE = engine.Exercise(
    label=EX5,
    name="PeepholeLSTM",
    reference=peephole.PeepholeLSTM,
    cases=lambda: [_peephole_case(*c) for c in PEEPHOLE_CASES],
    same=_same_peephole,
    explain=_explain_peephole,
    mistakes=PEEPHOLE_MISTAKES,
    run=lambda cls, args: peephole.run(cls, args, EX5),
    meta=False,
)


check_peephole = engine.exercise_check(
    PEEPHOLE,
    "outputs, state and gradients match the course's peephole LSTM with the same weights "
    f"({len(PEEPHOLE_CASES)} shapes and seeds, float64), one peephole weight per unit",
    "Exercise 5: outputs, state and gradients against the course's peephole LSTM, peepholes as vectors.",
)


engine.name_checks(globals())
