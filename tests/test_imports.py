"""Importing the registry changes nothing in py-libp2p, and the package itself costs nothing.

An application that imports registry_p2p must get py-libp2p exactly as it was: every
workaround is applied by an explicit call on the objects `mount` and `open_node` are given."""

from __future__ import annotations

import json
import subprocess
import sys

OURS = ["registry_p2p", "registry_p2p.core", "registry_p2p.store", "registry_p2p.registry", "registry_p2p.node"]


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_the_registry_leaves_every_libp2p_attribute_unchanged() -> None:
    # Which py-libp2p modules the registry's imports bring in...
    loaded = json.loads(
        _python(
            "import json, sys\n"
            f"for m in {OURS!r} + ['registry_p2p.cli', 'registry_p2p.net.compat']: __import__(m)\n"
            "print(json.dumps(sorted(m for m in sys.modules if m == 'libp2p' or m.startswith('libp2p.'))))"
        )
    )
    assert len(loaded) > 20
    # ...imported first on their own, then compared attribute by attribute after ours.
    changed = json.loads(
        _python(
            "import importlib, json, sys\n"
            f"names = {loaded!r}\n"
            "for n in names: importlib.import_module(n)\n"
            "def snap(): return {(n, a): id(v) for n in names for a, v in list(vars(sys.modules[n]).items())}\n"
            "before = snap()\n"
            f"for m in {OURS!r} + ['registry_p2p.cli', 'registry_p2p.net.compat']: __import__(m)\n"
            "after = snap()\n"
            "print(json.dumps(sorted(f'{n}.{a}' for (n, a), v in before.items() if after.get((n, a)) != v)))"
        )
    )
    assert changed == [], f"importing the registry changed {changed}"


def test_importing_the_package_loads_neither_libp2p_nor_trio() -> None:
    heavy = json.loads(
        _python(
            "import json, sys\nimport registry_p2p\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('libp2p', 'trio', 'multiaddr'))))"
        )
    )
    assert heavy == []
