"""A resource's digest is kept between calls; what is kept is always what a fresh read gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from registry_p2p.store import Store
from tests.store.store_helpers import LOCAL, NOW, VERIFIER, pid, resource
from tests.store.test_store_convergence import pool

RID = resource().id


def _fresh(store: Store, now: int) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    store._digests.clear()
    return store.digest(RID, now)


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("put"), st.lists(st.integers(0, 47), min_size=1, max_size=5)),
            st.tuples(st.just("digest"), st.integers(-50, 70_000)),
            st.tuples(st.just("gc"), st.integers(0, 70_000)),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_a_kept_digest_is_what_a_fresh_read_gives(steps: list[tuple[str, object]]) -> None:
    """Writes, time (records of 60 s expire within the range), gc and a clock that steps back."""
    with Store(local_peer=pid(LOCAL), verifier=VERIFIER) as store:
        store.put_resource(resource(), NOW)
        for kind, arg in steps:
            if kind == "put":
                assert isinstance(arg, list)
                store.put_entries(RID, [pool()[i] for i in arg], NOW)
            elif kind == "gc":
                assert isinstance(arg, int)
                store.gc(NOW + arg)
            else:
                assert isinstance(arg, int)
                kept = store.digest(RID, NOW + arg)
                assert kept == store.digest(RID, NOW + arg)  # from what is kept, this time
                assert kept == _fresh(store, NOW + arg)


def test_a_digest_is_read_once_while_nothing_changes() -> None:
    with Store(local_peer=pid(LOCAL), verifier=VERIFIER) as store:
        store.put_resource(resource(), NOW)
        store.put_entries(RID, list(pool()[:8]), NOW)
        first = store.digest(RID, NOW)
        assert store.digest(RID, NOW + 10)[1] is first[1]
        store.put_entries(RID, [pool()[8]], NOW)
        assert store.digest(RID, NOW + 10)[1] is not first[1]


def test_a_kept_digest_follows_expiry_and_a_clock_that_steps_back() -> None:
    short = pool()[4]  # issued at NOW + 10 with a TTL of 60 s
    with Store(local_peer=pid(LOCAL), verifier=VERIFIER) as store:
        store.put_resource(resource(), NOW)
        store.put_entries(RID, [short], NOW)
        assert len(store.digest(RID, NOW + 100)[1]) == 1
        assert store.digest(RID, NOW + 70_000)[1] == []  # expired since the digest was kept
        assert len(store.digest(RID, NOW + 100)[1]) == 1  # the clock stepped back: live again
