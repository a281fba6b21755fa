"""``winback demo``: a simulated business, scanned, synced, worked, and served."""

from __future__ import annotations

import typer
from rich.table import Table as RichTable

from winback.cli.desk import print_sync
from winback.cli.output import err, out, print_results, print_run, safe
from winback.settings import load_settings


def demo_command(
    customers: int = typer.Option(3000, help="How many customers the simulated business has."),
    serve: bool = typer.Option(True, help="Serve the desk when the demo is built."),
    port: int = typer.Option(8000, help="Port for the desk."),
) -> None:
    """The demo: simulate a small business, import, scan, add desk users, sync, serve."""
    from winback.demo import build_demo

    settings = load_settings()
    out.print(f"winback demo: workspace {safe(settings.home.resolve())}", highlight=False)
    with err.status("building the demo") as status:
        demo = build_demo(settings, customers, say=lambda text: status.update(safe(text)))
    print_results(demo.imports)
    if demo.run is not None:
        print_run(demo.run, 10)
    if demo.sync is not None:
        print_sync(demo.sync)
    if demo.worked is not None:
        out.print(
            f"desk: {demo.worked.calls} case(s) worked by their reps, {demo.worked.won_back} "
            "won back (see the dashboard: Reasons × revenue)",
            highlight=False,
        )
    users = RichTable(title="desk users (passwords shown once)", title_justify="left")
    for name in ("username", "role", "password", "staff id"):
        users.add_column(name)
    for user in demo.users:
        users.add_row(
            safe(user.username), safe(user.role), safe(user.password), safe(user.staff_id or "")
        )
    out.print(users)
    if serve:
        import uvicorn

        from winback.web.app import create_app

        out.print(f"serving the desk on http://127.0.0.1:{port}/ (Ctrl-C to stop)", highlight=False)
        uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
