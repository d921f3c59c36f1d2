#!/usr/bin/env bash
# Installs voronoid as a systemd service on Debian bookworm. Run as root from the repository.
#
#   scripts/install.sh                    build (release, Swift runtime linked in), install, start
#   scripts/install.sh --binary PATH      install a binary built elsewhere (needs only libzmq5 here)
#   scripts/install.sh --root DIR         install into DIR as if it were / (packaging, tests);
#                                         DESTDIR=DIR works too. Nothing is started.
#
# Other options: --no-deps (do not apt-get anything), --no-start (install and enable, do not
# start or restart). Environment: VORONOID_SCRATCH (SwiftPM scratch path, default .build).
#
# What goes where:
#   /usr/local/bin/voronoid                    the daemon (replaced atomically)
#   /etc/voronoid/voronoid.toml                configuration; an existing one is never overwritten
#                                              (the shipped reference is put beside it as
#                                              voronoid.toml.dist when they differ)
#   /etc/systemd/system/voronoid.service       the unit
#   /usr/local/share/doc/voronoid/README.md    the unit's Documentation=
# Checkpoints live in /var/lib/voronoid (systemd creates it: StateDirectory=).
#
# Then `systemctl daemon-reload` and `systemctl enable --now voronoid`; after an upgrade that
# changed the binary or the unit, a running service is restarted. Both are skipped, with a
# message, when systemd is not PID 1 (containers, CI). Running it twice changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT="${DESTDIR:-}"
BINARY=""
DEPS=1
START=1
usage() { sed -n '2,/^set -euo/{/^#/p}' "$0" | cut -c3- >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --root|--destdir) ROOT="${2:?--root needs a directory}"; shift 2 ;;
        --root=*|--destdir=*) ROOT="${1#*=}"; shift ;;
        --binary) BINARY="${2:?--binary needs a path}"; shift 2 ;;
        --binary=*) BINARY="${1#*=}"; shift ;;
        --no-deps) DEPS=0; shift ;;
        --no-start) START=0; shift ;;
        -h|--help) usage ;;
        *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ -n "$ROOT" ]; then
    mkdir -p "$ROOT"
    ROOT="$(cd "$ROOT" && pwd)"
    [ "$ROOT" != / ] || ROOT=""
fi
say() { echo "install.sh: $*"; }
die() { echo "install.sh: $*" >&2; exit 1; }
[ -n "$ROOT" ] || [ "$(id -u)" = 0 ] || die "run as root (or use --root DIR to install into a directory)"

# --- dependencies -------------------------------------------------------------------------------
apt_install() {
    local missing=() p
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -gt 0 ] || return 0
    [ "$(id -u)" = 0 ] || die "missing Debian packages ${missing[*]}: apt-get install ${missing[*]} (as root)"
    say "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}
if [ "$DEPS" = 1 ] && command -v dpkg >/dev/null; then
    if [ -z "$BINARY" ]; then
        apt_install libzmq3-dev        # headers to build; pulls in libzmq5
    elif [ -z "$ROOT" ]; then
        apt_install libzmq5            # what the binary needs at run time
    fi
fi

# --- build ----------------------------------------------------------------------------------------
if [ -z "$BINARY" ]; then
    command -v swift >/dev/null || die "swift not found: install the Swift toolchain, or pass --binary PATH"
    scratch="${VORONOID_SCRATCH:-.build}"
    say "swift build -c release --static-swift-stdlib --product voronoid (scratch path $scratch)"
    swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product voronoid
    BINARY="$scratch/release/voronoid"
fi
[ -x "$BINARY" ] || die "not an executable: $BINARY"
# The Swift runtime must be linked in: a plain bookworm host has no libswiftCore.so.
if command -v ldd >/dev/null && ldd "$BINARY" 2>/dev/null | grep -q 'libswift\|libFoundation\|libdispatch'; then
    die "$BINARY links the Swift runtime dynamically; build it with --static-swift-stdlib"
fi

# --- files ------------------------------------------------------------------------------------------
CHANGED=0
# put MODE SRC DEST: install SRC at DEST unless identical; atomically (a running daemon keeps its inode).
put() {
    local mode="$1" src="$2" dest="$ROOT$3"
    if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
        chmod "$mode" "$dest"
        say "unchanged $3"
        return 0
    fi
    install -d -m 0755 "$(dirname "$dest")"
    install -m "$mode" "$src" "$dest.new.$$"
    mv -f "$dest.new.$$" "$dest"
    say "installed $3"
    CHANGED=1
}
put 0755 "$BINARY" /usr/local/bin/voronoid
put 0644 systemd/voronoid.service /etc/systemd/system/voronoid.service
put 0644 README.md /usr/local/share/doc/voronoid/README.md
binary_or_unit_changed=$CHANGED

# The configuration belongs to the operator once it exists. It must stay readable by the service's
# dynamic user (0644); secrets do not belong in it.
config="$ROOT/etc/voronoid/voronoid.toml"
install -d -m 0755 "$ROOT/etc/voronoid"
if [ ! -e "$config" ]; then
    install -m 0644 config/voronoid.toml "$config"
    say "installed /etc/voronoid/voronoid.toml (the reference: every key at its default)"
elif cmp -s config/voronoid.toml "$config"; then
    rm -f "$config.dist"
    say "unchanged /etc/voronoid/voronoid.toml"
else
    install -m 0644 config/voronoid.toml "$config.dist"
    say "kept your /etc/voronoid/voronoid.toml; the shipped reference is /etc/voronoid/voronoid.toml.dist"
fi

# --- systemd -------------------------------------------------------------------------------------------
if [ -n "$ROOT" ]; then
    if command -v systemctl >/dev/null; then
        systemctl --root="$ROOT" --quiet enable voronoid.service
        say "enabled voronoid.service in $ROOT (starts at boot there); nothing started"
    fi
    say "done: installed into $ROOT"
    exit 0
fi
if [ ! -d /run/systemd/system ]; then
    say "systemd is not PID 1 here (no /run/systemd/system): skipped 'systemctl daemon-reload' and"
    say "'systemctl enable --now voronoid'. On a host booted with systemd, run them to start the service."
    exit 0
fi
systemctl daemon-reload
was_active=0
systemctl --quiet is-active voronoid.service && was_active=1
if [ "$START" = 1 ]; then
    systemctl enable --now voronoid.service
    if [ "$was_active" = 1 ] && [ "$binary_or_unit_changed" = 1 ]; then
        say "binary or unit changed: restarting (the daemon checkpoints at SIGTERM and restores at start)"
        systemctl restart voronoid.service
    fi
    systemctl --no-pager --lines=0 status voronoid.service || true
    systemctl --quiet is-active voronoid.service || die "voronoid.service is not active: journalctl -u voronoid"
    say "done: voronoid.service is $(systemctl is-active voronoid.service)"
else
    systemctl enable voronoid.service
    say "done: enabled, not started (--no-start)"
fi
