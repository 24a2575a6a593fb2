"""The command line: the only click user, and the one place where errors become exit codes.

Heavy modules are imported inside the commands that use them, so `imdi-watch check` starts fast.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from scraper import __version__
from scraper.console import program_name, retarget, run_guarded
from scraper.console import say as _say
from scraper.console import setup_logging as _setup_logging
from scraper.errors import ExitCode, InputError, ParseError

if TYPE_CHECKING:
    from scraper.config import Config
    from scraper.models import CheckResult, Page, RevisionRecord
    from scraper.store import Store

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


class _Group(click.Group):
    """The group's and every command's help name the command actually running (`retarget`)."""

    def get_help(self, ctx: click.Context) -> str:
        return retarget(super().get_help(ctx))


class _Command(click.Command):
    def get_help(self, ctx: click.Context) -> str:
        return retarget(super().get_help(ctx))


_Group.command_class = _Command


@click.group(
    cls=_Group,
    invoke_without_command=True,
    subcommand_metavar="COMMAND [ARGS]...",
    context_settings={"help_option_names": ["-h", "--help"]},
)
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
    if ctx.invoked_subcommand is None:  # no command: the help, which is what was asked for
        click.echo(ctx.get_help())
        ctx.exit(0)
    ctx.obj = _State(config_path, debug)
    _setup_logging(logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING)


def output_options(*formats: str) -> Callable[[F], F]:
    """The one spelling of output choices, shared by every reporting command: `--json`, plus
    `--format` where there are more formats than text and JSON (`--json` = `--format json`).
    The command receives `as_json` (text or JSON only) or `fmt` (the format chosen)."""

    def decorate(func: F) -> F:
        if formats == ("text", "json"):
            return click.option(
                "--json", "as_json", is_flag=True, help="Print JSON instead of text."
            )(func)

        @functools.wraps(func)
        def wrapper(*args: Any, fmt: str | None, as_json: bool, **kwargs: Any) -> Any:
            if as_json and fmt not in (None, "json"):
                raise click.UsageError(f"--json and --format {fmt} disagree: give one of them")
            return func(*args, fmt="json" if as_json else fmt or formats[0], **kwargs)

        decorated = click.option(
            "--format",
            "fmt",
            type=click.Choice(formats),
            help=f"Output format: {', '.join(formats)} (default: {formats[0]}).",
        )(click.option("--json", "as_json", is_flag=True, help="Same as --format json.")(wrapper))
        return cast(F, decorated)

    return decorate


json_option = output_options("text", "json")


def _record(record: Any) -> dict[str, Any]:
    from scraper.report import record_to_dict

    return record_to_dict(record)


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _echo_report(text: str) -> None:
    """A rendered report (report.py has escaped what it scraped), as it is."""
    click.echo(text, nl=False)


# --- parse -----------------------------------------------------------------------------------


@cli.command()
@click.argument("source", metavar="FILE|URL|-")
@json_option
@click.pass_obj
def parse(state: _State, source: str, as_json: bool) -> None:
    """Read one page (a saved HTML file, a gzip snapshot, `-` for stdin, or a URL) and show what
    imdi-watch understands of it.

    \b
    Examples:
      imdi-watch parse tests/fixtures/page-2022-nn-a.html
      imdi-watch parse "$(ls -t snapshots/*.html.gz | head -1)"     (the newest capture)
      imdi-watch parse - --json < tests/fixtures/page-2022-nn-a.html | jq '.rows[0]'
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
    if "://" in source:
        raise InputError(f"{source}: only http:// and https:// URLs or local files can be read")
    return _read_file(source, max_bytes=state.config.fetch.max_bytes), None


def _read_file(name: str, *, max_bytes: int) -> bytes:
    """A saved page: a file, `-` for stdin, or a gzip file such as a snapshot (`.html.gz`)."""
    if name == "-":
        data = sys.stdin.buffer.read()
    elif not name.strip():  # "$(ls snapshots/*.html.gz | head -1)" where there is none
        raise InputError("an empty file name: no file to read")
    else:
        try:
            data = Path(name).read_bytes()
        except FileNotFoundError:
            raise InputError(f"{name}: no such file") from None
        except IsADirectoryError:
            raise InputError(f"{name}: is a directory, not an HTML file") from None
        except OSError as exc:
            raise InputError(f"{name}: cannot read: {exc.strerror}") from exc
    if data.startswith(b"\x1f\x8b"):  # gzip, whatever the name says
        data = _gunzip(data, name=name, max_bytes=max_bytes)
    return data


def _gunzip(data: bytes, *, name: str, max_bytes: int) -> bytes:
    """Decompressed, but never more than max_bytes (a small file can hold gigabytes)."""
    import zlib

    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise InputError(f"{name}: not a readable gzip file ({exc})") from exc
    if len(out) > max_bytes:
        raise InputError(f"{name}: more than [fetch].max_bytes ({max_bytes}) when decompressed")
    return out


def _color() -> bool:
    """stdout is a terminal: colour, and what is there for people alone (history's sparkline)."""
    return sys.stdout.isatty()


# --- the monitor -----------------------------------------------------------------------------


def _open_store(state: _State, *, create: bool = True) -> Store:
    """The config's store; a command that only reads (`create=False`) refuses a missing one
    rather than leave an empty store/ and snapshots/ wherever it was run."""
    from scraper.store import open_store

    path = state.config.store.path
    if not create:
        _require_store(path, state.config)
    return open_store(path, state.config.store.snapshots)


def _require_store(path: Path, config: Config) -> None:
    if Path(path).is_file():
        return
    source = f"the config {config.source}" if config.source else "the built-in defaults"
    raise InputError(
        f"{Path(path).absolute()}: no store here (the path comes from {source}); "
        "run `imdi-watch check` first, or give --config the config.toml of an existing store"
    )


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
      imdi-watch check --quiet --exit-code; [ $? -ne 1 ] || echo "IMDi changed"
      */30 * * * *  cd /srv/imdi-watch && ./imdi-watch check --quiet

    Exit codes: 0 ok, 1 new revision (with --exit-code), 2 bad config, 3 fetch/parse/store
    failure, 4 another check holds the lock.
    """
    from scraper.console import run_check

    code = run_check(state.config, quiet=quiet, as_json=as_json, exit_code=exit_code)
    if code:
        sys.exit(code)


@cli.command()
@click.option(
    "-n",
    "--limit",
    default=20,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many fetches and revisions to list.",
)
@json_option
@click.pass_obj
def log(state: _State, limit: int, as_json: bool) -> None:
    """List fetches and revisions, newest first.


    \b
    Example:
      imdi-watch log -n 5
    """
    with _open_store(state, create=False) as store:
        fetches = store.fetches(limit=limit)
        revisions = store.revisions(limit=limit)
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


def _county_line(query: str, counties: list[tuple[str, str | None, str | None]]) -> str | None:
    """The county line of a page that `query` names (case- and accent-blind), if any."""
    from scraper.norsk import same_name

    return next((name for name, _, _ in counties if same_name(name, query)), None)


def _no_revisions(store: Store) -> InputError:
    return InputError(f"{store.db_path}: no revisions stored yet; run `imdi-watch check` first")


def _page_id(state: _State, store: Store, name: str | None = None) -> int:
    """The page read commands look at: the one named, else the config's first page (or the
    store's only one)."""
    pages = store.pages()
    if not pages:
        raise _no_revisions(store)
    if name is not None:
        for page in pages:
            if page.name == name:
                return page.id
        known = ", ".join(sorted(p.name for p in pages)) or "none yet"
        raise InputError(f"{store.db_path}: no page named {name!r} (pages: {known})")
    wanted = state.config.pages[0].url
    for page in pages:
        if page.url == wanted:
            return page.id
    if len(pages) == 1:
        return pages[0].id
    raise InputError(f"{store.db_path}: no page {wanted} stored yet; run `imdi-watch check` first")


def _table_revision(
    state: _State, store: Store, ref: str | None, *, page_id: int | None = None
) -> RevisionRecord:
    """As `_resolve_revision`, but a latest revision without the table never empties an answer:
    the last revision that had one answers, and stderr says so, naming both."""
    record = _resolve_revision(state, store, ref, page_id=page_id)
    if ref is not None or record.has_table:
        return record
    found = next((r for r in store.revisions(record.page_id) if r.has_table), None)
    if found is None:
        return record
    click.echo(
        f"imdi-watch: note: the latest revision {record.id} has no table "
        f"({', '.join(w.code for w in record.warnings) or 'no table'}); showing revision "
        f"{found.id}, the last that had one",
        err=True,
    )
    return found


def _resolve_revision(
    state: _State, store: Store, ref: str | None, *, page_id: int | None = None
) -> RevisionRecord:
    """A revision id, a date (the revision current that day), or None for the latest."""
    from scraper.norsk import parse_date

    page_id = page_id if page_id is not None else _page_id(state, store)
    if ref is None:
        latest = store.latest_revision(page_id)
        if latest is None:
            raise _no_revisions(store)
        return latest
    if ref.isdigit():
        return store.revision(int(ref))  # InputError naming the store when there is none
    day = parse_date(ref)
    if day is None:
        raise InputError(f"{ref!r} is neither a revision id nor a date like 2021-11-12")
    found = store.revision_at(page_id, day)
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
@output_options("text", "json", "csv")
@click.option("--csv", "as_csv", is_flag=True, help="Same as --format csv.")
@click.pass_obj
def show(state: _State, revision: str | None, county: str | None, fmt: str, as_csv: bool) -> None:
    """Show the table at a revision (default: the latest), a column per series.

    REVISION is a revision id or a date (the revision current on that day). The columns are
    `export`'s: requested, minors … for the request of the page's year, then every other
    series on the page (decision 2023 …). A blank cell stays blank; 0 is 0. CSV is `export`'s:
    for spreadsheets, æøå and "0301" intact.

    \b
    Examples:
      imdi-watch show
      imdi-watch show 2021-11-12 --county Vestland
      imdi-watch show --county Vestland --csv > vestland.csv
    """
    if as_csv:
        if fmt not in ("text", "csv"):
            raise click.UsageError(f"--csv and --format {fmt} disagree: give one of them")
        fmt = "csv"
    from scraper.export import render_csv, wide_records
    from scraper.norsk import same_name

    with _open_store(state, create=False) as store:
        record = _table_revision(state, store, revision)
        page = store.load_page(record.id)
    records, columns, series = wide_records(page, county=county)
    if county and not records:
        raise InputError(f"no rows for county {county!r} in revision {record.id}")
    if fmt == "csv":
        _write_output(render_csv(records, columns), None)
        return
    from scraper.report import render_table

    rows = [r for r in page.rows if county is None or same_name(r.county, county)]
    _echo_report(
        render_table(
            record,
            records,
            columns,
            series,
            rows=rows,
            key_figures=page.key_figures,
            language=page.language,
            format=fmt,
            color=_color(),
        )
    )


@cli.command()
@click.argument("municipality")
@click.option("--page", "page_name", help="The page (its name in the config); default: the first.")
@json_option
@click.pass_obj
def history(state: _State, municipality: str, page_name: str | None, as_json: bool) -> None:
    """One municipality's figures in every revision of one page, oldest first, by number or name.

    A municipality is its number: a name that two municipalities share is refused with both
    ("Herøy is 1515 Herøy (Møre og Romsdal) or 1818 Herøy (Nordland): give the number").
    Case and accents do not matter ("alesund" finds Ålesund); across the 2024 reform the old
    and new numbers are one municipality.

    \b
    Examples:
      imdi-watch history Bergen
      imdi-watch history 1818 --json
      imdi-watch history Oslo --page oppmoding
    """
    from scraper.municipalities import Candidate, describe_ambiguity, match_names, suggest

    with _open_store(state, create=False) as store:
        page_id = _page_id(state, store, page_name)
        known = store.area_names(page_id)
        candidates = match_names(municipality, known)
        if len(candidates) > 1:
            raise InputError(describe_ambiguity(municipality, candidates))
        if candidates:
            (candidate,) = candidates
            found = store.area_history(page_id, candidate.numbers)
        else:  # a page of county lines (IMDi's 2017 table), or nothing
            county = _county_line(municipality, store.area_names(page_id, "county"))
            if county is None:
                stored = {number for _, number, _ in known if number}
                nearest = [m.label for m in suggest(municipality, among=stored)]
                hint = f"; nearest: {', '.join(nearest)}" if nearest else ""
                raise InputError(
                    f"no municipality matches {municipality!r} in any stored revision{hint}"
                )
            candidate = Candidate((), county, None)
            found = store.area_history(page_id, (), county=county)
    if as_json:
        from scraper.report import history_to_dict

        _emit_json(history_to_dict(candidate, found))
        return
    from scraper.report import render_history, render_history_sparkline

    _echo_report(render_history(candidate, found, color=_color()))
    if _color():  # for people at a terminal: the request at a glance
        _echo_report(render_history_sparkline(found))


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

    History only grows forward: a capture older than the page's latest check is refused (exit
    2, nothing written) unless the page has no checks yet; a capture at the time of a stored
    check is the same capture again and is left out, saying so.

    \b
    Examples:
      imdi-watch ingest tests/fixtures/page-2022-nn-a.html --fetched-at 2021-11-12T09:00:00Z
      imdi-watch ingest tests/fixtures/page-2022-revised.html    (at the file's modification time)
    """
    from scraper.models import Target
    from scraper.pipeline import Capture, capture_result, ingest_body, iso_utc, plan_ingest

    target = state.config.pages[0]
    if url:
        target = next((t for t in state.config.pages if t.url == url), Target(url, url))
    captures = []
    for name in files:
        path = Path(name)
        if not path.is_file():
            raise InputError(f"{name}: no such file")
        moment = (
            _parse_moment(fetched_at)
            if fetched_at
            else datetime.fromtimestamp(path.stat().st_mtime, UTC)
        )
        captures.append(Capture(name, path.read_bytes(), iso_utc(moment)))
    results = []
    skipped: list[Capture] = []
    with _open_store(state) as store, store.lock(state.config.store.lock_wait_s):
        planned = {c.name for c in plan_ingest(target, captures, store=store)}
        for capture in sorted(captures, key=lambda c: c.fetched_at):
            if capture.name not in planned:
                skipped.append(capture)
                continue
            result = ingest_body(
                target,
                capture_result(capture.body, url=target.url),
                store=store,
                fetched_at=capture.fetched_at,
            )
            results.append((capture.name, result))
    if as_json:
        _emit_json(
            [{"file": c.name, "outcome": "already-stored", "fetched_at": c.fetched_at}
             for c in skipped]
            + [{"file": n, **r.to_dict()} for n, r in results]
        )  # fmt: skip
    else:
        for capture in skipped:
            _say(f"{capture.name}: already stored (a check at {capture.fetched_at})")
        for name, result in results:
            suffix = f" (revision {result.revision_id})" if result.revision_id else ""
            _say(f"{name}: {result.outcome}{suffix}")
    failed = [r for _, r in results if r.error]
    for name, result in results:
        if result.error:
            _say(f"imdi-watch: error: {name}: {result.error}", err=True)
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

    with (
        _open_store(state, create=False) as store,
        store.lock(state.config.store.lock_wait_s),
    ):
        summary = reparse_store(store)
    if as_json:
        _emit_json(summary)
    else:
        click.echo(
            f"reparsed {summary['revisions']} revisions: {summary['changed']} read differently now"
        )


@cli.command()
@click.argument("output", type=click.Path(dir_okay=False))
@json_option
@click.pass_obj
def rebuild(state: _State, output: str, as_json: bool) -> None:
    """Build a new database from snapshots/ alone (the raw captures are the source of truth).

    Every revision, its figures, text and changes are replayed in time order from the captures;
    what captures cannot tell (unchanged, 304 and failed checks) is not in the new database.
    OUTPUT must not exist; swap it in for [store].path yourself when you are happy with it.

    \b
    Example:
      imdi-watch rebuild store/rebuilt.db && imdi-watch --debug log
    """
    from scraper.pipeline import rebuild_store

    target = Path(output)
    if target.exists():
        raise InputError(f"{output}: already exists; rebuild writes a new database only")
    summary = rebuild_store(target, state.config.store.snapshots)
    if as_json:
        _emit_json(_record(summary))
        return
    click.echo(
        f"{output}: {summary.revisions} revisions from {summary.snapshots} snapshots"
        + (
            f"; skipped {len(summary.skipped)}: {', '.join(summary.skipped)}"
            if summary.skipped
            else ""
        )
    )


# --- diff ------------------------------------------------------------------------------------


@cli.command()
@click.argument("old", required=False, metavar="[A]")
@click.argument("new", required=False, metavar="[B]")
@output_options("text", "markdown", "json", "csv")
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
      imdi-watch diff tests/fixtures/page-2022-nn-a.html tests/fixtures/page-2022-revised.html --json
    """
    from scraper.diff import diff_pages
    from scraper.report import render_changes

    (old_page, old_label), (new_page, new_label) = _diff_sides(state, old, new)
    changes = diff_pages(old_page, new_page)
    if fmt == "csv":
        from scraper.export import CHANGE_COLUMNS, change_records, render_csv
        from scraper.report import ordered_changes

        _write_output(render_csv(change_records(ordered_changes(changes)), CHANGE_COLUMNS), None)
        return
    _echo_report(
        render_changes(
            old_page,
            new_page,
            changes,
            format=fmt,
            old_label=old_label,
            new_label=new_label,
            color=_color() and fmt == "text",
        )
    )


def _diff_sides(
    state: _State, old: str | None, new: str | None
) -> tuple[tuple[Page, str], tuple[Page, str]]:
    max_bytes = state.config.fetch.max_bytes
    refs = [r for r in (old, new) if r is not None]
    files = [r for r in refs if _looks_like_file(r)]
    if len(files) == len(refs) == 2:
        return _page_from_file(refs[0], max_bytes=max_bytes), _page_from_file(
            refs[1], max_bytes=max_bytes
        )
    with _open_store(state, create=False) as store:
        sides: list[tuple[Page, str]] = []
        if not refs:
            from scraper.pipeline import baseline_of

            revisions = store.revisions(_page_id(state, store))
            baseline = baseline_of(store, revisions[0]) if revisions else None
            if baseline is None:
                raise InputError(
                    f"{store.db_path}: {len(revisions)} revision(s) stored; a diff needs two "
                    "(or name two HTML files)"
                )
            refs = [str(baseline.id), str(revisions[0].id)]
        elif len(refs) == 1:
            refs.append(None)  # type: ignore[arg-type]
        for ref in refs:
            if ref is not None and _looks_like_file(ref):
                sides.append(_page_from_file(ref, max_bytes=max_bytes))
            else:
                record = _resolve_revision(state, store, ref)
                sides.append((store.load_page(record.id), f"revision {record.id}"))
    return sides[0], sides[1]


def _looks_like_file(ref: str) -> bool:
    return ref == "-" or Path(ref).is_file() or ref.endswith((".html", ".htm", ".gz"))


def _page_from_file(name: str, *, max_bytes: int) -> tuple[Page, str]:
    from scraper.parse import parse_page

    body = _read_file(name, max_bytes=max_bytes)
    try:
        return parse_page(body), "stdin" if name == "-" else Path(name).name
    except ParseError as exc:
        raise InputError(f"{name}: {exc}") from exc


# --- demo ------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--keep", metavar="DIR", help="Keep the demo's store in DIR (default: a new temp folder)."
)
@json_option
def demo(keep: str | None, as_json: bool) -> None:
    """See imdi-watch at work on a recorded history of the page: offline, no config needed.

    A server on 127.0.0.1 plays back the page as it was at six checks (before the figures were
    published, 12 November 2021, a noise-only re-render, a 304, an outage, revised figures on
    19 November); each is a real check into a new store, kept afterwards for you to browse.


    \b
    Examples:
      imdi-watch demo
      imdi-watch demo --keep demo && imdi-watch --config demo/config.toml history Bergen
    """
    from scraper.demo import open_demo, render_check, render_intro, render_outro

    checks = []
    with open_demo(keep) as session:
        if not as_json:
            click.echo(render_intro(session), nl=False)
        for check in session.run():
            checks.append(check)
            if not as_json:
                click.echo(retarget(render_check(check, color=_color())), nl=False)
    if as_json:
        _emit_json(
            {
                "directory": str(session.directory),
                "config": str(session.config_path),
                "store": str(session.db_path),
                "checks": [{"step": c.step.note, **c.result.to_dict()} for c in checks],
            }
        )
    else:
        click.echo(retarget(render_outro(session, checks)), nl=False)


# --- browse and export -----------------------------------------------------------------------


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8001,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free).",
)
@click.option(
    "--store", "store_path", metavar="PATH", help="The database to serve (default: the config's)."
)
@click.pass_obj
def serve(state: _State, host: str, port: int, store_path: str | None) -> None:
    """Browse every revision in Datasette, read-only, until Ctrl-C.

    Tables, facets, canned queries (current_figures, municipality_history, recent_changes,
    revisions) and an Atom feed of changes at /changes.atom.


    \b
    Examples:
      imdi-watch serve                 then open http://127.0.0.1:8001/
      imdi-watch serve --port 8080 --store store/imdi-watch.db
    """
    from scraper.serve import bind_socket, make_datasette, run_server, served_url

    db_path = Path(store_path) if store_path else state.config.store.path
    if not store_path:
        _require_store(db_path, state.config)
    datasette = make_datasette(db_path)
    sock = bind_socket(host, port)
    _say(f"imdi-watch: serving {db_path} at {served_url(sock)} (Ctrl-C to stop)", err=True)
    run_server(datasette, sock)


@cli.command()
@click.option(
    "-n",
    "--limit",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many entries at most.",
)
@click.option("-o", "--output", metavar="FILE", help="Write to FILE instead of stdout.")
@click.pass_obj
def feed(state: _State, limit: int, output: str | None) -> None:
    """Print an Atom feed of changes: one entry per new revision, newest first.

    `imdi-watch serve` serves the same feed at /changes.atom.


    \b
    Example:
      imdi-watch feed -o changes.atom
    """
    from scraper.serve import render_store_feed  # the feed only: datasette is not imported

    with _open_store(state, create=False) as store:
        document = render_store_feed(store, limit=limit)
    _write_output(document, output)


@cli.command()
@click.argument("revision", required=False)
@output_options("csv", "json")
@click.option("--long", "long_form", is_flag=True, help="One row per figure, not per area.")
@click.option("--history", is_flag=True, help="Every figure of every revision, one row each.")
@click.option("--page", "page_name", help="The page (its name in the config); default: the first.")
@click.option("-o", "--output", metavar="FILE", help="Write to FILE instead of stdout.")
@click.pass_obj
def export(
    state: _State,
    revision: str | None,
    fmt: str,
    long_form: bool,
    history: bool,
    page_name: str | None,
    output: str | None,
) -> None:
    """Export the table at a revision (default: the latest), or --history, as CSV or JSON.

    REVISION is a revision id or a date (the revision current on that day). The table is wide:
    a row per municipality (per county on a page without municipal rows, the printed totals
    last) and a column per series: requested, minors, minors_15_18, minors_under_15 for the
    request of the page's year, decision_2023, request_2016_minors … for the others. --long
    and --history are long form, a row per figure: revision_id, seen, updated, level, area,
    number, county, measure, year, part, value. CSV is UTF-8 with a BOM and CRLF line ends,
    for Excel and LibreOffice; text cells are quoted ("0301"), a blank cell is empty and 0 is
    0. JSON is a list of objects (blank = null). A latest revision without a table is skipped
    for the last one that had it, with a note on stderr.

    \b
    Examples:
      imdi-watch export -o oppmoding.csv
      imdi-watch export 2021-11-12 --format json
      imdi-watch export --history -o history.csv
    """
    from scraper.export import (
        LONG_COLUMNS,
        RevisionFigures,
        long_records,
        render_records,
        wide_records,
    )

    if history and revision is not None:
        raise InputError("--history exports every revision; leave out REVISION")
    with _open_store(state, create=False) as store:
        page_id = _page_id(state, store, page_name)
        if history:
            chosen = sorted(store.revisions(page_id), key=lambda r: r.id)
            if not chosen:
                raise _no_revisions(store)
        else:
            chosen = [_table_revision(state, store, revision, page_id=page_id)]
        pages = [
            RevisionFigures(r.id, r.first_seen, r.updated, store.load_page(r.id)) for r in chosen
        ]
    if history or long_form:
        records, columns = long_records(pages), LONG_COLUMNS
    else:
        records, columns, _ = wide_records(pages[0].page)
    _write_output(render_records(records, columns, format=fmt), output)


def _write_output(text: str, output: str | None) -> None:
    """Exact bytes (UTF-8, line ends untouched) to a file written whole, or to stdout."""
    data = text.encode("utf-8")
    if output:
        try:
            Path(output).write_bytes(data)
        except OSError as exc:
            raise InputError(f"{output}: cannot write: {exc.strerror or exc}") from exc
        return
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only stdout (as in tests)
        sys.stdout.write(text)
        return
    sys.stdout.flush()
    buffer.write(data)
    buffer.flush()


# --- run and notify --------------------------------------------------------------------------


@cli.command()
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line of text, or one JSON object, per check on stderr.",
)
@click.option("--max-checks", type=click.IntRange(min=1), metavar="N", help="Stop after N checks.")
@click.pass_obj
def run(state: _State, log_format: str, max_checks: int | None) -> None:
    """Keep checking every page on the [schedule] until stopped, notifying [notify] targets.

    The first check runs at once, then every interval_s seconds (default 1800) or on the cron
    expression, each delayed by up to jitter_s. One check at a time: runs missed while a check
    is slow or the machine sleeps collapse into one. SIGTERM or Ctrl-C stops after the check in
    flight (a second signal stops at once). A check shares the store's lock with `check`, so a
    cron job and `run` never overlap; a check that finds the lock taken is skipped.

    \b
    Examples:
      imdi-watch run
      imdi-watch --config config.toml run --log-format json
      imdi-watch run --max-checks 1        (one check, with notifications, then exit)
    Exit codes: 0 stopped (by a signal or --max-checks), 2 bad config.
    """
    import signal
    import threading

    from scraper.fetch import make_client
    from scraper.notify import read_notification_urls, redact_url, validate_targets
    from scraper.schedule import describe_schedule, make_trigger, run_schedule

    config = state.config
    where = str(config.source) if config.source else "defaults"
    make_trigger(config.schedule, where=where)  # a bad cron fails before anything is opened
    urls = read_notification_urls(config.notify)
    if urls:  # a target that can never work is a config error, before anything runs
        validate_targets(urls, settings=config.notify)
    targets = [redact_url(url) for url in urls]
    level = logging.DEBUG if state.debug else logging.INFO
    _setup_logging(level, json_lines=log_format == "json", timestamps=True)
    log = logging.getLogger("scraper.run")

    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()
        signal.signal(signum, signal.SIG_DFL)  # a second signal ends the process at once

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    quieter = {  # their INFO lines would repeat the one line per check
        "apscheduler": max(level, logging.WARNING),
        "scraper.pipeline": level if state.debug else logging.WARNING,
    }
    saved_levels = {name: logging.getLogger(name).level for name in quieter}
    try:
        for name, quiet_level in quieter.items():
            logging.getLogger(name).setLevel(quiet_level)
        with _open_store(state) as store, make_client(config.fetch) as client:
            log.info(
                "checking %d page(s) %s; notifying %s",
                len(config.pages),
                describe_schedule(config.schedule),
                ", ".join(targets) or "nobody",
            )
            count = run_schedule(
                _make_check_once(state, store, client),
                settings=config.schedule,
                stop=stop,
                max_checks=max_checks,
                where=where,
            )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for name, saved_level in saved_levels.items():
            logging.getLogger(name).setLevel(saved_level)
    reason = received[0] if received else f"--max-checks {max_checks}"
    log.info("stopped (%s) after %d check(s)", reason, count)


def _make_check_once(state: _State, store: Store, client: Any) -> Callable[[], list[CheckResult]]:
    """One check of every page for `run`, on the monitor's store and client."""
    from contextlib import nullcontext

    from scraper.console import check_pages

    config = state.config

    def check_once() -> list[CheckResult]:
        return check_pages(config, store, clients=lambda: nullcontext(client))

    return check_once


@cli.command()
@click.option("--test", "send_test", is_flag=True, help="Send a test message to every target.")
@json_option
@click.pass_obj
def notify(state: _State, send_test: bool, as_json: bool) -> None:
    """List the notification targets of [notify] (secrets masked), or send each a test message.

    Targets are Apprise URLs from [notify].urls and from the environment variable named by
    [notify].urls_env (keep secrets there).

    \b
    Examples:
      imdi-watch notify
      imdi-watch notify --test
      IMDI_WATCH_NOTIFY='ntfys://ntfy.sh/my-topic' imdi-watch notify --test
        (the shipped config.toml has urls_env = "IMDI_WATCH_NOTIFY" in [notify])
    Exit codes: 0 all sent, 2 no targets configured or one is not a usable Apprise URL (named,
    masked), 3 a target failed.
    """
    from scraper.notify import (
        build_test_message,
        deliver,
        read_notification_urls,
        redact_url,
        validate_targets,
    )

    settings = state.config.notify
    urls = read_notification_urls(settings)
    if not urls:
        hint = "add Apprise URLs to [notify].urls in the config"
        if settings.urls_env:
            hint += f" or set ${settings.urls_env} (named by [notify].urls_env)"
        else:
            hint += ", or name an environment variable holding them in [notify].urls_env"
        raise InputError(f"no notification targets configured: {hint}")
    validate_targets(urls, settings=settings)
    if not send_test:
        if as_json:
            _emit_json([{"target": redact_url(url)} for url in urls])
        else:
            for url in urls:
                _say(redact_url(url))
        return
    message = build_test_message(version=__version__)
    deliveries = [deliver(message, url) for url in urls]
    if as_json:
        _emit_json([d.to_dict() for d in deliveries])
    else:
        for d in deliveries:
            reason = f": {d.error}" if d.error else ""
            _say(f"{d.target}: {d.outcome} ({d.attempts} attempt(s)){reason}")
    if any(d.outcome != "sent" for d in deliveries):
        sys.exit(int(ExitCode.FAILURE))


# --- backfill --------------------------------------------------------------------------------


@cli.command()
@click.option("--wayback", is_flag=True, help="From the Internet Archive's Wayback Machine.")
@click.option("--from", "since", metavar="YYYY-MM-DD", help="Only captures from this day on.")
@click.option("--to", "until", metavar="YYYY-MM-DD", help="Only captures up to this day.")
@click.option(
    "--archive-url", default="https://web.archive.org", show_default=True, metavar="URL",
    envvar="IMDI_WATCH_ARCHIVE_URL", help="The archive (any server with the Wayback CDX API).",
)  # fmt: skip
@click.option(
    "--rate", "rate_s", default=1.0, show_default=True, type=click.FloatRange(min=0),
    metavar="S", help="Seconds between two requests to the archive.",
)  # fmt: skip
@click.option(
    "--limit", type=click.IntRange(min=1), metavar="N", help="Fetch at most N captures this run."
)
@click.option("--page", "page_name", metavar="NAME", help="The page (default: the config's first).")
@json_option
@click.pass_obj
def backfill(
    state: _State, wayback: bool, since: str | None, until: str | None, archive_url: str,
    rate_s: float, limit: int | None, page_name: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Fill the store with the page's past from the Internet Archive, as if watched live.

    Lists the page's captures (CDX API), fetches each raw capture and stores it as a check at its
    capture time, oldest first: revisions, changes and first/last seen come out as from `check`.
    Safe to repeat or interrupt: captures already stored are skipped, so a second run adds
    nothing and an interrupted one continues. A capture older than the page's latest stored
    fetch is skipped (a history only grows forward): backfill before you start checking.


    \b
    Examples:
      imdi-watch backfill --wayback
      imdi-watch backfill --wayback --from 2021-10-01 --to 2021-12-31 --limit 50
    Exit codes: 0 done (captures that failed are listed and skipped), 3 the listing failed,
    4 a check holds the lock.
    """
    from scraper.backfill import Status, Throttle, backfill_page, list_captures
    from scraper.fetch import make_client

    if not wayback:
        raise click.UsageError("name the source: --wayback (the Internet Archive)")
    if not archive_url.startswith(("http://", "https://")):
        raise InputError(f"--archive-url {archive_url!r}: expected an http(s) URL")
    since_day, until_day = _day_option("--from", since), _day_option("--to", until)
    if since_day and until_day and since_day > until_day:
        raise InputError(f"--from {since} is after --to {until}")
    config = state.config
    target = config.pages[0]
    if page_name is not None:
        names = {t.name: t for t in config.pages}
        if page_name not in names:
            raise InputError(f"--page {page_name!r}: not in the config ({', '.join(names)})")
        target = names[page_name]
    throttle = Throttle(rate_s)
    with make_client(config.fetch) as client:
        captures = list_captures(
            target.url, client=client, settings=config.fetch, archive_url=archive_url,
            since=since_day, until=until_day, throttle=throttle,
        )  # fmt: skip
        with (
            _open_store(state) as store,
            store.lock(config.store.lock_wait_s),
            _Progress(len(captures), enabled=not as_json) as advance,
        ):
            summary = backfill_page(
                target, captures, client=client, store=store, settings=config.fetch,
                archive_url=archive_url, throttle=throttle, limit=limit,
                on_item=lambda item: advance(_backfill_line(item, as_json=as_json)),
            )  # fmt: skip
    if as_json:
        _emit_json(summary.to_dict())
    else:
        _say(summary.summary_line())
    for item in summary.items:
        if item.error:
            _say(f"imdi-watch: warning: capture {item.capture.timestamp}: {item.error}", err=True)
    if too_early := summary.count(Status.TOO_EARLY):
        _say(
            f"imdi-watch: note: {too_early} {'capture' if too_early == 1 else 'captures'} older "
            "than the page's latest stored fetch "
            f"({summary.latest}) skipped: a history only grows forward; backfill into a new "
            "store (another [store] path) to include them",
            err=True,
        )


def _day_option(name: str, value: str | None) -> Any:
    from datetime import date

    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{name} {value!r}: expected a day like 2021-11-12") from None


def _backfill_line(item: Any, *, as_json: bool) -> str | None:
    """One stdout line per capture fetched; skipped captures are only counted."""
    if as_json or item.status not in ("ingested", "failed"):
        return None
    if item.result is None:
        return f"{item.capture.fetched_at}  failed"
    suffix = f" (revision {item.result.revision_id})" if item.result.revision_id else ""
    return f"{item.capture.fetched_at}  {item.result.outcome}{suffix}"


class _Progress:
    """Prints a line per capture; on a terminal, also a progress bar (rich) on stderr."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self._bar: Any = None

    def __enter__(self) -> Callable[[str | None], None]:
        if self.enabled and self.total and sys.stdout.isatty() and sys.stderr.isatty():
            from scraper.report import ProgressBar

            self._bar = ProgressBar(self.total, label="captures").__enter__()
        return self.advance

    def advance(self, line: str | None) -> None:
        if self._bar is None:
            if line is not None and self.enabled:
                _say(line)
            return
        self._bar.advance(line)

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc_info)


# --- entry point -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; our own errors become one line on stderr and a documented exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])

    def invoke() -> None:
        try:
            cli.main(args=argv, prog_name=program_name(), standalone_mode=False)
        except click.exceptions.Abort:
            click.echo("imdi-watch: aborted", err=True)
            sys.exit(130)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else program_name()
            _say(f"imdi-watch: error: {exc.format_message()} (see {command} --help)", err=True)
            sys.exit(int(ExitCode.USAGE))
        except click.ClickException as exc:
            _say(f"imdi-watch: error: {exc.format_message()}", err=True)
            sys.exit(int(ExitCode.USAGE))
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)

    run_guarded(invoke, debug=debug)
