"""An account change closes its sockets with a code the websocket server accepts (daphne
refused 1012 and ended them with 1011), and the page reconnects on it on purpose."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from daphne.ws_protocol import WebSocketProtocol

from monitoring.consumers import CLOSE_FORBIDDEN, CLOSE_RECONNECT

SCRIPT = Path(__file__).resolve().parent.parent / "static" / "js" / "roomwatch.js"


class RecordingProtocol(WebSocketProtocol):
    """Daphne's own websocket protocol, with the frame written to a list, not a socket."""

    def __init__(self) -> None:  # no server or transport: only the close validation runs
        self.frames: list[int | None] = []

    def sendCloseFrame(self, code=None, reasonUtf8=None, isReply=False):  # type: ignore[no-untyped-def]
        self.frames.append(code)


@pytest.mark.parametrize("code", [CLOSE_RECONNECT, CLOSE_FORBIDDEN])
def test_daphne_sends_the_consoles_close_codes(code: int) -> None:
    protocol = RecordingProtocol()

    protocol.sendClose(code=code)

    assert protocol.frames == [code]


def test_daphne_refuses_1012_which_the_console_no_longer_sends() -> None:
    with pytest.raises(Exception, match="invalid close code 1012"):
        RecordingProtocol().sendClose(code=1012)
    assert CLOSE_RECONNECT != 1012


def test_the_page_reconnects_on_the_reconnect_code_and_not_on_the_refusal() -> None:
    script = SCRIPT.read_text()

    declared = re.search(r"var CLOSE_RECONNECT = (\d+);", script)
    assert declared is not None and int(declared.group(1)) == CLOSE_RECONNECT
    assert "detail.socketWrapper.reconnect" in script
    assert str(CLOSE_FORBIDDEN) not in script
