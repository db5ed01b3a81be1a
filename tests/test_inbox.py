"""The inbox: an event answered 2xx is recorded before the answer, survives any
crash before it is applied, and each room's events are applied in arrival order."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client
from livekit.protocol import models

from monitoring.live import applier
from monitoring.models import InboxEvent, Participant, Room, RoomEvent
from tests.test_webhooks import body_of, post, room_event, sign


def joined(n: int, *, name: str = "studio-a", sid: str = "RM_abcdefabcdef") -> Any:
    return room_event(
        "participant_joined",
        event_id=f"EV_join{n:08d}",
        name=name,
        sid=sid,
        participant=models.ParticipantInfo(
            sid=f"PA_{name}_{n}",
            identity=f"viewer-{n}",
            state=models.ParticipantInfo.State.ACTIVE,
            joined_at=int(time.time()),
        ),
    )


def deliver(client: Any, event: Any) -> Any:
    body = body_of(event)
    return post(client, body, sign(body), apply=False)


@pytest.mark.django_db
class TestRecording:
    def test_the_answer_comes_before_anything_is_applied(self, client: Any) -> None:
        response = deliver(client, room_event("room_started"))

        assert response.status_code == 200
        assert response.json()["status"] == "accepted"
        assert InboxEvent.objects.get().applied_at is None
        assert not Room.objects.exists()

    def test_a_recorded_event_survives_an_applier_that_dies_before_committing(
        self, client: Any
    ) -> None:
        deliver(client, room_event("room_started"))

        def crash(*_args: Any, **_kwargs: Any) -> Any:
            raise SystemExit("the applier process died")

        original = applier._apply_one
        applier._apply_one = crash
        try:
            with pytest.raises(SystemExit):
                applier.apply_batch()
        finally:
            applier._apply_one = original
        assert InboxEvent.objects.get().applied_at is None

        assert applier.apply_pending() == 1
        assert Room.objects.get().name == "studio-a"
        assert InboxEvent.objects.get().outcome == "applied"

    def test_a_redelivery_is_recorded_once(self, client: Any) -> None:
        first = deliver(client, room_event("room_started"))
        again = deliver(client, room_event("room_started"))

        assert (first.json()["status"], again.json()["status"]) == ("accepted", "duplicate")
        assert InboxEvent.objects.count() == 1

    def test_an_event_that_cannot_be_applied_is_marked_and_never_blocks_its_room(
        self, client: Any
    ) -> None:
        deliver(client, room_event("room_started"))
        InboxEvent.objects.update(body='{"event": "room_started", "createdAt": "never"}')
        deliver(client, joined(1))

        applier.apply_pending()

        outcomes = list(InboxEvent.objects.order_by("id").values_list("outcome", flat=True))
        assert outcomes[0].startswith("failed")
        assert outcomes[1] == "applied"
        assert Participant.objects.get().identity == "viewer-1"


@pytest.mark.django_db(transaction=True)
def test_two_appliers_never_apply_one_rooms_events_out_of_order() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("several appliers at once need PostgreSQL's row locks")
    client = Client()
    for n in range(60):
        for room in ("left-room", "right-room"):
            deliver(client, joined(n, name=room, sid=f"RM_{room}"))

    def run() -> None:
        try:
            while applier.apply_batch(limit=7).claimed:
                pass
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(run), pool.submit(run)]:
            future.result()

    assert applier.pending_count() == 0
    for room in Room.objects.all():
        applied = list(
            RoomEvent.objects.filter(room=room).order_by("pk").values_list("event_id", flat=True)
        )
        assert applied == sorted(applied), f"{room.name} applied out of order"
        assert len(applied) == 60


@pytest.mark.django_db(transaction=True)
def test_a_webhook_is_answered_503_with_retry_after_when_no_connection_is_free() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the connection pool is PostgreSQL's")
    connection.ensure_connection()
    pool = connection.pool
    held = []
    try:
        while True:
            try:
                held.append(pool.getconn(timeout=0.2))
            except Exception:
                break
        answer: dict[str, Any] = {}

        def deliver_from_another_thread() -> None:
            try:
                answer["response"] = deliver(Client(), room_event("room_started"))
            finally:
                connections.close_all()

        thread = threading.Thread(target=deliver_from_another_thread)
        thread.start()
        thread.join(30)
    finally:
        for conn in held:
            pool.putconn(conn)

    response = answer["response"]
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert "retry" in response.json()["error"].lower()
    assert not InboxEvent.objects.exists()


@pytest.mark.django_db
def test_a_page_is_answered_503_when_the_database_cannot_serve_it() -> None:
    from django.db import OperationalError

    from monitoring.middleware import DatabaseUnavailableMiddleware

    class Request:
        path = "/"

        def accepts(self, media: str) -> bool:
            return True

    response = DatabaseUnavailableMiddleware(lambda r: None).process_exception(
        Request(),  # type: ignore[arg-type]
        OperationalError("connection pool timeout"),
    )
    assert response is not None
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert "busy" in response.content.decode()
