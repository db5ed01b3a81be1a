"""What a moderator does to a room or a participant, in LiveKit, recorded in the audit log.

Every service runs the same steps (see :func:`_perform`):

1. authorize through ``accounts.access.require``;
2. validate the input (a reason is always required);
3. claim the form's one-time token and the action's target (``ActionRequest``, see
   :mod:`monitoring.moderation.requests`), so a double click or two moderators
   pressing the same button act once;
4. call LiveKit through ``monitoring.livekit``, outside any transaction;
5. in one transaction: update the mirror where LiveKit's answer makes the new state
   certain, write the audit row (done, or failed with LiveKit's words and code) and
   release the claim;
6. after commit, push the room to every open page (``monitoring.realtime``).

Warnings reach the participants' apps as a LiveKit data message on the topic
``roomwatch.moderation`` whose UTF-8 JSON payload is
``{"type": "warning", "message", "reason", "from", "at"}`` (``from`` is the staff
role, ``at`` an ISO 8601 UTC time). A warning to one participant then asks its app to
acknowledge it: an RPC on method ``roomwatch.warning`` with the same payload, answered
with ``{"answer": "acknowledged"}`` or ``{"answer": "refused"}``; the audit row records
the answer, or that none came in time.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.access import Action, require
from accounts.roles import role_of
from monitoring import livekit, realtime
from monitoring.models import AuditEntry, AuditOutcome, Participant, Room, RoomStatus
from monitoring.moderation import observers
from monitoring.moderation.audit import audit_record, livekit_error_text
from monitoring.moderation.reasons import REASON_PRESETS  # noqa: F401  (re-exported)
from monitoring.moderation.requests import (
    action_request_claim,
    action_request_finish,
    new_token,
    token_is_well_formed,
)

WARNING_TOPIC = "roomwatch.moderation"
# The RPC method a participant's app answers to acknowledge a warning, and how long
# it has (ROOMWATCH_WARNING_ACK_SECONDS overrides).
WARNING_ACK_METHOD = "roomwatch.warning"
WARNING_ACK_SECONDS = 30.0
REASON_MAX = 500
WARNING_MAX = 500


class MuteScope:
    TRACK = "track"
    AUDIO = "audio"
    VIDEO = "video"
    CHOICES = (TRACK, AUDIO, VIDEO)


class ActionName:
    """The ``action`` column of the audit rows these services write."""

    END_STREAM = "room.end"
    WARN_ROOM = "room.warn"
    KICK = "participant.kick"
    MUTE = "participant.mute"
    UNMUTE = "participant.unmute"
    REVOKE_PUBLISHING = "participant.revoke_publishing"
    RESTORE_PUBLISHING = "participant.restore_publishing"
    WARN = "participant.warn"
    ALL = (END_STREAM, WARN_ROOM, KICK, MUTE, UNMUTE, REVOKE_PUBLISHING, RESTORE_PUBLISHING, WARN)


class ActionInvalid(ValueError):
    """The request cannot be carried out as sent (missing reason, unknown track...)."""


@dataclass(frozen=True)
class ActionResult:
    """What happened, in words for the moderator, and how the view should answer."""

    ok: bool
    message: str
    action: str
    # done: carried out; failed: LiveKit refused or failed (recorded);
    # repeated: this form was already submitted (nothing new done);
    # busy: the same action on the same target is running right now.
    status: str = "done"
    # LiveKit's Twirp code when LiveKit refused or failed ("not_found", ...).
    code: str = ""
    entry: AuditEntry | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Outcome:
    """What the LiveKit step produced, before anything is written."""

    ok: bool
    message: str
    error: str = ""
    code: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    # Runs inside the audit transaction: the mirror change LiveKit's answer justifies.
    mirror: Callable[[], None] | None = None


def remote_unmute_allowed() -> bool:
    """Whether LiveKit lets the console unmute (its ``room.enable_remote_unmute``)."""
    return bool(settings.ROOMWATCH_REMOTE_UNMUTE)


# --------------------------------------------------------------------- validation


def _clean_text(value: Any, *, name: str, limit: int, missing: str) -> str:
    text = str(value or "").strip()
    if not text:
        raise ActionInvalid(missing)
    if len(text) > limit:
        raise ActionInvalid(f"The {name} is too long ({len(text)} characters; at most {limit}).")
    return text


def _clean_message(message: Any) -> str:
    return _clean_text(
        message,
        name="warning",
        limit=WARNING_MAX,
        missing="Write the warning the participants will see.",
    )


def _clean_identity(identity: Any) -> str:
    text = str(identity or "").strip()
    if not text:
        raise ActionInvalid("Say which participant this is for.")
    if len(text) > 256:
        raise ActionInvalid("That participant identity is too long (at most 256 characters).")
    if livekit.observer_staff_id(text) is not None:
        raise ActionInvalid(
            "That is the console's own preview viewer (a staff member watching): "
            "there is nothing to moderate."
        )
    return text


def _clean_token(token: Any) -> str:
    if token in (None, ""):
        return new_token()  # called without a form: no double submit to guard against
    text = str(token)
    if not token_is_well_formed(text):
        raise ActionInvalid("This form is damaged; reload the page and try again.")
    return text


# ----------------------------------------------------------------- claim and run


def _perform(
    *,
    actor: Any,
    action: str,
    token: Any,
    room: Room,
    identity: str = "",
    target_extra: str = "",
    reason: str,
    detail: dict[str, Any] | None = None,
    remote: Callable[[], Awaitable[_Outcome]],
) -> ActionResult:
    token = _clean_token(token)
    target = ":".join([action, room.name, identity, target_extra])[:700]
    refused = action_request_claim(token=token, target=target, action=action, actor=actor)
    if refused is not None:
        return ActionResult(
            ok=refused.ok, status=refused.status, action=action, message=refused.message
        )
    try:
        outcome = async_to_sync(remote)()
    except livekit.LiveKitError as exc:
        outcome = _Outcome(ok=False, message=str(exc), error=livekit_error_text(exc), code=exc.code)
    except BaseException:
        action_request_finish(
            token=token,
            outcome=AuditOutcome.FAILED,
            message="The console failed while carrying out this action.",
        )
        raise
    result_outcome = AuditOutcome.DONE if outcome.ok else AuditOutcome.FAILED
    with transaction.atomic():
        if outcome.mirror is not None:
            outcome.mirror()
        # Frames the moderator captured from this room's preview go with the action.
        evidence = observers.evidence_take(actor=actor, room_name=room.name)
        entry = audit_record(
            actor=actor,
            action=action,
            outcome=result_outcome,
            room_name=room.name,
            room_sid=room.sid,
            identity=identity,
            reason=reason,
            error=outcome.error,
            detail={**(detail or {}), **outcome.detail, **observers.evidence_detail(evidence)},
        )
        observers.evidence_attach(evidence=evidence, entry=entry)
        action_request_finish(token=token, outcome=result_outcome, message=outcome.message)
        if outcome.mirror is not None:
            # One participant's row, or the whole room (end stream, warn everyone).
            realtime.room_changed(room_id=room.pk, identities=[identity] if identity else None)
    return ActionResult(
        ok=outcome.ok,
        status="done" if outcome.ok else "failed",
        message=outcome.message,
        action=action,
        code=outcome.code,
        entry=entry,
        detail=entry.detail,
    )


def _already_gone(
    exc: livekit.LiveKitError,
    *,
    message: str,
    mirror: Callable[[], None],
    detail: dict[str, Any] | None = None,
) -> _Outcome:
    """LiveKit answered "not found": nothing was done, but the mirror catches up."""
    return _Outcome(
        ok=False,
        message=message,
        error=livekit_error_text(exc),
        code="not_found",
        detail=detail or {},
        mirror=mirror,
    )


def _authorize_and_clean(actor: Any, permission: Action, reason: Any) -> str:
    require(actor, permission)
    return _clean_text(
        reason,
        name="reason",
        limit=REASON_MAX,
        missing="Give a reason: pick one or write your own.",
    )


# ----------------------------------------------------------------- mirror writes


def _mark_left(*, room: Room, identity: str, reason: str) -> None:
    now = timezone.now()
    Participant.objects.filter(room=room, identity=identity, left_at__isnull=True).update(
        left_at=now, disconnect_reason=reason, state="DISCONNECTED", updated_at=now
    )


def _recordings(count: int) -> str:
    return f"{count} recording" if count == 1 else f"{count} recordings"


def _mark_ended(*, room: Room) -> None:
    now = timezone.now()
    Participant.objects.filter(room=room, left_at__isnull=True).update(
        left_at=now, disconnect_reason="ROOM_DELETED", state="DISCONNECTED", updated_at=now
    )
    Room.objects.filter(pk=room.pk).update(
        status=RoomStatus.ENDED,
        ended_at=now,
        num_participants=0,
        num_publishers=0,
        active_recording=False,
        updated_at=now,
    )


def _set_tracks(*, room: Room, identity: str, tracks: list[dict[str, Any]], **fields: Any) -> None:
    Participant.objects.filter(room=room, identity=identity, left_at__isnull=True).update(
        tracks=tracks, updated_at=timezone.now(), **fields
    )


# ----------------------------------------------------------------------- services


def room_end(*, actor: Any, room: Room, reason: str, token: str | None = None) -> ActionResult:
    """End the stream: delete the room in LiveKit (everyone is disconnected).

    Active recordings are listed first (a read: if it fails nothing has happened),
    then the room is deleted, then each listed recording is stopped. Deleting first
    means a failure leaves the stream exactly as it was; LiveKit itself ends room
    recordings when a room closes, so a stop that finds one already ended is fine.
    """
    reason = _authorize_and_clean(actor, Action.END_STREAM, reason)
    name = room.name

    async def remote() -> _Outcome:
        recordings = await livekit.list_egress(room=name, active=True)
        try:
            await livekit.delete_room(room=name)
        except livekit.LiveKitError as exc:
            if not exc.is_not_found:
                raise
            return _already_gone(
                exc,
                message="The stream had already ended: the room no longer exists in LiveKit.",
                mirror=lambda: _mark_ended(room=room),
            )
        stopped, not_stopped = [], {}
        for recording in recordings:
            try:
                await livekit.stop_egress(egress_id=recording.egress_id)
            except livekit.LiveKitError as exc:
                if exc.is_precondition_failed or exc.is_not_found:
                    stopped.append(recording.egress_id)  # ended with the room
                else:
                    not_stopped[recording.egress_id] = livekit_error_text(exc)
            else:
                stopped.append(recording.egress_id)
        message = "Stream ended: everyone was disconnected."
        if stopped:
            message += f" {_recordings(len(stopped))} stopped."
        if not_stopped:
            message += f" {_recordings(len(not_stopped))} could not be stopped: " + "; ".join(
                not_stopped.values()
            )
        return _Outcome(
            ok=True,
            message=message,
            error="; ".join(f"{k}: {v}" for k, v in not_stopped.items()),
            detail={"egress_stopped": stopped, "egress_not_stopped": not_stopped},
            mirror=lambda: _mark_ended(room=room),
        )

    return _perform(
        actor=actor,
        action=ActionName.END_STREAM,
        token=token,
        room=room,
        reason=reason,
        remote=remote,
    )


def participant_kick(
    *, actor: Any, room: Room, identity: str, reason: str, token: str | None = None
) -> ActionResult:
    """Remove a participant from the room. LiveKit does not revoke its token: ban to keep it out."""
    reason = _authorize_and_clean(actor, Action.KICK, reason)
    identity = _clean_identity(identity)
    # Whether the mirror ever saw them here: "already removed" only for those who were.
    was_here = Participant.objects.filter(room=room, identity=identity).exists()

    async def remote() -> _Outcome:
        try:
            await livekit.remove_participant(room=room.name, identity=identity)
        except livekit.LiveKitError as exc:
            if not exc.is_not_found:
                raise
            return _already_gone(
                exc,
                message=(
                    f"{identity} was already removed: they are no longer in the room."
                    if was_here
                    else f"{identity} is not in this room: nobody was removed."
                ),
                detail={"already_removed": True} if was_here else {"not_in_room": True},
                mirror=lambda: _mark_left(room=room, identity=identity, reason="UNKNOWN_REASON"),
            )
        return _Outcome(
            ok=True,
            message=f"{identity} was removed from the room.",
            mirror=lambda: _mark_left(room=room, identity=identity, reason="PARTICIPANT_REMOVED"),
        )

    return _perform(
        actor=actor,
        action=ActionName.KICK,
        token=token,
        room=room,
        identity=identity,
        reason=reason,
        remote=remote,
    )


def participant_mute(
    *,
    actor: Any,
    room: Room,
    identity: str,
    reason: str,
    scope: str = MuteScope.TRACK,
    track_sid: str = "",
    muted: bool = True,
    token: str | None = None,
) -> ActionResult:
    """Mute one track, or all of a participant's audio or video; or unmute (where allowed).

    The participant's tracks are read from LiveKit, not the mirror, so the console
    mutes what is published now. Remote unmute is off in LiveKit by default: LiveKit
    then refuses and the moderator is told so.
    """
    reason = _authorize_and_clean(actor, Action.MUTE, reason)
    identity = _clean_identity(identity)
    if scope not in MuteScope.CHOICES:
        raise ActionInvalid("Choose what to mute: one track, all audio or all video.")
    track_sid = str(track_sid or "").strip()
    if scope == MuteScope.TRACK and not track_sid:
        raise ActionInvalid("Choose the track to mute.")
    if scope == MuteScope.TRACK and len(track_sid) > 64:
        raise ActionInvalid("That track id is too long.")
    verb = "muted" if muted else "unmuted"

    async def remote() -> _Outcome:
        participant = await livekit.get_participant(room=room.name, identity=identity)
        if scope == MuteScope.TRACK:
            chosen = [t for t in participant.tracks if t.sid == track_sid]
            if not chosen:
                return _Outcome(
                    ok=False,
                    message="That track is no longer published; nothing was changed.",
                    error="track not found",
                    code="not_found",
                )
        else:
            kind = "AUDIO" if scope == MuteScope.AUDIO else "VIDEO"
            chosen = [t for t in participant.tracks if t.type == kind and t.muted != muted]
            if not chosen:
                what = "audio" if scope == MuteScope.AUDIO else "video"
                return _Outcome(
                    ok=False,
                    message=f"{identity} has no {what} to {'mute' if muted else 'unmute'}.",
                    error=f"no {what} tracks in that state",
                    code="failed_precondition",
                )
        changed: dict[str, bool] = {}
        failures: dict[str, str] = {}
        first_error: livekit.LiveKitError | None = None
        for track in chosen:
            try:
                updated = await livekit.mute_track(
                    room=room.name, identity=identity, track_sid=track.sid, muted=muted
                )
            except livekit.LiveKitError as exc:
                first_error = first_error or exc
                failures[track.sid] = livekit_error_text(exc)
                continue
            if updated is None:
                failures[track.sid] = "track no longer published"
            else:
                changed[track.sid] = updated.muted
        tracks = [{**t.as_json(), "muted": changed.get(t.sid, t.muted)} for t in participant.tracks]
        detail = {
            "scope": scope,
            "muted": muted,
            "tracks": sorted(changed),
            # What people call them ("CAMERA", "MICROPHONE"), for the audit log.
            "sources": sorted({t.source for t in chosen if t.sid in changed and t.source}),
        }

        def mirror() -> None:
            _set_tracks(room=room, identity=identity, tracks=tracks)

        if not failures:
            label = "track" if len(changed) == 1 else "tracks"
            return _Outcome(
                ok=True,
                message=f"{identity}: {len(changed)} {label} {verb}.",
                detail=detail,
                mirror=mirror,
            )
        if first_error is not None and first_error.is_precondition_failed and not muted:
            message = (
                "Remote unmute is off for this room: LiveKit only lets participants "
                "unmute themselves."
            )
        elif first_error is not None:
            message = str(first_error)
        else:
            message = "That track is no longer published."
        code = first_error.code if first_error is not None else "not_found"
        if changed:
            message = (
                f"{len(changed)} {'track' if len(changed) == 1 else 'tracks'} {verb}, "
                f"{len(failures)} not: {message}"
            )
        return _Outcome(
            ok=False,
            message=message,
            error="; ".join(f"{sid}: {text}" for sid, text in failures.items()),
            code=code,
            detail={**detail, "failed_tracks": sorted(failures)},
            mirror=mirror if changed else None,
        )

    return _perform(
        actor=actor,
        action=ActionName.MUTE if muted else ActionName.UNMUTE,
        token=token,
        room=room,
        identity=identity,
        target_extra=f"{scope}:{track_sid}",
        reason=reason,
        detail={"scope": scope, "track_sid": track_sid} if track_sid else {"scope": scope},
        remote=remote,
    )


def participant_set_publishing(
    *,
    actor: Any,
    room: Room,
    identity: str,
    can_publish: bool,
    reason: str,
    token: str | None = None,
) -> ActionResult:
    """Revoke (demote to viewer) or restore a participant's right to publish.

    The gateway sends the participant's full permission set with only ``can_publish``
    changed, because LiveKit replaces every permission field. Revoking unpublishes
    the participant's tracks.
    """
    reason = _authorize_and_clean(actor, Action.REVOKE_PUBLISHING, reason)
    identity = _clean_identity(identity)

    async def remote() -> _Outcome:
        updated = await livekit.update_permissions(
            room=room.name, identity=identity, can_publish=can_publish
        )
        tracks = [t.as_json() for t in updated.tracks]

        def mirror() -> None:
            _set_tracks(
                room=room,
                identity=identity,
                tracks=tracks,
                can_publish=updated.can_publish,
                is_publisher=bool(tracks) and updated.can_publish,
            )

        message = (
            f"{identity} may publish now."
            if can_publish
            else f"{identity} can no longer publish: their tracks were unpublished."
        )
        return _Outcome(
            ok=True, message=message, detail={"can_publish": updated.can_publish}, mirror=mirror
        )

    return _perform(
        actor=actor,
        action=ActionName.RESTORE_PUBLISHING if can_publish else ActionName.REVOKE_PUBLISHING,
        token=token,
        room=room,
        identity=identity,
        reason=reason,
        remote=remote,
    )


def _warning_payload(*, actor: Any, message: str, reason: str) -> dict[str, Any]:
    return {
        "type": "warning",
        "message": message,
        "reason": reason,
        "from": role_of(actor) or "Moderator",
        "at": timezone.now().isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def warning_ack_seconds() -> float:
    """How long a participant's app has to acknowledge a warning."""
    return float(getattr(settings, "ROOMWATCH_WARNING_ACK_SECONDS", WARNING_ACK_SECONDS))


async def _warning_acknowledgement(
    *, room: str, identity: str, payload: dict[str, Any]
) -> tuple[str, str]:
    """Ask the participant's app to acknowledge the warning (RPC ``WARNING_ACK_METHOD``);
    say how it answered: acknowledged, refused or no_answer, and in words."""
    seconds = warning_ack_seconds()
    try:
        text = await livekit.perform_rpc(
            room=room,
            identity=identity,
            method=WARNING_ACK_METHOD,
            payload=json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
            response_timeout=seconds,
        )
    except livekit.LiveKitError as exc:
        if exc.is_timeout:
            return "no_answer", f"Their app did not acknowledge it within {seconds:g} s."
        return "no_answer", f"Their app did not acknowledge it: {exc}"
    try:
        answer = json.loads(text).get("answer")
    except (ValueError, AttributeError):
        answer = None
    if answer == "acknowledged":
        return "acknowledged", "Their app acknowledged it."
    if answer == "refused":
        return "refused", "Their app refused to show it."
    return "no_answer", "Their app answered without acknowledging it."


def participant_warn(
    *, actor: Any, room: Room, identity: str, message: str, reason: str, token: str | None = None
) -> ActionResult:
    """Send a moderator warning to one participant (a data message on ``WARNING_TOPIC``),
    then ask its app to acknowledge it (RPC ``WARNING_ACK_METHOD``, same payload) and
    record the answer: delivered, then acknowledged / refused / no answer in time."""
    reason = _authorize_and_clean(actor, Action.WARN, reason)
    identity = _clean_identity(identity)
    message = _clean_message(message)
    payload = _warning_payload(actor=actor, message=message, reason=reason)

    async def remote() -> _Outcome:
        # LiveKit accepts data for an identity that is not there; check first so the
        # moderator is not told a warning was delivered to nobody.
        await livekit.get_participant(room=room.name, identity=identity)
        await livekit.send_data(
            room=room.name, payload=payload, topic=WARNING_TOPIC, destination_identities=[identity]
        )
        state, sentence = await _warning_acknowledgement(
            room=room.name, identity=identity, payload=payload
        )
        return _Outcome(
            ok=True,
            message=f"Warning sent to {identity}. {sentence}",
            detail={"delivery": "delivered", "acknowledgement": state},
            # Nothing in the mirror changes, but the participant row shows the answer.
            mirror=lambda: None,
        )

    return _perform(
        actor=actor,
        action=ActionName.WARN,
        token=token,
        room=room,
        identity=identity,
        reason=reason,
        detail={"message": message, "topic": WARNING_TOPIC},
        target_extra=secrets.token_hex(4),
        remote=remote,
    )


def room_warn(
    *, actor: Any, room: Room, message: str, reason: str, token: str | None = None
) -> ActionResult:
    """Send a moderator warning to everyone in the room."""
    reason = _authorize_and_clean(actor, Action.WARN, reason)
    message = _clean_message(message)
    payload = _warning_payload(actor=actor, message=message, reason=reason)

    async def remote() -> _Outcome:
        # Check the room is open: a warning to a closed room would reach nobody.
        if not await livekit.list_rooms(names=[room.name]):
            return _Outcome(
                ok=False,
                message="The room no longer exists in LiveKit; nobody received the warning.",
                error="room not found (not_found)",
                code="not_found",
            )
        await livekit.send_data(room=room.name, payload=payload, topic=WARNING_TOPIC)
        return _Outcome(ok=True, message="Warning sent to everyone in the room.")

    return _perform(
        actor=actor,
        action=ActionName.WARN_ROOM,
        token=token,
        room=room,
        reason=reason,
        detail={"message": message, "topic": WARNING_TOPIC},
        target_extra=secrets.token_hex(4),
        remote=remote,
    )
