"""The memory as MCP tools (the official ``mcp`` SDK): over streamable HTTP at ``/mcp`` and over stdio.

Every tool calls :class:`~hippo_memory.server._service.Service`, so an MCP client is
confined exactly as a REST one: over HTTP the API key (``Authorization: Bearer``) is
checked by :func:`guard_mcp` before the SDK sees the request; over stdio the process
owner is trusted with the whole store. Errors come back as tool errors whose text
starts with the error's class name.

Not every engine method is a tool: ``recall_vector`` and ``recall_chain``'s
``vector`` (a model has text, not vectors), ``export_jsonl`` (a file), ``count``,
``associations`` and ``recall_groups`` (``stats``, ``recall_chain`` and ``recall``
answer what a model needs), and ``forget_before`` (maintenance) are served over REST
and :class:`~hippo_memory.HippoClient` only.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, TypeVar

from .. import __version__
from .._errors import HippoMemoryError, MissingDependencyError
from ._keys import OPEN, KeyStore, Principal
from ._models import (
    AssociateRequest,
    ConsolidateRequest,
    ForgetNamespaceRequest,
    ListRequest,
    NamespacesRequest,
    RecallChainRequest,
    RecallRequest,
    RememberManyRequest,
    RememberRequest,
    SupersedeRequest,
    UpdateRequest,
    report_out,
)
from ._service import Service

try:
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependencyError("MCP tools need the mcp package (2.x): pip install 'hippo-memory[server]'") from exc

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["INSTRUCTIONS", "build_mcp", "guard_mcp", "mcp_http_app", "run_stdio"]

_SCOPE_KEY = "hippo_memory.principal"
T = TypeVar("T")

INSTRUCTIONS = """\
Long-term memory that persists across conversations. Use `recall` before answering
anything that may depend on what the user said or did earlier (preferences, people,
plans, past events). Use `recall_chain` when the answer needs two or more linked
facts (who introduced X, what happened after Y). Use `remember` to store a durable
fact worth knowing next time, in the user's own namespace; do not store chit-chat.
Namespaces are lists of labels such as ["users", "alice"]."""


def _hit(memory: dict[str, Any], score: float) -> dict[str, Any]:
    """A memory as an LLM needs it: no cue variants, no lifecycle internals."""
    return {
        "id": memory["id"],
        "text": memory["text"],
        "namespace": memory["namespace"],
        "score": round(score, 4),
        "timestamp": memory["timestamp"],
        "session": memory["session"],
        "metadata": memory["metadata"],
    }


def build_mcp(service: Service) -> MCPServer:
    """The MCP server whose tools are the memory's operations."""
    # MCPServer calls logging.basicConfig (a rich handler on the root logger); logging
    # is the application's to configure, so give basicConfig a handler to find.
    root, placeholder = logging.getLogger(), logging.NullHandler()
    root.addHandler(placeholder)
    try:
        server: MCPServer = MCPServer(name="hippo-memory", instructions=INSTRUCTIONS, version=__version__)
    finally:
        root.removeHandler(placeholder)

    def tool(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        server.tool(description=inspect.cleandoc(fn.__doc__ or ""))(fn)
        return fn

    def who(ctx: Context) -> Principal:
        request = ctx.request_context.request
        if request is None:  # stdio: the local process owner
            return OPEN
        principal = getattr(request, "scope", {}).get(_SCOPE_KEY)
        if not isinstance(principal, Principal):
            raise ToolError("AuthenticationError: no API key")
        return principal

    def home(ctx: Context) -> list[str]:
        """Where a write without a namespace goes: the key's own prefix, else ``["default"]``."""
        return list(who(ctx).prefix) or ["default"]

    def call(fn: Callable[[], T]) -> T:
        """The one boundary where engine errors become tool errors."""
        try:
            return fn()
        except HippoMemoryError as exc:
            raise ToolError(f"{type(exc).__name__}: {exc}") from exc

    @tool
    def recall(
        query: str,
        ctx: Context,
        namespace: list[str] | None = None,
        k: int = 5,
        filter: dict[str, Any] | None = None,
        reference_time: str | None = None,
    ) -> dict[str, Any]:
        """Search long-term memory for what is relevant to `query`.

        Call this before answering whenever the answer might depend on something the user
        told you in an earlier conversation: their preferences, people and pets they
        mentioned, plans, past events. Phrase `query` as the question or the fact you are
        looking for. Returns up to `k` memories, best first, each with an `id` and a
        `score`: the probability (0 to 1) that it is relevant; below about 0.3 it
        probably is not. An empty list means nothing is stored there. Pass
        `namespace` (e.g. ["users", "alice"]) to search one user's memories only.
        When the query holds a relative date ("last Saturday", "two weeks ago"), pass
        the user's current date and time as `reference_time` (ISO 8601 with its UTC
        offset, e.g. "2024-06-01T18:30:00+02:00"); otherwise the server's clock is used.
        """
        req = RecallRequest(query=query, namespace=namespace, k=k, filter=filter, reference_time=reference_time)
        try:
            result = call(lambda: service.recall(who(ctx), req))
        except ToolError as exc:
            if str(exc).startswith("NamespaceNotFoundError"):
                return {"hits": []}
            raise
        return {"hits": [_hit(h.memory.to_dict(), h.score) for h in result.hits]}

    @tool
    def recall_chain(query: str, ctx: Context, hops: int = 3, namespace: list[str] | None = None) -> dict[str, Any]:
        """Follow a chain of associated memories, starting from the one that best matches `query`.

        Use this instead of `recall` when the answer takes several linked facts: who
        introduced someone, what happened after an event, where a thing mentioned earlier
        came from. Hop 0 is the best match; each further hop is the memory most strongly
        associated with the previous one (consecutive turns of a conversation, or links
        made with `associate`). `stop_reason` says why the chain ended: "hops" (length
        reached), "faded" (the next link was too weak), "no_link", or "no_start"
        (nothing matched the query).
        """
        req = RecallChainRequest(query=query, hops=hops, namespace=namespace)
        chain = call(lambda: service.recall_chain(who(ctx), req))
        return {
            "stop_reason": chain.stop_reason,
            "hops": [{"hop": h.hop, **_hit(h.memory.to_dict(), h.score)} for h in chain.hops],
        }

    @tool
    def remember(
        text: str,
        ctx: Context,
        namespace: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        session: str | None = None,
        timestamp: str | None = None,
    ) -> dict[str, Any]:
        """Store one fact in long-term memory so that it can be recalled in later conversations.

        Remember durable, specific facts the user would expect you to know next time
        (names, preferences, decisions, commitments, events with their dates), written
        as a self-contained sentence ("Alice's dog is a greyhound named Pixel"), not
        small talk or things already stored. Use the user's namespace, e.g.
        ["users", "alice"] (omitted: the namespace your access is bound to); `session` links consecutive memories of one conversation so
        that `recall_chain` can follow them. Returns the new memory's `id`.
        """
        req = RememberRequest(
            text=text, namespace=namespace or home(ctx), metadata=metadata, session=session, timestamp=timestamp
        )
        return {"id": call(lambda: service.remember(who(ctx), req))}

    @tool
    def remember_many(
        texts: list[str], ctx: Context, namespace: list[str] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        """Store several facts at once (one batch: all are stored or, on bad input, none).

        Use it for the turns of a conversation in order, with one `session`, so that
        each is linked to the next. Returns the ids in input order.
        """
        req = RememberManyRequest(items=list(texts), namespace=namespace or home(ctx), session=session)
        return {"ids": call(lambda: service.remember_many(who(ctx), req))}

    @tool
    def associate(
        source: str, target: str, ctx: Context, strength: float = 1.0, bidirectional: bool = False
    ) -> dict[str, Any]:
        """Link two stored memories (by id) so that recalling `source` brings `target` to mind.

        Use it when you learn that two facts belong together (a cause and its effect, a
        person and their project) so that `recall_chain` can later follow from one to the
        other. Both memories must be in the same namespace.
        """
        req = AssociateRequest(source=source, target=target, strength=strength, bidirectional=bidirectional)
        call(lambda: service.associate(who(ctx), req))
        return {"ok": True}

    @tool
    def get_memory(id: str, ctx: Context) -> dict[str, Any]:
        """Read one memory by the `id` that `recall` or `remember` returned, with all its fields."""
        return call(lambda: service.get(who(ctx), id)).to_dict()

    @tool
    def update_memory(
        id: str, ctx: Context, text: str | None = None, metadata: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Correct a stored memory in place (same id, namespace and links).

        Use it when the user corrects a fact you stored ("actually it was Tuesday"),
        rather than storing a contradicting second memory. `metadata` replaces the old.
        """
        req = UpdateRequest(text=text, metadata=metadata)
        return call(lambda: service.update(who(ctx), id, req)).to_dict()

    @tool
    def forget(ids: list[str], ctx: Context) -> dict[str, Any]:
        """Delete memories by id, for example when the user asks you to forget something. All or none."""
        return {"forgotten": call(lambda: service.forget(who(ctx), ids))}

    @tool
    def supersede(old: str, new: str, ctx: Context) -> dict[str, Any]:
        """Mark memory `new` as replacing memory `old` (both ids, same namespace).

        Use it when a stored fact has changed and you stored the new one with `remember`
        ("Alice moved from Porto to Lisbon"): `recall` then returns the new fact and no
        longer the outdated one, which stays readable with `get_memory`.
        """
        call(lambda: service.supersede(who(ctx), SupersedeRequest(old=old, new=new)))
        return {"ok": True}

    @tool
    def forget_namespace(namespace: list[str], ctx: Context) -> dict[str, Any]:
        """Delete every memory of a namespace and below it, e.g. ["users", "alice"].

        Only when the user asks you to forget everything about them or a topic; to
        delete single facts use `forget` with their ids. Cannot be undone.
        """
        req = ForgetNamespaceRequest(namespace=namespace)
        return {"forgotten": call(lambda: service.forget_namespace(who(ctx), req))}

    @tool
    def list_memories(
        ctx: Context, namespace: list[str] | None = None, limit: int = 20, offset: int = 0, newest_first: bool = True
    ) -> dict[str, Any]:
        """List stored memories of a namespace without a query (newest first by default).

        Prefer `recall` to find something; use this to review what is stored.
        """
        req = ListRequest(namespace=namespace, limit=limit, offset=offset, newest_first=newest_first)
        return {"memories": [_hit(m.to_dict(), m.strength) for m in call(lambda: service.list(who(ctx), req))]}

    @tool
    def namespaces(ctx: Context, prefix: list[str] | None = None, max_depth: int | None = None) -> dict[str, Any]:
        """The namespaces that hold memories (under `prefix`), e.g. to find which users exist."""
        req = NamespacesRequest(prefix=prefix, max_depth=max_depth)
        return {"namespaces": [list(ns) for ns in call(lambda: service.namespaces(who(ctx), req))]}

    @tool
    def stats(ctx: Context) -> dict[str, Any]:
        """How many memories and namespaces the memory holds (and sizes, for an admin key)."""
        return call(lambda: service.stats(who(ctx)))

    @tool
    def consolidate(ctx: Context) -> dict[str, Any]:
        """Run one maintenance pass (replay, decay, merge duplicates). Admin only; rarely needed by an agent."""
        return report_out(call(lambda: service.consolidate(who(ctx), ConsolidateRequest())))

    return server


def mcp_http_app(service: Service, *, host: str = "127.0.0.1") -> Starlette:
    """The streamable-HTTP MCP app (stateless, JSON responses) serving at its ``/mcp`` route."""
    server = build_mcp(service)
    app: Starlette = server.streamable_http_app(
        streamable_http_path="/mcp", stateless_http=True, json_response=True, host=host
    )
    return app


ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


class guard_mcp:
    """Authenticate MCP-over-HTTP requests with the server's API keys before the SDK runs."""

    def __init__(self, app: ASGIApp, keys: KeyStore | None) -> None:
        self.app = app
        self.keys = keys

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        from starlette.responses import JSONResponse

        keys = self.keys
        if scope["type"] == "http":
            if keys is None:
                principal: Principal | None = OPEN
            else:
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
                auth = headers.get("authorization", "")
                token = auth[7:].strip() if auth.lower().startswith("bearer ") else headers.get("x-api-key", "")
                principal = keys.authenticate(token) if token else None
            if principal is None:
                body = {"error": "AuthenticationError", "message": "missing, unknown or revoked API key"}
                await JSONResponse(body, status_code=401)(scope, receive, send)
                return
            scope[_SCOPE_KEY] = principal
            scope.setdefault("state", {})["key_id"] = principal.key_id
        await self.app(scope, receive, send)


def run_stdio(service: Service) -> None:
    """Serve the tools over stdin/stdout until the client disconnects."""
    build_mcp(service).run("stdio")
