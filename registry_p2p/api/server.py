"""The HTTP API of a node: Starlette routes on hypercorn's trio worker, in the node's own trio run.

Everything goes through the `Registry` the node mounted, so what is registered here is signed by
the node's identity and kept in its store: the node renews it, and a restart on the same data dir
re-announces it (as for any record it hosts). The answers are the CLI's `--json` shapes
(core/shapes.py); every refusal is a JSON document {"error": {"status": ..., "message": ...}}
with a 4xx status (503 when the network did not answer), never a traceback.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from importlib import resources as package_files
from typing import TYPE_CHECKING, Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from registry_p2p.adapter.peerstore import known_addrs
from registry_p2p.api.files import KEEPALIVE_S
from registry_p2p.api.openapi import openapi_document
from registry_p2p.core.errors import RegistryError, Status
from registry_p2p.core.health import CheckRefused, CheckSpec, spec_from_mapping
from registry_p2p.core.ids import b58, resource_id_from_text
from registry_p2p.core.model import POLICIES, POLICY_OPEN
from registry_p2p.core.shapes import event_json, grant_json, record_json, resource_json, write_json
from registry_p2p.core.views import Record
from registry_p2p.net.addrs import addr_text

if TYPE_CHECKING:
    from registry_p2p.registry import Registry

log = logging.getLogger("registry_p2p.api")

MAX_BODY_BYTES = 64 * 1024  # a record's value is at most 4 KiB (limits.max_value_bytes): room to spare
MAX_ACK = 64
STATUS_RECORDS = 100  # records per resource listed by /v1/status

HTTP_STATUS = {
    Status.MALFORMED: 400,
    Status.TOO_LARGE: 413,
    Status.INVALID_SIGNATURE: 400,
    Status.EXPIRED: 400,
    Status.FROM_FUTURE: 400,
    Status.SUPERSEDED: 409,
    Status.UNKNOWN_RESOURCE: 404,
    Status.LIMIT_EXCEEDED: 422,
    Status.NOT_AUTHORIZED: 403,
    Status.RATE_LIMITED: 429,
    Status.UNAVAILABLE: 503,
    Status.INTERNAL: 500,
}


class ApiError(Exception):
    """A refusal: an HTTP status, a status name (the wire's, or an HTTP one) and a readable text."""

    def __init__(self, http_status: int, status: str, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.status = status
        self.message = message


class ApiRefused(Exception):
    """The API cannot start as asked (beyond loopback without a token, an address in use)."""


def error_response(http_status: int, status: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if http_status == 401 else None
    return JSONResponse({"error": {"status": status, "message": message}}, http_status, headers=headers)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Api:
    """The routes over one registry; `token` None makes a read-only API (writes answer 401)."""

    def __init__(self, registry: Registry, token: str | None, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.registry = registry
        self.token = token
        self.max_body_bytes = max_body_bytes

    # ------------------------------------------------------------ the app

    def app(self) -> Starlette:
        routes = [
            Route("/health", self.health, methods=["GET"]),
            Route("/v1/openapi.json", self.openapi, methods=["GET"]),
            Route("/v1/status", self.status, methods=["GET"]),
            Route("/v1/peers", self.peers, methods=["GET"]),
            Route("/v1/resources", self.create_resource, methods=["POST"]),
            Route("/v1/resources/{resource_id}", self.get_resource, methods=["GET"]),
            Route("/v1/resources/{resource_id}/records", self.resolve, methods=["GET"]),
            Route("/v1/resources/{resource_id}/records", self.register, methods=["POST"]),
            Route("/v1/resources/{resource_id}/records", self.unregister, methods=["DELETE"]),
            Route("/v1/resources/{resource_id}/check", self.check_status, methods=["GET"]),
            Route("/v1/resources/{resource_id}/check", self.check_report, methods=["PUT"]),
            Route("/v1/resources/{resource_id}/watch", self.watch, methods=["GET"]),
            Route("/ui", self.ui, methods=["GET"]),
            Route("/ui/ui.js", self.ui_script, methods=["GET"]),
        ]
        return Starlette(
            routes=routes,
            exception_handlers={HTTPException: self._http_error, ApiError: self._api_error, Exception: self._crash},
        )

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        status = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "BAD_REQUEST")
        message = f"no route {request.method} {request.url.path}" if exc.status_code in (404, 405) else exc.detail
        return error_response(exc.status_code, status, str(message))

    async def _api_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        log.info("%s %s: %d %s: %s", request.method, request.url.path, exc.http_status, exc.status, exc.message)
        return error_response(exc.http_status, exc.status, exc.message)

    async def _crash(self, request: Request, exc: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(500, "INTERNAL", f"internal error: {type(exc).__name__} (see the node's log)")

    # ------------------------------------------------------------ input

    def _authorize(self, request: Request) -> None:
        if self.token is None:
            raise ApiError(401, "UNAUTHORIZED", "this node has no API token (run it with --data-dir): writes refused")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            raise ApiError(401, "UNAUTHORIZED", "writes need 'Authorization: Bearer <token>' (<data dir>/api.token)")

    async def _body(self, request: Request) -> dict[str, Any]:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            raise ApiError(413, "TOO_LARGE", f"the body is limited to {self.max_body_bytes} bytes")
        chunks = bytearray()
        async for chunk in request.stream():
            chunks += chunk
            if len(chunks) > self.max_body_bytes:
                raise ApiError(413, "TOO_LARGE", f"the body is limited to {self.max_body_bytes} bytes")
        try:
            document = json.loads(bytes(chunks) or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "MALFORMED", f"the body is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise ApiError(400, "MALFORMED", "the body must be a JSON object")
        return document

    @staticmethod
    def _resource_id(request: Request) -> str:
        text = str(request.path_params["resource_id"])
        try:
            resource_id_from_text(text)
        except RegistryError as err:
            raise ApiError(400, err.status.name, err.text) from None
        return text.strip()

    @staticmethod
    def _int(value: Any, name: str, low: int, high: int, default: int | None) -> int | None:
        if value is None:
            return default
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ApiError(400, "MALFORMED", f"{name} must be an integer from {low} to {high}")
        return value

    @staticmethod
    def _text(value: Any, name: str, default: str | None) -> str | None:
        if value is None:
            return default
        if not isinstance(value, str):
            raise ApiError(400, "MALFORMED", f"{name} must be a string")
        return value

    async def _call(self, action: Callable[[], Awaitable[Any]]) -> Any:
        """Run a registry call, its refusals as ApiError (UNAVAILABLE: 503, and so on)."""
        try:
            return await action()
        except RegistryError as err:
            raise ApiError(HTTP_STATUS.get(err.status, 400), err.status.name, err.text) from None

    async def _must_exist(self, rid: str) -> Any:
        found = await self._call(lambda: self.registry.get_resource(rid))
        if found is None:
            raise ApiError(404, "UNKNOWN_RESOURCE", f"resource {rid} not found (no peer of the network knows it)")
        return found

    # ------------------------------------------------------------ routes

    async def health(self, request: Request) -> Response:
        peers = len(self.registry.host.get_connected_peers())
        return JSONResponse({"status": "ok", "peer_id": str(self.registry.peer_id), "peers": peers})

    async def ui(self, request: Request) -> Response:
        return HTMLResponse(_ui_file("index.html"))

    async def ui_script(self, request: Request) -> Response:
        return Response(_ui_file("ui.js"), media_type="text/javascript")

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document())

    async def status(self, request: Request) -> Response:
        registry = self.registry
        now = registry.clock_ms()
        resources = []
        store = registry.store
        for rid in store.resource_ids() if store is not None else []:
            held = store.get_resource(rid) if store is not None else None
            if held is None or store is None:
                continue
            cached = registry.routing.cached(rid)
            replicas = cached if cached is not None else registry.routing.local_closest(rid)
            records = store.live_records(rid, now)
            resources.append(
                {
                    "resource_id": b58(rid),
                    "label": held.label,
                    "owner": b58(held.owner),
                    "created_at_ms": held.created_at_ms,
                    "record_count": len(records),
                    "records": [
                        record_json(Record.of(r, registry.config.weight, addr_text=addr_text))
                        for r in records[:STATUS_RECORDS]
                    ],
                    "replicas": [str(p) for p in replicas],
                    # "lookup": the replica set a lookup found; "routing table": the K closest known.
                    "replicas_from": "lookup" if cached is not None else "routing table",
                }
            )
        return JSONResponse(
            {
                "peer_id": str(registry.peer_id),
                "addrs": [str(a) for a in registry.host.get_addrs()],
                "serves": registry.serves,
                "peers": self._peer_list(),
                "counts": store.counts() if store is not None else {},
                "resources": resources,
            }
        )

    def _peer_list(self) -> list[dict[str, Any]]:
        host = self.registry.host
        return [
            {"peer_id": str(peer), "addrs": [str(a) for a in known_addrs(host, peer)]}
            for peer in host.get_connected_peers()
        ]

    async def peers(self, request: Request) -> Response:
        return JSONResponse({"peers": self._peer_list()})

    async def create_resource(self, request: Request) -> Response:
        self._authorize(request)
        body = await self._body(request)
        label = self._text(body.get("label"), "label", None)
        if label is None:
            raise ApiError(400, "MALFORMED", 'give the resource\'s label: {"label": ...}')
        policy = self._text(body.get("policy"), "policy", POLICY_OPEN) or POLICY_OPEN
        if policy not in POLICIES:
            raise ApiError(400, "MALFORMED", f"policy must be one of {', '.join(POLICIES)}")
        rid = await self._call(lambda: self.registry.create_resource(label, policy))
        return JSONResponse({"resource_id": rid}, 201)

    async def get_resource(self, request: Request) -> Response:
        rid = self._resource_id(request)
        ack = self._int(request.query_params.get("ack"), "ack", 1, MAX_ACK, 1) or 1
        found = resource_json(await self._must_exist(rid))
        grants = await self._call(lambda: self.registry.grants(rid, ack))
        return JSONResponse({**found, "grants": [grant_json(g) for g in grants]})

    async def resolve(self, request: Request) -> Response:
        rid = self._resource_id(request)
        ack = self._int(request.query_params.get("ack"), "ack", 1, MAX_ACK, 1) or 1
        include_critical = self._int(request.query_params.get("all"), "all", 0, 1, 0) == 1
        try:
            records = await self.registry.resolve(rid, ack=ack, include_critical=include_critical)
        except RegistryError as err:
            if err.status is Status.UNAVAILABLE:
                await self._must_exist(rid)  # "not found" says more than "no answer"
            raise ApiError(HTTP_STATUS.get(err.status, 400), err.status.name, err.text) from None
        return JSONResponse({"records": [record_json(r) for r in records]})

    async def register(self, request: Request) -> Response:
        self._authorize(request)
        rid = self._resource_id(request)
        body = await self._body(request)
        value = self._value(body)
        limits = self.registry.limits
        service_id = self._text(body.get("service_id"), "service_id", "") or ""
        ttl = self._int(body.get("ttl"), "ttl", limits.min_ttl_s, limits.max_ttl_s, None)
        ack = self._int(body.get("ack"), "ack", 1, MAX_ACK, 1) or 1
        host = self._text(body.get("host"), "host", None)
        check = self._check(body.get("check"))
        if len(value) > limits.max_value_bytes:
            raise ApiError(413, "TOO_LARGE", f"the value is {len(value)} bytes; the limit is {limits.max_value_bytes}")
        result = await self._call(
            lambda: self.registry.register_service(
                rid, value, service_id=service_id, peer_id=host, ttl=ttl, ack=ack, check=check
            )
        )
        return JSONResponse(write_json(result), 200 if result.ok else 503)

    @staticmethod
    def _check(fields: Any) -> CheckSpec | None:
        """The health check a registration asks the node to run (the node's own policy decides)."""
        if fields is None:
            return None
        if not isinstance(fields, dict):
            raise ApiError(400, "MALFORMED", "check must be a JSON object")
        try:
            return spec_from_mapping(fields)
        except CheckRefused as err:
            raise ApiError(400, "MALFORMED", str(err)) from None

    def _check_json(self, rid: str, service_id: str) -> dict[str, Any]:
        found = self.registry.check_status(rid, service_id)
        if found is None:
            raise ApiError(404, "UNKNOWN_RESOURCE", f"no health check for service {service_id!r} of {rid} here")
        status, output = found
        return {"resource_id": rid, "service_id": service_id, "status": status, "output": output}

    async def check_status(self, request: Request) -> Response:
        rid = self._resource_id(request)
        return JSONResponse(self._check_json(rid, request.query_params.get("service_id", "")))

    async def check_report(self, request: Request) -> Response:
        """A service's report for its ttl check: {"status": "passing" | "critical", "output": ...}."""
        self._authorize(request)
        rid = self._resource_id(request)
        body = await self._body(request)
        service_id = self._text(body.get("service_id"), "service_id", "") or ""
        status = body.get("status", "passing")
        if status not in ("passing", "critical"):
            raise ApiError(400, "MALFORMED", 'status must be "passing" or "critical"')
        output = self._text(body.get("output"), "output", "") or ""
        await self._call(lambda: self.registry.check_pass(rid, service_id, ok=status == "passing", output=output))
        return JSONResponse(self._check_json(rid, service_id))

    @staticmethod
    def _value(body: dict[str, Any]) -> bytes:
        text, encoded = body.get("value"), body.get("value_base64")
        if (text is None) == (encoded is None):
            raise ApiError(400, "MALFORMED", 'give the record\'s value as "value" (text) or "value_base64"')
        if text is not None:
            if not isinstance(text, str):
                raise ApiError(400, "MALFORMED", "value must be a string (or use value_base64)")
            return text.encode("utf-8")
        if not isinstance(encoded, str):
            raise ApiError(400, "MALFORMED", "value_base64 must be a string")
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "MALFORMED", "value_base64 is not base64") from None

    async def unregister(self, request: Request) -> Response:
        self._authorize(request)
        rid = self._resource_id(request)
        query = request.query_params
        service_id = query.get("service_id", "")
        host = query.get("host") or None
        ack = self._int(query.get("ack"), "ack", 1, MAX_ACK, 1) or 1
        result = await self._call(
            lambda: self.registry.unregister_service(rid, service_id=service_id, peer_id=host, ack=ack)
        )
        return JSONResponse(write_json(result), 200 if result.ok else 503)

    async def watch(self, request: Request) -> Response:
        rid = self._resource_id(request)
        await self._must_exist(rid)
        return WatchStream(self.registry, rid)


class WatchStream(Response):
    """Server-Sent Events: `watching` once the watch is set up, then one event per change (its
    kind as the SSE event name, event_json as data), the current records first."""

    media_type = "text/event-stream"

    def __init__(self, registry: Registry, rid: str) -> None:
        super().__init__(media_type=self.media_type)
        self.registry = registry
        self.rid = rid

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            watching = self.registry.watch(self.rid)
            events = await watching.__aenter__()
        except RegistryError as err:
            response = error_response(HTTP_STATUS.get(err.status, 400), err.status.name, err.text)
            await response(scope, receive, send)
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream; charset=utf-8"),
                        (b"cache-control", b"no-cache"),
                        (b"x-accel-buffering", b"no"),
                    ],
                }
            )

            async def chunk(text: str) -> None:
                await send({"type": "http.response.body", "body": text.encode("utf-8"), "more_body": True})

            async with trio.open_nursery() as nursery:

                async def until_disconnect() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    nursery.cancel_scope.cancel()

                async def keepalive() -> None:
                    while True:
                        await trio.sleep(KEEPALIVE_S)
                        await chunk(": keepalive\n\n")

                nursery.start_soon(until_disconnect)
                nursery.start_soon(keepalive)
                await chunk(_sse("watching", {"resource_id": self.rid}))
                async for event in events:
                    await chunk(_sse(event.kind, event_json(event)))
        except OSError as exc:  # the client went away mid-write
            log.debug("watch stream of %s ended: %s", self.rid, exc)
        finally:
            with trio.CancelScope(shield=True):
                await watching.__aexit__(None, None, None)


def _ui_file(name: str) -> str:
    """The dashboard's files (package data, api/ui/): plain HTML and a script, nothing fetched."""
    return package_files.files("registry_p2p.api").joinpath("ui", name).read_text(encoding="utf-8")


def _sse(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def create_app(registry: Registry, token: str | None, *, max_body_bytes: int = MAX_BODY_BYTES) -> Starlette:
    """The ASGI app of the API over `registry` (mount it in an ASGI server of your own, or use `serve`)."""
    return Api(registry, token, max_body_bytes).app()


async def serve(
    registry: Registry,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the API on HOST:PORT until cancelled; `task_status.started` gets its URL
    (`await nursery.start(serve, registry, ...)`). Without a token it listens on loopback only
    and refuses writes; beyond loopback it raises ApiRefused."""
    if token is None and not is_loopback(host):
        raise ApiRefused(f"the API listens beyond loopback ({host}) only with a token (run the node with --data-dir)")
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("registry_p2p.api.server")
    config.graceful_timeout = 1.0
    config.keep_alive_timeout = 30.0
    app = create_app(registry, token, max_body_bytes=max_body_bytes)
    never: trio.Event = trio.Event()

    async def shutdown_trigger() -> None:
        await never.wait()  # stopped by cancellation (the node's nursery), not by a signal of its own

    class Started:
        def started(self, binds: list[str] | None = None) -> None:
            task_status.started(binds[0] if binds else f"http://{config.bind[0]}")

    try:
        await hypercorn_serve(app, config, shutdown_trigger=shutdown_trigger, task_status=Started())  # type: ignore[arg-type]
    except OSError as exc:
        raise ApiRefused(f"cannot serve the API on {config.bind[0]}: {exc.strerror or exc}") from exc


__all__ = ["ApiError", "ApiRefused", "create_app", "is_loopback", "serve"]
