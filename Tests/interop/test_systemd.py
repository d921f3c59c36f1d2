"""The daemon's side of the systemd protocol, without systemd as PID 1.

The test plays systemd: it binds its own AF_UNIX datagram socket with SO_PASSCRED, starts the
real binary with NOTIFY_SOCKET and WATCHDOG_USEC, and reads what arrives, with the sender's pid
from the kernel (SCM_CREDENTIALS), exactly as systemd does. The last test runs the static unit
checks (scripts/systemd-check.sh). The same unit under a real systemd: scripts/systemd-vm.sh.
"""
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import ROOT, Daemon

WATCHDOG_USEC = 400_000
WATCHDOG_S = WATCHDOG_USEC / 1e6


class NotifyListener:
    """What systemd listens on: a datagram socket that learns each sender's pid from the kernel."""

    def __init__(self, address):
        self.address = address  # given to the daemon as NOTIFY_SOCKET
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        # A leading '@' names the abstract namespace, where the first byte of the name is NUL.
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.messages = []  # (monotonic time, sender pid, {key: value})

    def receive(self, timeout):
        """One datagram within `timeout` seconds, or None."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize("iII")))
        except (socket.timeout, BlockingIOError):
            return None
        pid = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid, _uid, _gid = struct.unpack("iII", payload[:struct.calcsize("iII")])
        fields = {}
        for line in data.decode().split("\n"):
            if "=" in line:
                key, value = line.split("=", 1)
                fields[key] = value
        message = (time.monotonic(), pid, fields)
        self.messages.append(message)
        return message

    def wait_for(self, key, value=None, timeout=10.0):
        """Reads until a datagram carries `key` (with `value`, if given); returns it or None."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message and key in message[2] and (value is None or message[2][key] == value):
                return message
        return None

    def watchdog_times(self):
        return [t for t, _, fields in self.messages if fields.get("WATCHDOG") == "1"]

    def close(self):
        self.sock.close()


@pytest.fixture
def no_inherited_systemd(monkeypatch):
    """The test decides every systemd variable the daemon sees (pytest may itself run under systemd)."""
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "STATE_DIRECTORY", "CONFIGURATION_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["path", "abstract"])
def listener(request, no_inherited_systemd):
    with tempfile.TemporaryDirectory(prefix="voronoid-notify-") as tmp:
        if request.param == "path":
            address = os.path.join(tmp, "notify")
        else:
            address = f"@voronoid-test-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        sock = NotifyListener(address)
        yield sock
        sock.close()


def start(listener, *args, env=None):
    return Daemon(*args, wait_ready=False,
                  env={"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": str(WATCHDOG_USEC), **(env or {})})


def test_ready_watchdog_stopping_sequence(listener):
    daemon = start(listener)
    try:
        ready = listener.wait_for("READY", "1", timeout=30)
        assert ready, "no READY=1 within 30 s; log:\n" + daemon.log
        assert ready[2].get("STATUS", "").startswith("ready"), ready
        assert not any("WATCHDOG" in f for _, _, f in listener.messages[:-1]), "WATCHDOG=1 before READY=1"

        deadline = time.monotonic() + 10
        while len(listener.watchdog_times()) < 6 and time.monotonic() < deadline:
            listener.receive(deadline - time.monotonic())
        pings = listener.watchdog_times()
        assert len(pings) >= 6, f"{len(pings)} WATCHDOG=1 within 10 s; log:\n" + daemon.log
        # Pings come every WATCHDOG_USEC/2: some pair must be closer than the watchdog interval.
        # One late ping on a busy machine is allowed; an interval that is never kept is not.
        assert min(b - a for a, b in zip(pings, pings[1:])) < WATCHDOG_S, pings

        daemon.proc.send_signal(signal.SIGTERM)
        stopping = listener.wait_for("STOPPING", "1", timeout=20)
        assert stopping, "no STOPPING=1 within 20 s of SIGTERM; log:\n" + daemon.log
        assert daemon.proc.wait(20) == 0, daemon.log

        # systemd trusts only the main pid (NotifyAccess=main): every datagram must come from it.
        senders = {pid for _, pid, _ in listener.messages}
        assert senders == {daemon.proc.pid}, (senders, daemon.proc.pid)
        assert listener.messages.index(ready) < listener.messages.index(stopping)
    finally:
        daemon.stop(signal.SIGKILL)


def test_watchdog_pings_stop_when_pipeline_stalls(listener):
    daemon = start(listener, "--set", "fault.stall_after_s=1")
    try:
        assert listener.wait_for("READY", "1", timeout=30), "no READY=1; log:\n" + daemon.log
        # Read until the pings have been silent for 3 watchdog intervals (bounded to 20 s), then
        # keep listening as long again to be sure none comes late.
        silence = 3 * WATCHDOG_S
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pings = listener.watchdog_times()
            if pings and time.monotonic() - pings[-1] >= silence:
                break
            listener.receive(min(0.1, deadline - time.monotonic()))
        pings = listener.watchdog_times()
        assert pings, "no WATCHDOG=1 before the stall; log:\n" + daemon.log
        last = pings[-1]
        assert time.monotonic() - last >= silence, \
            f"WATCHDOG=1 still arriving 20 s after start despite fault.stall_after_s=1; log:\n{daemon.log}"
        end = time.monotonic() + silence
        while (left := end - time.monotonic()) > 0:
            listener.receive(left)
        late = [t - last for t in listener.watchdog_times() if t > last]
        assert not late, f"WATCHDOG=1 after {late} s of silence"
        assert "stalls now, on purpose" in daemon.log, daemon.log
        assert daemon.proc.poll() is None, "the stalled daemon exited by itself"
    finally:
        # The stalled clustering thread never finishes, so SIGTERM would wait for it: kill.
        daemon.stop(signal.SIGKILL)


def test_watchdog_pid_for_another_process_means_no_pings(no_inherited_systemd):
    """WATCHDOG_PID names the process systemd watches; a child that inherited it must not ping."""
    with tempfile.TemporaryDirectory(prefix="voronoid-notify-") as tmp:
        sock = NotifyListener(os.path.join(tmp, "notify"))
        daemon = start(sock, env={"WATCHDOG_PID": "1"})
        try:
            assert sock.wait_for("READY", "1", timeout=30), "no READY=1; log:\n" + daemon.log
            end = time.monotonic() + 3 * WATCHDOG_S
            while (left := end - time.monotonic()) > 0:
                sock.receive(left)
            assert not sock.watchdog_times(), "pinged the watchdog although WATCHDOG_PID is another pid"
        finally:
            daemon.stop(signal.SIGKILL)
            sock.close()


def test_unit_static_checks():
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd): cannot check the unit")
    result = subprocess.run([str(ROOT / "scripts" / "systemd-check.sh")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "systemd-check: OK" in result.stdout, result.stdout
