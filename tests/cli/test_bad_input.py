"""Bad input, tried as a new user would: each gives one clear line on stderr, a non-zero exit,
nothing on stdout (even with --json) and never a traceback."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .procs import NodeProc, cli, failure_line

pytestmark = pytest.mark.timeout(120)

PEER = "12D3KooWP8VaqsaSjvKEJnYNd7CfwmAGsNWhVePqj8neeTFdwA5P"
RID = "E2MzPhmjSMbSmyWiFJd8cB4SPk7AYsWMdV1WyyKzpsGd"  # well formed, never created


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def offline_cases(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (arguments, what the line must say); none of these reaches a live peer."""
    boot = ["--bootstrap", f"/ip4/127.0.0.1/tcp/{closed_port()}/p2p/{PEER}"]
    key = tmp / "me.key"
    (tmp / "syntax.toml").write_text("[limits]\nmax_value_bytes = \n")
    (tmp / "type.toml").write_text('[limits]\nmax_value_bytes = "4 KiB"\n')
    (tmp / "unknown.toml").write_text("[registry]\nfrobnicate = 1\n")
    return {
        "malformed resource id": (["resolve", "not-a-resource-id", *boot], "resource id 'not-a-resource-id'"),
        "short resource id": (["resource", "get", "abc", *boot], "is 3 bytes, not 32"),
        "malformed multiaddr": (["resolve", RID, "--bootstrap", "/ip4/1.2.3/tcp/1"], "is not a multiaddr"),
        "bootstrap without peer id": (["resolve", RID, "--bootstrap", "/ip4/127.0.0.1/tcp/1"], "needs a /p2p/"),
        "malformed listen address": (["node", "--listen", "tcp://127.0.0.1:1"], "listen address"),
        "unreachable bootstrap": (["resolve", RID, *boot], "is unreachable"),
        "no bootstrap": (["resolve", RID], "no bootstrap peer"),
        "value over the limit": (
            ["register", RID, "--value", "x" * 5000, "--key-file", str(key), *boot],
            "value is 5000 bytes; the limit is 4096 bytes",
        ),
        "missing data dir": (
            ["register", RID, "--value", "v", "--data-dir", str(tmp / "nowhere"), *boot],
            f"data dir {tmp / 'nowhere'} does not exist",
        ),
        "missing key file": (["unregister", RID, "--key-file", str(tmp / "none.key"), *boot], "cannot read"),
        "write without identity": (["register", RID, "--value", "v", *boot], "--data-dir DIR or --key-file FILE"),
        "config not TOML": (["node", "--config", str(tmp / "syntax.toml")], "is not valid TOML"),
        "config wrong type": (["node", "--config", str(tmp / "type.toml")], "limits.max_value_bytes must be"),
        "config unknown key": (["resolve", RID, "--config", str(tmp / "unknown.toml"), *boot], "registry.frobnicate"),
        "missing config file": (["node", "--config", str(tmp / "absent.toml")], "cannot read config file"),
        "bad metrics address": (["node", "--metrics", "localhost"], "--metrics expects HOST:PORT"),
        "usage error": (["register", RID], "Missing option '--value'"),
    }


@pytest.fixture(scope="module")
def offline(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, tuple[subprocess.CompletedProcess[str], str]]]:
    tmp = tmp_path_factory.mktemp("bad")
    assert cli("keygen", "--key-file", str(tmp / "me.key")).returncode == 0
    cases = offline_cases(tmp)
    # Each run is mostly interpreter start and imports: three at a time.
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = dict(
            zip(cases, pool.map(lambda args: cli(*args, "--json"), [a for a, _ in cases.values()]), strict=True)
        )
    yield {name: (runs[name], expected) for name, (_, expected) in cases.items()}


@pytest.mark.parametrize(
    "name",
    [
        "malformed resource id",
        "short resource id",
        "malformed multiaddr",
        "bootstrap without peer id",
        "malformed listen address",
        "unreachable bootstrap",
        "no bootstrap",
        "value over the limit",
        "missing data dir",
        "missing key file",
        "write without identity",
        "config not TOML",
        "config wrong type",
        "config unknown key",
        "missing config file",
        "bad metrics address",
        "usage error",
    ],
)
def test_offline_bad_input(offline: dict[str, tuple[subprocess.CompletedProcess[str], str]], name: str) -> None:
    done, expected = offline[name]
    line = failure_line(done)
    assert line.startswith("registry-p2p: error: "), line
    assert expected in line, line


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProc]:
    started = NodeProc.start(tmp_path_factory.mktemp("lone") / "node")
    yield started
    started.stop()


@pytest.mark.parametrize(
    "args",
    [["resolve", RID], ["resource", "get", RID], ["watch", RID]],
    ids=["resolve", "resource get", "watch"],
)
def test_unknown_resource(node: NodeProc, args: list[str]) -> None:
    line = failure_line(cli(*args, "--json", bootstrap=node.addr))
    assert line == f"registry-p2p: error: resource {RID} not found (no peer of the network knows it)"


def test_register_into_unknown_resource(node: NodeProc, tmp_path: Path) -> None:
    line = failure_line(
        cli("register", RID, "--value", "v", "--data-dir", str(tmp_path), "--json", bootstrap=node.addr)
    )
    assert f"resource {RID} not found" in line


def test_second_node_on_a_data_dir_in_use(node: NodeProc) -> None:
    line = failure_line(cli("node", "--data-dir", str(node.data_dir), "--listen", "/ip4/127.0.0.1/tcp/0", "--json"))
    assert "is in use by another registry-p2p node" in line


def test_client_refuses_a_running_nodes_identity(node: NodeProc) -> None:
    args = ["register", RID, "--value", "v", "--data-dir", str(node.data_dir), "--json"]
    line = failure_line(cli(*args, bootstrap=node.addr))
    assert "belongs to a running node" in line


def test_one_reachable_bootstrap_peer_is_enough(node: NodeProc) -> None:
    dead = f"/ip4/127.0.0.1/tcp/{closed_port()}/p2p/{PEER}"
    line = failure_line(cli("resolve", RID, "--bootstrap", dead, "--bootstrap", node.addr, "--json"))
    assert "not found" in line  # it got through to the live peer, which does not know the resource
