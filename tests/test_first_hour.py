"""A new user's first hour (issue 15): commands run as printed, errors are honest usage errors,
read commands never invent a store, notification targets are checked, snapshots can be parsed.
"""

from __future__ import annotations

import gzip
import json
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import clean_env, run_cli
from history_store import build_store

ROOT = Path(__file__).resolve().parent.parent
WRAPPER = ROOT / "imdi-watch"
FIXTURES = Path(__file__).parent / "fixtures"


def run_line(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A command line as a user pastes it into sh; `serve` is stopped once it is serving."""
    if " serve" in line:
        return serve_briefly(line, cwd)
    return subprocess.run(
        ["sh", "-c", line], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=120
    )


def serve_briefly(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Start a `serve` line (on any free port), wait until it serves, then stop it (SIGINT)."""
    words = shlex.split(line.split("#")[0])
    if "--port" in words:
        words[words.index("--port") + 1] = "0"
    else:
        words += ["--port", "0"]
    process = subprocess.Popen(
        words, cwd=cwd, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    first = process.stderr.readline()  # "imdi-watch: serving … at http://127.0.0.1:N/" or an error
    if "serving" in first:
        process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    code = 0 if "serving" in first else process.returncode
    return subprocess.CompletedProcess(words, code, out, first + err)


# --- commands that run as printed ------------------------------------------------------------


def test_demo_browse_commands_run_as_printed_from_a_clone(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(WRAPPER), "demo", "--keep", str(tmp_path / "demo")],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    browse = done.stdout.split("Browse it:\n", 1)[1].splitlines()
    assert len(browse) == 4
    for line in browse:
        assert line.startswith(f"  {WRAPPER} "), line  # the command actually running
        result = run_line(line.strip(), tmp_path)
        assert result.returncode == 0, (line, result.stderr)
    assert "Bergen" in run_line(browse[1].strip(), tmp_path).stdout


def test_help_names_the_wrapper_it_was_started_by() -> None:
    done = subprocess.run(
        ["./imdi-watch", "history", "--help"],
        cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Usage: ./imdi-watch history [OPTIONS]" in done.stdout
    assert "\n    ./imdi-watch history Bergen\n" in done.stdout


def test_help_under_python_m_names_that_interpreter(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scraper", "--help"],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"    {shlex.quote(sys.executable)} -m scraper demo " in done.stdout


def test_error_hints_name_the_command_running(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(WRAPPER), "log"], cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"run `{WRAPPER} check` first" in done.stderr


# --- honest errors ---------------------------------------------------------------------------


def test_no_command_prints_the_help_and_exits_0() -> None:
    result = run_cli()
    assert result.code == 0
    assert result.out.startswith("Usage: imdi-watch [OPTIONS] COMMAND")
    assert "  demo " in result.out
    assert result.err == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--port", "99999"], "'--port': 99999 is not in the range 0<=x<=65535."),
        (["serve", "--port", "-1"], "'--port': -1 is not in the range 0<=x<=65535."),
        (["log", "-n", "0"], "'-n' / '--limit': 0 is not in the range x>=1."),
        (["feed", "-n", "-5"], "'-n' / '--limit': -5 is not in the range x>=1."),
    ],
)
def test_out_of_range_options_are_usage_errors(args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.code == 2
    assert result.err.startswith(f"imdi-watch: error: Invalid value for {message}")
    assert "internal error" not in result.err


READ_COMMANDS = [
    ["log"], ["show"], ["history", "Bergen"], ["diff"], ["export"], ["feed"], ["serve"],
    ["reparse"], ["show", "--json"], ["export", "--history"],
]  # fmt: skip


@pytest.mark.parametrize("args", READ_COMMANDS, ids=lambda a: " ".join(a))
def test_read_commands_on_a_missing_store_exit_2_naming_it_and_create_nothing(
    tmp_path: Path, args: list[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[store]\npath = "data/imdi-watch.db"\nsnapshots = "data/snapshots"\n')
    before = sorted(tmp_path.rglob("*"))

    result = run_cli("--config", str(config), *args)

    assert result.code == 2
    assert result.err == (
        f"imdi-watch: error: {tmp_path / 'data' / 'imdi-watch.db'}: no store here (the path comes "
        f"from the config {config}); run `imdi-watch check` first, or give --config the "
        "config.toml of an existing store\n"
    )
    assert result.out == ""
    assert sorted(tmp_path.rglob("*")) == before


def test_serve_with_a_missing_store_path_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    result = run_cli("serve", "--store", str(tmp_path / "nope.db"))
    assert result.code == 2
    assert f"{tmp_path / 'nope.db'}: no such store" in result.err
    assert list(tmp_path.iterdir()) == []


def write_notify_config(tmp_path: Path, urls_env: str = "IMDI_WATCH_NOTIFY") -> Path:
    config = tmp_path / "config.toml"
    config.write_text(f'[store]\npath = "imdi-watch.db"\n\n[notify]\nurls_env = "{urls_env}"\n')
    return config


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            "notaurl-with-a-secret",
            "notification target no*** (from $IMDI_WATCH_NOTIFY): not a URL; expected an Apprise "
            "URL such as ntfys://ntfy.sh/TOPIC or mailtos://user:pass@host",
        ),
        (
            "xyz://user:hunter22@example.org/very-secret-path",
            "notification target xyz://***@example.org/*** (from $IMDI_WATCH_NOTIFY): unknown "
            "scheme xyz:// (formats: https://github.com/caronc/apprise/wiki)",
        ),
    ],
)
@pytest.mark.parametrize("args", [["notify"], ["notify", "--test"], ["run", "--max-checks", "1"]])
def test_notify_refuses_a_target_that_cannot_work_naming_it_masked(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    message: str,
    args: list[str],
) -> None:
    monkeypatch.setenv("IMDI_WATCH_NOTIFY", f"json://127.0.0.1:9/ok {target}")
    result = run_cli("--config", str(write_notify_config(tmp_path)), *args)
    assert result.code == 2
    assert result.err == f"imdi-watch: error: {message}\n"
    assert "secret" not in result.err and "hunter22" not in result.err
    assert not (tmp_path / "imdi-watch.db").exists()  # nothing ran


def test_notify_lists_valid_targets_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "IMDI_WATCH_NOTIFY", "ntfys://ntfy.sh/imdi-watch-s3cret json://127.0.0.1:9/x"
    )
    result = run_cli("--config", str(write_notify_config(tmp_path)), "notify")
    assert result.code == 0, result.err
    assert result.out == "ntfys://ntfy.sh/***\njson://127.0.0.1:9/x\n"


# --- parse reads snapshots and stdin ---------------------------------------------------------


def test_parse_reads_a_gzip_snapshot_as_the_page_it_holds(tmp_path: Path) -> None:
    page = FIXTURES / "page-2022-nn-a.html"
    snapshot = tmp_path / "0123abcd.html.gz"
    snapshot.write_bytes(gzip.compress(page.read_bytes()))

    plain = run_cli("parse", str(page), "--json")
    zipped = run_cli("parse", str(snapshot), "--json")

    assert zipped.code == 0, zipped.err
    assert json.loads(zipped.out) == json.loads(plain.out)
    assert len(json.loads(zipped.out)["rows"]) == 356


def test_parse_reads_the_stores_own_snapshots(tmp_path: Path) -> None:
    build_store(tmp_path)
    snapshot = sorted((tmp_path / "snapshots").glob("*.html.gz"))[0]
    result = run_cli("--config", str(tmp_path / "config.toml"), "parse", str(snapshot))
    assert result.code == 0, result.err
    assert "Table: 356 rows" in result.out


def test_parse_dash_reads_stdin(tmp_path: Path) -> None:
    page = (FIXTURES / "page-2022-nn-a.html").read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "scraper", "parse", "-", "--json"],
        input=page, cwd=tmp_path, env=clean_env(), capture_output=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["updated"] == "2021-11-12"


def test_diff_reads_gzip_snapshots_too(tmp_path: Path) -> None:
    old = tmp_path / "old.html.gz"
    new = tmp_path / "new.html.gz"
    old.write_bytes(gzip.compress((FIXTURES / "page-2022-nn-a.html").read_bytes()))
    new.write_bytes(gzip.compress((FIXTURES / "page-2022-revised.html").read_bytes()))
    result = run_cli("diff", str(old), str(new))
    assert result.code == 0, result.err
    assert result.out.startswith("Sist oppdatert 12.11.2021 → 19.11.2021 · 8 figures changed")


def test_parse_refuses_a_gzip_bomb_beyond_max_bytes(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[fetch]\nmax_bytes = 100000\n")
    bomb = tmp_path / "bomb.html.gz"
    bomb.write_bytes(gzip.compress(b"<p>" + b" " * 5_000_000))
    result = run_cli("--config", str(config), "parse", str(bomb))
    assert result.code == 2
    assert result.err == (
        f"imdi-watch: error: {bomb}: more than [fetch].max_bytes (100000) when decompressed\n"
    )
