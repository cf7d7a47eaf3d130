"""What a feedback page may show of a notebook's outputs.

nbgrader's generate_feedback renders the autograded notebook as it is. The page goes to the
student and is opened by the instructor, so three things are taken out of it first:

- live HTML: nbconvert's sanitize_html (set in the course's nbgrader_config.py) escapes the
  HTML of outputs, but nbgrader's feedback template renders markdown cells unsanitised, so a
  markdown cell whose HTML holds more than SAFE_TAGS and SAFE_ATTRIBUTES (a <script>, an
  onerror=, a javascript: link) is shown here as text;
- size: nbgrader limits an output's lines, not their length, so one print of a 60 MB string
  made a 60 MB page; here each output, and the notebook's outputs together, are cut short
  with a note saying so;
- this machine's paths (the course directory, the job's folder, the Python installation, the
  repository, the home folder), which tracebacks and printed paths carry, become placeholders.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import bleach
from nbconvert.filters.markdown import markdown2html
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Integer, List

JOB_PREFIX = "rnn-course-grade-"  # the private course directory of one submission, in the temp folder
# What markdown may render to on a feedback page (the course's own cells need no more).
SAFE_TAGS = {
    *bleach.ALLOWED_TAGS,
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "div",
    "span",
    "pre",
    "code",
    "br",
    "hr",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "img",
    "sub",
    "sup",
    "del",
    "ins",
    "dl",
    "dt",
    "dd",
    "details",
    "summary",
    "kbd",
    "figure",
    "figcaption",
    "caption",
}
SAFE_ATTRIBUTES = {
    "*": ["class", "id", "title", "align"],
    "a": ["href", "title"],
    "img": ["src", "alt", "title", "width", "height"],
}


def instructor_paths(course: Path) -> list[tuple[str, str]]:
    """[(regex, placeholder)] for the paths of this machine a page must not show, longest first."""
    repo = Path(__file__).resolve().parents[3]
    places = {
        "<grading>": [course],
        "<course repository>": [repo],
        "<python>": [Path(sys.prefix), Path(sys.base_prefix)],
        "~": [Path.home()],
    }
    pairs = [
        (re.escape(str(Path(tempfile.gettempdir()).resolve())) + "/" + re.escape(JOB_PREFIX) + r"[^/\s'\"]*", "<job>")
    ]
    if str(Path(tempfile.gettempdir())) != str(Path(tempfile.gettempdir()).resolve()):
        pairs.append((re.escape(tempfile.gettempdir()) + "/" + re.escape(JOB_PREFIX) + r"[^/\s'\"]*", "<job>"))
    literal = []
    for label, paths in places.items():
        for path in paths:
            for form in {str(path), str(path.resolve())}:
                if form not in ("", "/"):
                    literal.append((form, label))
    literal.sort(key=lambda pair: len(pair[0]), reverse=True)
    return pairs + [(re.escape(form) + r"(?![\w.-])", label) for form, label in literal]


class FeedbackOutputs(Preprocessor):
    """Cut every output to size and replace this machine's paths in it (see the module)."""

    enabled = Bool(True)  # nbconvert's preprocessors are off unless enabled
    replacements: List = List(help="[regex, placeholder] pairs applied in turn to every output's text").tag(config=True)
    max_output_chars = Integer(200_000, help="characters one output may show").tag(config=True)
    max_notebook_chars = Integer(3_000_000, help="characters all outputs of a notebook may show").tag(config=True)

    def preprocess(self, nb, resources):
        self._left = self.max_notebook_chars
        self._patterns = [(re.compile(regex), placeholder) for regex, placeholder in self.replacements]
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.get("cell_type") == "code":
            for output in cell.get("outputs", []):
                self._output(output)
        elif cell.get("cell_type") == "markdown":
            cell["source"] = _markdown_or_text(_joined(cell.get("source", "")))
        return cell, resources

    def _output(self, output) -> None:
        kind = output.get("output_type")
        if kind == "stream":
            output["text"] = self._text(output.get("text", ""))
        elif kind == "error":
            output["evalue"] = self._text(output.get("evalue", ""))
            output["traceback"] = [self._text(line) for line in output.get("traceback", [])]
        elif kind in ("display_data", "execute_result"):
            data = output.get("data", {})
            for mime in list(data):
                value = _joined(data[mime])
                if not isinstance(value, str):
                    continue  # JSON data: nbconvert's HTML shows none of it
                if mime == "text/plain":
                    data[mime] = self._text(value)
                elif len(value) > min(self.max_output_chars, self._left):
                    # Cut HTML, SVG or an image in half and it shows nothing, or broken markup.
                    del data[mime]
                    data.setdefault(
                        "text/plain",
                        f"[{mime} output of {len(value):,} characters: too large "
                        "for this page; the grader left it out]",
                    )
                else:
                    self._left -= len(value)
                    data[mime] = value if mime.startswith("image/") and mime != "image/svg+xml" else self._scrub(value)

    def _text(self, value) -> str:
        text = _joined(value)
        limit = max(0, min(self.max_output_chars, self._left))
        if len(text) > limit:
            text = (
                text[:limit] + f"\n[... output cut short by the grader: {len(text):,} characters, "
                f"the first {limit:,} shown ...]\n"
            )
        self._left -= min(len(text), limit)
        return self._scrub(text)

    def _scrub(self, text: str) -> str:
        for pattern, placeholder in self._patterns:
            text = pattern.sub(placeholder, text)
        return text


def _joined(value):
    return "".join(value) if isinstance(value, list) else value


def _markdown_or_text(source: str) -> str:
    """`source`, or, when its HTML holds anything but SAFE_TAGS and SAFE_ATTRIBUTES, `source` as
    a code block (so the page shows it and runs none of it)."""
    html = markdown2html(source)
    if bleach.clean(html, tags=SAFE_TAGS, attributes=SAFE_ATTRIBUTES) == html:
        return source
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", source)), default=0))
    return (
        f"*This cell holds HTML that a feedback page does not run; here is its text:*\n\n{fence}\n{source}\n{fence}\n"
    )
