"""``trova mcp --http``: the MCP server over streamable HTTP, for many callers with their own keys.

Every request to the MCP endpoint must carry the caller's API key (``x-api-key``, or
``Authorization: Bearer KEY``); one without is refused with 401 before it reaches the MCP session.
The key is not checked here: each tool call passes it on to the API, which accepts or refuses it
(a refused key is a tool error carrying the API's message).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from starlette.datastructures import Headers

from trova.mcp.server import Connection, build_server, key_from_headers

ENDPOINT = "/mcp"
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNAUTHORIZED = orjson.dumps({"message": "Missing API key: send it in the x-api-key header "
                                        "(or Authorization: Bearer KEY)"})


class RequireApiKey:
    """Refuses HTTP requests that carry no API key; everything else passes through unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and key_from_headers(Headers(scope=scope)) is None:
            await send({
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="trova"')],
            })
            await send({"type": "http.response.body", "body": UNAUTHORIZED})
            return
        await self.app(scope, receive, send)


def create_app(connection: Connection, host: str) -> ASGIApp:
    """The ASGI app: the SDK's streamable HTTP app at ``/mcp`` behind :class:`RequireApiKey`."""
    server = build_server(connection)
    app: ASGIApp = server.streamable_http_app(streamable_http_path=ENDPOINT, host=host)
    return RequireApiKey(app)


def serve(connection: Connection, host: str, port: int, *, keep_alive_timeout_s: int) -> None:
    """Serve :func:`create_app` on ``host:port``; idle connections stay open ``keep_alive_timeout_s``
    (``TROVA_KEEP_ALIVE_TIMEOUT_S``, as ``trova serve``)."""
    import uvicorn

    app = create_app(connection, host)
    uvicorn.run(
        app, host=host, port=port, log_level="warning", lifespan="on", timeout_keep_alive=keep_alive_timeout_s
    )
