"""What several benchmarks share: one whole `imdi-watch` process timed (wall and CPU), and the
page's "Sist oppdatert" date moved to another day, written as IMDi writes it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from scraper.norsk import MONTHS

IMDI_WATCH = Path(sys.executable).parent / "imdi-watch"
# The "Sist oppdatert" date of the 12 November 2021 page (tests/fixtures/page-2022-nn-a.html).
UPDATED = '<time datetime="2021-11-12">12. november 2021</time>'
# The month names the parser reads, by number: the longest word for each (the others shorten it).
MONTH_NAMES = tuple(
    max((word for word, number in MONTHS.items() if number == month), key=len)
    for month in range(1, 13)
)


def updated_on(day: date) -> str:
    """UPDATED for `day`: '<time datetime="2021-12-03">3. desember 2021</time>'."""
    written = f"{day.day}. {MONTH_NAMES[day.month - 1]} {day.year}"
    return f'<time datetime="{day.isoformat()}">{written}</time>'


def run_timed(args: list[str], label: str) -> tuple[float, float]:
    """(wall s, CPU s) of one `imdi-watch ARGS` process, its CPU from os.wait4 on that child
    alone; exits naming `label` with the process's stderr if it fails."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(IMDI_WATCH), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        assert process.stderr is not None
        raise SystemExit(f"{label} failed: {process.stderr.read().decode()}")
    return wall, usage.ru_utime + usage.ru_stime
