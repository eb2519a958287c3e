"""Fan a request out to a replica set and gather answers: `ack` successes or a timeout."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import trio
from libp2p.peer.id import ID

from registry_p2p.core.errors import RegistryError
from registry_p2p.net.client import PeerUnavailable

log = logging.getLogger("registry_p2p.fanout")

T = TypeVar("T")


@dataclass
class Gathered(Generic[T]):
    successes: dict[ID, T] = field(default_factory=dict)
    errors: dict[ID, str] = field(default_factory=dict)
    timed_out: bool = False


async def gather(
    peers: list[ID],
    ask: Callable[[ID], Awaitable[T]],
    *,
    need: int,
    timeout: float,
    succeeded: Callable[[T], bool] = lambda _: True,
    on_unsupported: Callable[[ID], None] | None = None,
    background: trio.Nursery | None = None,
) -> Gathered[T]:
    """Ask every peer concurrently; return once `need` answers succeeded, all answered, or timeout.

    `ask` returns an answer or raises PeerUnavailable / RegistryError; `succeeded` decides whether
    an answer counts. Stragglers are cancelled when the call returns, unless a `background`
    nursery is given: then they finish there (a write still reaches every replica) while the
    caller goes on.
    """
    out: Gathered[T] = Gathered()
    done = trio.Event()
    pending = len(peers)
    if pending == 0:
        return out

    async def one(peer: ID) -> None:
        nonlocal pending
        try:
            answer = await ask(peer)
        except PeerUnavailable as exc:
            out.errors[peer] = exc.reason
            if exc.unsupported and on_unsupported is not None:
                on_unsupported(peer)
        except RegistryError as err:
            out.errors[peer] = err.status.name
        except Exception as exc:  # never let one peer's surprise abort the others
            log.debug("request to %s failed: %r", peer, exc)
            out.errors[peer] = f"error: {exc}"
        else:
            if succeeded(answer):
                out.successes[peer] = answer
            else:
                out.errors[peer] = _describe(answer)
        finally:
            pending -= 1
            if pending == 0 or len(out.successes) >= need:
                done.set()

    async def bounded(peer: ID) -> None:
        with trio.move_on_after(timeout):
            await one(peer)

    with trio.move_on_after(timeout) as scope:
        if background is not None:
            for peer in peers:
                background.start_soon(bounded, peer)
            await done.wait()
        else:
            async with trio.open_nursery() as nursery:
                for peer in peers:
                    nursery.start_soon(one, peer)
                await done.wait()
                nursery.cancel_scope.cancel()
    if scope.cancelled_caught:
        out.timed_out = True
        for peer in peers:
            if peer not in out.successes and peer not in out.errors:
                out.errors[peer] = "timeout"
    return out


def _describe(answer: Any) -> str:
    describe = getattr(answer, "describe", None)
    return str(describe()) if callable(describe) else "refused"
