"""Makes the package importable from the source tree when it is not installed."""

import importlib.util
import sys
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]

# An installed package (pip install ./clients/python) is tested as installed.
if importlib.util.find_spec("voronoid") is None and str(PACKAGE_ROOT) not in sys.path:
    sys.path.insert(0, str(PACKAGE_ROOT))
