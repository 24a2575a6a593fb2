"""Run the CLI in-process, as a user would from a shell: exit code, stdout, stderr."""

from __future__ import annotations

import contextlib
import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from history_store import query

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


class Cli:
    """`run_cli` with `--config config` first; `query` reads the store the config names (by
    default store/imdi-watch.db next to it, as conftest's write_config writes it)."""

    def __init__(self, config: Path, db_path: Path | None = None):
        self.config = config
        self.db_path = db_path or config.parent / "store" / "imdi-watch.db"

    def __call__(self, *args: str) -> CliResult:
        return run_cli("--config", str(self.config), *args)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return query(self.db_path, sql)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no variables of ours left over from the test run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMDI_WATCH")}
    return {**env, **extra}


def csv_rows(text: str) -> list[dict[str, str]]:
    """The rows of a CSV the CLI wrote, by column name."""
    assert text.startswith("\ufeff")  # export's dialect: BOM, CRLF
    return list(csv.DictReader(io.StringIO(text[1:], newline="")))


# The wide columns of a page with the request series of its year alone (the 12 Nov 2021 page).
TABLE_COLUMNS = (
    "municipality", "municipality_number", "county", "requested", "minors", "minors_15_18",
    "minors_under_15",
)  # fmt: skip
