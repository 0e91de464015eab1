"""The memory inspector: a static single page served at ``/ui``.

The page (``static/inspector.html``, ``.js``, ``.css``) is plain HTML, JavaScript and
CSS: no build step, nothing fetched from elsewhere. It holds no authority of its own:
serving it needs no key, and every call it makes goes to the REST API under ``/v1``
with the API key the user typed (kept in the tab's ``sessionStorage``), so the key's
namespace prefix and scopes confine the inspector exactly as they confine any client.

Memories are untrusted input: the script writes their text with ``textContent`` only,
and the page is served with a Content-Security-Policy that refuses inline script,
inline style and every origin but the server's own, so a memory holding markup is
shown, never run.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import NamedTuple

from fastapi import FastAPI
from fastapi.responses import RedirectResponse, Response

__all__ = ["CONTENT_SECURITY_POLICY", "INSPECTOR_PATH", "mount_inspector"]

INSPECTOR_PATH = "/ui"
"""Where :func:`mount_inspector` serves the page by default."""

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
"""Only the server's own script, style and API; no inline code, no framing."""

_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


class Asset(NamedTuple):
    """One file of the page: its name under ``static/`` and its media type."""

    name: str
    media_type: str


ASSETS = (
    Asset("inspector.html", "text/html; charset=utf-8"),
    Asset("inspector.js", "text/javascript; charset=utf-8"),
    Asset("inspector.css", "text/css; charset=utf-8"),
)


def _read(name: str) -> bytes:
    return resources.files("hippo_memory.server").joinpath("static", name).read_bytes()


def _responder(body: bytes, media_type: str) -> Callable[[], Response]:
    """An endpoint answering ``body`` (it takes no parameters, so FastAPI reads none)."""

    def serve() -> Response:
        return Response(body, media_type=media_type, headers=_HEADERS)

    return serve


def mount_inspector(app: FastAPI, *, path: str = INSPECTOR_PATH) -> None:
    """Serve the inspector page at ``path`` and its script and style below it.

    The files are read once, here, so a missing file fails when the app is built, not
    on the first visit. Only the listed files are served (no directory lookup).

    Args:
        app: The application whose ``/v1`` API the page calls (same origin).
        path: Where the page lives, without a trailing slash.
    """
    files = {asset.name: (_read(asset.name), asset.media_type) for asset in ASSETS}
    html, html_type = files.pop("inspector.html")
    page = html.replace(b"__UI__", path.encode("utf-8"))  # where the script and style are

    def redirect_to_page() -> RedirectResponse:
        return RedirectResponse(path, status_code=308)

    app.add_api_route(path, _responder(page, html_type), methods=["GET"], include_in_schema=False)
    app.add_api_route(f"{path}/", redirect_to_page, methods=["GET"], include_in_schema=False)
    for name, (body, media_type) in files.items():
        app.add_api_route(f"{path}/{name}", _responder(body, media_type), methods=["GET"], include_in_schema=False)
