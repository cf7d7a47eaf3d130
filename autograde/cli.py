"""`rnn-course`: the maintainer's and the instructor's commands.

rnn-course generate [--check]   regenerate chapters/ from solutions/ (or only compare)
rnn-course grade SUBMISSIONS    autograde a folder of submitted notebooks with nbgrader
rnn-course book                 execute the solutions and build the website into _build/html
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "generate": "autograde.tools.generate",
    "grade": "autograde.tools.grade",
    "book": "autograde.tools.book",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__.strip())
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(COMMANDS[argv[0]])
    return module.main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
