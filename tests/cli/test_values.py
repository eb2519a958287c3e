"""A record's value is bytes: `register` stores argv's bytes as they are (UTF-8 or not), or the
bytes of --value-file FILE or of stdin (--value-file -)."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .procs import CLI, NodeProc, clean_env, cli, cli_json

pytestmark = pytest.mark.timeout(120)

NOT_UTF8 = b"\xff\xfe"


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProc, str, Path]]:
    """A node, a resource on it, and its owner's key."""
    tmp = tmp_path_factory.mktemp("values")
    node = NodeProc.start(tmp / "node")
    key = tmp / "me.key"
    assert cli("keygen", "--key-file", str(key)).returncode == 0
    rid = cli_json("resource", "create", "values", "--key-file", str(key), bootstrap=node.addr)["resource_id"]
    yield node, rid, key
    node.stop()


def stored_value(node: NodeProc, rid: str, service_id: str) -> bytes:
    records = cli_json("resolve", rid, bootstrap=node.addr)["records"]
    (record,) = [r for r in records if r["service_id"] == service_id]
    return base64.b64decode(record["value_base64"])


def test_value_that_is_not_utf8_is_stored_as_given(net: tuple[NodeProc, str, Path]) -> None:
    node, rid, key = net
    # The bytes reach the process as they are: subprocess encodes the argument with os.fsencode.
    args = ["register", rid, "--value", os.fsdecode(NOT_UTF8), "--service-id", "argv", "--key-file", str(key)]
    out = cli_json(*args, bootstrap=node.addr)
    assert out["ok"] is True
    assert stored_value(node, rid, "argv") == NOT_UTF8


def test_value_file(net: tuple[NodeProc, str, Path], tmp_path: Path) -> None:
    node, rid, key = net
    path = tmp_path / "value.bin"
    path.write_bytes(b"\x00binary\nvalue" + NOT_UTF8)
    out = cli_json(
        "register", rid, "--value-file", str(path), "--service-id", "file", "--key-file", str(key), bootstrap=node.addr
    )
    assert out["ok"] is True
    assert stored_value(node, rid, "file") == path.read_bytes()


def test_value_from_stdin(net: tuple[NodeProc, str, Path]) -> None:
    node, rid, key = net
    value = b'{"url": "tcp://10.0.0.7:7"}\n' + NOT_UTF8
    args = ["register", rid, "--value-file", "-", "--service-id", "stdin", "--key-file", str(key), "--json"]
    done = subprocess.run(
        [*CLI, *args], input=value, capture_output=True, timeout=60, env=clean_env(node.addr), check=False
    )
    assert done.returncode == 0, done.stderr
    assert stored_value(node, rid, "stdin") == value
