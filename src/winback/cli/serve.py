"""``winback serve``: run the desk's web app, and the periodic cycle on its schedule."""

from __future__ import annotations

import typer


def serve_command(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Worker processes (each serves the desk)."),
    keep_alive: int = typer.Option(
        20,
        min=1,
        help="Seconds an idle connection is kept open for the client's next request (keep "
        "a reverse proxy's upstream keep-alive below it).",
    ),
    healthcheck: int = typer.Option(
        60,
        min=1,
        help="Seconds a worker may take to answer the parent's health check before it is "
        "restarted (a worker busy under load answers late; restarting it drops its requests).",
    ),
    cycle: bool = typer.Option(
        True, help="Run the periodic cycle on WINBACK_CYCLE_SCHEDULE (once across workers)."
    ),
) -> None:
    """Serve the desk (pages and JSON API; OpenAPI at /docs) and run the cycle on schedule."""
    import os

    import uvicorn

    from winback.settings import load_settings

    if not cycle:
        os.environ["WINBACK_CYCLE_SCHEDULE"] = "off"  # read by every worker's settings
    load_settings()  # a bad setting stops here, with its name, before any worker starts
    uvicorn.run(
        "winback.web.app:served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        timeout_keep_alive=keep_alive,
        timeout_worker_healthcheck=healthcheck,
        log_level="info",
    )
