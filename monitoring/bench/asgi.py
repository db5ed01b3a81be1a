"""The console plus the bare endpoint, for measurements: ``monitoring.bench.asgi:application``.

Serves ``config.asgi.application`` unchanged and, beside it, ``POST /bench/bare-webhook``
(``monitoring.bench.bare``), so both are measured on the same daphne in the same run
while the console's own URLs stay as they are. With DEBUG off Django serves no static
files (in production the proxy does): here ``/static/`` is served as ``runserver
--insecure`` would, so pages opened in a browser load their scripts.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from config.asgi import application as console
from monitoring.bench import bare

_static = ASGIStaticFilesHandler(console)


async def application(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope.get("path") == bare.PATH:
        await _bare(scope, receive, send)
        return
    if scope["type"] == "http" and scope.get("path", "").startswith(settings.STATIC_URL):
        await _static(scope, receive, send)
        return
    await console(scope, receive, send)


async def _bare(scope: Any, receive: Any, send: Any) -> None:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    if scope.get("method") != "POST":
        status, payload = 405, b'{"error": "POST only"}'
    else:
        authorization = dict(scope.get("headers") or []).get(b"authorization", b"")
        status, payload = await sync_to_async(bare.record, thread_sensitive=False)(
            b"".join(chunks), authorization.decode("latin-1")
        )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})
