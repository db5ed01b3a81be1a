"""How the console names things for people: tracks, recordings, durations.

Pages never show LiveKit's raw identifiers (``TR_...``, ``EGRESS_ACTIVE``) where a
word does: a track is "Camera" or "Microphone", a recording is "Room recording,
started 14:02, 12 minutes, finished".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

TRACK_SOURCES = {
    "CAMERA": "Camera",
    "MICROPHONE": "Microphone",
    "SCREEN_SHARE": "Screen share",
    "SCREEN_SHARE_AUDIO": "Screen share audio",
}
TRACK_TYPES = {"AUDIO": "Audio", "VIDEO": "Video", "DATA": "Data"}

EGRESS_KINDS = {
    "room_composite": "Room recording",
    "web": "Web page recording",
    "participant": "Participant recording",
    "track_composite": "Tracks recording",
    "track": "Track recording",
}
EGRESS_STATUSES = {
    "EGRESS_STARTING": "starting",
    "EGRESS_ACTIVE": "recording",
    "EGRESS_ENDING": "finishing",
    "EGRESS_COMPLETE": "finished",
    "EGRESS_FAILED": "failed",
    "EGRESS_ABORTED": "aborted",
    "EGRESS_LIMIT_REACHED": "stopped at its limit",
}
EGRESS_IN_PROGRESS = frozenset({"EGRESS_STARTING", "EGRESS_ACTIVE", "EGRESS_ENDING"})

_UNITS = (
    ("year", 365 * 86400),
    ("month", 30 * 86400),
    ("week", 7 * 86400),
    ("day", 86400),
    ("hour", 3600),
    ("minute", 60),
)


def track_name(track: Any) -> str:
    """What a person calls a track: "Camera", "Microphone", "Screen share"..."""
    if not isinstance(track, dict):
        return "Track"
    source = str(track.get("source") or "").upper()
    kind = str(track.get("type") or "").upper()
    return TRACK_SOURCES.get(source) or TRACK_TYPES.get(kind) or "Track"


def source_name(source: str) -> str:
    return TRACK_SOURCES.get(str(source).upper(), str(source).replace("_", " ").lower())


def plural(count: int, word: str, words: str = "") -> str:
    """``1 recording``, ``2 recordings`` (``words`` for irregular plurals)."""
    return f"{count} {word if count == 1 else words or word + 's'}"


def duration_words(seconds: float, *, short: str = "just now") -> str:
    """The two largest units, like Django's ``timesince``; under a minute is ``short``."""
    rest = max(0, int(seconds))
    parts: list[str] = []
    for name, size in _UNITS:
        count = rest // size
        if parts and not count:
            break
        if count:
            # A no-break space, as Django's timesince and the page's ticking clock write it.
            parts.append(plural(count, name).replace(" ", "\u00a0"))
            rest -= count * size
        if len(parts) == 2:
            break
    return ", ".join(parts) if parts else short


def since_words(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return ""
    return duration_words((now - moment).total_seconds())


def egress_kind(details: Any) -> str:
    kind = details.get("kind", "") if isinstance(details, dict) else ""
    return EGRESS_KINDS.get(str(kind), "Recording")


def egress_status(status: str) -> str:
    return EGRESS_STATUSES.get(status, status.removeprefix("EGRESS_").replace("_", " ").lower())


def egress_length(
    started_at: datetime | None, ended_at: datetime | None, now: datetime
) -> timedelta | None:
    if started_at is None:
        return None
    return (ended_at or now) - started_at


_TRACK_ON = {
    "CAMERA": "turned on their camera",
    "MICROPHONE": "turned on their microphone",
    "SCREEN_SHARE": "started sharing their screen",
    "SCREEN_SHARE_AUDIO": "started sharing their screen's audio",
}
_TRACK_OFF = {
    "CAMERA": "turned off their camera",
    "MICROPHONE": "turned off their microphone",
    "SCREEN_SHARE": "stopped sharing their screen",
    "SCREEN_SHARE_AUDIO": "stopped sharing their screen's audio",
}
_EGRESS_VERBS = {
    "egress_started": "A recording started",
    "egress_updated": "A recording changed",
    "egress_ended": "A recording ended",
}


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    # Never capitalise: a line may start with an identity, which is case-sensitive.
    return text if text.endswith((".", "!", "?", ")")) or text.endswith(":") else text + "."


def event_sentence(event: Any) -> str:
    """One clear sentence for a timeline line: who did what, said once.

    Built from the webhook's own fields where the console knows the kind; otherwise
    the stored summary, tidied into a sentence. Late or repeated deliveries keep the
    summary's explanation in brackets."""
    kind = getattr(event, "kind", "")
    summary = str(getattr(event, "summary", "") or "")
    payload = getattr(event, "payload", None)
    payload = payload if isinstance(payload, dict) else {}
    late = "(" in summary
    participant = payload.get("participant") if isinstance(payload.get("participant"), dict) else {}
    identity = str(getattr(event, "participant_identity", "") or participant.get("identity") or "")
    name = str(participant.get("name") or "")
    who = f"{name} ({identity})" if name and name != identity else identity
    track = payload.get("track") if isinstance(payload.get("track"), dict) else {}
    source = str(track.get("source") or "").upper()
    if not late and who:
        if kind == "participant_joined":
            return f"{who} joined."
        if kind == "track_published" and source in _TRACK_ON:
            return f"{who} {_TRACK_ON[source]}."
        if kind == "track_unpublished" and source in _TRACK_OFF:
            return f"{who} {_TRACK_OFF[source]}."
    if kind == "room_started" and not late:
        return "The room started."
    if kind == "room_finished" and not late:
        return "The room ended."
    if kind in _EGRESS_VERBS:
        info = payload.get("egressInfo") if isinstance(payload.get("egressInfo"), dict) else {}
        status = egress_status(str(info.get("status") or ""))
        error = str(info.get("error") or "")
        text = _EGRESS_VERBS[kind] + (f" ({status})" if status else "")
        return text + (f": {error}." if error else ".")
    return _sentence(summary)
