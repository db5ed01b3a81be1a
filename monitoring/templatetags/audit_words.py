"""Audit actions in words on pages other than the audit log (ban history)."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def audit_label(action: str) -> str:
    from monitoring.views.audit import action_label

    return action_label(str(action))
