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
    status, content_type, text = await post(
        http,
        livekit_sim_bare,
        f"{ROOM_SERVICE}/CreateRoom",
        data=b"x" * (10 * 1024 * 1024 + 1),
        headers={
            **bearer(livekit_sim_bare, room_create=True),
            "Content-Type": "application/protobuf",
        },
    )
    assert (status, content_type, text) == (413, "text/plain", "request body too large")
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
    assert (status, content_type, text) == (401, "text/plain", message), "no trailing newline"


async def test_an_unknown_key_is_a_plain_text_invalid_api_key(http, livekit_sim_bare):
    foreign = api.AccessToken("other-key", "x" * 40).with_grants(api.VideoGrants(room_list=True))
    status, content_type, text = await post(
        http,
        livekit_sim_bare,
        f"{ROOM_SERVICE}/ListRooms",
        json={},
        headers={"Authorization": f"Bearer {foreign.to_jwt()}"},
    )
    assert (status, content_type, text) == (401, "text/plain", "invalid API key")


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


# -- shared/LIVEKIT.md, one row per corrected fact -----------------------------------


async def raw(
    http: aiohttp.ClientSession, sim: SimHandle, path: str, **kwargs: Any
) -> tuple[int, str, str]:
    """Status, the Content-Type header exactly as sent, and the body."""
    async with http.post(sim.url + path, **kwargs) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.text()


@pytest.mark.parametrize(
    ("path", "payload", "grants", "status"),
    [
        ("/CreateRoom", {"name": "stage"}, {"room_create": True}, 200),
        ("/DeleteRoom", {"room": "ghost"}, {"room_create": True}, 404),
        ("/ListRooms", {}, None, 401),
    ],
)
async def test_every_json_answer_says_exactly_application_json(
    http, livekit_sim_bare, path, payload, grants, status
):
    headers = bearer(livekit_sim_bare, **grants) if grants else {}
    answer = await raw(http, livekit_sim_bare, ROOM_SERVICE + path, json=payload, headers=headers)
    assert answer[:2] == (status, "application/json"), "no charset, as twirp-go writes it"


def finished_egress(sim: SimHandle) -> dict[str, Any]:
    sim.join("stage", "host-1")
    egress = sim.start_egress("stage")
    sim.stop_egress(egress["egress_id"])
    return {"egress_id": egress["egress_id"]}


PREFIX = "twirp error unknown: "
ERROR_ROWS = [
    # (LiveKit method, setup returning the request, grants, status, code, msg, meta)
    (
        "RoomService/DeleteRoom",
        lambda sim: {"room": "ghost"},
        {"room_create": True},
        404,
        "not_found",
        PREFIX + "requested room does not exist",
        None,
    ),
    (
        "RoomService/CreateRoom",
        lambda sim: {"name": "x" * 257},
        {"room_create": True},
        400,
        "invalid_argument",
        PREFIX + "room name length exceeds limits: max length 256",
        None,
    ),
    (
        "RoomService/CreateRoom",
        lambda sim: {"name": "stage", "metadata": "x" * (512 * 1024 + 1)},
        {"room_create": True},
        400,
        "invalid_argument",
        "metadata size exceeds limits 524288",
        {"argument": "metadata size exceeds limits"},
    ),
    (
        "RoomService/SendData",
        lambda sim: sim.join("stage", "host-1") and {"room": "stage", "nonce": "aGVsbG8="},
        {"room_admin": True, "room": "stage"},
        400,
        "invalid_argument",
        "nonce should be 16-bytes or not present, got: 5 bytes",
        None,
    ),
    (
        "RoomService/SendData",
        lambda sim: {"room": "ghost", "data": "aGk="},
        {"room_admin": True, "room": "ghost"},
        503,
        "unavailable",
        PREFIX + "no response from servers",
        None,
    ),
    (
        "RoomService/UpdateSubscriptions",
        lambda sim: sim.join("stage", "host-1") and {"room": "stage", "identity": "ghost"},
        {"room_admin": True, "room": "stage"},
        503,
        "unavailable",
        PREFIX + "no response from servers",
        None,
    ),
    (
        "RoomService/MutePublishedTrack",
        lambda sim: {"room": "stage", "identity": "ghost", "track_sid": "TR_x", "muted": True},
        {"room_admin": True, "room": "stage"},
        503,
        "unavailable",
        PREFIX + "no response from servers",
        None,
    ),
    (
        "RoomService/MutePublishedTrack",
        lambda sim: (
            sim.join("stage", "host-1", publish=["audio"])
            and {"room": "stage", "identity": "host-1", "track_sid": "TR_x", "muted": False}
        ),
        {"room_admin": True, "room": "stage"},
        412,
        "failed_precondition",
        "remote unmute not enabled",
        None,
    ),
    (
        "Egress/StopEgress",
        finished_egress,
        {"room_record": True},
        412,
        "failed_precondition",
        "egress with status EGRESS_COMPLETE cannot be stopped",
        None,
    ),
    (
        "Egress/ListEgress",
        lambda sim: {"egress_id": "EG_nope"},
        {"room_record": True},
        404,
        "not_found",
        PREFIX + "egress does not exist",
        None,
    ),
]


@pytest.mark.parametrize(
    ("method", "setup", "grants", "status", "code", "msg", "meta"),
    ERROR_ROWS,
    ids=[f"{row[0]}-{row[3]}" for row in ERROR_ROWS],
)
async def test_errors_carry_the_prefix_only_where_livekits_internal_rpc_adds_it(
    http, livekit_sim_bare, method, setup, grants, status, code, msg, meta
):
    payload = setup(livekit_sim_bare)
    answer = await raw(
        http,
        livekit_sim_bare,
        f"/twirp/livekit.{method}",
        json=payload,
        headers=bearer(livekit_sim_bare, **grants),
    )
    expected = {"code": code, "msg": msg, **({"meta": meta} if meta else {})}
    assert answer[:2] == (status, "application/json")
    assert json.loads(answer[2]) == expected
