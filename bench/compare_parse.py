"""The parser now beside an earlier one of its own (by default the first round's, d52ba6c), on
the 12 November 2021 page, interleaved: child processes take turns, each timing 60 parses after
one warm-up, so a busy spell of the machine falls on both alike.

The earlier `scraper` package is taken from git (`git archive REV scraper`) into a temporary
folder; both run in this .venv. Prints the median over the children of each child's median, wall
and CPU (time.process_time), and the ratio now ÷ then.

Run: .venv/bin/python bench/compare_parse.py [--against REV] [--rounds 12]
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "tests" / "fixtures" / "page-2022-nn-a.html"
ROUND_1 = "d52ba6c"

CHILD = """
import statistics, sys, time
sys.path.insert(0, sys.argv[1])
import scraper.parse
assert scraper.parse.__file__.startswith(sys.argv[1]), scraper.parse.__file__
html = open(sys.argv[2], "rb").read()
scraper.parse.parse_page(html)
wall, cpu = [], []
for _ in range(60):
    w, c = time.perf_counter(), time.process_time()
    scraper.parse.parse_page(html)
    cpu.append(time.process_time() - c)
    wall.append(time.perf_counter() - w)
print(statistics.median(wall) * 1000, statistics.median(cpu) * 1000)
"""


def run_child(package_root: Path) -> tuple[float, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(package_root), str(PAGE)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    wall, cpu = done.stdout.split()
    return float(wall), float(cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default=ROUND_1, help="the earlier revision (git)")
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.against, "scraper"],
            capture_output=True, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"not measured: cannot take {args.against} from git ({exc})")
        return 0
    with tempfile.TemporaryDirectory() as folder:
        then_root = Path(folder)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(then_root, filter="data")
        now: list[tuple[float, float]] = []
        then: list[tuple[float, float]] = []
        for _ in range(args.rounds):
            then.append(run_child(then_root))
            now.append(run_child(ROOT))
    print(f"page: {PAGE.name}; {args.rounds} rounds of 60 parses, interleaved")
    for label, index in (("wall", 0), ("CPU", 1)):
        a = statistics.median(t[index] for t in then)
        b = statistics.median(t[index] for t in now)
        print(f"{label}: {args.against} {a:.2f} ms, now {b:.2f} ms, now ÷ then {b / a:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
