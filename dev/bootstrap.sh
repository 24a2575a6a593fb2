# Sourced by ./imdi-watch and ./run-tests: make .venv and install the project with its test
# tools into it, once, and again whenever pyproject.toml changes. Needs Python 3.11+ and PyPI.
bootstrap_venv() {
    root=$(cd "$(dirname "$0")" && pwd)
    venv="$root/.venv"
    python=${PYTHON:-python3}
    stamp="$venv/.imdi-watch-stamp"
    want=$(cksum < "$root/pyproject.toml")
    if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "imdi-watch: needs Python 3.11 or newer as '$python' (set PYTHON=/path/to/python3.11)" >&2
        exit 2
    fi
    echo "imdi-watch: setting up $venv (first run, or pyproject.toml changed) ..." >&2
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv" || exit 2
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[test]" >&2; then
        echo "imdi-watch: installing the project into $venv failed (see pip's message above)" >&2
        exit 2
    fi
    # Compiled once here: with PYTHONDONTWRITEBYTECODE set, every run would compile the package.
    "$venv/bin/python" -m compileall -q "$root/scraper" >/dev/null 2>&1 || true
    echo "$want" > "$stamp"
}
