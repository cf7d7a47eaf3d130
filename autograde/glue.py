"""Numbers for the prose, from the run: MyST-NB's glue, without needing MyST-NB.

A notebook cell calls `glue("held_out", 141.2)`; the chapter's prose quotes the value with
MyST-NB's role, {glue:text}`held_out:.0f`. The value is stored in the cell's outputs the way
MyST-NB's own `glue` stores it, under a MIME type that Jupyter and Colab do not display, so
this works (and shows nothing) on a student's machine that has no MyST-NB. When the website
is built, a quoted name that no cell glued is an error, so the prose cannot quote a number
the notebook did not compute.
"""

from __future__ import annotations

from typing import Any

GLUE_PREFIX = "application/papermill.record/"  # MyST-NB's (and scrapbook's)


def glue(name: str, value: Any) -> Any:
    """Store `value` under `name` for the prose; returns `value`.

    A string is stored as it is (MyST-NB would otherwise quote it, 'like this').
    """
    from IPython.core.formatters import format_display_data
    from IPython.display import display

    if isinstance(value, str):
        bundle, metadata = {"text/plain": value}, {}
    else:
        bundle, metadata = format_display_data(value)
    metadata = dict(metadata, scrapbook={"name": name, "mime_prefix": GLUE_PREFIX})
    display({GLUE_PREFIX + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)
    return value
