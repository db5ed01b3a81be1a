"""The reconciler: one pass makes the mirror equal to LiveKit, whatever the webhooks did."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring import reconciler
from monitoring.live import applier
from monitoring.models import Egress, Participant, Room, RoomEvent, SyncState
from monitoring.reconciler import reconcile_once, sync_status

WEBHOOK = "/livekit/webhook"


def deliver_outbox(client: Any, sim: Any) -> int:
    """Post every delivery the simulator captured, as LiveKit would have sent it."""
    deliveries = sim.outbox()
    for item in deliveries:
        response = client.post(
            WEBHOOK,
            data=item["body"],
            content_type=item["content_type"],
            HTTP_AUTHORIZATION=item["authorization"],
        )
        assert response.status_code == 200, response.content
    applier.apply_pending()
    sim.clear_outbox()
    return len(deliveries)


def mirror_view() -> dict[str, Any]:
    """The mirror's open rooms in the shape of the simulator's /sim/state."""
    rooms = {}
    for room in Room.objects.filter(ended_at__isnull=True):
        present = room.participants.filter(left_at__isnull=True)
        rooms[room.sid] = {
            "name": room.name,
            "num_participants": room.num_participants,
            "num_publishers": room.num_publishers,
            "active_recording": room.active_recording,
            "participants": {
                p.sid: (p.identity, sorted(t["sid"] for t in p.tracks)) for p in present
            },
        }
    return rooms


def sim_view(state: dict[str, Any]) -> dict[str, Any]:
    return {
        room["sid"]: {
            "name": room["name"],
            "num_participants": room["num_participants"],
            "num_publishers": room["num_publishers"],
            "active_recording": room["active_recording"],
            "participants": {
                p["sid"]: (p["identity"], sorted(t["sid"] for t in p["tracks"]))
                for p in room["participants"]
            },
        }
        for room in state["rooms"]
    }


def assert_converged(sim: Any) -> None:
    state = sim.state()
    assert mirror_view() == sim_view(state)
    statuses = dict(Egress.objects.values_list("egress_id", "status"))
    assert statuses == {e["egress_id"]: e["status"] for e in state["egress"]}


def busy_afternoon(sim: Any) -> None:
    """Rooms with hosts, viewers, rejoins, drops, a recording and an ingress."""
    sim.join("show-a", "host-a", publish=["camera", "microphone"])
    for n in range(4):
        sim.join("show-a", f"viewer-{n}", can_publish=False)
    sim.leave("show-a", "viewer-0")
    sim.join("show-a", "viewer-1", can_publish=False)  # a rejoin: new sid
    sim.join("show-a", "bot", kind="AGENT")
    egress = sim.start_egress("show-a")
    sim.join("show-b", "host-b", publish=["camera"])
    sim.join("show-b", "guest", publish=["screen_share"])
    sim.drop("show-b", "guest")
    ingress = sim.create_ingress("show-c", name="obs")
    sim.publish_ingress(ingress["ingress_id"])
    sim.join("show-d", "lonely", publish=["microphone"])
    sim.leave("show-d", "lonely")
    sim.advance(60)  # show-d closes
    sim.stop_egress(egress["egress_id"])


@pytest.mark.django_db
class TestConvergence:
    def test_webhooks_alone_bring_the_mirror_to_livekit_s_state(
        self, client: Any, livekit_sim: Any
    ) -> None:
        busy_afternoon(livekit_sim)

        deliver_outbox(client, livekit_sim)

        assert_converged(livekit_sim)

    @pytest.mark.parametrize("mode", ["duplicate", "reorder", "drop"])
    def test_faulty_delivery_converges_within_one_full_check_period(
        self, client: Any, livekit_sim: Any, mode: str, settings: Any
    ) -> None:
        settings.ROOMWATCH_SYNC_INTERVAL_SECONDS = 15
        settings.ROOMWATCH_FULL_CHECK_SECONDS = 45  # every room listed within 3 passes
        livekit_sim.webhooks(mode=mode, probability=0.5)
        busy_afternoon(livekit_sim)
        deliver_outbox(client, livekit_sim)

        results = [reconcile_once() for _ in range(3)]

        assert all(result.ok for result in results)
        assert_converged(livekit_sim)

    @pytest.mark.parametrize("mode", ["duplicate", "reorder", "drop"])
    def test_rooms_whose_counts_disagree_converge_after_one_pass(
        self, client: Any, livekit_sim: Any, mode: str, settings: Any
    ) -> None:
        settings.ROOMWATCH_FULL_CHECK_SECONDS = 10**6  # no rotation to help
        livekit_sim.webhooks(mode=mode, probability=0.5)
        for n in range(4):
            livekit_sim.join(f"show-{n}", f"host-{n}", publish=["camera"])
            for v in range(n + 1):
                livekit_sim.join(f"show-{n}", f"viewer-{v}", can_publish=False)
        livekit_sim.leave("show-2", "viewer-0")
        deliver_outbox(client, livekit_sim)
        disagreeing = {
            room.sid
            for room in Room.objects.all()
            if room.num_participants != (livekit_sim.room(room.name) or {}).get("num_participants")
        }

        result = reconcile_once()

        assert result.ok
        assert result.rooms_disagreeing >= len(disagreeing)
        assert_converged(livekit_sim)

    def test_duplicated_deliveries_are_stored_once(self, client: Any, livekit_sim: Any) -> None:
        livekit_sim.webhooks(mode="duplicate", probability=1.0)
        livekit_sim.join("show", "host", publish=["camera"])

        sent = deliver_outbox(client, livekit_sim)

        stored = RoomEvent.objects.exclude(event_id=None).count()
        assert sent == 2 * stored
        assert Room.objects.get().num_participants == 1

    def test_a_pass_with_no_webhooks_at_all_builds_the_mirror(self, livekit_sim: Any) -> None:
        livekit_sim.webhooks(mode="drop", probability=1.0)
        busy_afternoon(livekit_sim)

        result = reconcile_once()

        assert_converged(livekit_sim)
        assert result.corrected_room_ids
        assert RoomEvent.objects.filter(kind="reconciled").exists()


@pytest.mark.django_db
class TestCorrections:
    def test_it_marks_rooms_gone_from_livekit_ended_and_their_participants_left(
        self, client: Any, livekit_sim: Any
    ) -> None:
        livekit_sim.join("show", "host", publish=["camera"])
        deliver_outbox(client, livekit_sim)
        livekit_sim.webhooks(mode="drop", probability=1.0)
        livekit_sim.leave("show", "host")
        livekit_sim.advance(60)

        reconcile_once()

        room = Room.objects.get()
        assert room.status == "ended"
        assert room.participants.get().left_at is not None
        correction = room.events.get(kind="reconciled")
        assert "marked ended" in correction.summary

    def test_it_marks_a_finished_room_with_a_completed_recording_recorded(
        self, client: Any, livekit_sim: Any
    ) -> None:
        livekit_sim.join("show", "host", publish=["camera"])
        egress = livekit_sim.start_egress("show")
        deliver_outbox(client, livekit_sim)
        livekit_sim.webhooks(mode="drop", probability=1.0)
        livekit_sim.stop_egress(egress["egress_id"])
        livekit_sim.leave("show", "host")
        livekit_sim.advance(60)

        reconcile_once()

        assert Room.objects.get().status == "recorded"

    def test_it_fixes_counts_and_tracks(self, client: Any, livekit_sim: Any) -> None:
        livekit_sim.join("show", "host", publish=["camera"])
        deliver_outbox(client, livekit_sim)
        livekit_sim.webhooks(mode="drop", probability=1.0)
        livekit_sim.publish("show", "host", "microphone")
        livekit_sim.join("show", "late", can_publish=False)

        result = reconcile_once()

        room = Room.objects.get()
        assert room.num_participants == 2
        host = Participant.objects.get(identity="host")
        assert sorted(t["source"] for t in host.tracks) == ["CAMERA", "MICROPHONE"]
        assert Participant.objects.get(identity="late").role == "viewer"
        assert result.corrected_room_ids == [room.pk]
        summary = room.events.get(kind="reconciled").summary
        assert "late was missing" in summary
        assert "host's tracks differed" in summary

    def test_a_pass_over_a_true_mirror_records_nothing(self, client: Any, livekit_sim: Any) -> None:
        busy_afternoon(livekit_sim)
        deliver_outbox(client, livekit_sim)
        reconcile_once()
        before = RoomEvent.objects.count()

        with CaptureQueriesContext(connection) as captured:
            result = reconcile_once()

        assert result.ok
        assert result.corrected_room_ids == []
        assert RoomEvent.objects.count() == before
        writes = [q["sql"] for q in captured if q["sql"].startswith(("UPDATE", "INSERT"))]
        assert all(
            "monitoring_syncstate" in sql or "monitoring_reconcilepass" in sql for sql in writes
        ), writes

    def test_the_command_runs_one_pass(self, livekit_sim: Any, capsys: Any) -> None:
        livekit_sim.join("show", "host", publish=["camera"])

        call_command("livekit_sync", "--once")

        assert "Reconciled 1 room(s); corrected 1." in capsys.readouterr().out
        assert Room.objects.get().status == "live"


@pytest.mark.django_db
class TestLiveKitDown:
    def test_an_unreachable_livekit_is_recorded_and_the_mirror_kept(
        self, client: Any, livekit_sim: Any, settings: Any
    ) -> None:
        livekit_sim.join("show", "host", publish=["camera"])
        deliver_outbox(client, livekit_sim)
        reconcile_once()
        settings.LIVEKIT_URL = "http://127.0.0.1:9"  # nothing listens there

        result = reconcile_once()

        assert result.error
        room = Room.objects.get()
        assert room.status == "live"
        assert room.participants.get().left_at is None
        status = sync_status()
        assert status.is_stale
        assert "cannot be reached" in status.last_error
        assert status.message.startswith("LiveKit unreachable — showing the last known state")

    def test_the_next_successful_pass_clears_the_stale_mark(
        self, livekit_sim: Any, settings: Any
    ) -> None:
        url = settings.LIVEKIT_URL
        settings.LIVEKIT_URL = "http://127.0.0.1:9"
        reconcile_once()
        assert sync_status().is_stale
        assert sync_status().message.endswith("never been synchronised.")

        settings.LIVEKIT_URL = url
        reconcile_once()

        assert not sync_status().is_stale
        assert SyncState.objects.get().last_success_at is not None

    def test_the_command_fails_loudly_when_livekit_is_down(
        self, livekit_sim: Any, settings: Any
    ) -> None:
        from django.core.management.base import CommandError

        settings.LIVEKIT_URL = "http://127.0.0.1:9"

        with pytest.raises(CommandError, match="LiveKit could not be read"):
            call_command("livekit_sync", "--once")


@pytest.mark.django_db(transaction=True)
class TestLock:
    def test_only_one_process_reconciles_at_a_time(self, livekit_sim: Any) -> None:
        if connection.vendor != "postgresql":
            pytest.skip("the advisory lock is PostgreSQL's")
        livekit_sim.join("show", "host", publish=["camera"])
        params = connection.get_connection_params()
        other = psycopg.connect(
            **{k: v for k, v in params.items() if k in ("host", "port", "user", "dbname")},
            autocommit=True,
        )
        try:
            other.execute("SELECT pg_advisory_lock(%s)", [reconciler.ADVISORY_LOCK_KEY])

            blocked = reconcile_once()

            assert blocked.ran is False
            assert not Room.objects.exists()
            other.execute("SELECT pg_advisory_unlock(%s)", [reconciler.ADVISORY_LOCK_KEY])
            allowed = reconcile_once()
            assert allowed.ran is True
            assert Room.objects.count() == 1
        finally:
            other.close()

    def test_two_concurrent_passes_never_both_run(self, livekit_sim: Any) -> None:
        if connection.vendor != "postgresql":
            pytest.skip("the advisory lock is PostgreSQL's")
        for n in range(5):
            livekit_sim.join(f"show-{n}", "host", publish=["camera"])
        results: list[Any] = []
        start = threading.Barrier(2)

        def run() -> None:
            try:
                start.wait()
                with reconciler.reconcile_lock() as acquired:
                    results.append(acquired)
                    if acquired:
                        # Hold the lock long enough for the other thread to try.
                        threading.Event().wait(0.3)
            finally:
                connection.close()

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)

        assert sorted(results) == [False, True]


def test_the_sync_loop_keeps_going_after_errors_and_stops_on_sigterm(tmp_path: Any) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        # An empty database and no LiveKit: every pass fails, none may end the loop.
        "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        "LIVEKIT_URL": "http://127.0.0.1:9",
        "REDIS_URL": "",
    }
    loop = subprocess.Popen(
        [sys.executable, "manage.py", "livekit_sync", "--interval", "0.1"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        seen: list[str] = []
        deadline = time.monotonic() + 20
        assert loop.stdout is not None
        while time.monotonic() < deadline:
            line = loop.stdout.readline()
            seen.append(line)
            if sum("pass crashed" in s or "pass failed" in s for s in seen) >= 2:
                break
        loop.send_signal(signal.SIGTERM)
        rest, _ = loop.communicate(timeout=10)
    finally:
        if loop.poll() is None:
            loop.kill()
    assert sum("pass crashed" in s or "pass failed" in s for s in seen) >= 2
    assert loop.returncode == 0
    assert "livekit_sync: stopped" in rest


@pytest.mark.django_db
def test_a_room_wrongly_marked_ended_is_reopened_when_livekit_still_has_it(
    client: Any, livekit_sim: Any
) -> None:
    livekit_sim.join("show", "host", publish=["camera"])
    deliver_outbox(client, livekit_sim)
    Room.objects.update(ended_at=Room.objects.get().created_at, status="ended")
    Participant.objects.update(left_at=Room.objects.get().created_at)
    Room.objects.update(updated_at=Room.objects.get().created_at)

    reconcile_once()

    assert_converged(livekit_sim)
    room = Room.objects.get()
    assert room.status == "live"
    assert "room is still open in LiveKit" in room.events.get(kind="reconciled").summary


@pytest.mark.django_db(transaction=True)
class TestLiveKitReachabilityIsPushed:
    @pytest.fixture(autouse=True)
    def listener(self, settings: Any) -> Any:
        from asgiref.sync import async_to_sync
        from channels.layers import channel_layers, get_channel_layer

        from monitoring import realtime

        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
        channel_layers.backends.clear()
        layer = get_channel_layer()
        channel = async_to_sync(layer.new_channel)("test.")
        async_to_sync(layer.group_add)(realtime.CONSOLE_GROUP, channel)

        def pushed() -> list[str]:
            """The banners pushed so far, as the support role's pages get them."""
            messages = []

            async def drain() -> None:
                import asyncio

                while True:
                    try:
                        message = await asyncio.wait_for(layer.receive(channel), 0.2)
                    except TimeoutError:
                        return
                    messages.append(message["html"])

            async_to_sync(drain)()
            return messages

        yield pushed
        channel_layers.backends.clear()

    def test_livekit_going_down_and_coming_back_is_pushed_to_every_page_once_each(
        self, listener: Any, livekit_sim: Any, settings: Any
    ) -> None:
        reconcile_once()
        assert listener() == []  # reachable before and after: nothing to say

        url = settings.LIVEKIT_URL
        settings.LIVEKIT_URL = "http://127.0.0.1:9"
        reconcile_once()
        down = listener()
        assert len(down) == 1
        assert 'id="livekit-banner" hx-swap-oob="true"' in down[0]
        assert "LiveKit unreachable — showing the last known state" in down[0]

        reconcile_once()
        assert listener() == []  # still down: the banner already says so

        settings.LIVEKIT_URL = url
        reconcile_once()
        back = listener()
        assert len(back) == 1
        assert 'id="livekit-banner" hx-swap-oob="true"' in back[0]
        assert "unreachable" not in back[0] and 'data-stale="true"' not in back[0]


@pytest.fixture
def listed(livekit_sim: Any, monkeypatch: Any) -> list[str]:
    """The rooms the simulator was asked ListParticipants for, in order."""
    from monitoring.livekit_sim import twirp

    names: list[str] = []
    key = ("RoomService", "ListParticipants")
    original = twirp.HANDLERS[key]

    async def counting(server: Any, request: Any, claims: Any) -> Any:
        names.append(request.room)
        return await original(server, request, claims)

    monkeypatch.setitem(twirp.HANDLERS, key, counting)
    return names


def quiet_rooms(client: Any, sim: Any, count: int) -> list[str]:
    """Live rooms (a host publishing, a viewer) mirrored by their webhooks and one pass."""
    names = [f"room-{n:02}" for n in range(count)]
    for name in names:
        sim.join(name, "host", publish=["microphone"])
        sim.join(name, "viewer", can_publish=False)
    deliver_outbox(client, sim)
    reconcile_once()
    return names


@pytest.mark.django_db
class TestListingOnlyWhatMatters:
    def test_rooms_whose_counts_agree_neither_watched_nor_due_are_not_listed(
        self, client: Any, livekit_sim: Any, listed: list[str], settings: Any
    ) -> None:
        from monitoring.live import watch

        settings.ROOMWATCH_FULL_CHECK_SECONDS = 10**6  # a slice of one room per pass
        names = quiet_rooms(client, livekit_sim, 6)
        watch.room_watch_start(room_id=Room.objects.get(name="room-01").pk, channel_name="a-page")
        livekit_sim.webhooks(mode="drop", probability=1.0)
        livekit_sim.join("room-02", "unseen", can_publish=False)  # counts now disagree
        listed.clear()

        result = reconcile_once()

        assert result.ok
        assert {"room-01", "room-02"} <= set(listed)
        assert len(listed) == len(set(listed)) == result.rooms_checked <= 3
        assert result.rooms_rotated == 1
        assert len(set(names) - set(listed)) >= 3  # agreeing, unwatched, not due
        assert result.livekit_calls == 3 + len(listed)  # ListRooms, ListEgress, ListIngress
        assert Participant.objects.filter(identity="unseen", left_at__isnull=True).exists()

    def test_a_publisher_that_unpublished_everything_does_not_make_its_room_disagree(
        self, client: Any, livekit_sim: Any, listed: list[str], settings: Any
    ) -> None:
        settings.ROOMWATCH_FULL_CHECK_SECONDS = 10**6
        quiet_rooms(client, livekit_sim, 3)
        track = livekit_sim.room("room-00")["participants"][0]["tracks"][0]["sid"]
        livekit_sim.unpublish("room-00", "host", track)  # LiveKit still counts a publisher
        deliver_outbox(client, livekit_sim)
        reconcile_once()  # lists it once: the counts disagree by the sticky publisher
        listed.clear()

        results = [reconcile_once() for _ in range(2)]

        assert all(r.rooms_disagreeing == 0 for r in results)
        assert len(listed) == 2  # the rotation's one room per pass

    def test_the_rotation_checks_every_room_within_the_full_check_time(
        self, client: Any, livekit_sim: Any, settings: Any
    ) -> None:
        settings.ROOMWATCH_SYNC_INTERVAL_SECONDS = 15
        settings.ROOMWATCH_FULL_CHECK_SECONDS = 45  # three passes
        names = quiet_rooms(client, livekit_sim, 7)
        for name in names:  # self-mutes: no webhook, no count changes
            room = livekit_sim.room(name)
            host = next(p for p in room["participants"] if p["identity"] == "host")
            livekit_sim.mute(name, "host", host["tracks"][0]["sid"], muted=True)

        def muted() -> set[str]:
            return {
                p.room.name
                for p in Participant.objects.filter(identity="host", left_at__isnull=True)
                if p.tracks[0]["muted"]
            }

        reconcile_once()
        after_one = muted()
        reconcile_once()
        reconcile_once()

        assert 0 < len(after_one) < len(names)
        assert muted() == set(names)

    def test_the_rotation_slices_cover_every_room_once_per_period(self) -> None:
        sids = [f"RM_{n:03}" for n in range(100)]
        cursor, seen = "", []
        for _ in range(20):  # 300 s of 15 s passes
            chosen, cursor = reconciler.rotation_slice(
                sids=sids, cursor=cursor, interval=15, full_check_seconds=300
            )
            seen += chosen

        assert sorted(seen) == sids

    def test_an_idle_pass_runs_the_same_number_of_queries_for_3_rooms_as_for_12(
        self, client: Any, livekit_sim: Any, settings: Any
    ) -> None:
        settings.ROOMWATCH_FULL_CHECK_SECONDS = 10**6

        def idle_pass_queries(count: int) -> int:
            livekit_sim.reset()
            Room.objects.all().delete()
            quiet_rooms(client, livekit_sim, count)
            with CaptureQueriesContext(connection) as captured:
                result = reconcile_once()
            assert result.ok and result.corrected_room_ids == []
            assert result.queries == len(captured)
            return len(captured)

        assert idle_pass_queries(3) == idle_pass_queries(12)

    def test_healthz_shows_the_last_pass(self, client: Any, livekit_sim: Any) -> None:
        quiet_rooms(client, livekit_sim, 2)

        body = client.get("/healthz").json()

        last = body["reconciler"]
        assert last["ok"] is True
        assert last["rooms_listed"] == 2
        assert last["livekit_calls"] >= 3
        assert last["queries"] > 0 and last["duration_ms"] >= 0
