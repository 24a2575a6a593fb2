"""Every README command that calls the tool runs as printed (issue 15.1): each `sh` block's
`./imdi-watch …` line, in README order, in a folder laid out like a clone (`tests/fixtures`
there), whose config.toml watches a page served on 127.0.0.1 and whose archive (for `backfill`)
is served there too. Nothing reaches the internet; `serve` is stopped once it serves.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import clean_env
from server import LoopbackServer, Reply

from scraper.config import Target
from scraper.pipeline import capture_result, ingest_body
from scraper.store import open_store

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
WRAPPER = ROOT / "imdi-watch"
FIXTURES = ROOT / "tests" / "fixtures"
PAGE_PATH = "/planlegging-og-bosetting/bosettingsprosessen/imdis-anmodning/"
HISTORY = (
    ("page-2022-nn-a.html", "2021-11-12T09:00:00.000Z"),
    ("page-2022-revised.html", "2021-11-19T09:00:00.000Z"),
)
CAPTURES = (("20211004080000", "page-2022-before-table.html"),)


def readme_commands() -> list[str]:
    """The lines of the README's `sh` blocks that call the tool (continuations joined)."""
    commands: list[str] = []
    in_sh = False
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_sh = line.strip() == "```sh" and not in_sh
            continue
        if in_sh and line.lstrip().startswith("./imdi-watch"):
            commands.append(line.strip())
    return commands


def test_readme_examples_are_found() -> None:
    commands = readme_commands()
    assert len(commands) >= 15, commands
    assert all(not re.match(r"imdi-watch\b", c) for c in commands)


def test_readme_blocks_never_show_a_bare_imdi_watch_command() -> None:
    """Outside output samples (```text), a command starts with ./imdi-watch, as it runs."""
    bare = []
    block: str | None = None
    for number, line in enumerate(README.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            block = None if block is not None else line[3:].strip()
            continue
        if block not in (None, "text", "ini", "toml", "json") and re.match(
            r"\s*(\$ )?imdi-watch ", line
        ):
            bare.append(f"README.md:{number}: {line}")
    assert bare == []


def prepare_clone(folder: Path, server: LoopbackServer) -> Path:
    """`folder` like a fresh clone after some checks: config.toml for a page on `server`, a store
    with the 12 and 19 November 2021 revisions, tests/fixtures; `server` also plays the archive
    (for backfill) and a notification receiver."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tests").symlink_to(ROOT / "tests")
    url = server.url(PAGE_PATH)
    server.route("/robots.txt", Reply(200, b"User-agent: *\nAllow: /\n"))
    server.route(PAGE_PATH, Reply(200, (FIXTURES / "page-2022-revised.html").read_bytes()))
    listing = [["timestamp", "original", "statuscode", "digest", "mimetype"]]
    for timestamp, name in CAPTURES:
        listing.append([timestamp, url, "200", f"D{timestamp}", "text/html"])
        server.route(
            f"/web/{timestamp}id_/{url}",
            Reply(200, (FIXTURES / name).read_bytes(), {"Content-Type": "text/html"}),
        )
    server.route("/cdx/search/cdx", Reply(200, json.dumps(listing).encode()))
    server.route("/notify", Reply(200, b"ok"))
    (folder / "config.toml").write_text(
        f'[[pages]]\nname = "oppmoding"\nurl = "{url}"\n\n'
        "[fetch]\nmax_attempts = 1\n\n"
        '[store]\npath = "store/imdi-watch.db"\nsnapshots = "snapshots"\n\n'
        f'[notify]\nurls = ["json://127.0.0.1:{server.port}/notify"]\n',
        encoding="utf-8",
    )
    target = Target("oppmoding", url)
    with open_store(folder / "store" / "imdi-watch.db", folder / "snapshots") as store:
        for name, fetched_at in HISTORY:
            body = (FIXTURES / name).read_bytes()
            ingest_body(target, capture_result(body, url=url), store=store, fetched_at=fetched_at)
    return folder


@pytest.fixture
def archive(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        monkeypatch.setenv("IMDI_WATCH_TEST_ARCHIVE", server.url(""))
        yield server


def user_env(cwd: Path) -> dict[str, str]:
    # `demo` without --keep makes its folder in TMPDIR: here, not in /tmp
    return clean_env(IMDI_WATCH_ARCHIVE_URL=os.environ["IMDI_WATCH_TEST_ARCHIVE"], TMPDIR=str(cwd))


def run_as_printed(line: str, cwd: Path) -> tuple[int, str, str]:
    """`line` in sh, with ./imdi-watch being this clone's; a `serve` runs until it serves."""
    command = line.replace("./imdi-watch", shlex.quote(str(WRAPPER)))
    if {"serve", "run"} & set(shlex.split(command, comments=True)) and "&&" not in command:
        words = shlex.split(command, comments=True)
        if "serve" in words and "--port" in words:
            words[words.index("--port") + 1] = "0"  # the README's port may be taken here
        elif "serve" in words:
            words += ["--port", "0"]
        process = subprocess.Popen(
            words, cwd=cwd, env=user_env(cwd), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert process.stderr is not None
        first = process.stderr.readline()  # "serving …", or run's "checking 1 page(s) …"
        started = "serving" in first or "checking" in first
        if started:
            process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        return (0 if started else process.returncode or 1), out, first + err
    done = subprocess.run(
        ["sh", "-c", f"set -e\n{command}"],
        cwd=cwd, env=user_env(cwd), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def test_readme_commands_run_as_printed(tmp_path: Path, archive: LoopbackServer) -> None:
    clone = prepare_clone(tmp_path / "clone", archive)
    failed = []
    for line in readme_commands():
        code, _, err = run_as_printed(line, clone)
        if code != 0 or "error:" in err:
            failed.append(f"{line}\n  exit {code}: {err.strip()[-500:]}")
    assert failed == [], "\n".join(failed)
    assert (clone / "oppmoding.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert (clone / "demo" / "imdi-watch.db").is_file()


# The examples in every command's --help, as printed when started as ./imdi-watch; the words after
# a wide gap are a comment ("(each at its file's modification time)", "then open …").
NOT_RUN = (
    "*/30 ",  # a crontab line
    "ntfy.sh",  # would send a notification through the internet
)


def help_examples() -> list[tuple[str, str]]:
    """(command, example line) for every example in every command's --help."""
    from scraper.cli import cli

    lines: list[tuple[str, str]] = []
    for command in sorted(cli.commands):
        done = subprocess.run(
            [str(WRAPPER), command, "--help"],
            env=clean_env(),
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        examples = done.stdout.split("Example", 1)[1].split("\nOptions:", 1)[0]
        for line in examples.splitlines()[1:]:
            if not line.startswith("    ") or line.startswith("     "):
                continue  # the block's lines are indented 4; deeper ones continue a comment
            line = re.split(r"\s{3,}", line.strip())[0]
            if str(WRAPPER) in line and not any(skip in line for skip in NOT_RUN):
                lines.append((command, line))
    return lines


def test_help_examples_name_the_command_running_and_run_as_printed(
    tmp_path: Path, archive: LoopbackServer
) -> None:
    examples = help_examples()
    assert len(examples) >= 25, examples
    failed = []
    for name, line in examples:  # each command's examples in a clone of their own, in order
        clone = tmp_path / name
        if not clone.exists():
            prepare_clone(clone, archive)
        code, _, err = run_as_printed(line.replace(str(WRAPPER), "./imdi-watch"), clone)
        if code not in (0, 1) or "error:" in err:  # 1: check --exit-code found a change
            failed.append(f"{line}\n  exit {code}: {err.strip()[-500:]}")
    assert failed == [], "\n".join(failed)
