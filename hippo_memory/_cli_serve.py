"""The ``serve``, ``mcp`` and ``keys`` subcommands: the memory as a service.

FastAPI, uvicorn and the MCP SDK are imported only when a command runs, so
``hippo-memory --help`` stays light.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from typing import Any

__all__ = ["is_loopback", "loopback_hosts", "register_commands"]


def loopback_hosts(host: str) -> list[str]:
    """The ``Host`` names a server bound to loopback ``host`` answers.

    Starlette compares the header's text before the first ``:``, so an IPv6 literal
    (``[::1]:8765``) cannot be listed: a server bound to ``::1`` is reached as
    ``localhost``.
    """
    return sorted({"127.0.0.1", "localhost", host.lower()} - {h for h in (host.lower(),) if ":" in h})


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost``."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _keys_path(args: argparse.Namespace) -> str:
    from .server._keys import default_keys_path

    return str(args.keys) if args.keys else str(default_keys_path(args.store))


def _cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from ._cli_common import open_memory
    from ._errors import InvalidInputError
    from .server._keys import KeyStore, default_keys_path

    keys_file = args.keys if args.keys else (None if "://" in str(args.store) else default_keys_path(args.store))
    keys = KeyStore(keys_file) if keys_file is not None and os.path.exists(keys_file) else None
    if keys is None:
        if not is_loopback(args.host):
            raise InvalidInputError(
                f"refusing to serve on {args.host} without API keys: create one with "
                "'hippo-memory keys create --prefix ... --scopes ...' or bind to 127.0.0.1"
            )
        print(
            f"hippo-memory: no API keys ({keys_file or 'no --keys file'}): serving without authentication, "
            f"on loopback only",
            file=sys.stderr,
        )
    else:
        print(f"hippo-memory: API keys from {keys.path}: every request needs a key", file=sys.stderr)

    import uvicorn

    from .server._app import create_app

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    server_log = logging.getLogger("hippo_memory.server")
    server_log.addHandler(handler)
    server_log.setLevel(logging.INFO)
    server_log.propagate = False

    memory = open_memory(args, create=args.create)
    # on loopback, answer only loopback Host names: a page rebinding its DNS name to 127.0.0.1 gets a 400
    allowed = loopback_hosts(args.host) if is_loopback(args.host) else None
    app = create_app(
        memory,
        keys=keys,
        close_on_shutdown=True,
        mcp=not args.no_mcp,
        host=args.host,
        ui=not args.no_ui,
        allowed_hosts=allowed,
    )
    print(f"hippo-memory: serving {args.store} on http://{args.host}:{args.port} (REST /v1, MCP /mcp)", file=sys.stderr)
    if not args.no_ui:
        print(f"hippo-memory: memory inspector at http://{args.host}:{args.port}/ui", file=sys.stderr)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        access_log=False,  # one JSON line per request comes from hippo_memory.server.access
        log_level="warning",
        timeout_graceful_shutdown=args.graceful_timeout,
    )
    return 0


def _cmd_mcp(args: argparse.Namespace) -> int:
    from ._cli_common import open_memory
    from .server._mcp import run_stdio
    from .server._service import Service

    with open_memory(args, create=args.create) as memory:
        run_stdio(Service(memory))
    return 0


def _cmd_keys_create(args: argparse.Namespace) -> int:
    from ._cli_common import print_json
    from .server._keys import KeyStore

    store = KeyStore(_keys_path(args))
    token, record = store.create(args.prefix, args.scopes.split(","), label=args.label)
    if args.json:
        print_json({"key": token, **{k: v for k, v in record.to_dict().items() if k != "hash"}})
    else:
        print(token)
        print(
            f"id {record.id}, prefix {'/'.join(record.prefix) or '(whole store)'}, scopes {','.join(record.scopes)}; "
            f"stored hashed in {store.path}. The key is shown only now.",
            file=sys.stderr,
        )
    return 0


def _cmd_keys_list(args: argparse.Namespace) -> int:
    from ._cli_common import print_json
    from .server._keys import KeyStore

    records = [{k: v for k, v in r.to_dict().items() if k != "hash"} for r in KeyStore(_keys_path(args)).list()]
    if args.json:
        print_json(records)
        return 0
    for r in records:
        state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "active"
        prefix = "/".join(r["prefix"]) or "(whole store)"
        print(f"{r['id']}  {prefix:<24}  {','.join(r['scopes']):<16}  {state}  {r['label'] or ''}".rstrip())
    return 0


def _cmd_keys_revoke(args: argparse.Namespace) -> int:
    from .server._keys import KeyStore

    record = KeyStore(_keys_path(args)).revoke(args.id)
    print(f"revoked {record.id} ({record.revoked_at})")
    return 0


def _store_args(parser: argparse.ArgumentParser) -> None:
    # Given after the subcommand it overrides the top-level --store; absent, the top-level one stays.
    parser.add_argument("--store", default=argparse.SUPPRESS, help="store directory or postgresql:// URL")
    parser.add_argument("--keys", default=None, help="API keys file (default: STORE.keys.json beside the store)")


def register_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``serve``, ``mcp`` and ``keys`` (they use the parent parser's ``--store``/``--encoder``)."""
    p = subparsers.add_parser(
        "serve",
        help="serve the store over HTTP: REST at /v1, MCP at /mcp (pip install 'hippo-memory[server]')",
        description="Serve the store over HTTP. With a keys file every request needs an API key, confined to "
        "the key's namespace prefix; without one the server binds to loopback only.",
    )
    _store_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (non-loopback needs API keys)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--create", action="store_true", help="create the store if it does not exist")
    p.add_argument("--no-mcp", action="store_true", help="do not serve MCP at /mcp")
    p.add_argument("--no-ui", action="store_true", help="do not serve the memory inspector page at /ui")
    p.add_argument(
        "--graceful-timeout", type=float, default=30.0, help="seconds in-flight requests get to finish on shutdown"
    )
    p.set_defaults(func=_cmd_serve)

    p = subparsers.add_parser(
        "mcp",
        help="serve the store as MCP tools over stdio (for Claude Desktop, IDEs, agent frameworks)",
        description="Speak MCP on stdin/stdout; the local user gets the whole store.",
    )
    p.add_argument("--store", default=argparse.SUPPRESS, help="store directory or postgresql:// URL")
    p.add_argument("--create", action="store_true", help="create the store if it does not exist")
    p.set_defaults(func=_cmd_mcp)

    keys = subparsers.add_parser("keys", help="create, list and revoke API keys of 'serve'").add_subparsers(
        dest="keys_command", required=True
    )
    p = keys.add_parser("create", help="make a key bound to a namespace prefix (prints it once)")
    _store_args(p)
    p.add_argument("--prefix", required=True, help="namespace prefix, e.g. users/alice ('/' for the whole store)")
    p.add_argument("--scopes", default="read", help="comma-separated: read, write, admin (default read)")
    p.add_argument("--label", default=None, help="a note shown by 'keys list'")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_keys_create)
    p = keys.add_parser("list", help="the keys (never the secrets)")
    _store_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_keys_list)
    p = keys.add_parser("revoke", help="revoke a key by id (a running server stops accepting it)")
    _store_args(p)
    p.add_argument("id")
    p.set_defaults(func=_cmd_keys_revoke)
