"""The simulator's Twirp wire format over raw HTTP: bodies, content types, routes, errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from livekit import api
from livekit.protocol import room as room_pb

from tests.fixtures.livekit import SimHandle

ROOM_SERVICE = "/twirp/livekit.RoomService"


def bearer(sim: SimHandle, **grants: Any) -> dict[str, str]:
    token = (
        api.AccessToken(sim.api_key, sim.api_secret).with_grants(api.VideoGrants(**grants)).to_jwt()
    )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession, sim: SimHandle, path: str, **kwargs: Any
) -> tuple[int, str, str]:
    async with http.post(sim.url + path, **kwargs) as response:
        return response.status, response.content_type, await response.text()


# -- JSON bodies --------------------------------------------------------------------


async def test_a_json_request_gets_a_snake_case_json_answer_with_defaults(http, livekit_sim_bare):
    status, content_type, text = await post(
        http,
        livekit_sim_bare,
        f"{ROOM_SERVICE}/CreateRoom",
        json={"name": "stage", "empty_timeout": 60},
        headers=bearer(livekit_sim_bare, room_create=True),
    )
    body = json.loads(text)
    assert (status, content_type) == (200, "application/json")
    assert body["name"] == "stage" and body["empty_timeout"] == 60
    assert body["sid"].startswith("RM_")
    assert body["num_participants"] == 0, "defaults are included"
    assert body["active_recording"] is False
    assert "creation_time_ms" in body


async def test_a_protobuf_request_gets_a_protobuf_answer(http, livekit_sim_bare):
    livekit_sim_bare.create_room("stage")
    async with http.post(
        livekit_sim_bare.url + f"{ROOM_SERVICE}/ListRooms",
        data=b"",
        headers={
            **bearer(livekit_sim_bare, room_list=True),
            "Content-Type": "application/protobuf",
        },
    ) as response:
        status, content_type = response.status, response.content_type
        rooms = room_pb.ListRoomsResponse.FromString(await response.read()).rooms
    assert (status, content_type) == (200, "application/protobuf")
    assert [r.name for r in rooms] == ["stage"]


async def test_a_malformed_json_body_is_a_malformed_error(http, livekit_sim_bare):
    status, content_type, text = await post(
        http,
        livekit_sim_bare,
        f"{ROOM_SERVICE}/CreateRoom",
        data=b"{not json",
        headers={**bearer(livekit_sim_bare, room_create=True), "Content-Type": "application/json"},
    )
    assert (status, content_type) == (400, "application/json")
    assert json.loads(text)["code"] == "malformed"
    assert livekit_sim_bare.state()["rooms"] == []


async def test_send_data_refuses_a_nonce_that_is_not_16_bytes(http, livekit_sim_bare):
    livekit_sim_bare.join("stage", "host-1")
    grants = bearer(livekit_sim_bare, room_admin=True, room="stage")
    short_nonce = room_pb.SendDataRequest(room="stage", data=b"hi", nonce=b"short")
    status, _, text = await post(
        http,
        livekit_sim_bare,
        f"{ROOM_SERVICE}/SendData",
        data=short_nonce.SerializeToString(),
        headers={**grants, "Content-Type": "application/protobuf"},
    )
    assert status == 400
    assert json.loads(text)["code"] == "invalid_argument"
    assert livekit_sim_bare.state()["data_messages"] == []


# -- routes and content types ------------------------------------------------------


async def test_an_unexpected_content_type_is_a_bad_route(http, livekit_sim_bare):
    path = f"{ROOM_SERVICE}/ListRooms"
    status, _, text = await post(
        http,
        livekit_sim_bare,
        path,
        data=b"names=stage",
        headers={**bearer(livekit_sim_bare, room_list=True), "Content-Type": "text/plain"},
    )
    body = json.loads(text)
    assert status == 404
    assert body["code"] == "bad_route"
    assert body["msg"].startswith("unexpected Content-Type")
    assert body["meta"] == {"twirp_invalid_route": f"POST {path}"}


async def test_an_unknown_method_is_a_bad_route(http, livekit_sim_bare):
    path = f"{ROOM_SERVICE}/ExplodeRoom"
    status, _, text = await post(
        http, livekit_sim_bare, path, json={}, headers=bearer(livekit_sim_bare, room_list=True)
    )
    body = json.loads(text)
    assert (status, body["code"]) == (404, "bad_route")
    assert body["msg"].startswith("no handler for path")


async def test_only_post_is_routed(http, livekit_sim_bare):
    async with http.get(livekit_sim_bare.url + f"{ROOM_SERVICE}/ListRooms") as response:
        body = await response.json()
    assert (response.status, body["code"]) == (404, "bad_route")


async def test_a_body_over_10_mib_is_a_plain_text_413(http, livekit_sim_bare):
    status, content_type, _ = await post(
        http,
        livekit_sim_bare,
        f"{ROOM_SERVICE}/CreateRoom",
        data=b"x" * (10 * 1024 * 1024 + 1),
        headers={
            **bearer(livekit_sim_bare, room_create=True),
            "Content-Type": "application/protobuf",
        },
    )
    assert (status, content_type) == (413, "text/plain")
    assert livekit_sim_bare.state()["rooms"] == []


# -- auth failures ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        ("Token abc", "invalid authorization header. Must start with Bearer "),
        ("Bearer not-a-jwt", "invalid authorization token"),
    ],
)
async def test_auth_middleware_failures_are_plain_text_401s(
    http, livekit_sim_bare, authorization, message
):
    status, content_type, text = await post(
        http,
        livekit_sim_bare,
        f"{ROOM_SERVICE}/ListRooms",
        json={},
        headers={"Authorization": authorization},
    )
    assert (status, content_type, text.rstrip("\n")) == (401, "text/plain", message)


async def test_an_unknown_key_is_a_plain_text_invalid_api_key(http, livekit_sim_bare):
    foreign = api.AccessToken("other-key", "x" * 40).with_grants(api.VideoGrants(room_list=True))
    status, content_type, text = await post(
        http,
        livekit_sim_bare,
        f"{ROOM_SERVICE}/ListRooms",
        json={},
        headers={"Authorization": f"Bearer {foreign.to_jwt()}"},
    )
    assert (status, content_type, text.strip()) == (401, "text/plain", "invalid API key")


async def test_a_bad_signature_names_the_reason(http, livekit_sim_bare):
    forged = api.AccessToken(livekit_sim_bare.api_key, "y" * 40).with_grants(
        api.VideoGrants(room_list=True)
    )
    status, _, text = await post(
        http,
        livekit_sim_bare,
        f"{ROOM_SERVICE}/ListRooms",
        json={},
        headers={"Authorization": f"Bearer {forged.to_jwt()}"},
    )
    assert status == 401
    assert text.startswith("invalid authorization token: ")


async def test_no_authorization_header_is_a_json_permissions_denied(http, livekit_sim_bare):
    status, content_type, text = await post(
        http, livekit_sim_bare, f"{ROOM_SERVICE}/ListRooms", json={}
    )
    assert (status, content_type) == (401, "application/json")
    assert json.loads(text) == {"code": "unauthenticated", "msg": "permissions denied"}


async def test_domain_errors_carry_the_twirp_prefix_and_no_meta(http, livekit_sim_bare):
    status, content_type, text = await post(
        http,
        livekit_sim_bare,
        f"{ROOM_SERVICE}/DeleteRoom",
        json={"room": "ghost"},
        headers=bearer(livekit_sim_bare, room_create=True),
    )
    assert (status, content_type) == (404, "application/json")
    assert json.loads(text) == {
        "code": "not_found",
        "msg": "twirp error unknown: requested room does not exist",
    }
