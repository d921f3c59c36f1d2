# Sourced by scripts/systemd-vm.sh and scripts/deb-vm-test.sh, after they define log, die and VM
# (the systemd-vm tool's folder): checks for root and the tool, and installs what it runs on.
vm_require_tools() {
    [ "$(id -u)" = 0 ] || die "must run as root (the VM tool reads a root-owned image tree)"
    [ -x "$VM/run.sh" ] && [ -x "$VM/build.sh" ] || die "no VM tool at $VM (set SYSTEMD_VM_DIR)"
    local missing=()
    command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    if [ ${#missing[@]} -gt 0 ]; then
        log "apt-get install ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}
