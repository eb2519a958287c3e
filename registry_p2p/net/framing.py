"""The one framing codec of /registry/1.0.0: uvarint(length) ‖ protobuf Message, capped in size."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from google.protobuf.message import DecodeError, Message

from registry_p2p.core.ids import uvarint
from registry_p2p.core.limits import MIB
from registry_p2p.pb import registry_pb2 as pb

MAX_FRAME_BYTES = 1 * MIB
_MAX_VARINT_BYTES = 10
_READ_CHUNK = 64 * 1024


class FrameError(Exception):
    """The peer sent something that is not a frame: the stream is reset."""


class FrameBudgetExceeded(FrameError):
    """The peer (or all peers together) already buffer as much partial frame data as allowed."""


class FrameTooLarge(FrameError):
    pass


class ByteStream(Protocol):
    async def read(self, n: int | None = None) -> bytes: ...
    async def write(self, data: bytes) -> None: ...


def encode_frame(message: Message) -> bytes:
    """A frame of any protobuf message (/registry/1.0.0 and /rendezvous/1.0.0 frame alike)."""
    data = message.SerializeToString()
    return uvarint(len(data)) + data


class FrameReader:
    """Reads frames from a stream, buffering what arrives beyond the current frame.

    `read_frame` returns None on a clean end of stream between frames; an end of stream inside
    a frame, an over-long varint or an oversized length raises FrameError.
    """

    def __init__(
        self,
        stream: ByteStream,
        max_bytes: int = MAX_FRAME_BYTES,
        reserve: Callable[[int], bool] | None = None,
        release: Callable[[int], None] | None = None,
    ) -> None:
        self._stream = stream
        self._max = max_bytes
        self._buf = bytearray()
        self._eof = False
        # A server's memory budget: room for a frame is reserved once its length is known,
        # before its body arrives, and released when the frame is complete or the stream ends.
        self._reserve = reserve
        self._release = release
        self._reserved = 0

    def release_budget(self) -> None:
        if self._reserved and self._release is not None:
            self._release(self._reserved)
        self._reserved = 0

    async def _fill(self) -> bool:
        if self._eof:
            return False
        try:
            chunk = await self._stream.read(_READ_CHUNK)
        except EOFError:  # py-libp2p's StreamEOF and MuxedStreamEOF at a clean end (see adapter/errors.py)
            self._eof = True
            return False
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    def _parse_length(self) -> tuple[int, int] | None:
        value = 0
        for i in range(min(len(self._buf), _MAX_VARINT_BYTES)):
            byte = self._buf[i]
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                return value, i + 1
        if len(self._buf) >= _MAX_VARINT_BYTES:
            raise FrameError("frame length varint is too long")
        return None

    async def read_frame(self) -> bytes | None:
        while True:
            parsed = self._parse_length()
            if parsed is not None:
                break
            if not await self._fill():
                if self._buf:
                    raise FrameError("stream ended inside a frame length")
                return None
        length, header = parsed
        if length > self._max:
            raise FrameTooLarge(f"frame of {length} bytes is over the {self._max}-byte limit")
        if len(self._buf) < header + length and self._reserve is not None:
            if not self._reserve(length):
                raise FrameBudgetExceeded(f"no room to buffer a frame of {length} bytes from this peer now")
            self._reserved = length
        while len(self._buf) < header + length:
            if not await self._fill():
                raise FrameError("stream ended inside a frame")
        frame = bytes(self._buf[header : header + length])
        del self._buf[: header + length]
        self.release_budget()
        return frame

    async def read_message(self) -> pb.Message | None:
        frame = await self.read_frame()
        if frame is None:
            return None
        return decode_message(frame)


def decode_message(frame: bytes) -> pb.Message:
    try:
        return pb.Message.FromString(frame)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise FrameError(f"frame is not a registry Message: {exc}") from exc
