"""Moderation: what moderators do to rooms and participants, bans, and the audit log."""
