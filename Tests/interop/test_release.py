"""What the binary says about its release, against the sources that define it.

Sources/Daemon/Version.swift holds the release version and the wire protocol version; the
checkpoint format is the core's ModelState.formatVersion. `voronoid --version` and the
`voronoid_build_info` metric must report exactly these, so a binary cannot name another release
or format than the tree it was built from.
"""
import re
import subprocess
import urllib.request

from conftest import BINARY, ROOT, Daemon, free_port, wait_for


def swift_constant(path, pattern):
    text = (ROOT / path).read_text()
    found = re.findall(pattern, text)
    assert len(found) == 1, f"{path}: {len(found)} matches of {pattern!r}"
    return found[0]


SEMANTIC = swift_constant("Sources/Daemon/Version.swift", r'static let semantic = "([^"]+)"')
PROTOCOL = swift_constant("Sources/Daemon/Version.swift", r"static let wireProtocol = (\d+)")
CHECKPOINT_FORMAT = swift_constant("Sources/Clustering/ModelState+Codec.swift",
                                   r"static let formatVersion: UInt16 = (\d+)")


def test_the_sources_name_a_semantic_version():
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?", SEMANTIC), SEMANTIC


def test_version_flag_prints_the_release_protocol_and_checkpoint_format():
    out = subprocess.run([str(BINARY), "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (
        f"voronoid {SEMANTIC} (protocol {PROTOCOL}, checkpoint format {CHECKPOINT_FORMAT})"), out.stdout


def test_metrics_export_build_info():
    port = free_port()
    with Daemon("--set", f'metrics.address="127.0.0.1:{port}"') as daemon:
        def scrape():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    return response.read().decode()
            except OSError:
                return None

        body = wait_for(scrape, timeout=10, interval=0.1)
        assert body, "no /metrics answer\n" + daemon.log
    # The last two labels depend on the machine: the OpenBLAS kernel family, and the screen's
    # product, bfloat16 exactly where the processor has AVX-512 BF16 (with F, BW, VL and DQ).
    flags = set()
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    bf16 = {"avx512_bf16", "avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags
    product = f',product="{"bfloat16" if bf16 else "float32"}"}} 1'
    prefix = (f'voronoid_build_info{{version="{SEMANTIC}",protocol="{PROTOCOL}",'
              f'checkpoint_format="{CHECKPOINT_FORMAT}",blas="')
    lines = body.splitlines()
    samples = [l for l in lines if l.startswith(prefix) and l.endswith(product) and len(l) > len(prefix) + len(product) + 1]
    assert len(samples) == 1, "\n".join(l for l in lines if "build_info" in l)
    assert "# TYPE voronoid_build_info gauge" in lines
