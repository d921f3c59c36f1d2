#!/usr/bin/env bash
# The reproducible evidence report: `scripts/evidence/run.sh OUTDIR [--quick]`.
#
# 1. Creates (or reuses) a virtualenv in scripts/evidence/.venv with numpy, scikit-learn, river,
#    pyzmq and matplotlib from PyPI (pip is the only network access).
# 2. Builds the release binary with `swift build -c release` (.build/release/voronoid) unless
#    VORONOID_BIN names a binary to use instead.
# 3. Runs scripts/evidence/evidence.py, which writes OUTDIR/report.md and PNG plots and exits
#    non-zero when a check fails (see the report's "Checks" section).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
    echo "usage: scripts/evidence/run.sh OUTDIR [--quick]" >&2
    exit 64
fi
OUTDIR="$1"
shift
COMMAND="scripts/evidence/run.sh $OUTDIR${*:+ $*}"
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
started=$(date +%s)

VENV="$HERE/.venv"
REQUIREMENTS="numpy scikit-learn river pyzmq matplotlib"
venv_started=$(date +%s)
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import numpy, sklearn, river, zmq, matplotlib" 2>/dev/null; then
    echo "evidence: creating $VENV ($REQUIREMENTS)" >&2
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV"; then
        echo "evidence: python3 -m venv failed (on Debian: apt-get install python3-venv)" >&2
        exit 69
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $REQUIREMENTS >&2
    VENV_STATE="created"
else
    VENV_STATE="reused"
fi
venv_seconds=$(( $(date +%s) - venv_started ))

build_seconds=0
if [ -n "${VORONOID_BIN:-}" ]; then
    BIN="$VORONOID_BIN"
    BIN_SOURCE="VORONOID_BIN"
else
    build_started=$(date +%s)
    (cd "$ROOT" && swift build -c release --product voronoid >&2)
    BIN="$ROOT/.build/release/voronoid"
    BIN_SOURCE="swift build -c release"
    build_seconds=$(( $(date +%s) - build_started ))
fi
if [ ! -x "$BIN" ]; then
    echo "evidence: no voronoid binary at $BIN" >&2
    exit 66
fi

exec "$VENV/bin/python" "$HERE/evidence.py" --out "$OUTDIR" --binary "$BIN" --binary-source "$BIN_SOURCE" \
    --venv "$VENV_STATE:$venv_seconds" --build-seconds "$build_seconds" --started "$started" \
    --command "$COMMAND" "$@"
