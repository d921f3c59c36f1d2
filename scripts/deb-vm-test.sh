#!/usr/bin/env bash
# The Debian package under a real systemd (PID 1) in a throwaway Debian bookworm VM (qemu; TCG where
# there is no hardware virtualisation), with the tool in ../shared/tools/systemd-vm (SYSTEMD_VM_DIR).
#
#   scripts/deb-vm-test.sh [--no-build]
#
# Builds voronoid_VERSION_amd64.deb with scripts/package-deb.sh (lintian included) and, from the
# same binary, a package labelled with the next patch version; then one boot of the VM image does,
# as an administrator would:
#   1  apt-get install ./voronoid_VERSION_amd64.deb: voronoid.service is enabled and active, runs
#      as its dynamic user, and /metrics carries voronoid_build_info for VERSION
#   2  5000 vectors from `voronoid produce`; `systemctl restart voronoid` writes a checkpoint and
#      the new process logs "restored model from" it
#   3  /etc/voronoid/second.toml and `systemctl enable --now voronoid@second`: a second model runs
#      beside the first, as its own user, with its own checkpoints
#   4  apt-get install ./voronoid_NEXT_amd64.deb: both services are restarted by the upgrade and
#      restore their checkpoints (the same model version), the edited conffile is kept
#   5  apt-get purge voronoid: the services are stopped, and the units, the conffile, the
#      enablement symlinks and every checkpoint directory are gone
# The guest has no network: the packages' dependencies (libzmq5, OpenBLAS, the C and C++ runtime)
# are in the image, so apt installs the local files without downloading anything. The image with
# OpenBLAS added is cached apart from the one scripts/systemd-vm.sh uses, so neither rebuilds the other's.
#
# Needs root. Installs qemu-system-x86 and debootstrap if missing; builds the binary in
# VORONOID_DEB_SCRATCH (default .build-deb; --no-build packages the binary already there) and the
# VM image (cached in $VM_OUT, default /tmp/systemd-vm-deb). Measured on 2 cores with TCG
# (no hardware virtualisation): 4 min with --no-build (the two packages and lintian 82 s, the VM
# 157 s); building the binary adds 1-2.5 min. Not part of scripts/test.sh. Exit status 0 when every
# step passes, 1 otherwise (the guest's report is printed either way).
set -euo pipefail
cd "$(dirname "$0")/.."
export VM_EXTRA_PKGS="${VM_EXTRA_PKGS:-libopenblas0,libopenblas0-pthread}"
export VM_OUT="${VM_OUT:-${TMPDIR:-/tmp}/systemd-vm-deb}"
REPO="$(pwd)"
VM="${SYSTEMD_VM_DIR:-$REPO/../shared/tools/systemd-vm}"
BUILD=1
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/{/^#/p}' "$0" | cut -c3-; exit 0 ;;
        *) echo "deb-vm-test.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
log() { printf '[deb-vm-test %s] %s\n' "$(date +%T)" "$*"; }
die() { echo "deb-vm-test.sh: $*" >&2; exit 1; }
t_all=$(date +%s)

. scripts/vm-common.sh  # the working directory is the repository root (see above)
vm_require_tools

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# --- the two packages -----------------------------------------------------------------------------
VERSION="$(sed -n 's/^[[:space:]]*public static let semantic = "\([^"]*\)".*/\1/p' Sources/Daemon/Version.swift)"
[[ "$VERSION" =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] || die "no semantic version in Sources/Daemon/Version.swift"
NEXT="${BASH_REMATCH[1]}.${BASH_REMATCH[2]}.$((BASH_REMATCH[3] + 1))"
t=$(date +%s)
if [ "$BUILD" = 1 ]; then
    log "scripts/package-deb.sh (build, package $VERSION, lintian)"
    scripts/package-deb.sh
else
    log "scripts/package-deb.sh --no-build (package $VERSION, lintian)"
    scripts/package-deb.sh --no-build
fi
log "scripts/package-deb.sh --no-build --no-lintian --version $NEXT (the upgrade)"
scripts/package-deb.sh --no-build --no-lintian --version "$NEXT" --out "$WORK" > "$WORK/package-next.log"
DEB="voronoid_${VERSION}_amd64.deb"
DEB_NEXT="$WORK/voronoid_${NEXT}_amd64.deb"
[ -f "$DEB" ] && [ -f "$DEB_NEXT" ] || die "package-deb.sh did not leave $DEB and $DEB_NEXT"
log "packages ready in $(( $(date +%s) - t )) s"

t=$(date +%s)
log "VM image ($VM/build.sh, cached)"
"$VM/build.sh" | tail -n 1
log "image ready in $(( $(date +%s) - t )) s"

# --- what runs in the guest --------------------------------------------------------------------------
# run.sh boots with one unit under test and starts it before the check script. Here the unit is a
# placeholder that does nothing; the check script installs, upgrades and purges the real package.
cat > "$WORK/deb-vm-idle.service" <<'EOF'
[Unit]
Description=placeholder unit for scripts/deb-vm-test.sh (the check script does the work)

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/bin/deb-vm-idle
EOF
printf '#!/bin/sh\nexit 0\n' > "$WORK/deb-vm-idle"
chmod 755 "$WORK/deb-vm-idle"
cat > "$WORK/second.toml" <<'EOF'
# The second model of scripts/deb-vm-test.sh: endpoints and metrics of its own.
[model]
k = 3
[input]
endpoints = ["tcp://127.0.0.1:6555"]
[output]
endpoint = "tcp://127.0.0.1:6556"
[query]
endpoint = "tcp://127.0.0.1:6557"
[metrics]
address = "127.0.0.1:9465"
EOF

cat > "$WORK/check.sh" <<EOF
VERSION=$VERSION
NEXT=$NEXT
EOF
cat >> "$WORK/check.sh" <<'EOF'
# In the guest (POSIX sh; the image is a minimal bookworm with apt, perl-base and libzmq5).
DEBS=/opt/voronoid-debs
export DEBIAN_FRONTEND=noninteractive
step() { printf '\n--- %s\n' "$*"; }
fail() { echo "CHECK FAILED: $*"; exit 1; }
ok() { echo "ok: $*"; }
prop() { systemctl show -p "$2" --value "$1"; }

# wait_active UNIT SECONDS
wait_active() {
    i=0
    until systemctl --quiet is-active "$1"; do
        i=$((i + 1)); [ "$i" -le $(($2 * 5)) ] || fail "$1 is $(systemctl is-active "$1") after $2 s"
        sleep 0.2
    done
}
# counter QUERY_ENDPOINT NAME: one number from `voronoid query stats --json` (0 without an answer).
counter() {
    voronoid query stats --json --endpoint "$1" --timeout 5 2>/dev/null | tr ',{}' '\n\n\n' \
        | sed -n "s/^[[:space:]]*\"$2\"[[:space:]]*:[[:space:]]*\([0-9]*\).*/\1/p" | head -n 1 | grep . || echo 0
}
# feed UNIT INPUT QUERY COUNT: COUNT vectors in; every one must be accepted or counted as dropped
# (SUB input is best effort and TCG is slow) and a model must exist.
feed() {
    timeout 120 voronoid produce --endpoint "$2" --count "$4" --rate 2500 --k 4 --dim 8 \
        || fail "voronoid produce to $1 failed"
    i=0
    while :; do
        n=$(counter "$3" vectors_accepted); d=$(counter "$3" dropped)
        [ "$((n + d))" -ge "$4" ] && [ "$(counter "$3" model_version)" -gt 0 ] && break
        i=$((i + 1)); [ "$i" -le 100 ] || fail "$1: of $4 vectors $n accepted, $d dropped, model version $(counter "$3" model_version)"
        sleep 0.2
    done
    ok "$1: $4 vectors sent, $n accepted, $d dropped, model version $(counter "$3" model_version)"
}
# restored UNIT: the model version of the unit's last "restored model from" journal line.
restored() {
    journalctl --sync
    journalctl -u "$1" --no-pager -o cat | grep 'restored model from' | tail -n 1 \
        | sed -n 's/.*: version \([0-9]*\),.*/\1/p'
}
# http_get PORT PATH: the body of a GET on 127.0.0.1 (perl-base has sockets; the image has no curl).
http_get() {
    perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0], Timeout => 5) or exit 1;
        print $s "GET $ARGV[1] HTTP/1.0\r\nHost: localhost\r\n\r\n";
        local $/; my $r = <$s>; $r =~ s/^.*?\r\n\r\n//s; print $r;' "$1" "$2"
}

step "1. apt-get install ./voronoid_${VERSION}_amd64.deb"
cd "$DEBS" || fail "no $DEBS"
apt-get install -y "./voronoid_${VERSION}_amd64.deb" > /tmp/apt-install.log 2>&1 \
    || { cat /tmp/apt-install.log; fail "apt-get install failed"; }
grep -E '^(Setting up|Unpacking|Created symlink)' /tmp/apt-install.log
[ "$(dpkg-query -W -f '${Status} ${Version}' voronoid)" = "install ok installed $VERSION" ] \
    || fail "dpkg says: $(dpkg-query -W -f '${Status} ${Version}' voronoid)"
wait_active voronoid.service 30
echo "systemctl is-active voronoid: $(systemctl is-active voronoid)"
echo "systemctl is-enabled voronoid: $(systemctl is-enabled voronoid)"
[ "$(systemctl is-enabled voronoid)" = enabled ] || fail "not enabled"
echo "voronoid --version: $(voronoid --version)"
pid=$(prop voronoid.service MainPID)
user=$(ps -o user:32= -p "$pid")
[ "$user" = voronoid ] || fail "runs as '$user', not the dynamic user voronoid"
ok "active (pid $pid, user $user), $(prop voronoid.service StatusText)"
http_get 9464 /metrics | grep '^voronoid_build_info' | tee /tmp/build_info
grep -q "version=\"$VERSION\",protocol=\"1\",checkpoint_format=\"2\",blas=\"[^\"]*\",product=\"\(bfloat16\|float32\)\"} 1\$" /tmp/build_info \
    || fail "no voronoid_build_info for $VERSION on /metrics"

step "2. vectors, then systemctl restart voronoid: a checkpoint is written and restored"
feed voronoid.service tcp://127.0.0.1:5555 tcp://127.0.0.1:5557 5000
before=$(counter tcp://127.0.0.1:5557 model_version)
systemctl restart voronoid || fail "systemctl restart failed"
wait_active voronoid.service 30
v1=$(restored voronoid.service)
journalctl -u voronoid --no-pager -o cat | grep 'restored model from' | tail -n 1
[ -n "$v1" ] && [ "$v1" = "$before" ] || fail "restart restored version '$v1', the model was at $before"
ls -l /var/lib/private/voronoid
ok "checkpoint of model version $v1 restored after the restart"

step "3. a second model: voronoid@second with /etc/voronoid/second.toml"
cp /etc/vmtest/second.toml /etc/voronoid/second.toml
systemctl enable --now voronoid@second 2>&1 || fail "systemctl enable --now voronoid@second failed"
wait_active voronoid@second.service 30
echo "systemctl is-active voronoid@second: $(systemctl is-active voronoid@second)"
user2=$(ps -o user:32= -p "$(prop voronoid@second.service MainPID)")
[ "$user2" = voronoid-second ] || fail "voronoid@second runs as '$user2', not voronoid-second"
feed voronoid@second.service tcp://127.0.0.1:6555 tcp://127.0.0.1:6557 3000
systemctl --quiet is-active voronoid || fail "voronoid.service stopped meanwhile"
ok "voronoid@second active as $user2 beside voronoid.service"

step "4. apt-get install ./voronoid_${NEXT}_amd64.deb (upgrade)"
# An administrator's edit of the conffile must survive the upgrade.
echo '# edited by the administrator' >> /etc/voronoid/voronoid.toml
pid1=$(prop voronoid.service MainPID); pid2=$(prop voronoid@second.service MainPID)
v2_before=$(counter tcp://127.0.0.1:6557 model_version)
apt-get install -y "./voronoid_${NEXT}_amd64.deb" > /tmp/apt-upgrade.log 2>&1 \
    || { cat /tmp/apt-upgrade.log; fail "upgrade failed"; }
grep -E '^(Preparing|Unpacking|Setting up)' /tmp/apt-upgrade.log
[ "$(dpkg-query -W -f '${Version}' voronoid)" = "$NEXT" ] || fail "dpkg says version $(dpkg-query -W -f '${Version}' voronoid)"
wait_active voronoid.service 30
wait_active voronoid@second.service 30
echo "systemctl is-active voronoid: $(systemctl is-active voronoid)"
echo "systemctl is-active voronoid@second: $(systemctl is-active voronoid@second)"
[ "$(prop voronoid.service MainPID)" != "$pid1" ] || fail "voronoid.service was not restarted by the upgrade"
[ "$(prop voronoid@second.service MainPID)" != "$pid2" ] || fail "voronoid@second was not restarted by the upgrade"
journalctl -u voronoid --no-pager -o cat | grep 'restored model from' | tail -n 1
journalctl -u voronoid@second --no-pager -o cat | grep 'restored model from' | tail -n 1
[ "$(restored voronoid.service)" = "$v1" ] || fail "after the upgrade voronoid restored version '$(restored voronoid.service)', not $v1"
[ "$(restored voronoid@second.service)" = "$v2_before" ] \
    || fail "after the upgrade voronoid@second restored version '$(restored voronoid@second.service)', not $v2_before"
tail -n 1 /etc/voronoid/voronoid.toml | grep -q 'edited by the administrator' || fail "the upgrade replaced the edited conffile"
ok "both restarted by the upgrade and restored their checkpoints (versions $v1 and $v2_before); the edited conffile kept"

step "5. apt-get purge voronoid"
apt-get purge -y voronoid > /tmp/apt-purge.log 2>&1 || { cat /tmp/apt-purge.log; fail "purge failed"; }
grep -E '^(Removing|Purging)|warning' /tmp/apt-purge.log
systemctl daemon-reload
echo "dpkg knows: $(dpkg-query -W -f '${db:Status-Abbrev}' voronoid 2>&1)"
echo "systemctl is-active voronoid voronoid@second: $(systemctl is-active voronoid voronoid@second | tr '\n' ' ')"
echo "systemctl list-unit-files 'voronoid*': $(systemctl list-unit-files --no-legend 'voronoid*' | wc -l) unit files"
pgrep -x voronoid && fail "a voronoid process is still running"
left=""
for path in /lib/systemd/system/voronoid.service /lib/systemd/system/voronoid@.service /usr/bin/voronoid \
            /etc/voronoid/voronoid.toml /var/lib/voronoid /var/lib/private/voronoid \
            /var/lib/voronoid-second /var/lib/private/voronoid-second; do
    if [ -e "$path" ] || [ -L "$path" ]; then left="$left $path"; else echo "gone: $path"; fi
done
[ -z "$left" ] || fail "left behind after purge:$left"
links=$(find /etc/systemd/system -name 'voronoid*' 2>/dev/null)
[ -z "$links" ] || fail "enablement left behind: $links"
echo "gone: every voronoid* link under /etc/systemd/system"
echo "/etc/voronoid now holds: $(ls -A /etc/voronoid 2>/dev/null | tr '\n' ' ')(the administrator's second.toml is not the package's)"
ok "purged"
echo "DEB-VM PASS"
EOF

# --- one boot --------------------------------------------------------------------------------------------
log "run.sh: install $VERSION, restart, second instance, upgrade to $NEXT, purge"
t=$(date +%s)
set +e
"$VM/run.sh" --wait 1 --timeout 900 --check "$WORK/check.sh" \
    "$WORK/deb-vm-idle.service" "$WORK/deb-vm-idle" \
    "$DEB:/opt/voronoid-debs/" "$DEB_NEXT:/opt/voronoid-debs/" \
    "$WORK/second.toml:/etc/vmtest/second.toml" > "$WORK/run.log" 2>&1
rc=$?
set -e
sed -n '/^===== check script/,/^check exit/p' "$WORK/run.log"
grep -E '^run\.sh: (prepare|PASS|FAIL)' "$WORK/run.log" || true
if [ "$rc" = 0 ] && grep -q '^DEB-VM PASS' "$WORK/run.log"; then
    log "PASS in $(( $(date +%s) - t )) s (total $(( $(date +%s) - t_all )) s)"
    exit 0
fi
log "FAIL (run.sh exit $rc) after $(( $(date +%s) - t )) s; the whole report:"
sed 's/^/    | /' "$WORK/run.log"
exit 1
