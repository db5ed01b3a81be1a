"""ASGI entry point: Django for HTTP, Channels consumers for websockets."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django must be set up before anything imports models (the consumers do).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import WebsocketDenier  # noqa: E402
from django.conf import settings  # noqa: E402
from django.http.request import split_domain_port, validate_host  # noqa: E402

from monitoring.consumers import staff_auth_stack  # noqa: E402
from monitoring.live import workers  # noqa: E402
from monitoring.routing import websocket_urlpatterns  # noqa: E402
from monitoring.webhooks import FastPath  # noqa: E402

_DEFAULT_PORTS = {"http": "80", "https": "443"}


def normalized_origin(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case, the scheme's default port left out."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None and str(port) != _DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    return f"{parts.scheme}://{host.lower()}"


def _header(scope: dict, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return ""


def own_origin(scope: dict) -> str | None:
    """The origin this socket's page was served from: the request's Host (one of
    ALLOWED_HOSTS) and scheme (https behind a TLS proxy that says so)."""
    host = _header(scope, b"host")
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    secure = scope.get("scheme") == "wss" or (
        getattr(settings, "BEHIND_TLS_PROXY", False)
        and _header(scope, b"x-forwarded-proto").strip().lower() == "https"
    )
    return normalized_origin(f"{'https' if secure else 'http'}://{host}")


def allowed_origins(scope: dict) -> set[str]:
    origins = {normalized_origin(o) for o in settings.CSRF_TRUSTED_ORIGINS}
    origins.add(own_origin(scope))
    origins.discard(None)
    return origins  # type: ignore[return-value]


class ExactOriginValidator:
    """Accept a websocket only from the exact origin(s) the console is served from:
    ``CSRF_TRUSTED_ORIGINS`` and the request's own scheme, host and port. Another
    port or scheme on the same host is another origin (Channels' host check ignores
    both)."""

    def __init__(self, application):  # type: ignore[no-untyped-def]
        self.application = application

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        origin = normalized_origin(_header(scope, b"origin"))
        if origin is not None and origin in allowed_origins(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)


application = ProtocolTypeRouter(
    {
        # The first request of a serving process starts its pusher (and, with
        # ROOMWATCH_WORKERS=embedded, the applier and the reconciler) in background
        # threads; importing this module (tests do) starts nothing.
        # LiveKit's webhooks are answered in front of Django (monitoring.webhooks).
        "http": workers.StartWorkers(FastPath(django_asgi_app)),
        "websocket": ExactOriginValidator(staff_auth_stack(URLRouter(websocket_urlpatterns))),
    }
)
