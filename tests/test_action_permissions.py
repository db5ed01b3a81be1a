"""Who may act: support sees but cannot act, moderators and admins act, others are refused."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from monitoring.models import AuditEntry, Participant, Room, RoomStatus
from monitoring.moderation import actions
from monitoring.views.moderation import ACTIONS

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def room(livekit_sim: Any, db: Any) -> Room:
    livekit_sim.join("stage", "guest-2", publish=["microphone"])
    info = livekit_sim.room("stage")
    room = Room.objects.create(
        sid=info["sid"], name="stage", status=RoomStatus.LIVE, created_at=timezone.now()
    )
    Participant.objects.create(
        room=room,
        sid=info["participants"][0]["sid"],
        identity="guest-2",
        tracks=info["participants"][0]["tracks"],
    )
    return room


def action_data(action: str) -> dict[str, str]:
    return {
        "identity": "guest-2",
        "reason": "testing access",
        "message": "hello",
        "target": "audio",
        "token": actions.new_token(),
    }


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("who", ["support", "outsider"])
def test_staff_without_the_right_are_refused_every_action(
    request: Any, client_for: Any, room: Room, livekit_sim: Any, action: str, who: str
) -> None:
    client = client_for(request.getfixturevalue(who))
    url = reverse("monitoring:action", args=[room.pk, action])

    assert client.post(url, action_data(action), **HTMX).status_code == 403
    form = reverse("monitoring:action-form", args=[room.pk, action])
    assert client.get(form, {"identity": "guest-2"}).status_code == 403
    assert livekit_sim.room("stage")["participants"][0]["identity"] == "guest-2"
    assert livekit_sim.state()["data_messages"] == []
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_anonymous_visitors_are_sent_to_the_login_page(
    client: Any, room: Room, action: str
) -> None:
    response = client.post(
        reverse("monitoring:action", args=[room.pk, action]), action_data(action)
    )

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("who", ["moderator", "admin"])
def test_moderators_and_admins_may_carry_out_every_action(
    request: Any, client_for: Any, room: Room, action: str, who: str
) -> None:
    client = client_for(request.getfixturevalue(who))

    response = client.post(
        reverse("monitoring:action", args=[room.pk, action]), action_data(action), **HTMX
    )

    assert response.status_code not in (302, 400, 403), response.content.decode()
    assert AuditEntry.objects.get().actor_role == request.getfixturevalue(who).groups.get().name


def test_the_services_refuse_support_themselves(room: Room, support: Any) -> None:
    with pytest.raises(PermissionDenied):
        actions.participant_kick(actor=support, room=room, identity="guest-2", reason="x")
    with pytest.raises(PermissionDenied):
        actions.room_end(actor=support, room=room, reason="x")
    assert not AuditEntry.objects.exists()


def test_actions_only_accept_posts(client_for: Any, room: Room, moderator: Any) -> None:
    response = client_for(moderator).get(reverse("monitoring:action", args=[room.pk, "kick"]))
    assert response.status_code == 405


def test_an_action_without_a_csrf_token_is_refused(
    room: Room, moderator: Any, livekit_sim: Any
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(moderator)

    response = client.post(
        reverse("monitoring:action", args=[room.pk, "kick"]), action_data("kick"), **HTMX
    )

    assert response.status_code == 403
    assert livekit_sim.room("stage")["participants"]
    assert not AuditEntry.objects.exists()


def test_support_sees_the_room_but_no_action_buttons(
    client_for: Any, room: Room, support: Any, moderator: Any
) -> None:
    page = client_for(support).get(reverse("monitoring:room", args=[room.pk])).content.decode()
    assert "guest-2" in page
    assert 'data-action="kick"' not in page and 'data-action="end"' not in page

    page = client_for(moderator).get(reverse("monitoring:room", args=[room.pk])).content.decode()
    assert 'data-action="kick"' in page and 'data-action="end"' in page
