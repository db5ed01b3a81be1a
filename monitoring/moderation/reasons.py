"""The one list of reasons a moderator picks from: the action dialogs, the ban dialog
and the Bans page form all offer these, in this order.

A preset alone is a complete reason; free text is optional detail, stored after it
("Spam or scam: links in every message"). Free text alone is accepted too, for the
case no preset fits.
"""

from __future__ import annotations

REASON_PRESETS: tuple[str, ...] = (
    "Harassment or bullying",
    "Hate speech",
    "Sexual content",
    "Violence or threats",
    "Spam or scam",
    "Dangerous or illegal activity",
    "Copyright violation",
    "Ban evasion",
    "Requested by the host",
    "Other terms of service violation",
)
NOT_A_PRESET = "Pick a reason from the list, or write your own."
NO_REASON = "Pick a reason or write one."


def reason_combine(*, preset: str, text: str) -> str:
    """The stored reason: the preset, then the free-text detail after a colon."""
    preset, text = preset.strip(), text.strip()
    if preset and text:
        return f"{preset}: {text}"
    return preset or text
