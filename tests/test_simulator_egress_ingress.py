"""Egress and Ingress in the simulator, read through livekit-api, driven through /sim/."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from livekit import api

from tests.fixtures.livekit import SimHandle


@pytest.fixture
async def lk(livekit_sim_bare: SimHandle) -> AsyncIterator[api.LiveKitAPI]:
    async with api.LiveKitAPI(
        livekit_sim_bare.url, livekit_sim_bare.api_key, livekit_sim_bare.api_secret
    ) as client:
        yield client


async def test_list_egress_filters_by_room_id_and_activity(lk, livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1")
    livekit_sim_bare.join("lounge", "host-2")
    finished = livekit_sim_bare.start_egress("stage")
    livekit_sim_bare.stop_egress(finished["egress_id"])
    running = livekit_sim_bare.start_egress("stage")
    livekit_sim_bare.start_egress("lounge")

    everything = (await lk.egress.list_egress(api.ListEgressRequest())).items
    in_stage = (await lk.egress.list_egress(api.ListEgressRequest(room_name="stage"))).items
    active = (
        await lk.egress.list_egress(api.ListEgressRequest(room_name="stage", active=True))
    ).items
    by_id = (
        await lk.egress.list_egress(api.ListEgressRequest(egress_id=running["egress_id"]))
    ).items

    assert len(everything) == 3
    assert len(in_stage) == 2
    assert [e.egress_id for e in active] == [running["egress_id"]]
    assert active[0].status == api.EgressStatus.EGRESS_ACTIVE
    assert [e.egress_id for e in by_id] == [running["egress_id"]]
    assert running["egress_id"].startswith("EG_")


async def test_stop_egress_ends_a_recording_and_refuses_a_finished_one(lk, livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1")
    egress = livekit_sim_bare.start_egress("stage")
    stopped = await lk.egress.stop_egress(api.StopEgressRequest(egress_id=egress["egress_id"]))
    assert stopped.status == api.EgressStatus.EGRESS_ENDING
    (state_egress,) = livekit_sim_bare.state()["egress"]
    assert state_egress["status"] == "EGRESS_COMPLETE" and state_egress["ended_at"] > 0
    assert livekit_sim_bare.room("stage")["active_recording"] is False

    with pytest.raises(api.TwirpError) as refused:
        await lk.egress.stop_egress(api.StopEgressRequest(egress_id=egress["egress_id"]))
    assert (refused.value.code, refused.value.status) == ("failed_precondition", 412)
    assert refused.value.message == "egress with status EGRESS_COMPLETE cannot be stopped", (
        "a native twirp error: no internal-RPC prefix"
    )


async def test_list_egress_with_an_unknown_id_is_not_found(lk, livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1")
    livekit_sim_bare.start_egress("stage")
    with pytest.raises(api.TwirpError) as refused:
        await lk.egress.list_egress(api.ListEgressRequest(egress_id="EG_nope"))
    assert (refused.value.code, refused.value.status) == ("not_found", 404)


async def test_stop_egress_on_an_unknown_id_is_not_found(lk):
    with pytest.raises(api.TwirpError) as refused:
        await lk.egress.stop_egress(api.StopEgressRequest(egress_id="EG_nope"))
    assert (refused.value.code, refused.value.status) == ("not_found", 404)


async def test_deleting_a_room_ends_its_recording(lk, livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1")
    livekit_sim_bare.start_egress("stage")
    await lk.room.delete_room(api.DeleteRoomRequest(room="stage"))
    assert [e["status"] for e in livekit_sim_bare.state()["egress"]] == ["EGRESS_COMPLETE"]


async def test_an_ingress_publishes_as_an_ingress_participant(lk, livekit_sim_bare):
    ingress = livekit_sim_bare.create_ingress("stage", name="studio encoder")
    assert ingress["status"] == "ENDPOINT_INACTIVE" and ingress["ingress_id"].startswith("IN_")
    livekit_sim_bare.clear_outbox()
    livekit_sim_bare.publish_ingress(ingress["ingress_id"])

    (listed,) = (await lk.ingress.list_ingress(api.ListIngressRequest(room_name="stage"))).items
    assert listed.state.status == api.IngressState.Status.ENDPOINT_PUBLISHING
    (participant,) = livekit_sim_bare.room("stage")["participants"]
    assert participant["kind"] == "INGRESS"
    assert participant["identity"] == listed.participant_identity
    assert {t["source"] for t in participant["tracks"]} == {"CAMERA", "MICROPHONE"}
    assert livekit_sim_bare.room("stage")["num_publishers"] == 1
    assert livekit_sim_bare.events()[-1] == "ingress_started"

    livekit_sim_bare.end_ingress(ingress["ingress_id"])
    (listed,) = (
        await lk.ingress.list_ingress(api.ListIngressRequest(ingress_id=ingress["ingress_id"]))
    ).items
    assert listed.state.status == api.IngressState.Status.ENDPOINT_INACTIVE
    assert livekit_sim_bare.room("stage")["participants"] == []
    assert livekit_sim_bare.events()[-1] == "ingress_ended"


async def test_list_ingress_with_an_unknown_id_is_not_found(lk):
    with pytest.raises(api.TwirpError) as refused:
        await lk.ingress.list_ingress(api.ListIngressRequest(ingress_id="IN_nope"))
    assert (refused.value.code, refused.value.status) == ("not_found", 404)
