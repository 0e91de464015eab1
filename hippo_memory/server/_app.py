"""The FastAPI application: REST endpoints over :class:`~hippo_memory.server._service.Service`.

Engine calls are synchronous and CPU-bound, so every endpoint is a plain ``def``:
FastAPI runs it in its threadpool and the event loop keeps accepting requests. Errors
are mapped to JSON in one place (:func:`_error_response`): the body names the error's
class, the status comes from :func:`~hippo_memory.server._errors.status_for`.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from .._config import HippoConfig
from .._encoder import Encoder
from .._errors import HippoMemoryError
from .._memory import HippoMemory
from ._errors import AuthenticationError, PayloadTooLargeError, status_for
from ._keys import OPEN, KeyStore, Principal
from ._models import (
    AssociateRequest,
    AssociationsOut,
    AssociationsRequest,
    ChainOut,
    ConsolidateRequest,
    CountOut,
    CountRequest,
    ErrorOut,
    ExportOut,
    ExportRequest,
    ForgetBeforeRequest,
    ForgetNamespaceRequest,
    ForgetOut,
    ForgetRequest,
    GroupsOut,
    IdOut,
    IdsOut,
    ListRequest,
    MemoryOut,
    NamespacesOut,
    NamespacesRequest,
    OkOut,
    RecallChainRequest,
    RecallGroupsRequest,
    RecallOut,
    RecallRequest,
    RecallVectorRequest,
    RememberManyRequest,
    RememberRequest,
    SupersedeRequest,
    UpdateRequest,
    chain_out,
    groups_out,
    memory_out,
    recall_out,
    report_out,
)
from ._service import Service
from ._ui import mount_inspector

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_app"]

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
"""Largest request body accepted (a ``remember_many`` of 1,000 long texts fits)."""

access_log = logging.getLogger("hippo_memory.server.access")
log = logging.getLogger("hippo_memory.server")

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in (
        (401, "No API key, or an unknown or revoked one (AuthenticationError)"),
        (403, "The key lacks the scope or the namespace is outside its prefix (PermissionDeniedError)"),
        (404, "MemoryNotFoundError or NamespaceNotFoundError"),
        (409, "StoreLockedError"),
        (413, "PayloadTooLargeError"),
        (422, "InvalidInputError and its subclasses"),
    )
}


def _error_body(name: str, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": name, "message": message}
    if details is not None:
        body["details"] = details
    return body


def _error_response(exc: HippoMemoryError) -> JSONResponse:
    """The one place an engine or service error becomes an HTTP response."""
    status = status_for(exc)
    if status >= 500:
        log.error("request failed: %s: %s", type(exc).__name__, exc)
    return JSONResponse(_error_body(type(exc).__name__, str(exc)), status_code=status)


class _Boundary:
    """Pure ASGI middleware: request ids, the body size limit and one JSON access-log line per request."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex[:16]
        status = 500

        async def send_logged(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            await self._serve(scope, receive, send_logged)
        finally:  # also when the app raised: the line then says 500
            self._log(scope, request_id, status, started)

    async def _serve(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        limit = self.max_body_bytes
        headers = dict(scope.get("headers") or [])
        try:
            declared = int(headers.get(b"content-length", b"0") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            body = _error_body("PayloadTooLargeError", f"request body over {limit} bytes")
            await JSONResponse(body, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def receive_limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise PayloadTooLargeError(f"request body over {limit} bytes")
            return message

        await self.app(scope, receive_limited, send)

    @staticmethod
    def _log(scope: MutableMapping[str, Any], request_id: str, status: int, started: float) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        state = scope.get("state") or {}
        client = scope.get("client")
        access_log.info(
            json.dumps(
                {
                    "ts": round(time.time(), 3),
                    "request_id": request_id,
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1e3, 2),
                    "key_id": state.get("key_id"),
                    "client": f"{client[0]}:{client[1]}" if client else None,
                }
            )
        )


_bearer = HTTPBearer(auto_error=False, description="An API key made by `hippo-memory keys create`.")


async def _principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller, from ``Authorization: Bearer <key>`` (or ``X-API-Key``); everyone when no keys are configured."""
    key_store: KeyStore | None = request.app.state.keys
    if key_store is None:
        return OPEN
    token = credentials.credentials if credentials else request.headers.get("x-api-key")
    if not token:
        raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'")
    who = key_store.authenticate(token)
    if who is None:
        raise AuthenticationError("unknown or revoked API key")
    request.state.key_id = who.key_id
    return who


Who = Annotated[Principal, Depends(_principal)]


def create_app(
    memory_or_path: HippoMemory | str | os.PathLike[str] | None,
    *,
    keys: KeyStore | str | os.PathLike[str] | None = None,
    encoder: Encoder | str | None = None,
    config: HippoConfig | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    close_on_shutdown: bool | None = None,
    mcp: bool = True,
    host: str = "127.0.0.1",
    ui: bool = True,
    allowed_hosts: Sequence[str] | None = None,
) -> FastAPI:
    """The REST (and, with ``mcp``, MCP over streamable HTTP at ``/mcp``) application.

    Args:
        memory_or_path: An open :class:`HippoMemory`, or a store path or
            ``postgresql://`` URL (``None``: in memory) opened here with ``encoder``
            and ``config``, so a bad store fails before the server binds.
        keys: A :class:`KeyStore` or its file. ``None``: no authentication, every
            request may do everything (the CLI then binds to loopback only). A keys
            file that does not exist yet fails closed: every request is a 401 until
            ``hippo-memory keys create`` writes a key.
        max_body_bytes: Larger request bodies are answered 413.
        close_on_shutdown: Close the memory when the app shuts down (default: when it
            was opened here). In-flight requests finish first.
        mcp: Serve MCP over streamable HTTP at ``/mcp`` (needs the ``mcp`` package).
        host: The host the server binds; on loopback the MCP endpoint also checks
            ``Host``/``Origin`` headers against DNS rebinding.
        ui: Serve the memory inspector page at ``/ui`` (it calls ``/v1`` with the
            key the user types, so it can do only what that key may).
        allowed_hosts: ``Host`` header values (port aside) the app answers; any other
            gets a 400 before a route runs. ``hippo-memory serve`` on loopback passes
            the loopback names, so a web page that rebinds its own DNS name to
            127.0.0.1 cannot reach an unauthenticated local server (or the
            inspector) from the user's browser. ``None``: every host.
    """
    if isinstance(memory_or_path, HippoMemory):
        memory = memory_or_path
        owns = bool(close_on_shutdown)
    else:
        memory = HippoMemory(memory_or_path, encoder=encoder, config=config)
        owns = close_on_shutdown is None or close_on_shutdown
    key_store = KeyStore(keys) if isinstance(keys, str | os.PathLike) else keys
    service = Service(memory)
    mcp_app = None
    if mcp:
        from ._mcp import mcp_http_app

        mcp_app = mcp_http_app(service, host=host)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ready = True
        try:
            if mcp_app is not None:
                async with mcp_app.router.lifespan_context(mcp_app):
                    yield
            else:
                yield
        finally:
            app.state.ready = False
            if owns:
                memory.close()

    app = FastAPI(
        title="hippo-memory",
        version=__version__,
        description="Long-term memory for LLM agents: remember, recall, follow association chains.",
        lifespan=lifespan,
        responses=_ERRORS,
    )
    app.state.ready = True
    app.state.service = service
    app.state.keys = key_store

    @app.exception_handler(HippoMemoryError)
    async def _on_hippo_error(request: Request, exc: HippoMemoryError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = jsonable_encoder(exc.errors(), custom_encoder={Exception: str, bytes: repr})
        return JSONResponse(
            _error_body("InvalidInputError", "the request does not match its schema", details), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, HippoMemoryError):  # raised while FastAPI read the body
            return _error_response(exc.__cause__)
        name = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "HTTPError")
        return JSONResponse(_error_body(name, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(_error_body("InternalServerError", "internal server error"), status_code=500)

    # Routes are registered on the app itself: FastAPI rebuilds an included router's
    # route state (pydantic adapters) on the event loop for every request it matches.
    api = app

    @api.post("/v1/memories", tags=["memory"], response_model=IdOut, status_code=201, summary="Remember one text")
    def remember(body: RememberRequest, who: Who) -> dict[str, Any]:
        return {"id": service.remember(who, body)}

    @api.post(
        "/v1/memories/batch",
        tags=["memory"],
        response_model=IdsOut,
        status_code=201,
        summary="Remember many texts at once",
    )
    def remember_many(body: RememberManyRequest, who: Who) -> dict[str, Any]:
        return {"ids": service.remember_many(who, body)}

    @api.post("/v1/recall", tags=["memory"], response_model=RecallOut, summary="Single-hop recall")
    def recall(body: RecallRequest, who: Who) -> dict[str, Any]:
        return recall_out(service.recall(who, body))

    @api.post(
        "/v1/recall_chain", tags=["memory"], response_model=ChainOut, summary="Multi-hop recall along associations"
    )
    def recall_chain(body: RecallChainRequest, who: Who) -> dict[str, Any]:
        return chain_out(service.recall_chain(who, body))

    @api.post(
        "/v1/associate", tags=["memory"], response_model=OkOut, summary="Strengthen the association source -> target"
    )
    def associate(body: AssociateRequest, who: Who) -> dict[str, Any]:
        service.associate(who, body)
        return {"ok": True}

    @api.get("/v1/memories/{memory_id:path}", tags=["memory"], response_model=MemoryOut, summary="One memory by id")
    def get(memory_id: str, who: Who) -> dict[str, Any]:
        return memory_out(service.get(who, memory_id))

    @api.patch(
        "/v1/memories/{memory_id:path}", tags=["memory"], response_model=MemoryOut, summary="Change a memory in place"
    )
    def update(memory_id: str, body: UpdateRequest, who: Who) -> dict[str, Any]:
        return memory_out(service.update(who, memory_id, body))

    @api.delete("/v1/memories/{memory_id:path}", tags=["memory"], response_model=ForgetOut, summary="Forget one memory")
    def forget_one(memory_id: str, who: Who) -> dict[str, Any]:
        return {"forgotten": service.forget(who, [memory_id])}

    @api.post("/v1/forget", tags=["memory"], response_model=ForgetOut, summary="Forget memories by id (all or none)")
    def forget(body: ForgetRequest, who: Who) -> dict[str, Any]:
        return {"forgotten": service.forget(who, body.ids)}

    @api.post("/v1/recall_groups", tags=["memory"], response_model=GroupsOut, summary="Rank groups (sessions, ...)")
    def recall_groups(body: RecallGroupsRequest, who: Who) -> dict[str, Any]:
        return groups_out(service.recall_groups(who, body))

    @api.post("/v1/recall_vector", tags=["memory"], response_model=RecallOut, summary="Recall by a query vector")
    def recall_vector(body: RecallVectorRequest, who: Who) -> dict[str, Any]:
        return recall_out(service.recall_vector(who, body))

    @api.post(
        "/v1/supersede", tags=["memory"], response_model=OkOut, summary="Record that memory new replaces memory old"
    )
    def supersede(body: SupersedeRequest, who: Who) -> dict[str, Any]:
        service.supersede(who, body)
        return {"ok": True}

    @api.post("/v1/associations", tags=["memory"], response_model=AssociationsOut, summary="Outgoing links of a memory")
    def associations(body: AssociationsRequest, who: Who) -> dict[str, Any]:
        return {"associations": [{"id": i, "strength": s} for i, s in service.associations(who, body)]}

    @api.post("/v1/forget_namespace", tags=["memory"], response_model=ForgetOut, summary="Forget a namespace and below")
    def forget_namespace(body: ForgetNamespaceRequest, who: Who) -> dict[str, Any]:
        return {"forgotten": service.forget_namespace(who, body)}

    @api.post("/v1/forget_before", tags=["memory"], response_model=ForgetOut, summary="Forget memories older than")
    def forget_before(body: ForgetBeforeRequest, who: Who) -> dict[str, Any]:
        return {"forgotten": service.forget_before(who, body)}

    @api.post("/v1/count", tags=["memory"], response_model=CountOut, summary="Number of memories under a namespace")
    def count(body: CountRequest, who: Who) -> dict[str, Any]:
        return {"count": service.count(who, body)}

    @api.post("/v1/export", tags=["memory"], response_model=ExportOut, summary="Memories as export_jsonl records")
    def export(body: ExportRequest, who: Who) -> dict[str, Any]:
        return {"records": service.export(who, body)}

    @api.post(
        "/v1/list", tags=["memory"], response_model=list[MemoryOut], summary="Memories under a namespace, unranked"
    )
    def list_memories(body: ListRequest, who: Who) -> list[dict[str, Any]]:
        return [memory_out(m) for m in service.list(who, body)]

    @api.post("/v1/namespaces", tags=["memory"], response_model=NamespacesOut, summary="Namespaces holding memories")
    def namespaces(body: NamespacesRequest, who: Who) -> dict[str, Any]:
        found = service.namespaces(who, body)  # already confined to the key's prefix
        return {"namespaces": [list(ns) for ns in found], "counts": [service.memory.count(ns) for ns in found]}

    @api.get("/v1/stats", tags=["memory"], response_model=dict[str, Any], summary="Counts and sizes")
    def stats(who: Who) -> dict[str, Any]:
        return service.stats(who)

    @api.get("/v1/config", tags=["memory"], response_model=dict[str, Any], summary="The engine's HippoConfig")
    def engine_config(who: Who) -> dict[str, Any]:
        return service.config(who)

    @api.post(
        "/v1/consolidate", tags=["memory"], response_model=dict[str, Any], summary="One consolidation pass (admin)"
    )
    def consolidate(body: ConsolidateRequest, who: Who) -> dict[str, Any]:
        return report_out(service.consolidate(who, body))

    @app.get("/healthz", tags=["ops"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="Readiness: the store answers", responses={503: {"model": ErrorOut}})
    def readyz() -> JSONResponse:
        if app.state.ready and service.ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse(_error_body("StoreClosedError", "not ready"), status_code=503)

    if mcp_app is not None:
        from starlette.routing import Route

        from ._mcp import guard_mcp

        app.router.routes.append(Route("/mcp", endpoint=guard_mcp(mcp_app, key_store), include_in_schema=False))
    if ui:
        mount_inspector(app)

    app.add_middleware(_Boundary, max_body_bytes=max_body_bytes)
    if allowed_hosts is not None:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    return app
