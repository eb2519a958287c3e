"""File stores: reopening, durability across kill -9, migrations, permissions, bytes on disk."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from registry_p2p.core.limits import Limits
from registry_p2p.core.model import identity_digest
from registry_p2p.store import MIGRATIONS, SCHEMA_VERSION, SchemaVersionError, Store, StoreError
from registry_p2p.store.schema import migrate, schema_version
from tests.store.store_helpers import LOCAL, NOW, VERIFIER, StoreFactory, crash_batch, pid, record, resource, tombstone

RID = resource().id


def _dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in tables}
    finally:
        db.close()


def _fill(st: Store) -> None:
    st.put_resource(resource(), NOW)
    st.put_resource(resource(2, "second"), NOW)
    entries = [record(2 + i % 5, f"s{i}", value=bytes([i]) * i, addrs=(b"\x04\x7f\x00\x00\x01",)) for i in range(40)]
    entries += [record(3, "remote", host=4), tombstone(5, "gone"), record(LOCAL, "mine")]
    assert all(r.ok for r in st.put_entries(RID, entries, NOW)[1])


def test_reopening_gives_back_exactly_what_was_committed(tmp_path: Path, make_store: StoreFactory) -> None:
    path = tmp_path / "registry.db"
    st = make_store(str(path))
    _fill(st)
    pages = st.get_entries(RID, NOW, include_tombstones=True, limit=10_000)
    digest = st.digest(RID, NOW)
    records = st.live_records(RID, NOW)
    resources = [st.get_resource(rid) for rid in st.resource_ids()]
    counts = st.counts()
    st.close()
    on_disk = _dump(path)
    with Store(path, local_peer=pid(LOCAL), verifier=VERIFIER) as again:
        assert again.get_entries(RID, NOW, include_tombstones=True, limit=10_000) == pages
        assert again.digest(RID, NOW) == digest
        assert again.live_records(RID, NOW) == records
        assert [again.get_resource(rid) for rid in again.resource_ids()] == resources
        assert again.counts() == counts
    assert _dump(path) == on_disk


def test_entries_are_on_disk_as_received(tmp_path: Path, make_store: StoreFactory) -> None:
    path = tmp_path / "registry.db"
    st = make_store(str(path))
    st.put_resource(resource(), NOW)
    raws = [record(2 + i % 8, f"disk-{i}").encode() for i in range(200)]  # 8 issuers: under each one's share
    assert all(r.ok for r in st.put_entries(RID, raws, NOW)[1])
    st.close()
    blob = path.read_bytes()
    assert all(raw in blob for raw in raws)
    # Everything, indexes included, stays well under 1 KiB a record for small values.
    assert len(blob) / len(raws) < 1024


def test_files_are_private(tmp_path: Path, make_store: StoreFactory) -> None:
    path = tmp_path / "registry.db"
    st = make_store(str(path))
    st.put_resource(resource(), NOW)
    st.put_entries(RID, [record(2)], NOW)
    for name in ("registry.db", "registry.db-wal", "registry.db-shm"):
        mode = stat.S_IMODE(os.stat(tmp_path / name).st_mode)
        assert mode & 0o077 == 0, f"{name} is {oct(mode)}"
    assert st._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert st._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert st._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    full = make_store(str(tmp_path / "full.db"), synchronous="FULL")
    assert full._db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_a_killed_process_loses_no_committed_write(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    child = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parents[2])!r})
        from tests.store.store_helpers import LOCAL, NOW, VERIFIER, crash_batch, pid, resource
        from registry_p2p.store import Store
        st = Store({str(path)!r}, local_peer=pid(LOCAL), verifier=VERIFIER)
        st.put_resource(resource(), NOW)
        n = 0
        while True:
            whole, items = st.put_entries(resource().id, crash_batch(n), NOW)
            assert whole.ok and all(r.ok for r in items), items
            print(n, flush=True)
            n += 1
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    committed = -1
    try:
        for line in proc.stdout:
            committed = int(line)
            if committed >= 6:
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert committed >= 6
    assert (tmp_path / "crash.db-wal").exists()
    with Store(path, local_peer=pid(LOCAL), verifier=VERIFIER) as st:
        stored = set(st.get_entries(RID, NOW, limit=100_000)[0])
        for n in range(committed + 1):
            assert {rec.encode() for rec in crash_batch(n)} <= stored


def _v1_database(path: Path) -> list[bytes]:
    """A database as the first schema version wrote it: one resource, a record and a host record."""
    db = sqlite3.connect(path, isolation_level=None)
    assert migrate(db, MIGRATIONS[:1]) == 0
    res = resource()
    db.execute(
        "INSERT INTO resources (rk, id, label, owner, created_at_ms, body, signature, owner_public_key)"
        " VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
        (res.id, res.label, res.owner, res.created_at_ms, res.body, res.signature, res.owner_public_key),
    )
    records = [record(2, "old"), record(LOCAL, "mine", ttl_s=60)]
    for rec in records:
        db.execute(
            "INSERT INTO entries VALUES (1, ?, ?, ?, ?, 0, ?, ?, ?, 0, ?, ?)",
            (
                identity_digest(rec.identity),
                rec.issuer,
                rec.host,
                rec.service_id,
                rec.issued_at_ms,
                rec.host_signed_at_ms,
                rec.expires_at_ms,
                rec.version,
                rec.encode(),
            ),
        )
    assert schema_version(db) == 1
    db.close()
    return sorted(rec.encode() for rec in records)


def test_migration_from_v1_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    raws = _v1_database(path)
    with Store(path, local_peer=pid(LOCAL), limits=Limits(max_records_per_resource=2), verifier=VERIFIER) as st:
        assert st._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == SCHEMA_VERSION
        assert st.get_resource(RID) == resource()
        assert sorted(st.get_entries(RID, NOW)[0]) == raws
        indexes = {r[0] for r in st._db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"entries_counted_by_issuer", "entries_counted_by_resource", "entries_local_hosted"} <= indexes
        # The columns added since v1 are filled in: the old host record is ours (due for renewal,
        # outside the quota), and the upgraded store takes writes through every new column.
        assert [r.service_id for r in st.due_for_renewal(NOW + 30_000)] == ["mine"]
        assert all(r.ok for r in st.put_entries(RID, [record(3), tombstone(4, "x")], NOW)[1])
    with Store(path, local_peer=pid(LOCAL), verifier=VERIFIER) as st:
        assert len(st.get_entries(RID, NOW, include_tombstones=True)[0]) == 4


def test_a_new_local_peer_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    with Store(path, local_peer=pid(LOCAL), verifier=VERIFIER) as st:
        st.put_resource(resource(), NOW)
        st.put_entries(RID, [record(LOCAL, ttl_s=60), record(2, ttl_s=60)], NOW)
        assert [r.host for r in st.due_for_renewal(NOW + 30_000)] == [pid(LOCAL)]
    with Store(path, local_peer=pid(2), verifier=VERIFIER) as st:
        assert [r.host for r in st.due_for_renewal(NOW + 30_000)] == [pid(2)]


def test_a_failing_migration_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _v1_database(path)
    before = _dump(path)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    db = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(RuntimeError, match="boom"):
        migrate(db, (*MIGRATIONS, broken))
    db.close()
    assert _dump(path) == before


def test_a_newer_schema_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with Store(path, local_peer=pid(LOCAL), verifier=VERIFIER) as st:
        st.put_resource(resource(), NOW)
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = 99 WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(SchemaVersionError, match=r"schema version 99.*newer release"):
        Store(path, local_peer=pid(LOCAL), verifier=VERIFIER)
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM resources").fetchone()[0] == 1
    db.close()


def test_a_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE something (x)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="not a registry store"):
        Store(path, local_peer=pid(LOCAL), verifier=VERIFIER)


def test_crash_batches_are_deterministic() -> None:
    # The crash test relies on the child and the parent signing identical bytes.
    assert [r.encode() for r in crash_batch(3)] == [r.encode() for r in crash_batch(3)]
