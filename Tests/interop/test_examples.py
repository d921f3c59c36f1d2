"""The README's examples, run exactly as printed, against the real daemon on its default endpoints."""
import re
import subprocess
import sys
import time

from conftest import ROOT, Daemon

EXAMPLES = ["produce.py", "consume.py", "query.py"]


def test_readme_shows_each_example_verbatim():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    for name in EXAMPLES:
        source = (ROOT / "examples" / name).read_text()
        assert source in blocks, f"README does not show examples/{name} verbatim"


def run(name, **kw):
    return subprocess.run([sys.executable, str(ROOT / "examples" / name)], capture_output=True, text=True, **kw)


def test_examples_against_daemon():
    with Daemon("--k", "4", "--set", "temperature.half_life=4000", "--set", "model.count_half_life=4000",
                ports="default") as daemon:
        consumer = subprocess.Popen([sys.executable, str(ROOT / "examples" / "consume.py")],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        produced = run("produce.py", timeout=60)
        assert produced.returncode == 0, produced.stderr
        assert "sent 20482 vectors" in produced.stdout
        out, err = consumer.communicate(timeout=30)
        assert consumer.returncode == 0, err
        assert re.search(r"centers: k=4 d=8 version=\d+", out), out
        assert re.search(r"assignments: n=\d+ first id=\d+ best=[0-3] dist=", out), out
        queried = run("query.py", timeout=30)
        assert queried.returncode == 0, queried.stderr + daemon.log
        assert "snapshot: k=4 d=8" in queried.stdout
        assert "stats: vectors_accepted=20482 dropped=0" in queried.stdout, queried.stdout
        assert "predict: n=4 best=[0, 1, 2, 3]" in queried.stdout
