"""The one classifier of py-libp2p's exceptions, by their classes (never by their names or text).

    is_stream_closed        the stream ended under us (EOF, reset, closed): not worth a traceback
    is_protocol_unsupported the peer answered the protocol negotiation refusing what we offered

The framing codec (net/framing.py) stays free of py-libp2p: a clean end of stream there is
caught as EOFError, which py-libp2p's StreamEOF and MuxedStreamEOF derive from (tests/net/
test_adapter.py checks that they still do).
"""

from __future__ import annotations

from collections.abc import Iterator

from libp2p.network.stream.exceptions import StreamError
from libp2p.protocol_muxer.exceptions import MultiselectClientError, MultiselectCommunicatorError


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the exceptions it was raised from (py-libp2p wraps, e.g. StreamFailure from
    MultiselectClientError)."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__


def is_stream_closed(exc: BaseException) -> bool:
    """A stream that ended under us: py-libp2p's StreamError family (StreamEOF, StreamReset, StreamClosed)."""
    return isinstance(exc, StreamError)


def is_protocol_unsupported(exc: BaseException) -> bool:
    """Opening a stream failed in protocol negotiation, not in transport.

    py-libp2p 0.8.1's host.new_stream raises StreamFailure from a MultiselectClientError; the
    peer's "na" (ProtocolNotSupportedError) is folded into that error. A negotiation that failed
    because the stream broke (a MultiselectCommunicatorError cause) says nothing about the
    peer's protocols: that peer counts as unreachable.
    """
    for link in _causes(exc):
        if isinstance(link, MultiselectClientError):
            return not isinstance(link.__cause__, MultiselectCommunicatorError)
    return False
