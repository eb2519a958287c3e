"""`make proto` output is committed; regenerating must reproduce it exactly."""

from __future__ import annotations

from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]


def test_regenerated_python_code_matches_committed(tmp_path: Path) -> None:
    code = protoc.main(
        [
            "protoc",
            f"-I{ROOT / 'protocols'}",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            str(ROOT / "protocols" / "registry.proto"),
        ]
    )
    assert code == 0
    for name in ("registry_pb2.py", "registry_pb2.pyi"):
        committed = (ROOT / "registry_p2p" / "pb" / name).read_text()
        assert (tmp_path / name).read_text() == committed, f"{name} is stale: run `make proto`"
