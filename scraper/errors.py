"""The exception tree and exit codes: library code raises these, only the CLI turns them into exits.

ImdiWatchError
 ├── ConfigError   config.toml unreadable, a key unknown or of the wrong type  → exit 2
 ├── InputError    a file or argument the user named is missing or not usable  → exit 2
 ├── FetchError    network failure, HTTP error status, oversize body, refused  → exit 3
 ├── ParseError    bytes that are not an HTML page at all                      → exit 3
 ├── StoreError    the database or snapshots/ cannot be read or written        → exit 3
 └── LockBusy      another check holds the store's lock                        → exit 4
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, one meaning each (documented in the README)."""

    OK = 0
    CHANGED = 1  # only with --exit-code, like `git diff --exit-code`
    USAGE = 2  # bad option, missing file, invalid config
    FAILURE = 3  # fetch, parse or store failure
    LOCKED = 4  # another check holds the lock


class ImdiWatchError(Exception):
    """Base of every error imdi-watch raises on purpose; its message is one line for people."""

    exit_code: ExitCode = ExitCode.FAILURE


class ConfigError(ImdiWatchError):
    exit_code = ExitCode.USAGE


class InputError(ImdiWatchError):
    exit_code = ExitCode.USAGE


class FetchError(ImdiWatchError):
    """A fetch failed; `status` is the HTTP status when there was a response, `attempts` how many
    requests were made."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        attempts: int | None = None,
    ):
        super().__init__(message)
        self.url = url
        self.status = status
        self.attempts = attempts


class ParseError(ImdiWatchError):
    pass


class StoreError(ImdiWatchError):
    pass


class LockBusy(ImdiWatchError):
    exit_code = ExitCode.LOCKED
