"""examples/: the commented configuration covers every setting and loads; the example programs run."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from registry_p2p.cli.config import NODE_KEYS, load_config_file
from registry_p2p.core.config import _TOP_KEYS, RegistryConfig
from registry_p2p.core.limits import Limits

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_example_config_names_every_setting_with_its_default() -> None:
    path = EXAMPLES / "registry-p2p.toml"
    document = tomllib.loads(path.read_text())
    assert set(document["node"]) | {"data_dir", "metrics", "api", "libp2p_log_level"} == set(NODE_KEYS)
    assert set(document["registry"]) | {"host_policy"} == _TOP_KEYS  # host_policy: [host] policy
    assert set(document["limits"]) == set(Limits.__dataclass_fields__)
    assert set(document["host"]) == {"policy", "allowed_issuers"}
    assert set(document["health"]) == {"allow_commands"}
    config, node = load_config_file(str(path))
    assert config == RegistryConfig()  # the values shown are the defaults
    assert node["listen"] == ["/ip4/0.0.0.0/tcp/4600"]


def test_bootstrap_node_config_loads() -> None:
    config, node = load_config_file(str(EXAMPLES / "bootstrap_node" / "config.toml"))
    assert node["data_dir"] == "/var/lib/registry-p2p"
    assert config.replica_cache_ttl_s == 30.0


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("mount_into_host.py", "client: found 'resizer'"),
        ("discovery_demo.py", "worker1 echoes 'hello'"),
    ],
)
def test_example_program_runs(script: str, expected: str) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, timeout=100, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert expected in done.stdout
    if script == "discovery_demo.py":
        assert all(f"worker{i} echoes 'hello'" in done.stdout for i in (1, 2, 3)), done.stdout
