"""Reading the golden messages under Tests/golden (format: Tests/golden/README.md)."""

import struct
from pathlib import Path
from typing import List

GOLDEN = Path(__file__).resolve().parents[3] / "Tests" / "golden"


def read_golden(name: str) -> List[bytes]:
    """The frames of a golden file: each stored as a u32 little-endian length, then its bytes."""
    data = (GOLDEN / name).read_bytes()
    frames, i = [], 0
    while i < len(data):
        assert i + 4 <= len(data), f"{name}: truncated length at byte {i}"
        (n,) = struct.unpack_from("<I", data, i)
        assert i + 4 + n <= len(data), f"{name}: frame of {n} bytes runs past the end"
        frames.append(data[i + 4:i + 4 + n])
        i += 4 + n
    return frames
