"""The command line: the only click user, and the one place where errors become exit codes.

Heavy modules are imported inside the commands that use them, so `imdi-watch check` starts fast.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from scraper import __version__
from scraper.errors import ExitCode, ImdiWatchError, InputError, ParseError

if TYPE_CHECKING:
    from scraper.config import Config
    from scraper.models import Page
    from scraper.pipeline import CheckResult
    from scraper.store import RevisionRecord, Store

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
@click.option("-v", "--verbose", is_flag=True, help="Log each step to stderr.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, debug: bool, verbose: bool) -> None:
    """Watch IMDi's "Oppmoding om busetting" page, keep every revision, report what changed.

    \b
    Quick start:
      imdi-watch demo               see it work on a recorded history, offline
      imdi-watch check              one check of every page in config.toml
      imdi-watch diff               what changed in the latest revision
    """
    ctx.obj = _State(config_path, debug)
    _setup_logging(logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING)


def _setup_logging(level: int, *, json_lines: bool = False) -> None:
    """Diagnostics to stderr, one line each; results go to stdout."""
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("imdi-watch: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
    logging.getLogger("httpcore").setLevel(max(level, logging.WARNING))


class _JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}))
        return json.dumps(data, ensure_ascii=False, default=str)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


def _record(record: Any) -> dict[str, Any]:
    from scraper.report import record_to_dict

    return record_to_dict(record)


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


# --- the monitor -----------------------------------------------------------------------------


def _open_store(state: _State) -> Store:
    from scraper.store import open_store

    return open_store(state.config.store.path, state.config.store.snapshots)


def _now() -> datetime:
    return datetime.now(UTC)


@cli.command()
@click.option("-q", "--quiet", is_flag=True, help="Print nothing unless something failed.")
@json_option
@click.option(
    "--exit-code", is_flag=True, help="Exit 1 when a new revision was found (like git diff)."
)
@click.pass_obj
def check(state: _State, quiet: bool, as_json: bool, exit_code: bool) -> None:
    """Check every page in the config once and store what was found.

    \b
    Outcomes: new-revision, unchanged (same content), not-modified (HTTP 304), error.
    A new revision prints the report of what changed (unless --quiet).
    \b
    Examples:
      imdi-watch check
      imdi-watch check --quiet --exit-code || notify-send "IMDi changed"
      */30 * * * *  cd /srv/imdi-watch && ./imdi-watch check --quiet
    Exit codes: 0 ok, 1 new revision (with --exit-code), 2 bad config, 3 fetch/parse/store
    failure, 4 another check holds the lock.
    """
    from scraper.fetch import make_client
    from scraper.pipeline import check_page

    config = state.config
    with (
        _open_store(state) as store,
        store.lock(config.store.lock_wait_s),
        make_client(config.fetch) as client,
    ):
        results = [
            check_page(target, client=client, store=store, settings=config.fetch, now=_now())
            for target in config.pages
        ]
    if as_json:
        _emit_json([r.to_dict() for r in results])
    elif not quiet:
        for result in results:
            _print_check(result)
    for result in results:
        if result.error:
            click.echo(f"imdi-watch: error: {result.target.name}: {result.error}", err=True)
    if any(r.outcome == "error" for r in results):
        sys.exit(int(ExitCode.FAILURE))
    if exit_code and any(r.outcome == "new-revision" for r in results):
        sys.exit(int(ExitCode.CHANGED))


def _print_check(result: CheckResult) -> None:
    from scraper.norsk import format_number

    facts = []
    if result.status is not None:
        facts.append(f"HTTP {result.status}")
    if result.bytes is not None:
        facts.append(f"{format_number(result.bytes)} bytes")
    if result.elapsed_ms is not None:
        facts.append(f"{result.elapsed_ms} ms")
    if result.revision_id is not None:
        facts.append(f"revision {result.revision_id}")
    click.echo(f"{result.target.name}: {result.outcome} ({', '.join(facts)})")
    if result.outcome == "new-revision" and result.page is not None:
        from scraper.report import render_changes

        if result.previous_page is None:
            from scraper.report import render_page

            click.echo(render_page(result.page, color=_color()), nl=False)
        else:
            click.echo(
                render_changes(
                    result.previous_page,
                    result.page,
                    result.changes,
                    format="text",
                    old_label=f"revision {result.previous_revision_id}",
                    new_label=f"revision {result.revision_id}",
                    color=_color(),
                ),
                nl=False,
            )


@cli.command()
@click.option("-n", "--limit", default=20, show_default=True, help="How many fetches to list.")
@json_option
@click.pass_obj
def log(state: _State, limit: int, as_json: bool) -> None:
    """List fetches and revisions, newest first.

    \b
    Example:
      imdi-watch log -n 5
    """
    with _open_store(state) as store:
        fetches = store.fetches(limit=limit)
        revisions = store.revisions()
    if as_json:
        _emit_json(
            {
                "fetches": [_record(f) for f in fetches],
                "revisions": [_record(r) for r in revisions],
            }
        )
        return
    from scraper.report import render_log

    click.echo(render_log(fetches, revisions, color=_color()), nl=False)


def _page_id(state: _State, store: Store) -> int:
    """The page read commands look at: the config's first page (or the store's only one)."""
    pages = store.pages()
    wanted = state.config.pages[0].url
    for page in pages:
        if page.url == wanted:
            return page.id
    if len(pages) == 1:
        return pages[0].id
    raise InputError(f"{store.db_path}: no page {wanted} stored yet; run `imdi-watch check` first")


def _resolve_revision(state: _State, store: Store, ref: str | None) -> RevisionRecord:
    """A revision id, a date (the revision current that day), or None for the latest."""
    from scraper.norsk import parse_date

    if ref is None:
        revisions = store.revisions()
        if not revisions:
            raise InputError(
                f"{store.db_path}: no revisions stored yet; run `imdi-watch check` first"
            )
        return revisions[0]
    if ref.isdigit():
        found = store.revision(int(ref))
        if found is None:
            raise InputError(f"no revision {ref} in {store.db_path} (see `imdi-watch log`)")
        return found
    day = parse_date(ref)
    if day is None:
        raise InputError(f"{ref!r} is neither a revision id nor a date like 2021-11-12")
    found = store.revision_at(_page_id(state, store), day)
    if found is None:  # before monitoring began: the revision IMDi dated that day or earlier
        found = next(
            (r for r in store.revisions() if r.updated is not None and r.updated <= day), None
        )
    if found is None:
        raise InputError(f"no revision was current on {day} in {store.db_path}")
    return found


@cli.command()
@click.argument("revision", required=False)
@click.option("--county", help="Only this county (fylke), e.g. Vestland.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text")
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Same as --format csv.")
@click.pass_obj
def show(
    state: _State, revision: str | None, county: str | None, fmt: str, as_json: bool, as_csv: bool
) -> None:
    """Show the municipal table at a revision (default: the latest).

    REVISION is a revision id or a date (the revision current on that day).
    A blank cell stays blank; 0 is 0.
    \b
    Examples:
      imdi-watch show
      imdi-watch show 2021-11-12 --county Vestland
      imdi-watch show 3 --csv > oppmoding.csv
    """
    fmt = "json" if as_json else "csv" if as_csv else fmt
    with _open_store(state) as store:
        record = _resolve_revision(state, store, revision)
        rows = store.figures(record.id, county=county)
    if county and not rows:
        raise InputError(f"no rows for county {county!r} in revision {record.id}")
    from scraper.report import render_rows

    click.echo(render_rows(record, rows, format=fmt, color=_color()), nl=False)


@cli.command()
@click.argument("municipality")
@json_option
@click.pass_obj
def history(state: _State, municipality: str, as_json: bool) -> None:
    """One municipality's figures across all revisions, by name or number.

    Case and accents do not matter: "alesund" finds Ålesund.
    \b
    Examples:
      imdi-watch history Bergen
      imdi-watch history 0301 --json
    """
    with _open_store(state) as store:
        found = store.history(municipality)
    if not found:
        raise InputError(f"no municipality matches {municipality!r} in any stored revision")
    if as_json:
        _emit_json([{"revision": _record(rev), "row": row.to_dict()} for rev, row in found])
        return
    from scraper.report import render_history

    click.echo(render_history(found, color=_color()), nl=False)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--fetched-at", help="When the capture was made (ISO 8601); default: the file's mtime."
)
@click.option("--url", help="The page the captures are of; default: the first page in the config.")
@json_option
@click.pass_obj
def ingest(
    state: _State, files: tuple[str, ...], fetched_at: str | None, url: str | None, as_json: bool
) -> None:
    """Import saved captures of the page as if they had been fetched then.

    \b
    Examples:
      imdi-watch ingest saved/imdi-2021-11-12.html --fetched-at 2021-11-12T09:00:00Z
      imdi-watch ingest captures/*.html        (each at its file's modification time)
    """
    from scraper.config import Target
    from scraper.pipeline import capture_result, ingest_body

    target = state.config.pages[0]
    if url:
        target = next((t for t in state.config.pages if t.url == url), Target(url, url))
    moments = {}
    for name in files:
        path = Path(name)
        if not path.is_file():
            raise InputError(f"{name}: no such file")
        moments[name] = (
            _parse_moment(fetched_at)
            if fetched_at
            else datetime.fromtimestamp(path.stat().st_mtime, UTC)
        )
    results = []
    with _open_store(state) as store, store.lock(state.config.store.lock_wait_s):
        for name in sorted(files, key=lambda n: moments[n]):
            from scraper.pipeline import iso_utc

            body = Path(name).read_bytes()
            result = ingest_body(
                target,
                capture_result(body, url=target.url),
                store=store,
                fetched_at=iso_utc(moments[name]),
            )
            results.append((name, result))
    if as_json:
        _emit_json([{"file": n, **r.to_dict()} for n, r in results])
    else:
        for name, result in results:
            suffix = f" (revision {result.revision_id})" if result.revision_id else ""
            click.echo(f"{name}: {result.outcome}{suffix}")
    failed = [r for _, r in results if r.error]
    for name, result in results:
        if result.error:
            click.echo(f"imdi-watch: error: {name}: {result.error}", err=True)
    if failed:
        sys.exit(int(ExitCode.FAILURE))


def _parse_moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"--fetched-at {text!r}: expected ISO 8601 like 2021-11-12T09:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@cli.command()
@json_option
@click.pass_obj
def reparse(state: _State, as_json: bool) -> None:
    """Re-read every stored snapshot with the current parser.

    This is how a parser fix reaches the history: figures, text, warnings and changes of every
    revision are rebuilt from the raw captures in snapshots/.
    \b
    Example:
      imdi-watch reparse
    """
    from scraper.pipeline import reparse_store

    with _open_store(state) as store, store.lock(state.config.store.lock_wait_s):
        summary = reparse_store(store)
    if as_json:
        _emit_json(summary)
    else:
        click.echo(
            f"reparsed {summary['revisions']} revisions: {summary['changed']} read differently now"
        )


# --- diff ------------------------------------------------------------------------------------


@cli.command()
@click.argument("old", required=False, metavar="[A]")
@click.argument("new", required=False, metavar="[B]")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "markdown", "json", "csv"]), default="text"
)
@click.pass_obj
def diff(state: _State, old: str | None, new: str | None, fmt: str) -> None:
    """Say exactly what changed between two revisions.

    A and B are revision ids, dates ("2021-11-12" = the revision current that day) or HTML files
    (files need no store). Default: the latest revision against the one before it; with only A,
    A against the latest.
    \b
    Examples:
      imdi-watch diff
      imdi-watch diff 2021-11-12 2021-11-19 --format markdown
      imdi-watch diff old.html new.html --format json
    """
    from scraper.diff import diff_pages
    from scraper.report import render_changes

    (old_page, old_label), (new_page, new_label) = _diff_sides(state, old, new)
    changes = diff_pages(old_page, new_page)
    click.echo(
        render_changes(
            old_page,
            new_page,
            changes,
            format=fmt,
            old_label=old_label,
            new_label=new_label,
            color=_color() and fmt == "text",
        ),
        nl=False,
    )


def _diff_sides(
    state: _State, old: str | None, new: str | None
) -> tuple[tuple[Page, str], tuple[Page, str]]:
    refs = [r for r in (old, new) if r is not None]
    files = [r for r in refs if _looks_like_file(r)]
    if len(files) == len(refs) == 2:
        return _page_from_file(refs[0]), _page_from_file(refs[1])
    with _open_store(state) as store:
        sides: list[tuple[Page, str]] = []
        if not refs:
            revisions = store.revisions()
            if len(revisions) < 2:
                raise InputError(
                    f"{store.db_path}: {len(revisions)} revision(s) stored; a diff needs two "
                    "(or name two HTML files)"
                )
            refs = [str(revisions[1].id), str(revisions[0].id)]
        elif len(refs) == 1:
            refs.append(None)  # type: ignore[arg-type]
        for ref in refs:
            if ref is not None and _looks_like_file(ref):
                sides.append(_page_from_file(ref))
            else:
                record = _resolve_revision(state, store, ref)
                sides.append((store.load_page(record.id), f"revision {record.id}"))
    return sides[0], sides[1]


def _looks_like_file(ref: str) -> bool:
    return Path(ref).is_file() or ref.endswith((".html", ".htm"))


def _page_from_file(name: str) -> tuple[Page, str]:
    from scraper.parse import parse_page

    path = Path(name)
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror}") from exc
    try:
        return parse_page(body), path.name
    except ParseError as exc:
        raise InputError(f"{name}: {exc}") from exc


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
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "imdi-watch"
        click.echo(f"imdi-watch: error: {exc.format_message()} (see {command} --help)", err=True)
        sys.exit(int(ExitCode.USAGE))
    except click.ClickException as exc:
        click.echo(f"imdi-watch: error: {exc.format_message()}", err=True)
        sys.exit(int(ExitCode.USAGE))
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("imdi-watch: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # a bug: still one line, the traceback only with --debug
        if debug:
            raise
        click.echo(
            f"imdi-watch: internal error: {type(exc).__name__}: {exc} "
            "(run again with --debug for the traceback, and please report it)",
            err=True,
        )
        sys.exit(int(ExitCode.FAILURE))
    sys.exit(0)
