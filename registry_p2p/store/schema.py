"""The on-disk schema and its forward-only migrations.

A database records the number of migrations applied to it in `meta.schema_version`. Opening a
database runs the missing migrations, in order, inside one transaction: the file is either fully
upgraded or left untouched. Migrations only ever add (tables, columns, indexes) and backfill; none
drops data, unlike Fluence, whose tables were dropped whenever their schema text changed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

Migration = Callable[[sqlite3.Connection], None]


class StoreError(Exception):
    """The database cannot be used by this code (not a store, unknown schema, ...)."""


class SchemaVersionError(StoreError):
    """The database was written by a newer registry-p2p: refusing to guess what it means."""


def _v1_tables(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE resources (
            rk INTEGER PRIMARY KEY,
            id BLOB NOT NULL UNIQUE,
            label TEXT NOT NULL,
            owner BLOB NOT NULL,
            created_at_ms INTEGER NOT NULL,
            body BLOB NOT NULL,
            signature BLOB NOT NULL,
            owner_public_key BLOB NOT NULL
        )
        """
    )
    # One row per identity: the winning record or tombstone. `raw` is the serialized Entry exactly
    # as received; every other column is derived from it so that queries never decode.
    conn.execute(
        """
        CREATE TABLE entries (
            rk INTEGER NOT NULL REFERENCES resources(rk) ON DELETE CASCADE,
            ident BLOB NOT NULL,
            issuer BLOB NOT NULL,
            host BLOB NOT NULL,
            service_id TEXT NOT NULL,
            is_tombstone INTEGER NOT NULL,
            issued_at_ms INTEGER NOT NULL,
            host_signed_at_ms INTEGER NOT NULL,
            expires_at_ms INTEGER NOT NULL,
            weight INTEGER NOT NULL,
            version BLOB NOT NULL,
            raw BLOB NOT NULL,
            PRIMARY KEY (rk, ident)
        )
        """
    )


def _v2_quotas_and_maintenance(conn: sqlite3.Connection) -> None:
    # Tombstones that arrived for identities the node did not hold are bounded per resource.
    # Rows written by v1 are not known to be orphans; counting them as held is the safe side
    # (they expire within one tombstone lifetime anyway).
    conn.execute("ALTER TABLE entries ADD COLUMN orphan INTEGER NOT NULL DEFAULT 0")
    # 1 when the row's host is this node. Quotas exempt such records and renewal looks only at
    # them; the Store sets the column on open (see Store._adopt_local_peer), since only it knows
    # which peer it runs as.
    conn.execute("ALTER TABLE entries ADD COLUMN local_host INTEGER NOT NULL DEFAULT 0")
    # Partial indexes that answer the quota counts and the renewal scan from the index alone.
    conn.execute(
        "CREATE INDEX entries_counted_by_issuer ON entries(issuer, expires_at_ms)"
        " WHERE is_tombstone = 0 AND local_host = 0"
    )
    conn.execute(
        "CREATE INDEX entries_counted_by_resource ON entries(rk, expires_at_ms)"
        " WHERE is_tombstone = 0 AND local_host = 0"
    )
    conn.execute(
        "CREATE INDEX entries_local_hosted ON entries(expires_at_ms) WHERE is_tombstone = 0 AND local_host = 1"
    )
    conn.execute("CREATE INDEX entries_by_expiry ON entries(expires_at_ms)")


def _v3_resources_by_owner(conn: sqlite3.Connection) -> None:
    # The per-owner resource quota counts an owner's resources on every PutResource.
    conn.execute("CREATE INDEX resources_by_owner ON resources(owner)")


MIGRATIONS: tuple[Migration, ...] = (_v1_tables, _v2_quotas_and_maintenance, _v3_resources_by_owner)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    """The version recorded in the database; 0 for an empty database."""
    has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    if has_meta is None:
        others = conn.execute("SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchone()[0]
        if others:
            raise StoreError("the database holds tables but no registry-p2p `meta` table: not a registry store")
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        raise StoreError("the database's meta table has no schema_version")
    return int(row[0])


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS, *, where: str = "") -> int:
    """Bring the database up to `len(migrations)`; return the version it had before.

    `conn` must be in autocommit mode (isolation_level=None): the transaction is ours.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = schema_version(conn)
        target = len(migrations)
        if before > target:
            raise SchemaVersionError(
                f"database {where or '(in memory)'} has schema version {before}, but this registry-p2p only knows "
                f"versions up to {target}: it was written by a newer release; upgrade registry-p2p or use "
                "another data directory"
            )
        if before == 0:
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value NOT NULL)")
            conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', 0)")
        for migration in migrations[before:]:
            migration(conn)
        if before != target:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (target,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return before
