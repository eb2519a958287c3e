"""Bad input, tried as a new user would: each gives one clear line on stderr, a non-zero exit
(2 for a usage error, 1 otherwise), nothing on stdout (even with --json) and never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .procs import NodeProc, SilentPeer, cli, cli_json, failure_line

pytestmark = pytest.mark.timeout(120)

PEER = "12D3KooWP8VaqsaSjvKEJnYNd7CfwmAGsNWhVePqj8neeTFdwA5P"
RID = "E2MzPhmjSMbSmyWiFJd8cB4SPk7AYsWMdV1WyyKzpsGd"  # well formed, never created


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def offline_cases(tmp: Path) -> dict[str, tuple[list[str], str, int]]:
    """name -> (arguments, what the line must say, exit status); none of these reaches a live peer."""
    boot = ["--bootstrap", f"/ip4/127.0.0.1/tcp/{closed_port()}/p2p/{PEER}"]
    key = tmp / "me.key"
    (tmp / "syntax.toml").write_text("[limits]\nmax_value_bytes = \n")
    (tmp / "type.toml").write_text('[limits]\nmax_value_bytes = "4 KiB"\n')
    (tmp / "unknown.toml").write_text("[registry]\nfrobnicate = 1\n")
    big = tmp / "big.bin"
    big.write_bytes(b"\0" * 4097)
    return {
        "malformed resource id": (["resolve", "not-a-resource-id", *boot], "resource id 'not-a-resource-id'", 1),
        "short resource id": (["resource", "get", "abc", *boot], "is 3 bytes, not 32", 1),
        "malformed multiaddr": (["resolve", RID, "--bootstrap", "/ip4/1.2.3/tcp/1"], "is not a multiaddr", 1),
        "bootstrap without peer id": (["resolve", RID, "--bootstrap", "/ip4/127.0.0.1/tcp/1"], "needs a /p2p/", 1),
        "malformed listen address": (["node", "--listen", "tcp://127.0.0.1:1"], "listen address", 1),
        "unreachable bootstrap": (["resolve", RID, *boot], "is unreachable", 1),
        "no bootstrap": (["resolve", RID], "no bootstrap peer", 2),
        "value over the limit": (
            ["register", RID, "--value", "x" * 5000, "--key-file", str(key), *boot],
            "value is 5000 bytes; the limit is 4096 bytes",
            1,
        ),
        "value file over the limit": (
            ["register", RID, "--value-file", str(big), "--key-file", str(key), *boot],
            "value is 4097 bytes; the limit is 4096 bytes",
            1,
        ),
        "missing value file": (
            ["register", RID, "--value-file", str(tmp / "absent"), "--key-file", str(key), *boot],
            f"cannot read value file {tmp / 'absent'}: No such file or directory",
            1,
        ),
        "value and value file": (
            ["register", RID, "--value", "v", "--value-file", str(big), "--key-file", str(key), *boot],
            "give --value or --value-file, not both",
            2,
        ),
        "service id not UTF-8": (
            ["register", RID, "--value", "v", "--service-id", os.fsdecode(b"\xff"), "--key-file", str(key), *boot],
            "Invalid value for '--service-id': b'\\xff' is not UTF-8 text",
            2,
        ),
        "missing data dir": (
            ["register", RID, "--value", "v", "--data-dir", str(tmp / "nowhere"), *boot],
            f"data dir {tmp / 'nowhere'} does not exist",
            1,
        ),
        "missing key file": (["unregister", RID, "--key-file", str(tmp / "none.key"), *boot], "cannot read", 1),
        "write without identity": (["register", RID, "--value", "v", *boot], "--data-dir DIR or --key-file FILE", 2),
        "config not TOML": (["node", "--config", str(tmp / "syntax.toml")], "is not valid TOML", 1),
        "config wrong type": (["node", "--config", str(tmp / "type.toml")], "limits.max_value_bytes must be", 1),
        "config unknown key": (
            ["resolve", RID, "--config", str(tmp / "unknown.toml"), *boot],
            "registry.frobnicate",
            1,
        ),
        "missing config file": (["node", "--config", str(tmp / "absent.toml")], "cannot read config file", 1),
        "bad metrics address": (["node", "--metrics", "localhost"], "--metrics expects HOST:PORT", 1),
        "usage error": (["register", RID], "Missing option '--value' (or '--value-file')", 2),
        "missing argument": (["resolve", *boot], "Missing argument 'RESOURCE_ID'", 2),
        "unknown option": (["resolve", RID, "--frobnicate", *boot], "No such option '--frobnicate'", 2),
        "bad choice": (["node", "--log-level", "loud"], "'loud' is not one of 'debug', 'info'", 2),
        "keygen without argument": (["keygen"], "pass exactly one of --data-dir DIR or --key-file FILE", 2),
        "resource id without owner": (["resource", "id", "label"], "pass --owner PEER_ID", 2),
    }


@pytest.fixture(scope="module")
def offline(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, tuple[subprocess.CompletedProcess[str], str, int]]]:
    tmp = tmp_path_factory.mktemp("bad")
    assert cli("keygen", "--key-file", str(tmp / "me.key")).returncode == 0
    cases = offline_cases(tmp)
    # Each run is mostly interpreter start and imports: three at a time.
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = dict(
            zip(cases, pool.map(lambda args: cli(*args, "--json"), [a for a, _, _ in cases.values()]), strict=True)
        )
    yield {name: (runs[name], expected, code) for name, (_, expected, code) in cases.items()}


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
        "value file over the limit",
        "missing value file",
        "value and value file",
        "service id not UTF-8",
        "missing data dir",
        "missing key file",
        "write without identity",
        "config not TOML",
        "config wrong type",
        "config unknown key",
        "missing config file",
        "bad metrics address",
        "usage error",
        "missing argument",
        "unknown option",
        "bad choice",
        "keygen without argument",
        "resource id without owner",
    ],
)
# The fixture's 27 processes are each bounded by cli()'s own timeout; their sum is not this test's (it
# came near 120 s on a loaded machine, interpreter starts mostly).
@pytest.mark.timeout(120, func_only=True)
def test_offline_bad_input(offline: dict[str, tuple[subprocess.CompletedProcess[str], str, int]], name: str) -> None:
    done, expected, code = offline[name]
    line = failure_line(done)
    assert line.startswith("registry-p2p: error: "), line
    assert expected in line, line
    assert done.returncode == code, (done.returncode, line)


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


@pytest.fixture(scope="module")
def owned(node: NodeProc, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A resource on the lone node, and its owner's key."""
    key = tmp_path_factory.mktemp("owner") / "me.key"
    assert cli("keygen", "--key-file", str(key)).returncode == 0
    rid = cli_json("resource", "create", "bad-input", "--key-file", str(key), bootstrap=node.addr)["resource_id"]
    return rid, key


def test_register_hosted_by_a_peer_not_in_the_network(node: NodeProc, owned: tuple[str, Path]) -> None:
    rid, key = owned
    done = cli("register", rid, "--value", "v", "--host", PEER, "--key-file", str(key), bootstrap=node.addr)
    line = failure_line(done)
    assert line.startswith(f"registry-p2p: error: the host peer {PEER} could not be reached ("), line
    assert done.returncode == 1


def test_more_acks_than_the_replica_set_has_peers(node: NodeProc, owned: tuple[str, Path]) -> None:
    rid, key = owned
    done = cli("register", rid, "--value", "v", "--ack", "2", "--key-file", str(key), bootstrap=node.addr)
    line = failure_line(done)
    assert line.startswith("registry-p2p: error: stored on 1 of the 2 replicas asked for;"), line
    assert line.endswith("; the replica set has only 1 peer"), line
    assert done.returncode == 1


def test_timeout_bounds_joining_through_a_silent_bootstrap_peer() -> None:
    with SilentPeer() as silent:
        line = failure_line(cli("resolve", RID, "--timeout", "3", "--bootstrap", silent.addr))
        exited = time.monotonic()
        assert silent.accepted.is_set()  # the dial reached the socket, then the handshake hung
    expected = "registry-p2p: error: timed out after 3 s (--timeout) joining the network through 1 bootstrap peer(s)"
    assert line == expected
    # Counted from the dial (the timeout runs from before it), not from the process's start: how long the
    # interpreter takes to import is not what --timeout bounds (it took seconds on a loaded machine).
    assert silent.first_accepted_at is not None
    took = exited - silent.first_accepted_at
    assert took <= 3 + 2, f"resolve --timeout 3 exited {took:.1f} s after its dial"


# Owner-approved resources' verbs: usage errors, caught before anything is signed or sent (run
# apart from the offline cases above, whose shared fixture runs every one of those first).
GRANT_CASES = {
    "grant to a malformed issuer": (
        ["grant", RID, "not-a-peer"],
        "Invalid value for 'ISSUER': 'not-a-peer' is not a peer id",
    ),
    "grant with a bad duration": (
        ["grant", RID, PEER, "--expires", "soon"],
        "'soon' is not a duration (e.g. 90s, 15m, 12h, 30d)",
    ),
    "grant with a negative duration": (["grant", RID, PEER, "--expires", "-5m"], "must be a positive duration"),
    "unknown policy": (["resource", "create", "x", "--policy", "closed"], "'closed' is not one of 'open'"),
}


@pytest.mark.parametrize("name", list(GRANT_CASES))
def test_grant_and_policy_bad_input(name: str) -> None:
    args, expected = GRANT_CASES[name]
    done = cli(*args, "--json")
    line = failure_line(done)
    assert line.startswith("registry-p2p: error: ") and expected in line, line
    assert done.returncode == 2, (done.returncode, line)
