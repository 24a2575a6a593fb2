"""docs/dashboard.png: the dashboard on the demo store, as the README shows it. Rerun after
changing a chart:

    .venv/bin/python dev/screenshot_dashboard.py [--municipality "Bergen (4601)"] [-o FILE]

Builds the demo store (`imdi-watch demo --keep DIR`, offline) in a temporary folder, serves it
with `imdi-watch serve` on 127.0.0.1, opens the dashboard in headless Chromium (Debian's
`chromium`; apt-get install chromium) with a fresh profile and the network limited to
127.0.0.1, waits for the four charts and saves the whole page as PNG.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote_plus

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from headless import Chromium, serve, wait_for_charts  # noqa: E402

from scraper.dashboard import CHARTS, PATH  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "dashboard.png")
    parser.add_argument("--municipality", default="Bergen (4601)")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imdi-watch-screenshot-") as tmp:
        folder = Path(tmp) / "demo"
        subprocess.run(
            [sys.executable, "-m", "scraper", "demo", "--keep", str(folder)],
            cwd=tmp,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        db_path = folder / "imdi-watch.db"
        with (
            serve(db_path, cwd=folder) as served,
            Chromium(width=args.width, height=args.height) as browser,
        ):
            url = f"{served.url.rstrip('/')}{PATH}?municipality={quote_plus(args.municipality)}"
            browser.open(url)
            drawn = wait_for_charts(browser, CHARTS)
            if outside := browser.left_loopback():
                print(f"requests left 127.0.0.1: {outside}", file=sys.stderr)
                return 1
            args.output.parent.mkdir(parents=True, exist_ok=True)
            browser.screenshot(args.output)
    slowest = max(drawn.values())
    print(f"{args.output}: {len(CHARTS)} charts, the last drawn {slowest:.0f} ms after navigation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
