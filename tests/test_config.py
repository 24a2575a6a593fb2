"""config.toml: defaults, paths relative to the file, and one clear line for every bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from scraper.config import DEFAULT_URL, load_config
from scraper.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_config_defaults_watch_the_imdi_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IMDI_WATCH_CONFIG", raising=False)
    config = load_config(None)
    assert [(p.name, p.url) for p in config.pages] == [
        ("oppmoding", DEFAULT_URL),
        ("bosettingstall", "https://www.imdi.no/planlegging-og-bosetting/bosettingstall/"),
    ]
    assert config.store.path == tmp_path / "store" / "imdi-watch.db"
    assert config.fetch.max_bytes == 10_000_000
    assert config.schedule.timezone == "Europe/Oslo"
    assert config.source is None


def test_config_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[pages]]
name = "test"
url = "http://127.0.0.1:8000/page"

[store]
path = "data/watch.db"
snapshots = "raw"

[fetch]
read_timeout_s = 5
contact = "desk@example.org"
""",
    )
    config = load_config(path)
    assert config.pages[0].url == "http://127.0.0.1:8000/page"
    assert config.store.path == tmp_path / "data" / "watch.db"
    assert config.store.snapshots == tmp_path / "raw"
    assert config.fetch.read_timeout_s == 5.0 and isinstance(config.fetch.read_timeout_s, float)
    assert config.fetch.contact == "desk@example.org"


def test_config_file_from_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, '[[pages]]\nname = "x"\nurl = "https://example.org/"\n')
    monkeypatch.setenv("IMDI_WATCH_CONFIG", str(path))
    assert load_config(None).pages[0].name == "x"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[fetch]\ntimeout = 3\n",
            "unknown key [fetch].timeout (expected one of: connect_timeout_s",
        ),
        (
            "[fetch]\nread_timeout_s = 'slow'\n",
            "[fetch].read_timeout_s must be a number, got 'slow'",
        ),
        ("[fetch]\nmax_attempts = 0\n", "[fetch].max_attempts must be at least 1, got 0"),
        ("[fetch]\nmax_bytes = true\n", "[fetch].max_bytes must be an integer, got True"),
        (
            "[stor]\npath = 'x'\n",
            "unknown key 'stor' (expected one of: [[pages]], [fetch], [store]",
        ),
        (
            "[[pages]]\nname = 'a'\nurl = 'ftp://example.org/'\n",
            "[[pages]] #1.url must be an http:// or https:// URL",
        ),
        (
            "[[pages]]\nname = 'a'\nurl = 'file:///etc/passwd'\n",
            "[[pages]] #1.url must be an http:// or https:// URL",
        ),
        (
            "[[pages]]\nname = 'a'\nurl = 'https://x/'\nlabel = 1\n",
            "unknown key [[pages]] #1.label",
        ),
        ("[notify]\nurls = 'json://x'\n", "[notify].urls must be a list of strings"),
        ("[store\n", "not valid TOML"),
    ],
)
def test_config_invalid_key_is_one_line_naming_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(str(path) + ": ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_config_missing_file_named_explicitly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")


def test_config_every_key_is_documented_in_the_readme() -> None:
    from scraper.config import PAGE_KEYS, SETTINGS

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    keys = [f"[[pages]].{key}" for key in PAGE_KEYS]
    keys += [f"[{section}].{key}" for section, settings in SETTINGS.items() for key in settings]
    assert [key for key in keys if f"`{key}`" not in readme] == []
