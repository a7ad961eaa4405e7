"""A cap on request bodies: 413 before anything reads a body too large to be an alert.

Pure ASGI, in front of the app: a ``Content-Length`` over the cap is refused without reading a
byte; a body sent without one (chunked) is read up to the cap and refused as soon as it passes
it. A body within the cap is handed on as one message, so the app never sees the difference.
(Starlette gained its own ``RequestBodyLimitMiddleware`` only in releases newer than the FastAPI
this project supports.)
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Ample for any detector's alert (an Alertmanager group of hundreds of alerts is ~100 KiB).
MAX_BODY = 1024 * 1024


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"error": {"field": "body", "reason": f"larger than the {self.max_bytes}-byte limit"}})
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body.encode()})


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` that first hands back ``messages``, then asks the server (for disconnects)."""
    queue = list(messages)

    async def replay() -> Message:
        return queue.pop(0) if queue else await receive()

    return replay
