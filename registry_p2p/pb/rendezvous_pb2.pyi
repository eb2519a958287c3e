from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Message(_message.Message):
    __slots__ = ("type", "register", "registerResponse", "unregister", "discover", "discoverResponse")
    class MessageType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        REGISTER: _ClassVar[Message.MessageType]
        REGISTER_RESPONSE: _ClassVar[Message.MessageType]
        UNREGISTER: _ClassVar[Message.MessageType]
        DISCOVER: _ClassVar[Message.MessageType]
        DISCOVER_RESPONSE: _ClassVar[Message.MessageType]
    REGISTER: Message.MessageType
    REGISTER_RESPONSE: Message.MessageType
    UNREGISTER: Message.MessageType
    DISCOVER: Message.MessageType
    DISCOVER_RESPONSE: Message.MessageType
    class ResponseStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OK: _ClassVar[Message.ResponseStatus]
        E_INVALID_NAMESPACE: _ClassVar[Message.ResponseStatus]
        E_INVALID_SIGNED_PEER_RECORD: _ClassVar[Message.ResponseStatus]
        E_INVALID_TTL: _ClassVar[Message.ResponseStatus]
        E_INVALID_COOKIE: _ClassVar[Message.ResponseStatus]
        E_POW_REQUIRED: _ClassVar[Message.ResponseStatus]
        E_DIFFICULTY_TOO_LOW: _ClassVar[Message.ResponseStatus]
        E_NOT_AUTHORIZED: _ClassVar[Message.ResponseStatus]
        E_INTERNAL_ERROR: _ClassVar[Message.ResponseStatus]
        E_UNAVAILABLE: _ClassVar[Message.ResponseStatus]
    OK: Message.ResponseStatus
    E_INVALID_NAMESPACE: Message.ResponseStatus
    E_INVALID_SIGNED_PEER_RECORD: Message.ResponseStatus
    E_INVALID_TTL: Message.ResponseStatus
    E_INVALID_COOKIE: Message.ResponseStatus
    E_POW_REQUIRED: Message.ResponseStatus
    E_DIFFICULTY_TOO_LOW: Message.ResponseStatus
    E_NOT_AUTHORIZED: Message.ResponseStatus
    E_INTERNAL_ERROR: Message.ResponseStatus
    E_UNAVAILABLE: Message.ResponseStatus
    class Register(_message.Message):
        __slots__ = ("ns", "signedPeerRecord", "ttl")
        NS_FIELD_NUMBER: _ClassVar[int]
        SIGNEDPEERRECORD_FIELD_NUMBER: _ClassVar[int]
        TTL_FIELD_NUMBER: _ClassVar[int]
        ns: str
        signedPeerRecord: bytes
        ttl: int
        def __init__(self, ns: _Optional[str] = ..., signedPeerRecord: _Optional[bytes] = ..., ttl: _Optional[int] = ...) -> None: ...
    class RegisterResponse(_message.Message):
        __slots__ = ("status", "statusText", "ttl", "challenge")
        STATUS_FIELD_NUMBER: _ClassVar[int]
        STATUSTEXT_FIELD_NUMBER: _ClassVar[int]
        TTL_FIELD_NUMBER: _ClassVar[int]
        CHALLENGE_FIELD_NUMBER: _ClassVar[int]
        status: Message.ResponseStatus
        statusText: str
        ttl: int
        challenge: bytes
        def __init__(self, status: _Optional[_Union[Message.ResponseStatus, str]] = ..., statusText: _Optional[str] = ..., ttl: _Optional[int] = ..., challenge: _Optional[bytes] = ...) -> None: ...
    class Unregister(_message.Message):
        __slots__ = ("ns", "id")
        NS_FIELD_NUMBER: _ClassVar[int]
        ID_FIELD_NUMBER: _ClassVar[int]
        ns: str
        id: bytes
        def __init__(self, ns: _Optional[str] = ..., id: _Optional[bytes] = ...) -> None: ...
    class Discover(_message.Message):
        __slots__ = ("ns", "limit", "cookie")
        NS_FIELD_NUMBER: _ClassVar[int]
        LIMIT_FIELD_NUMBER: _ClassVar[int]
        COOKIE_FIELD_NUMBER: _ClassVar[int]
        ns: str
        limit: int
        cookie: bytes
        def __init__(self, ns: _Optional[str] = ..., limit: _Optional[int] = ..., cookie: _Optional[bytes] = ...) -> None: ...
    class DiscoverResponse(_message.Message):
        __slots__ = ("registrations", "cookie", "status", "statusText")
        REGISTRATIONS_FIELD_NUMBER: _ClassVar[int]
        COOKIE_FIELD_NUMBER: _ClassVar[int]
        STATUS_FIELD_NUMBER: _ClassVar[int]
        STATUSTEXT_FIELD_NUMBER: _ClassVar[int]
        registrations: _containers.RepeatedCompositeFieldContainer[Message.Register]
        cookie: bytes
        status: Message.ResponseStatus
        statusText: str
        def __init__(self, registrations: _Optional[_Iterable[_Union[Message.Register, _Mapping]]] = ..., cookie: _Optional[bytes] = ..., status: _Optional[_Union[Message.ResponseStatus, str]] = ..., statusText: _Optional[str] = ...) -> None: ...
    class ProofOfWork(_message.Message):
        __slots__ = ("hash", "nonce")
        HASH_FIELD_NUMBER: _ClassVar[int]
        NONCE_FIELD_NUMBER: _ClassVar[int]
        hash: _containers.RepeatedScalarFieldContainer[bytes]
        nonce: int
        def __init__(self, hash: _Optional[_Iterable[bytes]] = ..., nonce: _Optional[int] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    REGISTERRESPONSE_FIELD_NUMBER: _ClassVar[int]
    UNREGISTER_FIELD_NUMBER: _ClassVar[int]
    DISCOVER_FIELD_NUMBER: _ClassVar[int]
    DISCOVERRESPONSE_FIELD_NUMBER: _ClassVar[int]
    type: Message.MessageType
    register: Message.Register
    registerResponse: Message.RegisterResponse
    unregister: Message.Unregister
    discover: Message.Discover
    discoverResponse: Message.DiscoverResponse
    def __init__(self, type: _Optional[_Union[Message.MessageType, str]] = ..., register: _Optional[_Union[Message.Register, _Mapping]] = ..., registerResponse: _Optional[_Union[Message.RegisterResponse, _Mapping]] = ..., unregister: _Optional[_Union[Message.Unregister, _Mapping]] = ..., discover: _Optional[_Union[Message.Discover, _Mapping]] = ..., discoverResponse: _Optional[_Union[Message.DiscoverResponse, _Mapping]] = ...) -> None: ...

class Envelope(_message.Message):
    __slots__ = ("public_key", "payload_type", "payload", "signature")
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    public_key: bytes
    payload_type: bytes
    payload: bytes
    signature: bytes
    def __init__(self, public_key: _Optional[bytes] = ..., payload_type: _Optional[bytes] = ..., payload: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class PeerRecord(_message.Message):
    __slots__ = ("peer_id", "seq", "addresses")
    class AddressInfo(_message.Message):
        __slots__ = ("multiaddr",)
        MULTIADDR_FIELD_NUMBER: _ClassVar[int]
        multiaddr: bytes
        def __init__(self, multiaddr: _Optional[bytes] = ...) -> None: ...
    PEER_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    peer_id: bytes
    seq: int
    addresses: _containers.RepeatedCompositeFieldContainer[PeerRecord.AddressInfo]
    def __init__(self, peer_id: _Optional[bytes] = ..., seq: _Optional[int] = ..., addresses: _Optional[_Iterable[_Union[PeerRecord.AddressInfo, _Mapping]]] = ...) -> None: ...
