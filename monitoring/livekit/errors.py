"""The one error type of the gateway, and how LiveKit's Twirp errors map onto it."""

from __future__ import annotations

from livekit import api

# The real server prefixes domain errors with this; it means nothing to a moderator.
_TWIRP_PREFIX = "twirp error unknown: "
# What a moderator reads when the room or the participant acted on is gone.
NO_ROOM = "The room no longer exists in LiveKit."
NO_PARTICIPANT = "The participant is no longer in the room."


class LiveKitError(Exception):
    """A LiveKit call failed.

    ``str(error)`` is a sentence for a moderator. ``code`` is the Twirp code
    (``"unavailable"`` / ``"deadline_exceeded"`` when LiveKit gave no answer at all),
    ``status`` the HTTP status (0 when there was no HTTP answer) and ``detail`` what
    LiveKit itself said, for logs and audit rows.
    """

    def __init__(
        self,
        message: str,
        code: str = "unavailable",
        status: int = 0,
        *,
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.detail = detail

    def __repr__(self) -> str:
        return (
            f"LiveKitError({self.message!r}, code={self.code!r}, status={self.status}, "
            f"detail={self.detail!r})"
        )

    @property
    def is_not_found(self) -> bool:
        return self.code == "not_found" or (self.status == 404 and self.code != "bad_route")

    @property
    def is_unreachable(self) -> bool:
        """LiveKit gave no HTTP answer (connection refused, DNS, reset...)."""
        return self.status == 0 and self.code == "unavailable"

    @property
    def is_timeout(self) -> bool:
        return self.code == "deadline_exceeded"

    @property
    def is_auth_error(self) -> bool:
        return self.status in (401, 403) or self.code in ("unauthenticated", "permission_denied")

    @property
    def is_precondition_failed(self) -> bool:
        return self.code == "failed_precondition" or self.status == 412

    @property
    def is_transient(self) -> bool:
        """Worth retrying later: no answer, a timeout, rate limiting or a server error."""
        return self.status == 0 or self.status == 429 or self.status >= 500


def error_from_server(exc: api.ServerError, *, not_found: str) -> LiveKitError:
    code, status = exc.code or "unknown", exc.status
    detail = (exc.message or "").removeprefix(_TWIRP_PREFIX)
    lowered = detail.lower()
    if status == 401 or code == "unauthenticated":
        message = "LiveKit refused the console's credentials."
    elif status == 403 or code == "permission_denied":
        message = "The console's LiveKit key is not allowed to do this."
    elif code == "bad_route":
        message = "The LiveKit URL does not point at a LiveKit server the console understands."
    elif status == 404 or code == "not_found":
        if "room" in lowered and "participant" not in lowered:
            message = NO_ROOM
        elif "participant" in lowered:
            message = NO_PARTICIPANT
        else:
            message = not_found
    elif code == "failed_precondition" or status == 412:
        if "remote unmute" in lowered:
            message = "Remote unmute is not enabled for this room."
        elif "cannot be stopped" in lowered:
            message = "The recording has already ended."
        else:
            message = f"LiveKit refused the action: {detail or code}."
    elif status == 400 or code in ("invalid_argument", "malformed", "out_of_range"):
        message = f"LiveKit rejected the request: {detail or code}."
    elif status == 413:
        message = "The request is too large for LiveKit."
    elif status == 429 or code == "resource_exhausted":
        message = "LiveKit is rate limiting the console; try again shortly."
    elif code == "unavailable" and "no response" in lowered:
        message = "LiveKit got no answer for this participant; they may have left the room."
    elif code == "unavailable" or status == 503:
        message = "LiveKit is unavailable right now."
    elif code in ("deadline_exceeded", "canceled"):
        message = "LiveKit gave up on the request before it finished."
    else:
        message = f"LiveKit failed ({status} {code}): {detail or 'no details'}."
    return LiveKitError(message, code, status, detail=detail)
