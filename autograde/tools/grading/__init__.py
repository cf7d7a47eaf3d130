"""`rnn-course grade`, by concern: finding submissions (find), running nbgrader (processes),
the course directory and gradebook (course), one submission (run), code to review (review),
the report (report). The command line is autograde.tools.grade."""
