"""Importing the registry changes nothing in py-libp2p, the package itself costs nothing, and
`registry_p2p.core` is pure.

An application that imports registry_p2p must get py-libp2p exactly as it was: every
workaround is applied by an explicit call on the objects `mount` and `open_node` are given."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import registry_p2p.adapter
import registry_p2p.core

OURS = ["registry_p2p", "registry_p2p.core", "registry_p2p.store", "registry_p2p.registry", "registry_p2p.node"]
ADAPTER = [f"registry_p2p.adapter.{m.name}" for m in pkgutil.iter_modules(registry_p2p.adapter.__path__)]
CORE = ["registry_p2p.core"] + [f"registry_p2p.core.{m.name}" for m in pkgutil.iter_modules(registry_p2p.core.__path__)]
EVERYTHING = [*OURS, "registry_p2p.cli", "registry_p2p.adapter", *ADAPTER]
# What a pure core may load beyond the standard library: protobuf for the wire format, base58 for ids.
CORE_ALLOWED = {"google", "base58"}


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_adapter_package_is_all_there() -> None:
    assert len(ADAPTER) >= 13, ADAPTER
    assert not (Path(registry_p2p.core.__file__).parents[1] / "net" / "compat.py").exists()


def test_importing_the_registry_leaves_every_libp2p_attribute_unchanged() -> None:
    # Which py-libp2p modules the registry's imports bring in...
    loaded = json.loads(
        _python(
            "import json, sys\n"
            f"for m in {EVERYTHING!r}: __import__(m)\n"
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
            f"for m in {EVERYTHING!r}: __import__(m)\n"
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


def test_core_and_each_of_its_modules_load_neither_trio_nor_libp2p_nor_multiaddr() -> None:
    """Each module in a fresh interpreter, so that one importing another core module cannot hide
    a heavy import behind it. Beyond the standard library only protobuf and base58 may load."""
    assert len(CORE) > 10, CORE
    stdlib = set(sys.stdlib_module_names) | {"registry_p2p"}
    for module in CORE:
        tops = json.loads(
            _python(
                f"import json, sys\nbefore = set(sys.modules)\nimport {module}\n"
                "print(json.dumps(sorted({n.split('.')[0] for n in set(sys.modules) - before})))"
            )
        )
        assert not {"trio", "multiaddr"} & set(tops), f"{module} loads {tops}"
        assert not [t for t in tops if t.startswith("libp2p")], f"{module} loads {tops}"
        others = {t for t in tops if t not in stdlib and not t.startswith("_")}
        assert others <= CORE_ALLOWED, f"{module} loads {sorted(others)} beyond the standard library"
