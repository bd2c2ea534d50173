"""The tests' webhook receiver: a request its sender cut short is not a delivery."""

from __future__ import annotations

import socket
import time

import httpx

from tests.receiver import Receiver


def test_a_request_cut_short_by_its_sender_is_not_recorded() -> None:
    with Receiver() as receiver:
        port = int(receiver.url.split(":")[2].split("/")[0])
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(
                b"POST /hook HTTP/1.1\r\nHost: x\r\nwebhook-id: msg_cut:1\r\n"
                b"content-length: 100\r\n\r\n" + b"{" * 10
            )  # and the sender dies: the rest never comes
        time.sleep(0.3)
        r = httpx.post(receiver.url, content=b"{}", headers={"webhook-id": "msg_whole:2"})
        assert r.status_code == 204
        assert receiver.ids() == ["msg_whole:2"]
