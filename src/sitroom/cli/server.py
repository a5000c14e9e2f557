"""``sitroom serve``: the HTTP server (API now, pages next)."""

from __future__ import annotations

from typing import Annotated

import typer

from sitroom.cli.app import app, app_context, err_console


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, max=64, help="Processes (stateless: share one PostgreSQL)."
        ),
    ] = 1,
) -> None:
    """Serve the REST API (and the DHIS2 Web API) until interrupted."""
    from sitroom.server.run import serve as run

    rt = app_context(ctx)
    err_console.print(f"sitroom serving on http://{host}:{port} (Ctrl-C stops it)")
    run(rt, host=host, port=port, workers=workers)
