#!/usr/bin/env bash
# Builds the Debian package voronoid_VERSION_amd64.deb in the repository root (Debian bookworm).
#
#   scripts/package-deb.sh [--version VERSION] [--no-build] [--no-lintian] [--out DIR]
#
# VERSION is VoronoidVersion.semantic in Sources/Daemon/Version.swift, the one place the version
# is written. --version (or VORONOID_DEB_VERSION) labels the package with another version, for
# testing upgrades (scripts/deb-vm-test.sh); the binary inside still reports its own. --out puts
# the package in DIR instead of the repository root.
#
# The binary: swift build -c release --static-swift-stdlib --product voronoid, scratch path
# VORONOID_DEB_SCRATCH (default .build-deb; --no-build packages the binary already there). It
# links the Swift runtime in, so it needs only what dpkg-shlibdeps finds: libzmq5 and the C and
# C++ runtime. The package holds:
#   /usr/bin/voronoid                                 the binary (symbols stripped)
#   /lib/systemd/system/voronoid.service              systemd/voronoid.service, ExecStart= in /usr/bin
#   /lib/systemd/system/voronoid@.service             systemd/voronoid@.service, likewise
#   /etc/voronoid/voronoid.toml                       config/voronoid.toml, a conffile
#   /usr/share/man/man1/voronoid.1.gz                 from every subcommand's --help
#   /usr/share/doc/voronoid/                          copyright, changelog.gz (from docs/CHANGELOG.md),
#                                                     README.md.gz, NOTICE.swift-log.txt
# and the maintainer scripts in scripts/packaging/deb (enable and start voronoid.service on install,
# restart it and running instances on upgrade, stop on removal, delete checkpoints on purge).
# Then lintian, when installed (apt-get install lintian): the script fails on its errors.
#
# Needs dpkg-dev (dpkg-shlibdeps) and binutils (strip). Exit status 0 when the package was built
# (and lintian found no errors), 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 022

SCRATCH="${VORONOID_DEB_SCRATCH:-.build-deb}"
VERSION="${VORONOID_DEB_VERSION:-}"
OUT=.
BUILD=1
LINTIAN=1
while [ $# -gt 0 ]; do
    case "$1" in
        --version) VERSION="${2:?--version needs a version}"; shift 2 ;;
        --version=*) VERSION="${1#*=}"; shift ;;
        --no-build) BUILD=0; shift ;;
        --no-lintian) LINTIAN=0; shift ;;
        --out) OUT="${2:?--out needs a directory}"; shift 2 ;;
        --out=*) OUT="${1#*=}"; shift ;;
        -h|--help) sed -n '2,/^set -euo/{/^#/p}' "$0" | cut -c3-; exit 0 ;;
        *) echo "package-deb.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
say() { echo "package-deb.sh: $*"; }
die() { echo "package-deb.sh: $*" >&2; exit 1; }

SOURCE_VERSION="$(sed -n 's/^[[:space:]]*public static let semantic = "\([^"]*\)".*/\1/p' Sources/Daemon/Version.swift)"
[[ "$SOURCE_VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] \
    || die "no semantic version in Sources/Daemon/Version.swift (found '$SOURCE_VERSION')"
VERSION="${VERSION:-$SOURCE_VERSION}"
# No Debian revision: the project packages itself, so the package is native.
[[ "$VERSION" =~ ^[0-9][0-9A-Za-z.+~]*$ ]] || die "not a native Debian version: $VERSION"
ARCH="$(dpkg --print-architecture)"
[ "$ARCH" = amd64 ] || die "builds amd64 packages only (this machine is $ARCH)"
for tool in dpkg-deb dpkg-shlibdeps strip gzip; do
    command -v "$tool" >/dev/null || die "$tool missing: apt-get install dpkg-dev binutils"
done
# The maintainer of the package: VORONOID_DEB_MAINTAINER, else the author of the newest commit.
MAINTAINER="${VORONOID_DEB_MAINTAINER:-$(git log -1 --format='%an <%ae>' 2>/dev/null || true)}"
[[ "$MAINTAINER" =~ ^[^\<]+\ \<[^\>]+@[^\>]+\>$ ]] \
    || die "set VORONOID_DEB_MAINTAINER='Name <address>' (no usable commit author: '$MAINTAINER')"
# The release date, for the man page: the date of this version's docs/CHANGELOG.md entry.
RELEASE_DATE="$(sed -n "s/^## $SOURCE_VERSION - \([0-9-]*\).*/\1/p" docs/CHANGELOG.md)"
[ -n "$RELEASE_DATE" ] || die "docs/CHANGELOG.md has no '## $SOURCE_VERSION - YYYY-MM-DD' entry"

# --- the binary --------------------------------------------------------------------------------
BIN="$SCRATCH/release/voronoid"
if [ "$BUILD" = 1 ]; then
    command -v swift >/dev/null || die "swift not found (or use --no-build with a binary in $SCRATCH)"
    say "swift build -c release --static-swift-stdlib --product voronoid --scratch-path $SCRATCH"
    swift build -c release --static-swift-stdlib --product voronoid --scratch-path "$SCRATCH"
fi
[ -x "$BIN" ] || die "no binary at $BIN (build it, or drop --no-build)"
if ldd "$BIN" | grep -q 'libswift\|libFoundation\|libdispatch\|libBlocksRuntime'; then
    die "$BIN links the Swift runtime dynamically; Debian has none: build with --static-swift-stdlib"
fi
reported="$("$BIN" --version)"
[[ "$reported" == "voronoid $SOURCE_VERSION "* ]] \
    || die "$BIN reports '$reported', the sources say $SOURCE_VERSION: a stale build? (drop --no-build)"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/root"
DOC="$ROOT/usr/share/doc/voronoid"
install -d "$ROOT/DEBIAN" "$DOC"

install -D -m 0755 "$BIN" "$ROOT/usr/bin/voronoid"
# What dh_strip does for an executable: symbols, .comment and .note go; the Swift metadata
# sections stay. The stripped binary must still run.
strip --remove-section=.comment --remove-section=.note "$ROOT/usr/bin/voronoid"
"$ROOT/usr/bin/voronoid" --version >/dev/null || die "the stripped binary does not run"

# --- units and configuration ---------------------------------------------------------------------
# The units in systemd/ are written for scripts/install.sh (/usr/local); only their ExecStart= and
# Documentation= lines change here.
install -d "$ROOT/lib/systemd/system"
for unit in systemd/voronoid.service systemd/voronoid@.service; do
    sed -e '/^ExecStart=/s#/usr/local/bin/voronoid#/usr/bin/voronoid#' \
        -e 's#^Documentation=.*#Documentation=man:voronoid(1)#' \
        "$unit" > "$ROOT/lib/systemd/system/$(basename "$unit")"
    grep -q '^ExecStart=/usr/bin/voronoid ' "$ROOT/lib/systemd/system/$(basename "$unit")" \
        || die "$unit: ExecStart= is not /usr/local/bin/voronoid, so it cannot be moved to /usr/bin"
done
if command -v systemd-analyze >/dev/null; then
    scripts/systemd-check.sh "$ROOT/lib/systemd/system/voronoid.service" "$ROOT/lib/systemd/system/voronoid@.service" \
        > "$WORK/systemd-check.log" 2>&1 || { cat "$WORK/systemd-check.log" >&2; die "the packaged units fail scripts/systemd-check.sh"; }
    say "packaged units pass scripts/systemd-check.sh"
fi
install -D -m 0644 config/voronoid.toml "$ROOT/etc/voronoid/voronoid.toml"
echo /etc/voronoid/voronoid.toml > "$ROOT/DEBIAN/conffiles"

# --- man page --------------------------------------------------------------------------------------
# roff needs backslashes written \e, a minus sign \- (a bare "-" may be typeset as a hyphen, and
# options copied from the page would not work), and a \& before a leading "." or "'".
roff_escape() { sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }
# help PATH...: the help text of one (sub)command, wrapped to fit an 80-column man page.
help_of() { COLUMNS=72 "$BIN" help "$@"; }
# subcommands PATH...: the names listed under SUBCOMMANDS: in that command's help.
subcommands() {
    COLUMNS=200 "$BIN" help "$@" | awk '/^SUBCOMMANDS:/ { s = 1; next } /^[^ ]/ { s = 0 } s && /^  [a-z]/ { print $1 }'
}
# commands PATH...: PATH and every subcommand below it, one path a line, depth first.
commands() {
    local sub
    echo "$*"
    for sub in $(subcommands "$@"); do commands "$@" "$sub"; done
}
abstract="$(COLUMNS=200 "$BIN" --help | sed -n 's/^OVERVIEW: //p')"
{
    echo ".TH VORONOID 1 \"$RELEASE_DATE\" \"voronoid $SOURCE_VERSION\" \"User Commands\""
    # Ragged right: justified lines full of long paths and option names read badly.
    echo ".ad l"
    echo ".SH NAME"
    echo "voronoid \\- $(printf '%s\n' "${abstract%.}" | sed 's/^./\L&/' | roff_escape)"
    echo ".SH SYNOPSIS"
    echo ".B voronoid"
    echo ".I command"
    echo ".RI [ options ]"
    echo ".br"
    echo ".B voronoid \\-\\-version"
    echo ".SH DESCRIPTION"
    cat <<'EOF'
Producers publish feature vectors on a ZeroMQ socket; \fBvoronoid run\fR gathers them into
mini\-batches, moves \fIk\fR cluster centers, publishes the centers and every vector's
assignment, answers snapshot, stats and predict queries, and checkpoints its model.
The package runs it as the systemd service \fBvoronoid.service\fR, configured by
\fI/etc/voronoid/voronoid.toml\fR; \fBvoronoid@\fINAME\fB.service\fR runs one more model per
\fINAME\fR from \fI/etc/voronoid/NAME.toml\fR.
\fBvoronoid \-\-version\fR prints the release, the wire protocol version and the checkpoint
format version.
EOF
    echo ".SH COMMANDS"
    echo "Each command's help, as \\fBvoronoid help\\fR \\fIcommand\\fR prints it."
    while read -r path; do
        [ -n "$path" ] || continue
        echo ".SS \"voronoid $path\""
        echo ".nf"
        # shellcheck disable=SC2086 # the path is words: "query stats"
        help_of $path | grep -v "^  See 'voronoid help" | roff_escape
        echo ".fi"
    done < <(commands)
    cat <<'EOF'
.SH FILES
.TP
.I /etc/voronoid/voronoid.toml
Configuration of voronoid.service: every key, its default and its meaning.
Flags given to \fBvoronoid run\fR override it.
.TP
.I /etc/voronoid/NAME.toml
Configuration of voronoid@NAME.service; each instance needs endpoints and a metrics address of
its own.
.TP
.I /var/lib/voronoid
Checkpoints of voronoid.service (\fI/var/lib/voronoid\-NAME\fR for voronoid@NAME.service), written
at the configured interval and at shutdown, restored at start. Purging the package deletes them.
.TP
.I /lib/systemd/system/voronoid.service, /lib/systemd/system/voronoid@.service
The units. Local changes belong in a drop\-in: \fBsystemctl edit voronoid\fR.
.SH EXIT STATUS
\fBvoronoid run\fR exits 0 after SIGTERM or SIGINT (with a final checkpoint), 78 for a bad
configuration (systemd does not restart it then), and 1 when one of its loops fails.
.SH SEE ALSO
.BR systemctl (1),
.BR journalctl (1),
.BR systemd.exec (5);
\fI/usr/share/doc/voronoid/README.md.gz\fR for the protocol, operation and measurements.
EOF
} > "$WORK/voronoid.1"
install -d "$ROOT/usr/share/man/man1"
gzip -9n < "$WORK/voronoid.1" > "$ROOT/usr/share/man/man1/voronoid.1.gz"

# --- documentation -------------------------------------------------------------------------------
# Debian's changelog format from docs/CHANGELOG.md: "## VERSION - DATE [HH:MM UTC]" starts an entry, each
# "- " item (and each plain paragraph) becomes a "  * " line wrapped to 78 columns. Debian wants
# every entry newer than the one before, hence the time of day when two releases share a date.
debian_changelog() {
    awk -v maint="$MAINTAINER" '
        function wrap(text,   n, words, i, line, out) {
            gsub(/`/, "", text)
            n = split(text, words, " ")
            line = "  *"
            for (i = 1; i <= n; i++) {
                if (length(line) + 1 + length(words[i]) > 78) { out = out line "\n"; line = "   " }
                line = line " " words[i]
            }
            return out line "\n"
        }
        function flush() { if (item != "") body = body wrap(item); item = "" }
        function close_entry(   cmd, stamp) {
            flush()
            if (version == "") return
            cmd = "date -u -R -d \"" when "\""; cmd | getline stamp; close(cmd)
            printf "voronoid (%s) unstable; urgency=medium\n\n%s\n -- %s  %s\n\n", version, body, maint, stamp
            body = ""
        }
        /^## / { close_entry(); version = $2; when = $4 " " $5 " " $6; next }
        version == "" { next }
        /^- / { flush(); item = substr($0, 3); next }
        /^$/ { flush(); next }
        { sub(/^ +/, ""); item = item == "" ? $0 : item " " $0 }
        END { close_entry() }
    ' docs/CHANGELOG.md
}
{
    if [ "$VERSION" != "$SOURCE_VERSION" ]; then
        printf 'voronoid (%s) unstable; urgency=medium\n\n' "$VERSION"
        printf '  * Package version %s of the %s sources (scripts/package-deb.sh --version).\n\n' "$VERSION" "$SOURCE_VERSION"
        printf ' -- %s  %s\n\n' "$MAINTAINER" "$(date -u -R)"
    fi
    debian_changelog
} | sed '$d' | gzip -9n > "$DOC/changelog.gz"
gzip -9n < README.md > "$DOC/README.md.gz"
# LICENSE goes into the copyright file as the Expat text: the permission notice, one space in.
expat="$(sed -n '/^Permission is hereby granted/,$p' LICENSE | sed -e 's/^$/./' -e 's/^/ /')"
awk -v expat="$expat" '$0 == "@EXPAT@" { print expat; next } { print }' scripts/packaging/deb/copyright.in > "$DOC/copyright"
# Every package SwiftPM fetched may be linked into the binary: the copyright file must name it.
for checkout in "$SCRATCH"/checkouts/*/; do
    name="$(basename "$checkout")"
    grep -q -- "$name" scripts/packaging/deb/copyright.in \
        || die "scripts/packaging/deb/copyright.in does not mention the Swift package $name: add its copyright and license"
done
notice="$SCRATCH/checkouts/swift-log/NOTICE.txt"
[ -f "$notice" ] || die "no $notice: swift-log's notice must ship with the binary (resolve the package first)"
install -m 0644 "$notice" "$DOC/NOTICE.swift-log.txt"

# --- control ---------------------------------------------------------------------------------------
mkdir -p "$WORK/shlibs/debian"
printf 'Source: voronoid\n\nPackage: voronoid\nArchitecture: %s\n' "$ARCH" > "$WORK/shlibs/debian/control"
depends="$(cd "$WORK/shlibs" && dpkg-shlibdeps -O -e"$ROOT/usr/bin/voronoid" 2>"$WORK/shlibdeps.log" \
    | sed -n 's/^shlibs:Depends=//p')" || { cat "$WORK/shlibdeps.log" >&2; die "dpkg-shlibdeps failed"; }
[[ "$depends" == *libzmq5* ]] || die "dpkg-shlibdeps did not find libzmq5 ($depends)"
# Installed-Size as dpkg-gencontrol counts it: KiB per file rounded up, 1 per directory or link.
installed_size="$(find "$ROOT" -path "$ROOT/DEBIAN" -prune -o -mindepth 1 -printf '%y %s\n' \
    | awk '$1 == "f" { n += int(($2 + 1023) / 1024); next } { n += 1 } END { print n }')"
cat > "$ROOT/DEBIAN/control" <<EOF
Package: voronoid
Version: $VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $installed_size
Depends: $depends
Section: science
Priority: optional
Description: streaming clustering daemon over ZeroMQ
 voronoid gathers the feature vectors that producers publish on a ZeroMQ
 socket into mini-batches and moves k cluster centers with annealed
 Entmax-1.5 responsibilities, which become the mini-batch K-Means update as
 the temperature falls. It publishes the centers and every vector's
 assignment, answers snapshot, stats and predict queries, exports Prometheus
 metrics and checkpoints its model.
 .
 The package runs it as a hardened systemd service, voronoid.service, and
 voronoid@NAME.service runs more models on one host. The binary runs on any
 x86-64 processor and uses AVX2 and FMA where the processor has them.
EOF
for script in postinst prerm postrm; do
    install -m 0755 "scripts/packaging/deb/$script" "$ROOT/DEBIAN/$script"
done
# md5sums of everything but the conffile (dpkg keeps its checksum separately).
(cd "$ROOT" && find . -path ./DEBIAN -prune -o -type f ! -path ./etc/voronoid/voronoid.toml -printf '%P\n' \
    | LC_ALL=C sort | xargs md5sum) > "$ROOT/DEBIAN/md5sums"
chmod 0644 "$ROOT/DEBIAN/md5sums" "$ROOT/DEBIAN/conffiles" "$ROOT/DEBIAN/control"

# --- build and check ---------------------------------------------------------------------------------
mkdir -p "$OUT"
DEB="$OUT/voronoid_${VERSION}_${ARCH}.deb"
DEB="${DEB#./}"
dpkg-deb --build --root-owner-group -Zxz "$ROOT" "$DEB" >/dev/null
say "built $DEB ($(du -h "$DEB" | cut -f1); Depends: $depends)"
if [ "$LINTIAN" = 1 ]; then
    if command -v lintian >/dev/null; then
        say "lintian $DEB"
        lintian --info --fail-on error "$DEB" || die "lintian reports errors in $DEB"
        say "lintian: no errors"
    else
        say "lintian not installed: not checked (apt-get install lintian)"
    fi
fi
