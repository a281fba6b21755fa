"""``winback serve``: run the desk's web app."""

from __future__ import annotations

import typer


def serve_command(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
) -> None:
    """Serve the desk (pages and JSON API; OpenAPI at /docs)."""
    import uvicorn

    from winback.settings import load_settings
    from winback.web.app import create_app

    uvicorn.run(create_app(load_settings()), host=host, port=port, log_level="info")
