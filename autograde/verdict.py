"""One verdict per check: a line that says it passed, or an error that says what is wrong.

A failing check raises `CheckFailed`. Jupyter (IPython) prints an exception's
`_render_traceback_()` instead of its traceback, so the student sees the verdict
and a hint, not a wall of frames; nbgrader still sees an error and gives the
cell no points. Nothing here writes to stderr: nbgrader would take any stderr
in a graded cell as a failure.
"""

from __future__ import annotations

import contextlib
import sysconfig
import traceback
import warnings
from pathlib import Path

PASS = "\u2713"  # ✓
FAIL = "\u2717"  # ✗


class CheckFailed(AssertionError):
    """A check found a mistake. `problem` says what is wrong, `hint` what to try."""

    def __init__(self, exercise: str, problem: str, hint: str | None = None):
        self.exercise = exercise
        self.problem = problem
        self.hint = hint
        super().__init__(self._text())

    def _text(self) -> str:
        text = f"{FAIL} {self.exercise}: {self.problem}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def _render_traceback_(self) -> list[str]:
        return self._text().splitlines()


def passed(exercise: str, what: str) -> None:
    print(f"{PASS} {exercise}: {what}")


# Frames from here, the standard library or installed packages are not the student's.
_NOT_STUDENT = (str(Path(__file__).parent), sysconfig.get_paths()["stdlib"])


def _student_line(exc: BaseException) -> str | None:
    """The last line of the student's own code in the traceback, if there is one."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if not f.filename.startswith(_NOT_STUDENT) and "site-packages" not in f.filename]
    if own and own[-1].line:
        return own[-1].line.strip()
    return None


@contextlib.contextmanager
def calling(exercise: str, name: str):
    """Run student code, turning whatever it raises into a verdict.

    A stub's NotImplementedError becomes "not implemented yet"; any other
    exception names its type, its message and the student's line that raised it;
    an interrupt (a cell over nbgrader's time limit, or Ctrl-C) says so, without a
    traceback through the check's own source. nbgrader scores a check cell that
    writes to stderr as 0, so warnings are silenced, and what the student's code
    writes to stderr (a debug print) is shown as ordinary output.
    """
    import sys

    with warnings.catch_warnings(), contextlib.redirect_stderr(sys.stdout):
        warnings.simplefilter("ignore")
        try:
            yield
        except CheckFailed:
            raise
        except KeyboardInterrupt:
            raise CheckFailed(
                exercise,
                f"`{name}` was interrupted before it returned.",
                "does it loop forever, or take far longer than it should?",
            ) from None
        except NotImplementedError as exc:
            if str(exc):  # PyTorch's own NotImplementedError (e.g. an op the meta device lacks)
                raise CheckFailed(
                    exercise, f"`{name}` raised NotImplementedError: {str(exc).splitlines()[0]}", _where(exc)
                ) from None
            raise CheckFailed(
                exercise,
                f"`{name}` is not implemented yet.",
                f"replace `raise NotImplementedError()` in `{name}` with your code.",
            ) from None
        except Exception as exc:  # the student's code may raise anything
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            problem = f"`{name}` raised {type(exc).__name__}" + (f": {message}" if message else "")
            raise CheckFailed(exercise, problem, _where(exc)) from None


def _where(exc: BaseException) -> str | None:
    line = _student_line(exc)
    return f"the error came from this line: {line}" if line else None


@contextlib.contextmanager
def quiet():
    """Silence warnings from the grader's own torch calls (stderr costs points)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
