"""The application factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import Depends, FastAPI

from sitroom import __version__
from sitroom.context import AppContext
from sitroom.server import problems
from sitroom.server.middleware import BodyLimit, RequestLog, SecurityHeaders

API_PREFIX = "/api/v1"
DOCS_PATH = f"{API_PREFIX}/docs"
#: The vendored Swagger UI (``server/web/static/vendor/swagger-ui``).
SWAGGER_VERSION = "5.35.0"
log = logging.getLogger("sitroom.server")


def create_app(context: AppContext, *, schedule: bool = False) -> FastAPI:
    """The server for ``context``'s settings: its database, its country.

    Stateless: every request opens its own session, so workers and machines
    can share one PostgreSQL. The schema is brought to the current revision at
    start-up (under the migration lock) before the first request. With
    ``schedule`` (``sitroom serve``; not the tests' clients), the daily
    publication runs in the background (``sitroom.publication.schedule``),
    unless ``SITROOM_PUBLISH_AT=off``.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context.engine  # noqa: B018  (opens, creates or migrates the database once)
        log.info("sitroom %s serving %s", __version__, _database(context))
        task = _start_schedule(context) if schedule else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            context.close()

    app = FastAPI(
        title="sitroom",
        version=__version__,
        summary="An outbreak situation room: surveillance, epidemiology, supply and aid.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # served below from the vendored Swagger UI, not a CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.context = context
    problems.install(app)

    from sitroom.server.deps import no_nul_in_query
    from sitroom.server.routes import (
        aid,
        analyses,
        approvals,
        audit,
        data,
        dhis2,
        dhis2_metadata,
        editions,
        health,
        places,
        reports,
        supply,
        supply_orders,
        supply_planning,
        users,
    )
    from sitroom.server.web import routes as web

    checked = [Depends(no_nul_in_query)]
    app.include_router(health.router)
    # reports first: its /dataValues/history is not a value of /dataValues/{...}.
    app.include_router(reports.router, prefix=API_PREFIX, dependencies=checked)
    app.include_router(data.router, prefix=API_PREFIX, dependencies=checked)
    app.include_router(places.router, prefix=API_PREFIX, dependencies=checked)
    app.include_router(approvals.router, prefix=API_PREFIX, dependencies=checked)
    app.include_router(audit.router, prefix=API_PREFIX, dependencies=checked)
    app.include_router(analyses.router, prefix=API_PREFIX, dependencies=checked)
    app.include_router(users.router, prefix=API_PREFIX, dependencies=checked)
    app.include_router(editions.router, prefix=API_PREFIX, dependencies=checked)
    app.include_router(supply.router, prefix=API_PREFIX, dependencies=checked)
    app.include_router(supply_orders.router, prefix=API_PREFIX, dependencies=checked)
    app.include_router(supply_planning.router, prefix=API_PREFIX, dependencies=checked)
    app.include_router(aid.router, prefix=API_PREFIX, dependencies=checked)
    # DHIS2's paths after sitroom's own, so /api/v1/... is never read as version "v1".
    app.include_router(dhis2.router, prefix="/api", dependencies=checked)
    app.include_router(dhis2_metadata.router, prefix="/api", dependencies=checked)
    web.install(app)  # the pages (sign-in, start page, password) and /static

    _install_docs(app)

    settings = context.settings
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders, hsts=settings.behind_tls, docs_path=DOCS_PATH)
    app.add_middleware(RequestLog)
    return app


def _install_docs(app: FastAPI) -> None:
    """The interactive API documentation, from files this server serves (no network)."""
    from fastapi.responses import HTMLResponse

    vendor = "/static/vendor/swagger-ui"
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sitroom API</title>
<link rel="stylesheet" href="{vendor}/swagger-ui.css?v={SWAGGER_VERSION}">
</head>
<body data-openapi="{app.openapi_url}">
<div id="swagger-ui"></div>
<script src="{vendor}/swagger-ui-bundle.js?v={SWAGGER_VERSION}"></script>
<script src="/static/swagger-init.js"></script>
</body>
</html>
"""

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page)


def _start_schedule(context: AppContext) -> asyncio.Task[None] | None:
    """The daily publication as a background task, or None when it is off."""
    from sitroom.publication.schedule import run_schedule, schedule_of

    planned = schedule_of(context)
    if planned is None:
        log.info("scheduled publication is off (SITROOM_PUBLISH_AT=off)")
        return None
    log.info(
        "publishing the situation report daily at %s %s", planned.at.strftime("%H:%M"), planned.zone
    )
    return asyncio.create_task(run_schedule(context, planned), name="sitroom-publication")


def _database(context: AppContext) -> str:
    from sqlalchemy.engine import make_url

    return make_url(context.settings.database_url).render_as_string(hide_password=True)


def app_from_environment() -> FastAPI:
    """The factory uvicorn's workers call: settings from the environment, the schedule on."""
    return create_app(AppContext.from_overrides(), schedule=True)
