"""The command line: the only click user, and the one place where errors become exit codes.

Heavy modules are imported inside the commands that use them, so `imdi-watch check` starts fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from scraper import __version__
from scraper.errors import ExitCode, ImdiWatchError, InputError, ParseError

if TYPE_CHECKING:
    from scraper.config import Config

F = TypeVar("F", bound=Callable[..., Any])


class _State:
    """What the group's options give every command."""

    def __init__(self, config_path: str | None, debug: bool):
        self.config_path = config_path
        self.debug = debug
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            from scraper.config import load_config

            self._config = load_config(self.config_path)
        return self._config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="imdi-watch")
@click.option(
    "--config",
    "config_path",
    envvar="IMDI_WATCH_CONFIG",
    metavar="PATH",
    help="Config file (default: $IMDI_WATCH_CONFIG, else ./config.toml, else built-in defaults).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, debug: bool) -> None:
    """Watch IMDi's "Oppmoding om busetting" page, keep every revision, report what changed.

    \b
    Quick start:
      imdi-watch demo               see it work on a recorded history, offline
      imdi-watch check              one check of every page in config.toml
      imdi-watch diff               what changed in the latest revision
    """
    ctx.obj = _State(config_path, debug)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


# --- parse -----------------------------------------------------------------------------------


@cli.command()
@click.argument("source", metavar="FILE|URL")
@json_option
@click.pass_obj
def parse(state: _State, source: str, as_json: bool) -> None:
    """Read one page (a saved HTML file or a URL) and show what imdi-watch understands of it.

    \b
    Examples:
      imdi-watch parse tests/fixtures/page-2022-nn-a.html
      imdi-watch parse page.html --json | jq '.rows[] | select(.county == "Vestland")'
    Nothing is stored. Exit 2 if the file is missing or is not an HTML page.
    """
    from scraper.parse import parse_page

    body, encoding = _read_source(state, source)
    try:
        page = parse_page(body, encoding=encoding)
    except ParseError as exc:
        raise InputError(f"{source}: {exc}") from exc
    if as_json:
        _emit_json(page.to_dict())
        return
    from scraper.report import render_page

    click.echo(render_page(page, color=_color()), nl=False)


def _read_source(state: _State, source: str) -> tuple[bytes, str | None]:
    if source.startswith(("http://", "https://")):
        from scraper.fetch import fetch_page, make_client

        settings = state.config.fetch
        with make_client(settings) as client:
            result = fetch_page(source, client=client, settings=settings)
        return result.body or b"", result.encoding
    path = Path(source)
    if "://" in source:
        raise InputError(f"{source}: only http:// and https:// URLs or local files can be read")
    try:
        return path.read_bytes(), None
    except FileNotFoundError:
        raise InputError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{source}: is a directory, not an HTML file") from None
    except OSError as exc:
        raise InputError(f"{source}: cannot read: {exc.strerror}") from exc


def _color() -> bool:
    return sys.stdout.isatty()


# --- entry point -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; our own errors become one line on stderr and a documented exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="imdi-watch", standalone_mode=False)
    except ImdiWatchError as exc:
        if debug:
            raise
        click.echo(f"imdi-watch: error: {exc}", err=True)
        sys.exit(int(exc.exit_code))
    except click.exceptions.Abort:
        click.echo("imdi-watch: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(int(ExitCode.USAGE) if exc.exit_code == 2 else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("imdi-watch: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(0)
