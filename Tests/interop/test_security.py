"""CURVE with an allow-list enforced by the daemon's ZAP handler, against real pyzmq clients."""
import json
import subprocess
import time

import numpy as np
import zmq

from conftest import BINARY, Daemon, batch_message, blobs, free_port, wait_for


def keygen(tmp_path, name):
    r = subprocess.run([str(BINARY), "keygen", "--out", str(tmp_path / name)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    secret = (tmp_path / f"{name}.key").read_text().strip()
    public = (tmp_path / f"{name}.pub").read_text().strip()
    assert (tmp_path / f"{name}.key").stat().st_mode & 0o077 == 0, "secret key readable by others"
    return public.encode(), secret.encode()


def client(ctx, kind, endpoint, server_public, keys=None):
    s = ctx.socket(kind)
    s.setsockopt(zmq.LINGER, 0)
    if keys is not None:
        s.curve_serverkey = server_public
        s.curve_publickey, s.curve_secretkey = keys
    s.connect(endpoint)
    return s


def query_stats(ctx, endpoint, server_public, keys, timeout_ms=3000):
    req = client(ctx, zmq.REQ, endpoint, server_public, keys)
    req.setsockopt(zmq.RCVTIMEO, timeout_ms)
    try:
        req.send_multipart([b"stats"])
        return json.loads(req.recv_multipart()[0])
    except zmq.Again:
        return None
    finally:
        req.close()


def test_listed_key_works_unlisted_and_plaintext_clients_are_refused(ctx, tmp_path):
    server_public, server_secret = keygen(tmp_path, "server")
    good = keygen(tmp_path, "good")
    # '#' is a Z85 digit: make sure a key that contains one is read whole.
    while b"#" not in good[0]:
        good = keygen(tmp_path, f"good{len(list(tmp_path.iterdir()))}")
    bad = zmq.curve_keypair()
    (tmp_path / "allowed").write_text(f"# who may connect\n{good[0].decode()} sensor-7\n")
    with Daemon("--pull", "--k", "3",
                "--set", f'security.curve_secret_key_file="{tmp_path / "server.key"}"',
                "--set", f'security.allowed_clients_file="{tmp_path / "allowed"}"') as d:
        assert "CURVE on input/output/query" in d.log
        X, _, _ = blobs(3000, d=4, k=3)

        # An unlisted key: the handshake is refused, nothing arrives, queries go unanswered.
        intruder = client(ctx, zmq.PUSH, d.input, server_public, bad)
        for i in range(0, 1000, 100):
            intruder.send_multipart(batch_message(X[i:i + 100]), flags=zmq.NOBLOCK) if intruder.poll(100, zmq.POLLOUT) else None
        assert query_stats(ctx, d.query, server_public, bad) is None
        # A plaintext client cannot even speak to a CURVE socket.
        plain = client(ctx, zmq.REQ, d.query, server_public, None)
        plain.setsockopt(zmq.RCVTIMEO, 2000)
        plain.send_multipart([b"stats"])
        try:
            plain.recv_multipart()
            assert False, "a plaintext client got an answer"
        except zmq.Again:
            pass

        # The listed key gets in; its vectors are counted under its name.
        push = client(ctx, zmq.PUSH, d.input, server_public, good)
        push.setsockopt(zmq.LINGER, 5000)
        for i in range(0, 3000, 100):
            push.send_multipart(batch_message(X[i:i + 100]))
        push.close()
        deadline = time.time() + 20
        s = None
        while time.time() < deadline:
            s = query_stats(ctx, d.query, server_public, good)
            if s and s["vectors_accepted"] == 3000:
                break
            time.sleep(0.1)
        assert s and s["vectors_accepted"] == 3000, s
        assert s["producer_vectors_sensor-7"] == 3000
        assert s["authentications_denied"] >= 2
        assert s["authentications_allowed"] >= 2

        # A subscriber with the listed key receives updates over the encrypted XPUB.
        sub = client(ctx, zmq.SUB, d.output, server_public, good)
        sub.setsockopt(zmq.SUBSCRIBE, b"centers.bin")
        assert sub.poll(5000), "listed subscriber got no centers"
        assert sub.recv_multipart()[0] == b"centers.bin"
        assert "refused client: unauthorized: CURVE client" in d.log


def test_clients_libzmq_refuses_before_zap_are_counted_and_logged(ctx, tmp_path):
    """A plaintext client, or one that encrypts to another server key, never reaches the ZAP
    handler; the socket monitor still reports it, on every CURVE socket."""
    server_public, _ = keygen(tmp_path, "server")
    other_public, _ = keygen(tmp_path, "other")
    good = keygen(tmp_path, "good")
    (tmp_path / "allowed").write_text(f"{good[0].decode()} good\n")
    with Daemon("--pull", "--k", "3", "--set", "log.drop_interval_s=0",
                "--set", f'security.curve_secret_key_file="{tmp_path / "server.key"}"',
                "--set", f'security.allowed_clients_file="{tmp_path / "allowed"}"') as d:
        def denied():
            s = query_stats(ctx, d.query, server_public, good)
            return s["authentications_denied"] if s else None

        assert denied() == 0
        expected = 0
        for endpoint, kind in ((d.input, zmq.PUSH), (d.output, zmq.SUB), (d.query, zmq.REQ)):
            plain = client(ctx, kind, endpoint, server_public, None)
            expected += 1
            assert wait_for(lambda: (denied() or 0) >= expected, timeout=10), (endpoint, d.log)
            plain.close()
            mis_keyed = client(ctx, kind, endpoint, other_public, good)
            expected += 1
            assert wait_for(lambda: (denied() or 0) >= expected, timeout=10), (endpoint, d.log)
            mis_keyed.close()
        assert "refused client: handshake:" in d.log


def test_curve_without_an_allow_list_is_a_configuration_error(tmp_path):
    keygen(tmp_path, "server")
    r = subprocess.run([str(BINARY), "run", "--set", f'security.curve_secret_key_file="{tmp_path / "server.key"}"'],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 78 and "security.allowed_clients_file" in r.stderr
    (tmp_path / "allowed").write_text("not-a-key\n")
    r = subprocess.run([str(BINARY), "run", "--set", f'security.curve_secret_key_file="{tmp_path / "server.key"}"',
                        "--set", f'security.allowed_clients_file="{tmp_path / "allowed"}"',
                        "--set", 'metrics.address=""'], capture_output=True, text=True, timeout=30)
    assert r.returncode == 78 and "allowed:1" in r.stderr and "not-a-key" in r.stderr


def test_the_command_line_clients_speak_curve(tmp_path):
    server_public, _ = keygen(tmp_path, "server")
    good_public, _ = keygen(tmp_path, "client")
    keygen(tmp_path, "stranger")
    (tmp_path / "allowed").write_text(f"{good_public.decode()} cli\n")
    with Daemon("--pull", "--k", "3",
                "--set", f'security.curve_secret_key_file="{tmp_path / "server.key"}"',
                "--set", f'security.allowed_clients_file="{tmp_path / "allowed"}"') as d:
        keys = ["--curve-server-key", str(tmp_path / "server.pub"), "--curve-key", str(tmp_path / "client.key")]
        r = subprocess.run([str(BINARY), "produce", "--endpoint", d.input, "--socket", "push", "--count", "3000",
                            "--k", "3", "--dim", "4", *keys], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr

        def query(*extra, key_file="client.key", timeout="3"):
            return subprocess.run([str(BINARY), "query", "stats", "--json", "--endpoint", d.query, "--timeout", timeout,
                                   # "=" form: a Z85 key may begin with "-", which would read as an option.
                                   f"--curve-server-key={server_public.decode()}",
                                   "--curve-key", str(tmp_path / key_file), *extra],
                                  capture_output=True, text=True, timeout=30)

        deadline = time.time() + 20
        s = None
        while time.time() < deadline:
            r = query()
            assert r.returncode == 0, r.stderr
            s = json.loads(r.stdout)
            if s["vectors_accepted"] == 3000:
                break
            time.sleep(0.2)
        assert s["vectors_accepted"] == 3000 and s["producer_vectors_cli"] == 3000, s

        w = subprocess.run([str(BINARY), "watch", "--once", "--json", "--timeout", "10", "--endpoint", d.output, *keys],
                           capture_output=True, text=True, timeout=30)
        assert w.returncode == 0, w.stderr
        assert json.loads(w.stdout.splitlines()[0])["k"] == 3

        # A producer with an unlisted key is told it was refused, and exits 1; so is one that
        # encrypts to another server key. Nothing it sent counts.
        for server_key, key_file in ((str(tmp_path / "server.pub"), "stranger.key"),
                                     (str(tmp_path / "stranger.pub"), "client.key")):
            r = subprocess.run([str(BINARY), "produce", "--endpoint", d.input, "--socket", "pub", "--count", "500",
                                "--k", "3", "--dim", "4", "--curve-server-key", server_key,
                                "--curve-key", str(tmp_path / key_file)], capture_output=True, text=True, timeout=60)
            assert r.returncode == 1, (r.returncode, r.stderr)
            assert "refused this client" in r.stderr and "sent 500" not in r.stderr, r.stderr
        assert json.loads(query().stdout)["vectors_accepted"] == 3000

        # An unlisted client key, or none at all, is told it was refused (exit 1).
        r = query(key_file="stranger.key", timeout="2")
        assert r.returncode == 1 and "refused this client" in r.stderr and "allow-list" in r.stderr, r.stderr
        r = subprocess.run([str(BINARY), "query", "stats", "--endpoint", d.query, "--timeout", "2"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "refused this client" in r.stderr and "--curve-server-key" in r.stderr, r.stderr

    # Half the keys, or CURVE on a bound producer, is a usage error before anything connects.
    r = subprocess.run([str(BINARY), "query", "stats", "--curve-key", str(tmp_path / "client.key")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 64 and "--curve-server-key" in r.stderr
    r = subprocess.run([str(BINARY), "produce", "--bind", *keys], capture_output=True, text=True, timeout=30)
    assert r.returncode == 64 and "--bind" in r.stderr
