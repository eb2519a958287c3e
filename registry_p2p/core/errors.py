"""The project's one error type: every refusal carries a wire status and a readable text."""

from __future__ import annotations

import enum

from registry_p2p.pb import registry_pb2 as pb


class Status(enum.IntEnum):
    """Mirrors the wire enum `registry.v1.Status`; values are the protobuf numbers."""

    OK = pb.OK
    MALFORMED = pb.MALFORMED
    TOO_LARGE = pb.TOO_LARGE
    INVALID_SIGNATURE = pb.INVALID_SIGNATURE
    EXPIRED = pb.EXPIRED
    FROM_FUTURE = pb.FROM_FUTURE
    SUPERSEDED = pb.SUPERSEDED
    UNKNOWN_RESOURCE = pb.UNKNOWN_RESOURCE
    LIMIT_EXCEEDED = pb.LIMIT_EXCEEDED
    NOT_AUTHORIZED = pb.NOT_AUTHORIZED
    RATE_LIMITED = pb.RATE_LIMITED
    UNAVAILABLE = pb.UNAVAILABLE
    INTERNAL = pb.INTERNAL


class RegistryError(Exception):
    """A refusal with a wire status. `str(err)` is `STATUS: text`."""

    def __init__(self, status: Status, text: str) -> None:
        super().__init__(f"{status.name}: {text}")
        self.status = status
        self.text = text


def malformed(text: str) -> RegistryError:
    return RegistryError(Status.MALFORMED, text)
