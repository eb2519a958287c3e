"""Fan a request out to a replica set and gather answers: `ack` successes or a timeout."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import trio
from libp2p.peer.id import ID

from registry_p2p.core.errors import RegistryError
from registry_p2p.net.client import PeerUnavailable

log = logging.getLogger("registry_p2p.fanout")

T = TypeVar("T")

# With a window, one more peer is asked whenever this long passed without an answer: a peer
# that hangs costs this much, one that refuses or is unreachable costs nothing (it is replaced
# at once).
HEDGE_S = 0.25


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
    on_unreachable: Callable[[ID], None] | None = None,
    background: Any = None,
    window: int | None = None,
    hedge_s: float = HEDGE_S,
) -> Gathered[T]:
    """Ask peers concurrently; return once `need` answers succeeded, all answered, or timeout.

    `ask` returns an answer or raises PeerUnavailable / RegistryError; `succeeded` decides whether
    an answer counts.

    `window` (default: every peer) bounds how many requests are in flight before `need`
    successes: peers are asked in the order given (closest first), a failed request is replaced
    by the next peer at once, and one more peer is asked each `hedge_s` without an answer.
    Asking everyone at once costs a replica set of 20 twenty requests per read for one answer.

    Stragglers are cancelled when the call returns, unless a `background` nursery is given: then
    they finish there, and the peers the window had not reached yet are asked there too, so a
    write still reaches every peer while the caller goes on.
    """
    out: Gathered[T] = Gathered()
    if not peers:
        return out
    waiting = list(peers)
    started: list[ID] = []
    limit = len(peers) if window is None else max(window, need)
    running = 0
    wake = trio.Event()

    async def one(peer: ID) -> None:
        nonlocal running
        try:
            answer = await ask(peer)
        except PeerUnavailable as exc:
            out.errors[peer] = exc.reason
            if exc.unsupported and on_unsupported is not None:
                on_unsupported(peer)
            elif not exc.unsupported and on_unreachable is not None:
                on_unreachable(peer)
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
            running -= 1
            wake.set()

    async def bounded(peer: ID) -> None:
        with trio.move_on_after(timeout):
            await one(peer)

    def launch(nursery: Any, count: int) -> None:
        nonlocal running
        for _ in range(count):
            if not waiting:
                return
            peer = waiting.pop(0)
            started.append(peer)
            running += 1
            if background is not None:
                background.start_soon(bounded, peer)
            else:
                nursery.start_soon(one, peer)

    with trio.move_on_after(timeout) as scope:
        async with trio.open_nursery() as nursery:
            launch(nursery, limit)
            while len(out.successes) < need and (running or waiting):
                # Keep enough requests in flight to reach `need`, plus the window's spare ones.
                in_flight = (need - len(out.successes)) + (limit - need)
                if running < in_flight:
                    launch(nursery, in_flight - running)
                wake = trio.Event()
                with trio.move_on_after(hedge_s if waiting else math.inf):
                    await wake.wait()
                if not wake.is_set():
                    launch(nursery, 1)  # nobody answered for a while: hedge
            nursery.cancel_scope.cancel()
    if background is not None:
        launch(None, len(waiting))  # the rest of the replica set still gets the request
    if scope.cancelled_caught:
        out.timed_out = True
        for peer in started:
            if peer not in out.successes and peer not in out.errors:
                out.errors[peer] = "timeout"
    return out


def _describe(answer: Any) -> str:
    describe = getattr(answer, "describe", None)
    return str(describe()) if callable(describe) else "refused"
