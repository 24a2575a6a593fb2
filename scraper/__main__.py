"""The `imdi-watch` command and `python -m scraper`: a plain `check` (what cron runs) goes
straight to `console.main_check`, without importing click; everything else to the click CLI."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from scraper.console import main_check, parse_check_args

    args = sys.argv[1:] if argv is None else argv
    options = parse_check_args(args)
    if options is not None:
        main_check(**options)
    from scraper.cli import main as cli_main

    cli_main(args)


if __name__ == "__main__":
    main()
