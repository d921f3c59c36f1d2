"""The protocol's runnable examples, exactly as printed, against the real daemon on its default endpoints.

Two sets of the same three programs (produce, consume, query): README.md shows examples/*.py,
which use the Python client package, and Protocol.md's "Raw examples with pyzmq" shows them over
raw bytes. Both run the same way, so neither can drift from the daemon. The package is imported
from clients/python through PYTHONPATH, not installed, so the test checks this tree's package.
"""
import ast
import os
import re
import subprocess
import sys
import time

import pytest

from conftest import ROOT, Daemon

EXAMPLES = ["produce.py", "consume.py", "query.py"]
PROTOCOL = ROOT / "Sources" / "Wire" / "Wire.docc" / "Protocol.md"
PACKAGE = ROOT / "clients" / "python"

# What each program must print, as regular expressions, for each set.
COMMON = {
    "produce.py": [r"sent 20482 vectors"],
    "consume.py": [r"centers: k=4 d=8 version=\d+ temperature=", r"assignments: n=\d+ first id=\d+ best=[0-3] dist="],
    "query.py": [r"snapshot: k=4 d=8 version=\d+", r"stats: vectors_accepted=20482 dropped=0\n",
                 r"predict: n=4 best=\[0, 1, 2, 3\]"],
}
PACKAGE_ONLY = {
    "produce.py": [r"sent 20482 vectors in 82 messages"],
    "consume.py": [r"missed: \{"],
    "query.py": [r"ids=\['center-0', 'center-1', 'center-2', 'center-3'\]",
                 r"RemoteKMeans: n_clusters=4 n_features_in_=8 labels=\[0, 1, 2, 3\]"],
}


def python_blocks(markdown):
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def raw_programs():
    """The three programs of Protocol.md's "Raw examples with pyzmq" section, by example name."""
    text = PROTOCOL.read_text()
    section = re.search(r"^## Raw examples with pyzmq\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert section, "Protocol.md has no section '## Raw examples with pyzmq'"
    blocks = python_blocks(section.group(1))
    assert len(blocks) == 3, f"the raw examples section has {len(blocks)} python blocks, not 3"
    return dict(zip(EXAMPLES, blocks))


def test_readme_shows_each_example_verbatim():
    blocks = python_blocks((ROOT / "README.md").read_text())
    for name in EXAMPLES:
        source = (ROOT / "examples" / name).read_text()
        assert source in blocks, f"README does not show examples/{name} verbatim"
        assert "import voronoid" in source, f"examples/{name} does not use the Python package"


def test_raw_examples_are_raw():
    # The specification's programs document the bytes; leaning on the package would hide them.
    for name, source in raw_programs().items():
        assert "import zmq" in source and "import voronoid" not in source, name


def run_examples(paths, expected):
    """Runs consume (in the background), produce, then query against a fresh daemon; checks
    each program's output against `expected` (example name → regular expressions)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in [str(PACKAGE), os.environ.get("PYTHONPATH", "")] if p)}

    def run(name, **kw):
        return subprocess.run([sys.executable, str(paths[name])], capture_output=True, text=True, env=env, **kw)

    outputs = {}
    with Daemon("--k", "4", "--set", "temperature.half_life=4000", "--set", "model.count_half_life=4000",
                ports="default") as daemon:
        consumer = subprocess.Popen([sys.executable, str(paths["consume.py"])], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(0.5)  # the consumer's subscriptions reach the daemon before the first vector
            produced = run("produce.py", timeout=60)
            assert produced.returncode == 0, produced.stderr
            outputs["produce.py"] = produced.stdout
            out, err = consumer.communicate(timeout=30)
        finally:
            if consumer.poll() is None:
                consumer.kill()
                consumer.communicate()
        assert consumer.returncode == 0, err
        outputs["consume.py"] = out
        queried = run("query.py", timeout=30)
        assert queried.returncode == 0, queried.stderr + daemon.log
        outputs["query.py"] = queried.stdout
    for name, patterns in expected.items():
        for pattern in patterns:
            assert re.search(pattern, outputs[name]), f"{name} printed no /{pattern}/:\n{outputs[name]}"
    return outputs


def test_examples_against_daemon():
    expected = {name: COMMON[name] + PACKAGE_ONLY[name] for name in EXAMPLES}
    outputs = run_examples({name: ROOT / "examples" / name for name in EXAMPLES}, expected)
    missed = ast.literal_eval(outputs["consume.py"].split("missed: ", 1)[1].strip())
    assert set(missed) == {"centers.bin", "assignments.bin"} and not any(missed.values()), missed


def test_raw_examples_from_the_protocol_specification_against_daemon(tmp_path):
    paths = {}
    for name, source in raw_programs().items():
        paths[name] = tmp_path / name
        paths[name].write_text(source)
    run_examples(paths, COMMON)


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_compile(name):
    # A syntax error shows here by name, before any daemon starts.
    compile((ROOT / "examples" / name).read_text(), name, "exec")
    compile(raw_programs()[name], f"Protocol.md:{name}", "exec")
