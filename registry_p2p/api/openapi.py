"""The OpenAPI 3.1 document of the HTTP API (served at /v1/openapi.json; a test checks that it
names exactly the routes the app serves)."""

from __future__ import annotations

from typing import Any

from registry_p2p import __version__

_RID = {"name": "resource_id", "in": "path", "required": True, "schema": {"type": "string"}}
_ACK = {"name": "ack", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}}
_ALL = {
    "name": "all",
    "in": "query",
    "description": "1: also the records whose host reports them critical (a failing health check)",
    "schema": {"type": "integer", "enum": [0, 1], "default": 0},
}
_AUTH: list[dict[str, list[str]]] = [{"bearer": []}]


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


_ERRORS = {
    "400": _json("Error", "Bad input (malformed JSON, a bad resource id, an out-of-range parameter)"),
    "404": _json("Error", "Unknown resource"),
    "503": _json("Error", "The network did not answer"),
}
_WRITE_ERRORS = {
    **_ERRORS,
    "401": _json("Error", "No or wrong bearer token"),
    "413": _json("Error", "Body or value too large"),
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["status", "message"],
                "properties": {"status": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "Record": {
        "type": "object",
        "properties": {
            "resource_id": {"type": "string"},
            "issuer": {"type": "string"},
            "host": {"type": "string"},
            "service_id": {"type": "string"},
            "value_text": {"type": ["string", "null"], "description": "The value as UTF-8, null if it is not"},
            "value_base64": {"type": "string"},
            "issued_at_ms": {"type": "integer"},
            "expires_at_ms": {"type": "integer"},
            "addrs": {"type": "array", "items": {"type": "string"}},
            "weight": {"type": "integer"},
            "health": {"type": "string", "enum": ["passing", "critical"]},
        },
    },
    "Records": {"type": "object", "properties": {"records": {"type": "array", "items": _ref("Record")}}},
    "Resource": {
        "type": "object",
        "properties": {
            "resource_id": {"type": "string"},
            "label": {"type": "string"},
            "owner": {"type": "string"},
            "created_at_ms": {"type": "integer"},
            "policy": {"type": "string", "enum": ["open", "owner-approved"]},
            "grants": {"type": "array", "items": _ref("Grant")},
        },
    },
    "Grant": {
        "type": "object",
        "properties": {
            "grantee": {"type": "string"},
            "service_prefix": {"type": "string"},
            "issued_at_ms": {"type": "integer"},
            "expires_at_ms": {"type": ["integer", "null"]},
            "revoked": {"type": "boolean"},
        },
    },
    "ResourceId": {"type": "object", "properties": {"resource_id": {"type": "string"}}},
    "NewResource": {
        "type": "object",
        "required": ["label"],
        "properties": {"label": {"type": "string"}, "policy": {"type": "string", "enum": ["open", "owner-approved"]}},
    },
    "Registration": {
        "type": "object",
        "description": "Give value (text) or value_base64; host: a remote peer that countersigns (HostSign)",
        "properties": {
            "value": {"type": "string"},
            "value_base64": {"type": "string"},
            "service_id": {"type": "string", "default": ""},
            "ttl": {"type": "integer"},
            "ack": {"type": "integer", "default": 1},
            "host": {"type": "string"},
            "check": _ref("Check"),
        },
    },
    "Check": {
        "type": "object",
        "description": "A health check the node runs on the record it hosts (its [health] policy decides which)."
        " tcp: target host:port; http: target http:// URL, 2xx; command: argv exits 0 (only with"
        " allow_commands); ttl: the service reports itself (PUT …/check) at least every ttl_s",
        "required": ["kind"],
        "properties": {
            "kind": {"type": "string", "enum": ["tcp", "http", "command", "ttl"]},
            "target": {"type": "string"},
            "argv": {"type": "array", "items": {"type": "string"}},
            "interval_s": {"type": "number", "default": 10},
            "timeout_s": {"type": "number", "default": 2},
            "ttl_s": {"type": "number"},
        },
    },
    "CheckReport": {
        "type": "object",
        "properties": {
            "service_id": {"type": "string", "default": ""},
            "status": {"type": "string", "enum": ["passing", "critical"], "default": "passing"},
            "output": {"type": "string", "default": ""},
        },
    },
    "CheckStatus": {
        "type": "object",
        "properties": {
            "resource_id": {"type": "string"},
            "service_id": {"type": "string"},
            "status": {"type": "string", "enum": ["passing", "critical"]},
            "output": {"type": "string", "description": "The last probe's or report's line"},
        },
    },
    "WriteResult": {
        "type": "object",
        "properties": {
            "ok": {"type": "boolean"},
            "acks": {"type": "integer"},
            "errors": {"type": "object", "additionalProperties": {"type": "string"}},
            "replicas": {"type": "integer"},
        },
    },
    "Peers": {
        "type": "object",
        "properties": {
            "peers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "peer_id": {"type": "string"},
                        "addrs": {"type": "array", "items": {"type": "string"}},
                    },
                },
            }
        },
    },
    "Status": {
        "type": "object",
        "properties": {
            "peer_id": {"type": "string"},
            "addrs": {"type": "array", "items": {"type": "string"}},
            "serves": {"type": "boolean"},
            "peers": {"type": "array", "items": {"type": "object"}},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "resources": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "resource_id": {"type": "string"},
                        "label": {"type": "string"},
                        "owner": {"type": "string"},
                        "created_at_ms": {"type": "integer"},
                        "record_count": {"type": "integer"},
                        "records": {"type": "array", "items": _ref("Record")},
                        "replicas": {"type": "array", "items": {"type": "string"}},
                        "replicas_from": {"type": "string", "enum": ["lookup", "routing table"]},
                    },
                },
            },
        },
    },
    "Health": {
        "type": "object",
        "properties": {"status": {"type": "string"}, "peer_id": {"type": "string"}, "peers": {"type": "integer"}},
    },
}

PATHS: dict[str, Any] = {
    "/health": {
        "get": {"summary": "Liveness, for load balancers and systemd", "responses": {"200": _json("Health", "ok")}}
    },
    "/ui": {"get": {"summary": "The dashboard (HTML)", "responses": {"200": {"description": "text/html"}}}},
    "/ui/ui.js": {"get": {"summary": "The dashboard's script", "responses": {"200": {"description": "JavaScript"}}}},
    "/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
    "/v1/status": {
        "get": {
            "summary": "The node: peer id, addresses, peers, resources held with their records and replica sets",
            "responses": {"200": _json("Status", "The node's status")},
        }
    },
    "/v1/peers": {"get": {"summary": "Connected peers", "responses": {"200": _json("Peers", "Connected peers")}}},
    "/v1/resources": {
        "post": {
            "summary": "Create a resource owned by the node's identity",
            "security": _AUTH,
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("NewResource")}}},
            "responses": {"201": _json("ResourceId", "Created (or refreshed)"), **_WRITE_ERRORS},
        }
    },
    "/v1/resources/{resource_id}": {
        "get": {
            "summary": "Fetch a resource, with its grants merged from `ack` replicas",
            "parameters": [_RID, _ACK],
            "responses": {"200": _json("Resource", "The resource"), **_ERRORS},
        }
    },
    "/v1/resources/{resource_id}/records": {
        "get": {
            "summary": "Resolve: the live records, merged from `ack` replicas",
            "parameters": [_RID, _ACK, _ALL],
            "responses": {"200": _json("Records", "The live records"), **_ERRORS},
        },
        "post": {
            "summary": "Register a service, signed (and then hosted and renewed) by the node",
            "security": _AUTH,
            "parameters": [_RID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Registration")}}},
            "responses": {"200": _json("WriteResult", "Stored by `ack` replicas"), **_WRITE_ERRORS},
        },
        "delete": {
            "summary": "Unregister: a signed tombstone for the node's record",
            "security": _AUTH,
            "parameters": [
                _RID,
                _ACK,
                {"name": "service_id", "in": "query", "schema": {"type": "string", "default": ""}},
                {"name": "host", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": {"200": _json("WriteResult", "Stored by `ack` replicas"), **_WRITE_ERRORS},
        },
    },
    "/v1/resources/{resource_id}/check": {
        "get": {
            "summary": "The health check of a record the node hosts: its status and last output",
            "parameters": [_RID, {"name": "service_id", "in": "query", "schema": {"type": "string", "default": ""}}],
            "responses": {"200": _json("CheckStatus", "The check's status"), **_ERRORS},
        },
        "put": {
            "summary": "A service's report for its ttl check (critical once ttl_s passes without one)",
            "security": _AUTH,
            "parameters": [_RID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("CheckReport")}}},
            "responses": {"200": _json("CheckStatus", "The check's status after the report"), **_WRITE_ERRORS},
        },
    },
    "/v1/resources/{resource_id}/watch": {
        "get": {
            "summary": "Server-Sent Events: `watching`, the current records, then every change",
            "description": "Each event is named by its kind (registered, unregistered, expired); its data is"
            " the JSON of the CLI's `watch --json` line.",
            "parameters": [_RID],
            "responses": {"200": {"description": "An event stream", "content": {"text/event-stream": {}}}, **_ERRORS},
        }
    },
}


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "registry-p2p node API", "version": __version__},
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "<data dir>/api.token"}},
        },
    }
