"""The outbox under load: 100,000 e-mails queued, then sent to a loopback SMTP server
(aiosmtpd, in this process) by a sender process that is killed with SIGKILL half-way and
then run again, checking that nobody got an e-mail twice and no e-mail was lost.

Printed: the queue rate; the send rate (messages a second over both sender runs), their CPU
time beside the wall time, and the sender's peak memory (VmHWM, sampled every 0.2 s);
duplicates (Message-IDs that arrived more than once), lost (rows marked sent that never
arrived, or left unfinished)
and unknown (the killed sender's one message in doubt, and whether it arrived); then the
anchor: smtplib sending the same messages (built the same way) in a bare loop over one
connection to the same server, and the outbox's rate as a share of it.

    uv run python benchmarks/outbox_send.py [--messages 100000] [--desk-url URL]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select

from winback.desk.db import desk_engine, open_session
from winback.desk.models import OutboxMessage
from winback.desk.outbox import (
    OutgoingMessage,
    SmtpSettings,
    build_message,
    enqueue,
    send_queued,
    state_counts,
)

MESSAGE_ID = re.compile(rb"^Message-ID:\s*<([^@>]+)@", re.IGNORECASE | re.MULTILINE)
SENDER = "Acme <hello@acme.example>"


class Counting:
    """An SMTP handler that keeps the Message-ID of every message it accepts."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        head = envelope.content.split(b"\r\n\r\n", 1)[0]
        found = MESSAGE_ID.search(head)
        with self.lock:
            self.ids.append(found.group(1).decode() if found else "?")
        return "250 OK"

    def count(self) -> int:
        with self.lock:
            return len(self.ids)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def smtp_of(port: int) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, security="none", sender=SENDER, timeout=30)


def messages(n: int, campaign: int) -> list[OutgoingMessage]:
    return [
        OutgoingMessage(
            key=f"campaign:{campaign}:C{i:06d}:offer:1",
            customer_id=f"C{i:06d}",
            to_address=f"c{i:06d}@example.com",
            subject="We would love to have you back",
            text=f"Hello customer {i},\n\nIt has been a while. Here is 15% off.\n\nAcme\n",
            campaign_id=campaign,
            headers={"List-Unsubscribe": f"<https://desk.example.com/unsubscribe/t{i}>"},
        )
        for i in range(n)
    ]


def sender_main(url: str, port: int) -> None:
    """The sender process: send everything queued, as fast as it goes."""
    engine = desk_engine(url)
    send_queued(engine, smtp_of(port), rate_per_second=None, batch=500)
    engine.dispose()


def _high_water_kb(pid: int) -> int:
    """The process's peak resident memory since it started this program (VmHWM: unlike
    the rusage maximum, it does not count the parent's pages it shared before exec)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else 0


def run_sender(url: str, port: int, kill_at: int | None, server: Counting) -> dict[str, float]:
    """One sender process; with ``kill_at``, SIGKILL it once that many have arrived."""
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, __file__, "--sender", url, str(port)])
    killed = False
    peak_kb = 0
    sampled = 0.0
    while True:  # os.wait4, not Popen.poll: it gives the child's CPU time
        if time.monotonic() - sampled > 0.2:
            peak_kb = max(peak_kb, _high_water_kb(child.pid))
            sampled = time.monotonic()
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if not killed and kill_at is not None and server.count() >= kill_at:
            os.kill(child.pid, signal.SIGKILL)
            killed = True
        time.sleep(0.005)
    child.returncode = status
    wall = time.monotonic() - started
    if not killed and status != 0:
        raise SystemExit(f"the sender failed (status {status})")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": peak_kb / 1024,
        "killed": float(killed),
    }


def anchor(engine: Engine, port: int, n: int) -> float:
    """smtplib over one connection, the same messages built the same way: messages/s."""
    smtp = smtp_of(port)
    with engine.connect() as connection:
        rows = list(
            connection.execute(select(OutboxMessage.__table__).order_by(OutboxMessage.id).limit(n))
        )
    client = smtplib.SMTP("127.0.0.1", port, timeout=30)
    started = time.monotonic()
    for row in rows:
        client.sendmail(smtp.envelope_sender, [row.to_address], build_message(row, smtp))
    seconds = time.monotonic() - started
    client.quit()
    return len(rows) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--anchor-messages", type=int, default=20_000)
    parser.add_argument("--desk-url", default=None, help="default: a SQLite file in /tmp")
    parser.add_argument("--sender", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sender:
        sender_main(args.sender[0], int(args.sender[1]))
        return
    n = args.messages
    with tempfile.TemporaryDirectory(prefix="winback-outbox-bench-") as folder:
        url = args.desk_url or f"sqlite:///{Path(folder) / 'desk-outbox.sqlite3'}"
        engine = desk_engine(url)
        server = Counting()
        port = free_port()
        controller = Controller(server, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            started = time.monotonic()
            cpu = time.process_time()
            with open_session(engine) as db:
                queued = enqueue(db, messages(n, 1))
            queue_wall, queue_cpu = time.monotonic() - started, time.process_time() - cpu
            print(
                f"queued {queued.queued:,} in {queue_wall:.1f} s wall, {queue_cpu:.1f} s CPU "
                f"({queued.queued / queue_wall:,.0f} msgs/s)"
            )
            # Killed mid-claim (claims are 500 messages), not at a claim boundary.
            first = run_sender(url, port, n // 2 + 137, server)
            arrived_at_kill = server.count()
            second = run_sender(url, port, None, server)
            wall, cpu_s = first["wall"] + second["wall"], first["cpu"] + second["cpu"]
            with open_session(engine) as db:
                states = state_counts(db)
                rows = db.execute(select(OutboxMessage.message_id, OutboxMessage.state)).all()
            arrived = Counter(server.ids)
            duplicates = sum(c - 1 for c in arrived.values() if c > 1)
            sent_missing = sum(1 for mid, st in rows if st == "sent" and mid not in arrived)
            unfinished = states["queued"] + states["sending"]
            unknown = [mid for mid, st in rows if st == "unknown"]
            print(
                f"sender 1: killed (SIGKILL) after {arrived_at_kill:,} arrived, "
                f"{first['wall']:.1f} s wall, {first['cpu']:.1f} s CPU, "
                f"peak {first['rss_mb']:.0f} MB"
            )
            print(
                f"sender 2: resumed, {second['wall']:.1f} s wall, {second['cpu']:.1f} s CPU, "
                f"peak {second['rss_mb']:.0f} MB"
            )
            print(
                f"send: {n:,} in {wall:.1f} s wall ({n / wall:,.0f} msgs/s), {cpu_s:.1f} s "
                f"sender CPU; server process CPU so far "
                f"{resource.getrusage(resource.RUSAGE_SELF).ru_utime:.1f} s"
            )
            shown = {k: v for k, v in states.items() if v}
            print(f"states: {shown}")
            print(
                f"duplicates={duplicates} lost={sent_missing + unfinished} "
                f"unknown={len(unknown)} (arrived: "
                f"{', '.join('yes' if u in arrived else 'no' for u in unknown) or '-'}) "
                f"arrived={len(arrived):,} of {n:,}"
            )
            rate = anchor(engine, port, args.anchor_messages)
            print(
                f"anchor: smtplib bare loop, one connection: {rate:,.0f} msgs/s; "
                f"outbox/anchor = {(n / wall) / rate:.2f}"
            )
        finally:
            controller.stop()
            engine.dispose()


if __name__ == "__main__":
    main()
