"""The docs match the tool: every command has real help and is in the README."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import run_cli

from scraper.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(cli.commands)


@pytest.mark.parametrize("command", COMMANDS)
def test_docs_every_command_has_help_with_an_example(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.code == 0
    assert f"Usage: imdi-watch {command}" in result.out
    assert "Example" in result.out, f"`imdi-watch {command} --help` shows no example"


@pytest.mark.parametrize("command", COMMANDS)
def test_docs_every_command_is_in_the_readme(command: str) -> None:
    assert f"| `{command}" in README, f"README's command table lacks `{command}`"


def test_docs_readme_quick_start_names_the_two_commands() -> None:
    assert "./imdi-watch check" in README and "./run-tests" in README
    for script in ("imdi-watch", "run-tests", ".ci/run"):
        assert (Path(__file__).resolve().parent.parent / script).is_file()


def test_docs_readme_and_config_name_one_variable_for_notification_urls() -> None:
    import re
    import tomllib

    root = Path(__file__).resolve().parent.parent
    shipped = tomllib.loads((root / "config.toml").read_text(encoding="utf-8"))
    name = shipped["notify"]["urls_env"]
    assert name
    assert f'urls_env = "{name}"' in README
    named = set(re.findall(r"\bIMDI_WATCH_NOTIFY\w*", README))
    assert named == {name}, f"README names {named}, config.toml reads {name}"
    result = run_cli("notify", "--help")
    assert set(re.findall(r"\bIMDI_WATCH_NOTIFY\w*", result.out)) == {name}


def test_docs_readme_commands_table_is_one_table_with_every_command() -> None:
    lines = README.splitlines()
    start = lines.index("| command | what it does |")
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    assert lines[start + len(table)] == "", "the table must end with a blank line"
    for command in COMMANDS:
        assert any(row.startswith(f"| `{command}") for row in table), (
            f"`{command}` is missing from the Commands table, or the table is cut in two"
        )
