from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WritePolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WRITE_POLICY_OPEN: _ClassVar[WritePolicy]
    WRITE_POLICY_OWNER_APPROVED: _ClassVar[WritePolicy]

class HealthStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HEALTH_PASSING: _ClassVar[HealthStatus]
    HEALTH_CRITICAL: _ClassVar[HealthStatus]

class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OK: _ClassVar[Status]
    MALFORMED: _ClassVar[Status]
    TOO_LARGE: _ClassVar[Status]
    INVALID_SIGNATURE: _ClassVar[Status]
    EXPIRED: _ClassVar[Status]
    FROM_FUTURE: _ClassVar[Status]
    SUPERSEDED: _ClassVar[Status]
    UNKNOWN_RESOURCE: _ClassVar[Status]
    LIMIT_EXCEEDED: _ClassVar[Status]
    NOT_AUTHORIZED: _ClassVar[Status]
    RATE_LIMITED: _ClassVar[Status]
    UNAVAILABLE: _ClassVar[Status]
    INTERNAL: _ClassVar[Status]
WRITE_POLICY_OPEN: WritePolicy
WRITE_POLICY_OWNER_APPROVED: WritePolicy
HEALTH_PASSING: HealthStatus
HEALTH_CRITICAL: HealthStatus
OK: Status
MALFORMED: Status
TOO_LARGE: Status
INVALID_SIGNATURE: Status
EXPIRED: Status
FROM_FUTURE: Status
SUPERSEDED: Status
UNKNOWN_RESOURCE: Status
LIMIT_EXCEEDED: Status
NOT_AUTHORIZED: Status
RATE_LIMITED: Status
UNAVAILABLE: Status
INTERNAL: Status

class ResourceBody(_message.Message):
    __slots__ = ("label", "owner", "created_at_ms", "write_policy")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    WRITE_POLICY_FIELD_NUMBER: _ClassVar[int]
    label: str
    owner: bytes
    created_at_ms: int
    write_policy: WritePolicy
    def __init__(self, label: _Optional[str] = ..., owner: _Optional[bytes] = ..., created_at_ms: _Optional[int] = ..., write_policy: _Optional[_Union[WritePolicy, str]] = ...) -> None: ...

class Resource(_message.Message):
    __slots__ = ("body", "signature", "owner_public_key")
    BODY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    OWNER_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    signature: bytes
    owner_public_key: bytes
    def __init__(self, body: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., owner_public_key: _Optional[bytes] = ...) -> None: ...

class RecordBody(_message.Message):
    __slots__ = ("resource_id", "issuer", "host", "service_id", "value", "issued_at_ms", "ttl_s")
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    TTL_S_FIELD_NUMBER: _ClassVar[int]
    resource_id: bytes
    issuer: bytes
    host: bytes
    service_id: str
    value: bytes
    issued_at_ms: int
    ttl_s: int
    def __init__(self, resource_id: _Optional[bytes] = ..., issuer: _Optional[bytes] = ..., host: _Optional[bytes] = ..., service_id: _Optional[str] = ..., value: _Optional[bytes] = ..., issued_at_ms: _Optional[int] = ..., ttl_s: _Optional[int] = ...) -> None: ...

class HostBody(_message.Message):
    __slots__ = ("issuer_body_sha256", "host_signed_at_ms", "addrs", "health")
    ISSUER_BODY_SHA256_FIELD_NUMBER: _ClassVar[int]
    HOST_SIGNED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ADDRS_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    issuer_body_sha256: bytes
    host_signed_at_ms: int
    addrs: _containers.RepeatedScalarFieldContainer[bytes]
    health: HealthStatus
    def __init__(self, issuer_body_sha256: _Optional[bytes] = ..., host_signed_at_ms: _Optional[int] = ..., addrs: _Optional[_Iterable[bytes]] = ..., health: _Optional[_Union[HealthStatus, str]] = ...) -> None: ...

class Record(_message.Message):
    __slots__ = ("issuer_body", "issuer_signature", "host_body", "host_signature", "issuer_public_key", "host_public_key")
    ISSUER_BODY_FIELD_NUMBER: _ClassVar[int]
    ISSUER_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    HOST_BODY_FIELD_NUMBER: _ClassVar[int]
    HOST_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    ISSUER_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    HOST_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    issuer_body: bytes
    issuer_signature: bytes
    host_body: bytes
    host_signature: bytes
    issuer_public_key: bytes
    host_public_key: bytes
    def __init__(self, issuer_body: _Optional[bytes] = ..., issuer_signature: _Optional[bytes] = ..., host_body: _Optional[bytes] = ..., host_signature: _Optional[bytes] = ..., issuer_public_key: _Optional[bytes] = ..., host_public_key: _Optional[bytes] = ...) -> None: ...

class TombstoneBody(_message.Message):
    __slots__ = ("resource_id", "issuer", "host", "service_id", "issued_at_ms")
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    resource_id: bytes
    issuer: bytes
    host: bytes
    service_id: str
    issued_at_ms: int
    def __init__(self, resource_id: _Optional[bytes] = ..., issuer: _Optional[bytes] = ..., host: _Optional[bytes] = ..., service_id: _Optional[str] = ..., issued_at_ms: _Optional[int] = ...) -> None: ...

class Tombstone(_message.Message):
    __slots__ = ("body", "signature", "issuer_public_key")
    BODY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    ISSUER_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    signature: bytes
    issuer_public_key: bytes
    def __init__(self, body: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., issuer_public_key: _Optional[bytes] = ...) -> None: ...

class GrantBody(_message.Message):
    __slots__ = ("resource_id", "grantee", "service_prefix", "issued_at_ms", "expires_at_ms", "revoked")
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    resource_id: bytes
    grantee: bytes
    service_prefix: str
    issued_at_ms: int
    expires_at_ms: int
    revoked: bool
    def __init__(self, resource_id: _Optional[bytes] = ..., grantee: _Optional[bytes] = ..., service_prefix: _Optional[str] = ..., issued_at_ms: _Optional[int] = ..., expires_at_ms: _Optional[int] = ..., revoked: bool = ...) -> None: ...

class Grant(_message.Message):
    __slots__ = ("body", "signature", "owner_public_key")
    BODY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    OWNER_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    signature: bytes
    owner_public_key: bytes
    def __init__(self, body: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., owner_public_key: _Optional[bytes] = ...) -> None: ...

class Entry(_message.Message):
    __slots__ = ("record", "tombstone", "grant")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    TOMBSTONE_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    record: Record
    tombstone: Tombstone
    grant: Grant
    def __init__(self, record: _Optional[_Union[Record, _Mapping]] = ..., tombstone: _Optional[_Union[Tombstone, _Mapping]] = ..., grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class EntryBatch(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, entries: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ("status", "text")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    status: Status
    text: str
    def __init__(self, status: _Optional[_Union[Status, str]] = ..., text: _Optional[str] = ...) -> None: ...

class PutResourceRequest(_message.Message):
    __slots__ = ("resource",)
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    resource: Resource
    def __init__(self, resource: _Optional[_Union[Resource, _Mapping]] = ...) -> None: ...

class PutResourceResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: Result
    def __init__(self, result: _Optional[_Union[Result, _Mapping]] = ...) -> None: ...

class GetResourceRequest(_message.Message):
    __slots__ = ("resource_id",)
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    resource_id: bytes
    def __init__(self, resource_id: _Optional[bytes] = ...) -> None: ...

class GetResourceResponse(_message.Message):
    __slots__ = ("result", "resource")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    result: Result
    resource: Resource
    def __init__(self, result: _Optional[_Union[Result, _Mapping]] = ..., resource: _Optional[_Union[Resource, _Mapping]] = ...) -> None: ...

class PutEntriesRequest(_message.Message):
    __slots__ = ("resource_id", "entries", "resource")
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    resource_id: bytes
    entries: _containers.RepeatedScalarFieldContainer[bytes]
    resource: Resource
    def __init__(self, resource_id: _Optional[bytes] = ..., entries: _Optional[_Iterable[bytes]] = ..., resource: _Optional[_Union[Resource, _Mapping]] = ...) -> None: ...

class PutEntriesResponse(_message.Message):
    __slots__ = ("result", "results")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    result: Result
    results: _containers.RepeatedCompositeFieldContainer[Result]
    def __init__(self, result: _Optional[_Union[Result, _Mapping]] = ..., results: _Optional[_Iterable[_Union[Result, _Mapping]]] = ...) -> None: ...

class GetEntriesRequest(_message.Message):
    __slots__ = ("resource_id", "limit", "cursor", "include_tombstones")
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_TOMBSTONES_FIELD_NUMBER: _ClassVar[int]
    resource_id: bytes
    limit: int
    cursor: bytes
    include_tombstones: bool
    def __init__(self, resource_id: _Optional[bytes] = ..., limit: _Optional[int] = ..., cursor: _Optional[bytes] = ..., include_tombstones: bool = ...) -> None: ...

class GetEntriesResponse(_message.Message):
    __slots__ = ("result", "entries", "next_cursor", "resource")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    result: Result
    entries: _containers.RepeatedScalarFieldContainer[bytes]
    next_cursor: bytes
    resource: Resource
    def __init__(self, result: _Optional[_Union[Result, _Mapping]] = ..., entries: _Optional[_Iterable[bytes]] = ..., next_cursor: _Optional[bytes] = ..., resource: _Optional[_Union[Resource, _Mapping]] = ...) -> None: ...

class DigestItem(_message.Message):
    __slots__ = ("identity", "version")
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    identity: bytes
    version: bytes
    def __init__(self, identity: _Optional[bytes] = ..., version: _Optional[bytes] = ...) -> None: ...

class DigestRequest(_message.Message):
    __slots__ = ("resource_id", "root")
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    resource_id: bytes
    root: bytes
    def __init__(self, resource_id: _Optional[bytes] = ..., root: _Optional[bytes] = ...) -> None: ...

class DigestResponse(_message.Message):
    __slots__ = ("result", "root", "resource_created_at_ms", "items")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    result: Result
    root: bytes
    resource_created_at_ms: int
    items: _containers.RepeatedCompositeFieldContainer[DigestItem]
    def __init__(self, result: _Optional[_Union[Result, _Mapping]] = ..., root: _Optional[bytes] = ..., resource_created_at_ms: _Optional[int] = ..., items: _Optional[_Iterable[_Union[DigestItem, _Mapping]]] = ...) -> None: ...

class HostSignRequest(_message.Message):
    __slots__ = ("issuer_body", "issuer_signature", "issuer_public_key", "resource")
    ISSUER_BODY_FIELD_NUMBER: _ClassVar[int]
    ISSUER_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    ISSUER_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    issuer_body: bytes
    issuer_signature: bytes
    issuer_public_key: bytes
    resource: Resource
    def __init__(self, issuer_body: _Optional[bytes] = ..., issuer_signature: _Optional[bytes] = ..., issuer_public_key: _Optional[bytes] = ..., resource: _Optional[_Union[Resource, _Mapping]] = ...) -> None: ...

class HostSignResponse(_message.Message):
    __slots__ = ("result", "record")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    result: Result
    record: Record
    def __init__(self, result: _Optional[_Union[Result, _Mapping]] = ..., record: _Optional[_Union[Record, _Mapping]] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("request_id", "put_resource", "put_resource_response", "get_resource", "get_resource_response", "put_entries", "put_entries_response", "get_entries", "get_entries_response", "digest", "digest_response", "host_sign", "host_sign_response", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PUT_RESOURCE_FIELD_NUMBER: _ClassVar[int]
    PUT_RESOURCE_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    GET_RESOURCE_FIELD_NUMBER: _ClassVar[int]
    GET_RESOURCE_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    PUT_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    PUT_ENTRIES_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    GET_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    GET_ENTRIES_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    DIGEST_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    HOST_SIGN_FIELD_NUMBER: _ClassVar[int]
    HOST_SIGN_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    put_resource: PutResourceRequest
    put_resource_response: PutResourceResponse
    get_resource: GetResourceRequest
    get_resource_response: GetResourceResponse
    put_entries: PutEntriesRequest
    put_entries_response: PutEntriesResponse
    get_entries: GetEntriesRequest
    get_entries_response: GetEntriesResponse
    digest: DigestRequest
    digest_response: DigestResponse
    host_sign: HostSignRequest
    host_sign_response: HostSignResponse
    error: Result
    def __init__(self, request_id: _Optional[int] = ..., put_resource: _Optional[_Union[PutResourceRequest, _Mapping]] = ..., put_resource_response: _Optional[_Union[PutResourceResponse, _Mapping]] = ..., get_resource: _Optional[_Union[GetResourceRequest, _Mapping]] = ..., get_resource_response: _Optional[_Union[GetResourceResponse, _Mapping]] = ..., put_entries: _Optional[_Union[PutEntriesRequest, _Mapping]] = ..., put_entries_response: _Optional[_Union[PutEntriesResponse, _Mapping]] = ..., get_entries: _Optional[_Union[GetEntriesRequest, _Mapping]] = ..., get_entries_response: _Optional[_Union[GetEntriesResponse, _Mapping]] = ..., digest: _Optional[_Union[DigestRequest, _Mapping]] = ..., digest_response: _Optional[_Union[DigestResponse, _Mapping]] = ..., host_sign: _Optional[_Union[HostSignRequest, _Mapping]] = ..., host_sign_response: _Optional[_Union[HostSignResponse, _Mapping]] = ..., error: _Optional[_Union[Result, _Mapping]] = ...) -> None: ...
