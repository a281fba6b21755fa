"""A real SMTP server on the loopback (aiosmtpd, in a thread of its own) for the outbox's
tests: it keeps what arrives, and answers by recipient: ``bounce...@`` gets 550, and
``defer...@`` gets 451."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller


@dataclass
class Arrival:
    sender: str
    recipients: list[str]
    message: EmailMessage
    at: float  # time.monotonic() when it arrived


@dataclass
class Inbox:
    arrived: list[Arrival] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("bounce"):
            return "550 5.1.1 no such mailbox here"
        if address.startswith("defer"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.arrived.append(
                Arrival(envelope.mail_from, list(envelope.rcpt_tos), parsed, time.monotonic())  # type: ignore[arg-type]
            )
        return "250 Message accepted"

    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(a.message["Message-ID"]) for a in self.arrived]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_inbox() -> Iterator[tuple[Inbox, int]]:
    """A running loopback SMTP server: (what arrived, its port)."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
