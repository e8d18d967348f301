"""The documentation generators of packaging/, loaded as modules for the doc tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load(name: str) -> ModuleType:
    """packaging/<name>.py as a module (it is a script, not part of a package)."""
    if name in sys.modules:
        return sys.modules[name]
    folder = str(ROOT / "packaging")  # the generators import their shared docsplice.py
    if folder not in sys.path:
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(name, ROOT / "packaging" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
