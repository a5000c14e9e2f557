"""The dashboard: the national overview, a page per region, quality, analytics, events.

Each page has a JSON twin at the same URL with ``.json`` (``/regions/KP-04``
and ``/regions/KP-04.json``): both call the same builder of
:mod:`sitroom.server.web.dashboard_context`, in a worker thread; the page
renders the context (``dashboard.html``), the twin serialises it. Neither is
in the OpenAPI document.

``/`` is the national overview for a user whose scopes hold the country, the
region's page for a user of one region, and the account page otherwise.

Contexts are cached per process (:class:`BoardCache`), keyed by the page,
its parameters, the user's scopes and the data's version
(:func:`~sitroom.server.web.dashboard_context.data_version`: the last
import run, approval and event), which is read on every request: any write
shows on the next page, and an unchanged database costs one small query.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from markupsafe import Markup
from starlette.responses import JSONResponse, Response

from sitroom.auth.permissions import Principal
from sitroom.auth.sessions import SignedIn
from sitroom.errors import ForbiddenError, NotFoundError, SitroomError
from sitroom.server.deps import context
from sitroom.server.web import dashboard_context as boards
from sitroom.server.web.dashboard_context import Dashboard
from sitroom.server.web.pages import DashboardPage, Notice, Viewer, dashboard_body, render
from sitroom.server.web.routes import (
    _message,
    _see_other,
    _sentence,
    _signed_in,
    _signed_in_now,
    _viewer,
)

router = APIRouter(include_in_schema=False)

#: How many contexts a process keeps (pages x parameters x scopes).
CACHE_SIZE = 64


class Built:
    """A context with its page content and its twin's JSON, each made once when first asked.

    Two threads asking at once may both make one: the same bytes, harmless.
    """

    def __init__(self, board: Dashboard) -> None:
        self.board = board
        self._body: dict[str, Markup] = {}
        self._json: bytes | None = None

    def body(self, json_url: str) -> Markup:
        if json_url not in self._body:
            self._body[json_url] = dashboard_body(self.board, json_url)
        return self._body[json_url]

    def json(self) -> bytes:
        if self._json is None:
            self._json = self.board.model_dump_json().encode()
        return self._json


class BoardCache:
    """A small LRU of built contexts, shared by a process's threads."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Built] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, build: Callable[[], Dashboard]) -> Built:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        built = Built(build())  # outside the lock: another page may build meanwhile
        with self._lock:
            self._items[key] = built
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return built


def cache_of(request: Request) -> BoardCache:
    state = request.app.state
    if not hasattr(state, "dashboard_cache"):
        state.dashboard_cache = BoardCache()
    cache: BoardCache = state.dashboard_cache
    return cache


class BadInput(ValueError):
    """A parameter of the page that cannot be read (a 400 page)."""


def _day(text: str | None, name: str) -> date | None:
    if text is None or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(f"{name}: {text.strip()[:40]!r} is not a day (2022-05-15)") from None


def _period(request: Request) -> str | None:
    day = _day(request.query_params.get("period"), "period")
    return day.isoformat() if day else None


def _build(
    request: Request,
    who: Principal,
    key: tuple[Hashable, ...],
    build: Callable[[], Dashboard],
    json_url: str | None,
    *,
    extra: Callable[[Any], str] | None = None,
) -> Built:
    """The context from the cache, or built (in a worker thread). ``extra`` adds to the
    data's version what else the page depends on (the supply pages: the ledger)."""
    ctx = context(request)
    version = boards.data_version(ctx)
    if extra is not None:
        version = f"{version}/{extra(ctx)}"
    # The role is part of the key: a page built for a role that may see it must not be
    # served from the cache to one that may not (the build does the permission check).
    full = (*key, who.role, who.scope_paths, version)

    def made() -> Dashboard:
        board = build()
        board.version = version
        return board

    built = cache_of(request).get(full, made)
    if json_url is None:
        built.json()
    else:
        built.body(json_url)  # rendered here, in the worker thread
    return built


def _twin(built: Built) -> Response:
    return Response(
        built.json(), media_type="application/json", headers={"Cache-Control": "no-store"}
    )


def _refused(exc: Exception, viewer: Viewer, as_json: bool, back: str = "/") -> Response:
    """A refusal as a page (or JSON for a twin): never a traceback."""
    if isinstance(exc, NotFoundError):
        status, title = 404, "Not found"
    elif isinstance(exc, ForbiddenError):
        status, title = 403, "Not in your scope"
    else:
        status, title = 400, "Not possible"
    message = _sentence(str(exc))
    if as_json:
        return JSONResponse(
            {"title": title, "status": status, "detail": message}, status_code=status
        )
    return _message(status, title, message, viewer=viewer, link=back, link_text="Back")


async def _show(
    request: Request,
    key: tuple[Hashable, ...],
    build: Callable[[Principal], Dashboard],
    *,
    as_json: bool,
    title: str,
    back: str = "/",
    twin: str | None = None,
    extra: Callable[[Any], str] | None = None,
    notices: Callable[[Principal], tuple[Notice, ...]] | None = None,
) -> Response:
    """The page of ``key`` (or its twin), built by ``build``; ``twin``: the twin's URL
    when it is not made from ``key`` (:func:`_twin_url`); ``notices``: the user's
    notices above the page (not in the twin, never cached)."""
    json_url = None if as_json else (twin or _twin_url(key, request))
    told: tuple[Notice, ...] = ()

    def work() -> tuple[SignedIn | None, Built | Exception | None]:
        # One trip to a worker thread: the session's look-up, then the page.
        nonlocal told
        signed_in = _signed_in_now(request)
        if signed_in is None:
            return None, None
        who = signed_in.principal
        try:
            built = _build(request, who, key, lambda: build(who), json_url, extra=extra)
        except (SitroomError, BadInput) as exc:
            return signed_in, exc
        if notices is not None and json_url is not None:
            told = notices(who)
        return signed_in, built

    signed_in, built = await run_in_threadpool(work)
    if signed_in is None:
        if as_json:
            return JSONResponse(
                {"title": "Not signed in", "status": 401, "detail": "Sign in at /signin."},
                status_code=401,
            )
        return _see_other("/signin")
    viewer = _viewer(signed_in)
    if not isinstance(built, Built):
        assert built is not None
        return _refused(built, viewer, as_json, back)
    if json_url is None:
        return _twin(built)
    page = DashboardPage(viewer=viewer, body=built.body(json_url), title=title, notices=told)
    return render(page)


#: The query parameters the dashboard's pages read (``period``; analytics' place and days).
QUERY_NAMES = ("period", "org_unit", "start", "end")


def _twin_url(key: tuple[Hashable, ...], request: Request) -> str:
    """The JSON twin's URL of the page of ``key`` (``/`` shows another page's)."""
    from urllib.parse import urlencode

    path = f"/regions/{key[1]}" if key[0] == "region" else f"/{key[0]}"
    # Only the parameters the pages read: a junk parameter must not make another copy of
    # the page in the cache (each copy is a few hundred kB).
    query = request.query_params
    kept = [(name, query[name]) for name in QUERY_NAMES if name in query]
    return f"{path}.json" + (f"?{urlencode(kept)}" if kept else "")


def _split(name: str) -> tuple[str, bool]:
    """``KP-04.json`` -> ("KP-04", True)."""
    return (name[: -len(".json")], True) if name.endswith(".json") else (name, False)


# The start page and the overview --------------------------------------------------


@router.get(boards.OUTLINES_URL)
async def map_outlines(request: Request) -> Response:
    """The regions' outlines the maps of the pages load (public boundaries, cached)."""
    state = request.app.state
    if not hasattr(state, "map_outlines"):
        state.map_outlines = await run_in_threadpool(boards.outlines, context(request))
    body: bytes | None = state.map_outlines
    if body is None:
        return JSONResponse(
            {"title": "Not found", "status": 404, "detail": "This country has no map."},
            status_code=404,
        )
    tag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": tag, "Cache-Control": "public, max-age=3600"}
    if request.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/geo+json", headers=headers)


def _home_of(ctx: Any, who: Principal) -> str | None:
    """What ``/`` shows: "overview", a region's code, or None (the account page)."""
    if not who.can("data.read"):
        return None
    country = ctx.country.country.code
    if who.covers(f"/{country}/"):
        return "overview"
    units = [c.code for c in boards.choices(ctx, who) if c.code != country]
    return units[0] if len(units) == 1 else None


@router.get("/")
async def start(request: Request) -> Response:
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _see_other("/signin")
    home = _home_of(context(request), signed_in.principal)
    if home is None:
        from sitroom.server.web.routes import account

        return await account(request)
    if home == "overview":
        return await overview(request)
    return await _region(request, home, as_json=False, start=True)


@router.get("/overview")
async def overview(request: Request) -> Response:
    return await _overview(request, as_json=False)


@router.get("/overview.json")
async def overview_json(request: Request) -> Response:
    return await _overview(request, as_json=True)


async def _overview(request: Request, *, as_json: bool) -> Response:
    try:
        period = _period(request)
    except BadInput as exc:
        return await _bad(request, exc, as_json)
    ctx = context(request)
    return await _show(
        request,
        ("overview", period),
        lambda who: boards.overview(ctx, who, period),
        as_json=as_json,
        title="Overview",
        notices=lambda who: _aid_notices(ctx, who),
    )


def _aid_notices(ctx: Any, who: Principal) -> tuple[Notice, ...]:
    """The overview's marker of overdue aid answers, for a user who may read aid: how many
    messages and offers wait for an answer past their time, linked to the list."""
    from sitroom.server.web.aid_context import overdue_count

    try:
        late = overdue_count(ctx, who)
    except SitroomError:
        return ()  # a marker never stops the overview
    if not late:
        return ()
    return (
        Notice(
            topic="Aid",
            link_text=f"{late:,} answer{'s are' if late != 1 else ' is'} overdue",
            href="/aid/overdue",
            text="(messages and offers waiting for an answer past their time).",
        ),
    )


async def _bad(request: Request, exc: Exception, as_json: bool) -> Response:
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _see_other("/signin")
    return _refused(exc, _viewer(signed_in), as_json)


# Regions ---------------------------------------------------------------------------


@router.get("/regions/{name}")
async def region(request: Request, name: str) -> Response:
    code, as_json = _split(name)
    return await _region(request, code, as_json=as_json)


async def _region(request: Request, code: str, *, as_json: bool, start: bool = False) -> Response:
    """A region's page; ``start``: shown as a regional user's start page (``/``), which
    then carries their notices as the overview does a national user's."""
    try:
        period = _period(request)
    except BadInput as exc:
        return await _bad(request, exc, as_json)
    ctx = context(request)
    return await _show(
        request,
        ("region", code, period),
        lambda who: boards.region(ctx, who, code, period),
        as_json=as_json,
        title="Region",
        notices=(lambda who: _aid_notices(ctx, who)) if start else None,
    )


# Quality, analytics, events --------------------------------------------------------


@router.get("/quality")
async def quality(request: Request) -> Response:
    return await _quality(request, as_json=False)


@router.get("/quality.json")
async def quality_json(request: Request) -> Response:
    return await _quality(request, as_json=True)


async def _quality(request: Request, *, as_json: bool) -> Response:
    try:
        period = _period(request)
    except BadInput as exc:
        return await _bad(request, exc, as_json)
    ctx = context(request)
    return await _show(
        request,
        ("quality", period),
        lambda who: boards.quality(ctx, who, period),
        as_json=as_json,
        title="Data quality",
    )


@router.get("/analytics")
async def analytics(request: Request) -> Response:
    return await _analytics(request, as_json=False)


@router.get("/analytics.json")
async def analytics_json(request: Request) -> Response:
    return await _analytics(request, as_json=True)


async def _analytics(request: Request, *, as_json: bool) -> Response:
    query = request.query_params
    try:
        start = _day(query.get("start"), "start")
        end = _day(query.get("end"), "end")
        if start is not None and end is not None and start > end:
            raise BadInput(f"the window starts ({start}) after it ends ({end})")
    except BadInput as exc:
        return await _bad(request, exc, as_json)
    unit = (query.get("org_unit") or "").strip()[:64] or None
    ctx = context(request)
    return await _show(
        request,
        ("analytics", unit, start, end),
        lambda who: boards.analytics(ctx, who, unit, start, end),
        as_json=as_json,
        title="Analytics",
        back="/analytics",
    )


@router.get("/events")
async def events(request: Request) -> Response:
    return await _events(request, as_json=False)


@router.get("/events.json")
async def events_json(request: Request) -> Response:
    return await _events(request, as_json=True)


async def _events(request: Request, *, as_json: bool) -> Response:
    ctx = context(request)
    return await _show(
        request, ("events",), lambda who: boards.events(ctx, who), as_json=as_json, title="Events"
    )
