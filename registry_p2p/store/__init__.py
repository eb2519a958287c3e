"""SQLite storage applying the core rules atomically. Imports core/ and the stdlib only."""

from registry_p2p.store.schema import MIGRATIONS, SCHEMA_VERSION, SchemaVersionError, StoreError
from registry_p2p.store.sqlite import GcResult, ItemResult, Store

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "GcResult", "ItemResult", "SchemaVersionError", "Store", "StoreError"]
