"""Coverage-guided fuzzing of the parser with atheris (libFuzzer), bounded in time.

Every input must either raise ParseError ("not an HTML page …") or parse to a well-formed Page,
twice to the same fingerprint: the properties of tests/test_fuzz.py, which runs a bounded
hypothesis version of this in CI. The corpus starts from the fixture pages and a small table
page; crashes are written to bench/out/fuzz/ (crash-<sha1>) and stop the run.

Run: .venv/bin/pip install atheris                 (once; into the project venv)
     .venv/bin/python bench/fuzz_parse.py -max_total_time=600
     .venv/bin/python bench/fuzz_parse.py bench/out/fuzz/crash-…    (replay one input)
Without atheris (or with --hypothesis N) it falls back to hypothesis with N examples per property.
Any further arguments go to libFuzzer (-max_total_time, -runs, -jobs, …).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
OUT = ROOT / "bench" / "out" / "fuzz"
CORPUS = OUT / "corpus"
SMALL_PAGE = b"""<!DOCTYPE html><html lang="nn"><body><main><h1>Oppmoding om busetting for 2022</h1>
<p>IMDi har bedt 2 norske kommunar om a ta imot 5 500 flyktningar i 2022.</p>
<p>Sist oppdatert: 12. november 2021</p><table><tr><th>Kommune</th><th>Fylke</th>
<th>Endelege tal 2022</th><th>- Einslege mindre\xc3\xa5rige</th><th>Einslege mindre\xc3\xa5rige 15-18</th>
<th>Einslege mindre\xc3\xa5rige &lt;15</th></tr><tr><td>Bergen</td><td>Vestland</td><td>182</td>
<td>7</td><td>5</td><td>2</td></tr><tr><td>Sum</td><td></td><td>182</td><td>7</td><td>5</td>
<td>2</td></tr></table></main></body></html>"""


def seed_corpus() -> Path:
    CORPUS.mkdir(parents=True, exist_ok=True)
    for page in sorted((ROOT / "tests" / "fixtures").glob("page-*.html")):
        shutil.copyfile(page, CORPUS / page.name)
    (CORPUS / "small-table.html").write_bytes(SMALL_PAGE)
    from test_fuzz import HOSTILE_PAGES

    for name, page in HOSTILE_PAGES.items():
        (CORPUS / f"hostile-{name}.html").write_bytes(page)
    return CORPUS


def run_atheris(args: list[str]) -> None:
    import atheris

    with atheris.instrument_imports(include=["scraper"]):
        from test_fuzz import parse_checked

        import scraper.parse  # noqa: F401  (instrumented: parse, norsk, municipalities, models)

    def test_one_input(data: bytes) -> None:
        parse_checked(data)

    replay = [a for a in args if not a.startswith("-")]
    corpus = [] if replay else [str(seed_corpus())]
    libfuzzer = [
        sys.argv[0],
        *args,
        *corpus,
        f"-artifact_prefix={OUT}/",
        "-max_len=120000",
        "-timeout=20",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
    ]
    atheris.Setup(libfuzzer, test_one_input)
    atheris.Fuzz()


def run_hypothesis(examples: int) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from test_fuzz import (
        SEED,
        _cell_text,
        _mutation,
        _soup_token,
        _table_page,
        apply_mutations,
        parse_checked,
    )

    many = settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )

    def check(data: bytes | str) -> None:  # @given tests must return None
        parse_checked(data)

    properties = {
        "mutated page": given(st.lists(_mutation, min_size=1, max_size=12))(
            lambda m: check(apply_mutations(SEED, m))
        ),
        "random cells": given(
            st.lists(st.lists(_cell_text, min_size=4, max_size=4), min_size=1, max_size=6)
        )(lambda rows: check(_table_page(rows))),
        "tag soup": given(st.lists(_soup_token, max_size=120))(
            lambda tokens: check("".join(tokens).encode("utf-8", "surrogatepass"))
        ),
        "random bytes": given(st.binary(max_size=2000))(check),
    }
    for name, prop in properties.items():
        started = time.monotonic()
        many(prop)()
        print(
            f"hypothesis: {name}: {examples} examples passed in {time.monotonic() - started:.0f} s"
        )


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--hypothesis"]:
        run_hypothesis(int(args[1]) if len(args) > 1 else 2000)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        import atheris  # noqa: F401
    except ImportError as exc:
        print(f"atheris not available ({exc}); falling back to hypothesis", file=sys.stderr)
        run_hypothesis(2000)
        return
    run_atheris(args)


if __name__ == "__main__":
    main()
