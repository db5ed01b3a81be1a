"""Report categories: the moderators' reason presets (as slugs) plus ``other``, with severity.

A category's slug is its preset in lower case with words joined by ``_``
("Spam or scam" -> ``spam_or_scam``), so the list follows the presets the actions
use. Severity (1-5) orders the queue; alert rules have categories of their own.
"""

from __future__ import annotations

import re

from monitoring.moderation.reasons import REASON_PRESETS

OTHER = "other"
# Alert rules file reports under these (never accepted from the API).
ALERT_REPORT_SURGE = "alert_report_surge"
ALERT_JOIN_SURGE = "alert_join_surge"
ALERT_BANNED_REJOIN = "alert_banned_rejoin"
ALERT_LIVEKIT_DOWN = "alert_livekit_unreachable"
ALERT_CORRECTIONS = "alert_reconciler_corrections"

ALERT_LABELS = {
    ALERT_REPORT_SURGE: "Report surge",
    ALERT_JOIN_SURGE: "Join surge (raid)",
    ALERT_BANNED_REJOIN: "Banned identity rejoining",
    ALERT_LIVEKIT_DOWN: "LiveKit unreachable",
    ALERT_CORRECTIONS: "Reconciler corrections",
}

# Severity by keyword in the preset; anything unmatched is 2.
_SEVERITY_WORDS = (
    ("violence", 5),
    ("dangerous", 5),
    ("sexual", 4),
    ("hate", 4),
    ("harassment", 3),
    ("evasion", 3),
    ("spam", 2),
    ("copyright", 2),
)
ALERT_SEVERITY = {
    ALERT_REPORT_SURGE: 4,
    ALERT_JOIN_SURGE: 4,
    ALERT_BANNED_REJOIN: 3,
    ALERT_LIVEKIT_DOWN: 5,
    ALERT_CORRECTIONS: 3,
}


def slug_of(preset: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", preset.lower()).strip("_")


def _severity_of(preset: str) -> int:
    lowered = preset.lower()
    return next((level for word, level in _SEVERITY_WORDS if word in lowered), 2)


# slug -> (label, severity, the preset it prefills as an action's reason)
CATEGORIES: dict[str, tuple[str, int, str]] = {
    slug_of(p): (p, _severity_of(p), p) for p in REASON_PRESETS
}
CATEGORIES[OTHER] = ("Other", 1, "")
REPORTABLE = tuple(CATEGORIES)


def label(slug: str) -> str:
    if slug in CATEGORIES:
        return CATEGORIES[slug][0]
    return ALERT_LABELS.get(slug, slug)


def severity(slug: str) -> int:
    if slug in CATEGORIES:
        return CATEGORIES[slug][1]
    return ALERT_SEVERITY.get(slug, 1)


def reason_preset(slugs: list[str]) -> str:
    """The preset to prefill an action's reason with: the most severe category's."""
    ranked = sorted((s for s in slugs if CATEGORIES.get(s, ("", 0, ""))[2]), key=severity)
    return CATEGORIES[ranked[-1]][2] if ranked else ""
