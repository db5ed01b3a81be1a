"""LiveKit's signed webhooks: verified against the console's key and secret and
parsed into the console's dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from livekit import api

from monitoring.livekit.types import (
    EgressInfo,
    IngressInfo,
    ParticipantInfo,
    RoomInfo,
    TrackInfo,
    egress_from_proto,
    ingress_from_proto,
    participant_from_proto,
    room_from_proto,
    track_from_proto,
)


@dataclass(frozen=True)
class WebhookEvent:
    """A verified LiveKit webhook, in the console's dataclasses."""

    id: str
    event: str
    created_at: datetime
    room: RoomInfo | None = None
    participant: ParticipantInfo | None = None
    track: TrackInfo | None = None
    egress: EgressInfo | None = None
    ingress: IngressInfo | None = None


class WebhookRejected(Exception):
    """A webhook that is unsigned, forged, tampered with, expired or unreadable."""


def webhook_receive(body: str, authorization: str) -> WebhookEvent:
    """Verify a webhook's signature against the raw body and parse it.

    Raises :class:`WebhookRejected` with a sentence saying why when the token is
    missing, not signed with the console's key and secret, expired, or its sha256
    claim does not match the body; and ``ValueError`` when the signed body is not a
    LiveKit webhook event.
    """
    from google.protobuf.json_format import ParseError

    if not authorization:
        raise WebhookRejected("The webhook is not signed (no Authorization header).")
    receiver = api.WebhookReceiver(
        api.TokenVerifier(settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET)
    )
    try:
        proto = receiver.receive(body, authorization)
    except ParseError as exc:
        raise ValueError(f"The body is not a LiveKit webhook event: {exc}") from exc
    except Exception as exc:  # PyJWT raises many kinds, livekit-api plain Exception
        text = str(exc)
        if text == "hash mismatch":
            raise WebhookRejected("The webhook's body does not match its signature.") from exc
        if "sha256" in text:
            raise WebhookRejected("The webhook's token carries no body hash.") from exc
        raise WebhookRejected(f"The webhook's signature is not valid: {exc}.") from exc
    return _event_from_proto(proto)


def webhook_parse(body: str) -> WebhookEvent:
    """Parse a body that :func:`webhook_receive` verified when it arrived (the inbox
    stores verified bodies; appliers read them back without the signature)."""
    from google.protobuf.json_format import Parse, ParseError
    from livekit.protocol import webhook

    try:
        proto = Parse(body, webhook.WebhookEvent(), ignore_unknown_fields=True)
    except ParseError as exc:
        raise ValueError(f"The body is not a LiveKit webhook event: {exc}") from exc
    return _event_from_proto(proto)


def _event_from_proto(proto: Any) -> WebhookEvent:
    created = datetime.fromtimestamp(proto.created_at, tz=UTC) if proto.created_at else None
    return WebhookEvent(
        id=proto.id,
        event=proto.event,
        created_at=created or datetime.now(tz=UTC),
        room=room_from_proto(proto.room) if proto.HasField("room") else None,
        participant=(
            participant_from_proto(proto.participant) if proto.HasField("participant") else None
        ),
        track=track_from_proto(proto.track) if proto.HasField("track") else None,
        egress=egress_from_proto(proto.egress_info) if proto.HasField("egress_info") else None,
        ingress=(
            ingress_from_proto(proto.ingress_info) if proto.HasField("ingress_info") else None
        ),
    )
