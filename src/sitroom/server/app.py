"""The application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from sitroom import __version__
from sitroom.context import AppContext
from sitroom.server import problems
from sitroom.server.middleware import BodyLimit, RequestLog, SecurityHeaders

API_PREFIX = "/api/v1"
log = logging.getLogger("sitroom.server")


def create_app(context: AppContext) -> FastAPI:
    """The server for ``context``'s settings: its database, its country.

    Stateless: every request opens its own session, so workers and machines
    can share one PostgreSQL. The schema is brought to the current revision at
    start-up (under the migration lock) before the first request.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context.engine  # noqa: B018  (opens, creates or migrates the database once)
        log.info("sitroom %s serving %s", __version__, _database(context))
        yield
        context.close()

    app = FastAPI(
        title="sitroom",
        version=__version__,
        summary="An outbreak situation room: surveillance, epidemiology, supply and aid.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.context = context
    problems.install(app)

    from sitroom.server.deps import no_nul_in_query
    from sitroom.server.routes import (
        analyses,
        approvals,
        audit,
        data,
        dhis2,
        dhis2_metadata,
        health,
        places,
        reports,
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
    # DHIS2's paths after sitroom's own, so /api/v1/... is never read as version "v1".
    app.include_router(dhis2.router, prefix="/api", dependencies=checked)
    app.include_router(dhis2_metadata.router, prefix="/api", dependencies=checked)
    web.install(app)  # the pages (sign-in, start page, password) and /static

    settings = context.settings
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders, hsts=settings.behind_tls, docs_path=app.docs_url or "")
    app.add_middleware(RequestLog)
    return app


def _database(context: AppContext) -> str:
    from sqlalchemy.engine import make_url

    return make_url(context.settings.database_url).render_as_string(hide_password=True)


def app_from_environment() -> FastAPI:
    """The factory uvicorn's workers call: settings from the environment."""
    return create_app(AppContext.from_overrides())
