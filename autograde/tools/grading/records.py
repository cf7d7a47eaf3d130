"""What grading a class is made of: a submission, the points of its check cells, and the
error a command line reports as a usage mistake."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class UsageError(Exception):
    pass


@dataclass
class CellResult:
    grade_id: str
    points: float
    max_points: float
    verdict: str = ""


@dataclass
class Submission:
    student: str  # the nbgrader student id
    assignment: str
    original: Path | None  # the file as handed in (never modified)
    notes: list[str] = field(default_factory=list)
    # graded | not a notebook | no notebook | kernel died | timed out | stopped | nbgrader failed | grader error
    status: str = "pending"
    reason: str = ""
    seconds: float = 0.0
    cells: list[CellResult] = field(default_factory=list)
    log: Path | None = None
    flags: list[str] = field(default_factory=list)  # for the instructor to look at
    notebook_points: dict[str, float | None] = field(default_factory=dict)
    # The accelerator its probes had (devices.accelerator()'s name; None: none), as the grader
    # that ran its sandbox saw it: the judge holds the probe records to it, never to their word.
    accelerator: str | None = None

    @property
    def score(self) -> float:
        return sum(c.points for c in self.cells)

    @property
    def max_score(self) -> float:
        return sum(c.max_points for c in self.cells)


def fmt(x: float) -> str:
    return f"{x:g}"
