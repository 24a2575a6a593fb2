"""Rules for the tests themselves: the same run gives the same answer (every random generator
seeded, hypothesis derandomized). That a run writes nothing into the repository is checked by the
session fixture in conftest.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import settings

TESTS = Path(__file__).resolve().parent
# Sources of randomness a test could draw data or timings from without a seed.
UNSEEDED = re.compile(
    r"os\.urandom|\bsecrets\.|uuid\.uuid[14]\(|random\.Random\(\s*\)|SystemRandom"
    r"|\brandom\.(?:random|randint|randrange|choice|choices|shuffle|sample|uniform|getrandbits)\("
)


def test_hypothesis_runs_derandomized_without_an_example_database(
    pytestconfig: pytest.Config,
) -> None:
    if pytestconfig.getoption("hypothesis_profile", default=None) is not None:
        pytest.skip("a hypothesis profile was chosen on the command line")
    assert settings.default.derandomize is True
    assert settings.default.database is None
    assert settings(max_examples=3).derandomize is True  # a test's own settings inherit it


def test_no_test_draws_from_an_unseeded_random_generator() -> None:
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(TESTS.glob("*.py"))
        if path.name != Path(__file__).name
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if UNSEEDED.search(line)
    ]
    assert found == []
