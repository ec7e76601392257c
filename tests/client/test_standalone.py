"""The Python client imports nothing else of Trova, so it can be lifted out as its own package."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import importlib, pkgutil, sys
import trova.client
for module in pkgutil.walk_packages(trova.client.__path__, "trova.client."):
    importlib.import_module(module.name)
print("\\n".join(sorted(name for name in sys.modules if name.startswith("trova."))))
"""


def test_importing_the_client_loads_no_other_trova_module() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.split()
    assert "trova.client.models" in loaded, "the client's modules were not all imported"
    outside = [name for name in loaded if name != "trova.client" and not name.startswith("trova.client.")]
    assert outside == []
