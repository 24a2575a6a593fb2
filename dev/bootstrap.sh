# Sourced by ./imdi-watch and ./run-tests: make .venv and install the project into it, once, and
# again whenever pyproject.toml changes. `bootstrap_venv` installs the app's own dependencies;
# `bootstrap_venv test` adds the test tools (pyproject's [test] extra). Needs Python 3.11+ and
# the package index (or a pip configured to reach a mirror).
bootstrap_venv() {
    extra=${1:-}
    root=$(cd "$(dirname "$0")" && pwd)
    venv="$root/.venv"
    python=${PYTHON:-python3}
    stamp="$venv/.imdi-watch-stamp"
    sum=$(cksum < "$root/pyproject.toml")
    if [ -x "$venv/bin/python" ] && [ -f "$stamp" ]; then
        have=$(cat "$stamp")
        # the app is enough for ./imdi-watch; a venv with the test tools serves both
        if [ "$have" = "$sum test" ] || { [ -z "$extra" ] && [ "$have" = "$sum" ]; }; then
            return 0
        fi
    fi
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "imdi-watch: needs Python 3.11 or newer as '$python' (set PYTHON=/path/to/python3.11)" >&2
        exit 2
    fi
    what="imdi-watch"
    [ -n "$extra" ] && what="imdi-watch and its test tools"
    echo "imdi-watch: installing $what into $venv (first run, or pyproject.toml changed) ..." >&2
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv" || exit 2
    target="$root"
    [ -n "$extra" ] && target="$root[$extra]"
    # editable_mode=compat: a plain path in a .pth file. The default editable finder is a module
    # that site.py imports at every start-up (~8 ms of a ~120 ms `imdi-watch check`).
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --config-settings editable_mode=compat -e "$target" >&2; then
        echo "imdi-watch: installing the project into $venv failed (see pip's message above)" >&2
        exit 2
    fi
    # Compiled once here: with PYTHONDONTWRITEBYTECODE set, every run would compile the package.
    "$venv/bin/python" -m compileall -q "$root/scraper" >/dev/null 2>&1 || true
    if [ -n "$extra" ]; then echo "$sum $extra" > "$stamp"; else echo "$sum" > "$stamp"; fi
}
