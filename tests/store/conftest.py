from __future__ import annotations

from collections.abc import Iterator

import pytest

from registry_p2p.core.limits import DEFAULT_LIMITS, Limits
from registry_p2p.store import Store
from tests.store.store_helpers import LOCAL, NOW, VERIFIER, StoreFactory, pid, resource


@pytest.fixture
def make_store() -> Iterator[StoreFactory]:
    """Open stores (closed at teardown); keyword arguments go to Store."""
    opened: list[Store] = []

    def factory(path: str = ":memory:", *, limits: Limits = DEFAULT_LIMITS, **kwargs: object) -> Store:
        kwargs.setdefault("local_peer", pid(LOCAL))
        kwargs.setdefault("verifier", VERIFIER)
        st = Store(path, limits=limits, **kwargs)  # type: ignore[arg-type]
        opened.append(st)
        return st

    yield factory
    for st in opened:
        st.close()


@pytest.fixture
def store(make_store: StoreFactory) -> Store:
    st = make_store()
    assert st.put_resource(resource(), NOW).ok
    return st
