"""The developer tools stay outside the runtime import path: an application that imports the
registry loads neither the benchmarks and vector tools (registry_p2p.tools) nor the loopback
test network (registry_p2p.testnet)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

RUNTIME = ["registry_p2p", "registry_p2p.registry", "registry_p2p.node"]
TOOLS = ("registry_p2p.tools", "registry_p2p.testnet")


def _loaded_after_running(code: str) -> list[str]:
    """The modules a fresh interpreter holds after running `code`."""
    program = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def _loaded_after_importing(module: str) -> list[str]:
    return _loaded_after_running(f"import {module}")


@pytest.mark.parametrize("module", RUNTIME)
def test_the_runtime_imports_no_tool_and_no_test_network(module: str) -> None:
    loaded = _loaded_after_importing(module)
    assert module in loaded
    tools = [name for name in loaded if name in TOOLS or name.startswith(tuple(t + "." for t in TOOLS))]
    assert tools == [], f"importing {module} loaded {tools}"


def test_the_command_loads_its_verbs_only_when_one_runs() -> None:
    # A verb answered by a local node's API must not pay for trio and py-libp2p (~1 s).
    loaded = _loaded_after_importing("registry_p2p.cli")
    assert "registry_p2p.cli.app" in loaded
    assert "registry_p2p.cli.testnet" not in loaded and "registry_p2p.cli.bench" not in loaded
    assert not [name for name in loaded if name.startswith(TOOLS)]
    heavy = [name for name in loaded if name.split(".")[0] in ("trio", "libp2p", "google", "starlette")]
    assert heavy == [], heavy
    assert "registry_p2p.node" not in loaded


def test_every_verb_module_loads_without_trio_or_libp2p() -> None:
    # `registry-p2p --help` lists every verb, so it loads every verb module: py-libp2p and trio
    # load only when a verb starts a node (or a light node) of its own.
    loaded = _loaded_after_running(
        "import importlib\n"
        "from registry_p2p.cli.app import VERB_MODULES\n"
        "for m in set(VERB_MODULES.values()): importlib.import_module('registry_p2p.cli.' + m)"
    )
    heavy = [name for name in loaded if name.split(".")[0] in ("trio", "libp2p", "starlette", "google")]
    assert heavy == [], heavy


def test_core_health_spells_the_health_states_as_the_wire_does() -> None:
    """core/health.py repeats HealthStatus's values so that the CLI's config needs no protobuf."""
    from registry_p2p.core import health
    from registry_p2p.pb import registry_pb2 as pb

    assert (health.HEALTH_PASSING, health.HEALTH_CRITICAL) == (pb.HEALTH_PASSING, pb.HEALTH_CRITICAL)
    assert set(health.HEALTH_NAMES) == set(pb.HealthStatus.values())


def test_the_cli_spells_the_write_policies_as_core_does() -> None:
    """cli/resource.py repeats core.model's policy names so that its verbs need no protobuf to start."""
    from registry_p2p.cli import resource
    from registry_p2p.core import model

    assert resource.POLICIES == model.POLICIES and resource.POLICY_OPEN == model.POLICY_OPEN


def test_the_node_verb_spells_the_host_policies_as_core_does() -> None:
    from registry_p2p.cli import node
    from registry_p2p.core import config

    assert node.HOST_POLICIES == config.HOST_POLICIES


def test_every_command_is_found_by_the_lazy_group() -> None:
    """A verb module's command that VERB_MODULES does not name is never loaded: `registry-p2p X` fails."""
    import importlib

    from registry_p2p.cli.app import VERB_MODULES, cli

    for module in set(VERB_MODULES.values()):
        importlib.import_module(f"registry_p2p.cli.{module}")
    assert set(cli.commands) <= set(VERB_MODULES), set(cli.commands) - set(VERB_MODULES)


def test_a_verbs_logging_setup_loads_neither_trio_nor_libp2p() -> None:
    """Every client verb configures logging first, the API path included: locating py-libp2p's
    files (to quiet what it logs on the root logger) must not import it (it cost ~1 s per verb)."""
    loaded = _loaded_after_running(
        "from registry_p2p.cli.logs import configure_logging\n"
        "for level in ('error', 'debug'):\n"
        "    configure_logging(level)"
    )
    heavy = [name for name in loaded if name.split(".")[0] in ("trio", "libp2p")]
    assert heavy == [], heavy
