"""``winback outbox``: send the queued e-mail now, and see where every message stands."""

from __future__ import annotations

import typer

from winback import cycle
from winback.cli.output import err, out, safe
from winback.desk import outbox
from winback.desk.db import desk_engine
from winback.desk.outbox import SmtpSettings
from winback.errors import SettingsError
from winback.settings import load_settings

outbox_app = typer.Typer(
    help="The outbox: e-mail queued by campaigns.", no_args_is_help=True, rich_markup_mode=None
)
# The unknown messages listed by status, at most.
SHOWN_UNKNOWN = 50


@outbox_app.command("send")
def send_command(
    rate: float | None = typer.Option(
        None, min=0.001, help="E-mails a second at most (default: WINBACK_SMTP_RATE)."
    ),
) -> None:
    """Send every queued e-mail that is due, through WINBACK_SMTP_HOST, with progress.
    Safe to stop (Ctrl-C, a crash) and run again: nobody is e-mailed twice."""
    settings = load_settings()
    if SmtpSettings.from_settings(settings) is None:
        raise SettingsError(
            "WINBACK_SMTP_HOST is not set: give the SMTP server (and WINBACK_SMTP_FROM, "
            "WINBACK_PUBLIC_URL) to send e-mail; docs/outreach.md"
        )
    engine = desk_engine(settings.desk_database_url)
    try:
        with err.status("outbox: starting") as status:

            def show(done: int, total: int) -> None:
                status.update(f"outbox: {done:,} of {total:,} handled")

            report = cycle.send_outbox(settings, engine, rate=rate, progress=show)
    finally:
        engine.dispose()
    assert report is not None
    out.print(
        f"sent {report.sent:,} · bounced {report.bounced:,} · deferred {report.deferred:,} · "
        f"failed {report.failed:,} · unknown {report.unknown:,} · blocked {report.blocked:,} "
        f"({report.seconds:.1f} s)",
        highlight=False,
    )
    if report.unknown:
        err.print(
            "some e-mails are unknown (a sender stopped while handing them over): see "
            "winback outbox status, and check the SMTP server's log for their Message-IDs",
            highlight=False,
        )


@outbox_app.command("status")
def status_command() -> None:
    """How many e-mails are in each state, and the unknown ones to check by hand."""
    settings = load_settings()
    with cycle.desk_session(settings) as db:
        counts = outbox.state_counts(db)
        unknown = [
            (m.key, m.to_address, m.message_id) for m in outbox.unknown_messages(db, SHOWN_UNKNOWN)
        ]
    out.print(" · ".join(f"{s} {n:,}" for s, n in counts.items()), highlight=False)
    smtp = SmtpSettings.from_settings(settings)
    domain = smtp.domain if smtp else "<sender's domain>"
    for key, address, message_id in unknown:
        out.print(
            f"unknown: {safe(key)} to {safe(address)} Message-ID <{safe(message_id)}@{domain}>",
            highlight=False,
        )
