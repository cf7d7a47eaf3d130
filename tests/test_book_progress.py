"""What `rnn-course book` says while the notebooks run: the order and the time left."""

from __future__ import annotations

import time
from pathlib import Path

from autograde import course
from autograde.tools import book


def _chapter(name: str) -> book.Chapter:
    return book.Chapter(name, Path(f"solutions/{name}.ipynb"), Path(f"chapters/{name}.ipynb"))


def test_a_first_full_build_starts_from_the_course_s_times():
    reference = book._reference_timings(quick=False)
    assert set(reference) == {c.slug for c in course.CHAPTERS}
    assert all(seconds > 0 for seconds in reference.values())
    assert book._reference_timings(quick=True) == {}  # two epochs: those times would mislead


def test_the_time_left_says_what_it_is_based_on():
    now = time.perf_counter()
    left = [_chapter("gru"), _chapter("bigram-lstm")]
    started = {"gru": now - 60}  # running for a minute; bigram-lstm waits
    expected = {"gru": 360.0, "bigram-lstm": 60.0}

    cold = book._time_left(left, started, expected, jobs=2, measured={})
    assert "gru (1.0 min), bigram-lstm (waiting)" in cold
    assert "about 5.0 min left (by the course's 2-core machine)" in cold  # gru's 300 s dominate
    warm = book._time_left(left, started, expected, jobs=2, measured=expected)
    assert warm.endswith("(by the last build's times)")
    unknown = book._time_left(left, started, {"gru": 360.0}, jobs=2, measured={})
    assert "left" not in unknown and unknown.startswith("; running: gru")
