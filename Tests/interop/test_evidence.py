"""The evidence report in quick mode: `scripts/evidence/run.sh <tmp> --quick` must write the report
and every plot, and its checks (voronoid's blob inertia within the stated tolerance of
scikit-learn's, the numpy reimplementation agreeing with the daemon, nothing dropped) must pass.
The bars of issues 11 and 12 (quality and drift with all defaults, throughput at embedding shapes)
must each be measured and given a verdict in checks.json and the report; whether they are met is
reported, not asserted.

Binary: the one every interop test uses (conftest.BINARY: $VORONOID_BIN, which scripts/test.sh sets
to the release build, else the newer of .build/release and .build/debug); when none exists, run.sh
builds it with `swift build -c release`. A debug binary also works (quick mode's streams are small
and throughput is reported, not checked) but makes the run slower.
The first run creates scripts/evidence/.venv from PyPI (about a minute here); later runs reuse it.
"""
import json
import os
import subprocess

from conftest import BINARY, ROOT

PLOTS = ["centers_over_time.png", "throughput.png", "quality.png", "trajectory_equivalence.png",
         "monotone_collapse.png", "stability.png", "annealing.png", "defaults_bars.png"]
QUALITY_SETS = ["blobs-16", "digits", "flower", "wine", "cancer", "blobs-64", "blobs-384"]


def test_quick_evidence_report(tmp_path):
    env = dict(os.environ)
    if BINARY.is_file() and os.access(BINARY, os.X_OK):
        env["VORONOID_BIN"] = str(BINARY)
    out = tmp_path / "evidence"
    result = subprocess.run([str(ROOT / "scripts" / "evidence" / "run.sh"), str(out), "--quick"],
                            capture_output=True, text=True, env=env, timeout=1800)
    report = out / "report.md"
    assert report.is_file(), result.stderr[-4000:]
    text = report.read_text()
    for plot in PLOTS:
        path = out / plot
        assert path.is_file() and path.stat().st_size > 1000, f"{plot} missing\n{result.stderr[-2000:]}"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{plot} is not a PNG"
        assert f"`{plot}`" in text, f"the report does not mention {plot}"
    checks = json.loads((out / "checks.json").read_text())
    assert checks["quick"] is True
    tolerance = [c for c in checks["checks"] if "scikit-learn's" in c["check"]]
    assert len(tolerance) == 3, checks
    failed = [c for c in checks["checks"] if not c["ok"]]
    assert not failed, failed
    assert checks["ok"] is True
    assert result.returncode == 0, result.stderr[-4000:]
    assert "## Machine and versions" in text and "swift --version" in text
    assert "Command: `scripts/evidence/run.sh " in text and "--quick" in text
    assert "## 2. All defaults" in text and "### Throughput at embedding shapes" in text

    # The bars: each measured once per quick-mode seed and judged; met or not is reported only.
    bars = checks["bars"]
    assert all(isinstance(b["met"], bool) and b["value"] for b in bars), bars
    for group, count in [("quality", len(QUALITY_SETS)), ("quality limit", len(QUALITY_SETS)),
                         ("embedding throughput", 2), ("drift", 4)]:
        assert len([b for b in bars if b["group"] == group]) == count, (group, bars)
    for name in QUALITY_SETS:
        assert any(b["bar"].startswith(f"{name} seed 1:") for b in bars if b["group"] == "quality"), name
    assert "met" in text and "quick mode: the stationary stream is shortened" in text.lower()
