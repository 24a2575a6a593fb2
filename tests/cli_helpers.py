"""Run the CLI in-process, as a user would from a shell: exit code, stdout, stderr."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

from scraper.__main__ import main


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*args: str) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return CliResult(code, out.getvalue(), err.getvalue())


# The wide columns of a page with the request series of its year alone (the 12 Nov 2021 page).
TABLE_COLUMNS = (
    "municipality", "municipality_number", "county", "requested", "minors", "minors_15_18",
    "minors_under_15",
)  # fmt: skip
