"""Imports point down the layers, and `check` stays lean: the rules of STYLE.md, kept by a test."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from server import LoopbackServer, Reply

PACKAGE = Path(__file__).resolve().parent.parent / "scraper"
# A module may import only modules of a LOWER layer; single-purpose modules (layer 2) never
# import each other. A new module must be placed here, which is the point.
LAYERS = {
    "__init__": 0, "errors": 0, "models": 0, "norsk": 0,
    "municipalities": 1, "config": 1, "retry": 1, "columns": 1, "statements": 1,
    "fetch": 2, "parse": 2, "diff": 2, "store": 2, "report": 2, "export": 2,
    "pipeline": 3,
    "dashboard": 3,
    "schedule": 4, "notify": 4, "serve": 4, "backfill": 4,
    "demo": 5, "console": 5,
    "cli": 6,
    "__main__": 7,
}  # fmt: skip
HEAVY = ("rich", "apscheduler", "apprise", "datasette", "bs4", "lxml")


def scraper_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("scraper"):
            parts = node.module.split(".")
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found.update(alias.name for alias in node.names if alias.name != "__version__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("scraper."):
                    found.add(alias.name.split(".")[1])
    return found


def test_architecture_every_module_has_a_layer() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert modules - LAYERS.keys() == set(), "place new modules in LAYERS"


def test_architecture_imports_point_down_the_layers() -> None:
    wrong = []
    for path in sorted(PACKAGE.glob("*.py")):
        layer = LAYERS[path.stem]
        for imported in scraper_imports(path):
            if imported == "__version__" or imported == path.stem:
                continue
            if LAYERS.get(imported, 99) >= layer and path.stem != "__init__":
                wrong.append(f"{path.stem} (layer {layer}) imports {imported}")
    assert wrong == []


def runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under `if TYPE_CHECKING:` (annotations cost nothing at run time)."""
    nodes: list[ast.AST] = []
    pending = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            pending.extend(node.orelse)
            continue
        nodes.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return nodes


def test_architecture_each_third_party_library_has_one_home() -> None:
    homes = {"httpx": "fetch", "selectolax": "parse", "sqlite_utils": "store",
             "apscheduler": "schedule", "apprise": "notify", "datasette": "serve", "rich": "report",
             "click": "cli"}  # fmt: skip
    wrong = []
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in runtime_nodes(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module.split(".")[0]]
            for name in names:
                if name in homes and homes[name] != path.stem:
                    wrong.append(f"{path.stem} imports {name} (home: {homes[name]})")
    assert wrong == []


# what a `check` that finds the same page never needs: click's command building, the report,
# the diff, notifications (none configured), the CLI module itself, and (same bytes) the parser
NOT_FOR_AN_UNCHANGED_CHECK = ("click", "scraper.cli", "scraper.report", "scraper.diff",
                              "scraper.notify", "scraper.parse", "selectolax")  # fmt: skip


def test_architecture_check_path_imports_only_what_a_check_needs(tmp_path: Path) -> None:
    page = (Path(__file__).parent / "fixtures" / "page-2022-nn-a.html").read_bytes()
    with LoopbackServer() as server:
        server.route("/oppmoding", Reply(200, page, {"Content-Type": "text/html; charset=utf-8"}))
        config = tmp_path / "config.toml"
        config.write_text(
            f'[[pages]]\nname = "t"\nurl = "{server.url("/oppmoding")}"\n', encoding="utf-8"
        )
        watched = set(HEAVY) | set(NOT_FOR_AN_UNCHANGED_CHECK)
        script = (
            "import sys, json, ssl\n"
            "loads = []\n"  # CA bundles loaded: none for an http:// page
            "real = ssl.SSLContext.load_verify_locations\n"
            "def counted(self, *a, **k):\n"
            "    loads.append(1)\n"
            "    return real(self, *a, **k)\n"
            "ssl.SSLContext.load_verify_locations = counted\n"
            "from scraper.__main__ import main\n"
            "try:\n"
            f"    main(['--config', {str(config)!r}, 'check', *sys.argv[1:]])\n"
            "except SystemExit as e:\n"
            "    code = e.code\n"
            "found = {m for m in sys.modules} | {m.split('.')[0] for m in sys.modules}\n"
            f"print(json.dumps([code, sorted(found & {watched!r}), len(loads)]))\n"
        )
        outcomes = []
        for args in (["--quiet"], []):  # a new revision (quiet), then an unchanged check
            done = subprocess.run(
                [sys.executable, "-c", script, *args], capture_output=True, text=True, check=False
            )
            outcomes.append(json.loads(done.stdout.strip().splitlines()[-1]))
    # the first check creates the store: sqlite-utils (migrations) brings click with it
    assert outcomes == [
        [0, ["click", "scraper.diff", "scraper.parse", "selectolax"], 0],
        [0, [], 0],
    ], done.stderr


def test_architecture_httpx_cli_is_skipped_on_import_and_still_importable_after() -> None:
    # scraper.fetch keeps `import httpx` from importing httpx._main (its command-line client:
    # click, rich, pygments, ~35 ms); the README says why. httpx itself must be unchanged.
    script = (
        "import sys, json\n"
        "import scraper.fetch\n"
        "before = sorted({'click', 'rich', 'pygments', 'httpx._main'} & set(sys.modules))\n"
        "import httpx._main\n"
        "print(json.dumps([before, callable(httpx._main.main)]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert json.loads(done.stdout) == [[], True], done.stderr
