"""Aid coordination's dashboard pages, each with its JSON twin (issue #12, items 4, 6, 7).

``/aid`` (the pipeline), ``/aid/gap``, ``/aid/overdue`` and each request's and
offer's timeline (``/aid/requests/{number}``, ``/aid/offers/{number}``), each with
``.json``, are built by :mod:`sitroom.server.web.aid_context` and shown as the
dashboard's pages are (:func:`sitroom.server.web.dashboard._show`): the same cache,
keyed also by the aid data's version (and, for the pages that say what is overdue,
the current minute: that changes with the clock), the same refusals (a page, never
a traceback; JSON for a twin).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from sitroom.server.deps import context
from sitroom.server.web import aid_context as aid
from sitroom.server.web.dashboard import BadInput, _bad, _day, _show, _split
from sitroom.server.web.dashboard_context import Dashboard
from sitroom.server.web.supply import _number, _text
from sitroom.server.web.supply_context import supply_version

router = APIRouter(include_in_schema=False)

#: The navigation's name of each page (``_nav.html`` marks "Aid" current on all).
TITLES = {
    "aid": "Aid",
    "gap": "Aid: the gap",
    "overdue": "Aid: overdue",
    "timeline": "Aid: timeline",
}
#: The query parameters each page reads (the twin's URL keeps them, and nothing else).
PARAMETERS: dict[str, tuple[str, ...]] = {
    "aid": ("partner",),
    "gap": ("item", "horizon", "end"),
    "overdue": (),
    "timeline": (),
}


def _twin(path: str, page: str, request: Request) -> str:
    query = request.query_params
    kept = [(name, query[name]) for name in PARAMETERS[page] if query.get(name)]
    return f"{path}.json" + (f"?{urlencode(kept)}" if kept else "")


def _timely(ctx: Any) -> str:
    """The aid data's version and the minute: what is overdue changes with the clock."""
    return f"{aid.aid_version(ctx)}/{aid.minute()}"


def _stocked(ctx: Any) -> str:
    """The gap depends on the aid data and the stock on hand, not on the clock."""
    return f"{aid.aid_version(ctx)}/{supply_version(ctx)}"


async def _page(
    request: Request,
    page: str,
    path: str,
    key: tuple[Hashable, ...],
    build: Callable[[Any], Dashboard],
    *,
    as_json: bool,
    extra: Callable[[Any], str] = _timely,
) -> Response:
    return await _show(
        request,
        (page, *key),
        build,
        as_json=as_json,
        title=TITLES[page],
        back="/aid",
        twin=_twin(path, page, request),
        extra=extra,
    )


# /aid: the pipeline --------------------------------------------------------------------


@router.get("/aid")
async def pipeline(request: Request) -> Response:
    return await _pipeline(request, as_json=False)


@router.get("/aid.json")
async def pipeline_json(request: Request) -> Response:
    return await _pipeline(request, as_json=True)


async def _pipeline(request: Request, *, as_json: bool) -> Response:
    partner = _text(request, "partner")
    ctx = context(request)
    return await _page(
        request,
        "aid",
        "/aid",
        (partner,),
        lambda who: aid.pipeline(ctx, who, partner=partner),
        as_json=as_json,
    )


# /aid/gap ----------------------------------------------------------------------------------


@router.get("/aid/gap")
async def gap(request: Request) -> Response:
    return await _gap(request, as_json=False)


@router.get("/aid/gap.json")
async def gap_json(request: Request) -> Response:
    return await _gap(request, as_json=True)


async def _gap(request: Request, *, as_json: bool) -> Response:
    try:
        end = _day(request.query_params.get("end"), "end")
        horizon = None
        if _text(request, "horizon") is not None:
            days = _number(request, "horizon", aid.MOST_DAYS, 1, aid.MOST_DAYS)
            if not days.is_integer():
                raise BadInput(f"horizon: {days:g} is not a whole number of days")
            horizon = int(days)
    except BadInput as exc:
        return await _bad(request, exc, as_json)
    item = _text(request, "item")
    ctx = context(request)
    return await _page(
        request,
        "gap",
        "/aid/gap",
        (item, horizon, end),
        lambda who: aid.gap(ctx, who, item=item, horizon=horizon, end=end),
        as_json=as_json,
        extra=_stocked,
    )


# /aid/overdue ---------------------------------------------------------------------------------


@router.get("/aid/overdue")
async def overdue(request: Request) -> Response:
    return await _overdue(request, as_json=False)


@router.get("/aid/overdue.json")
async def overdue_json(request: Request) -> Response:
    return await _overdue(request, as_json=True)


async def _overdue(request: Request, *, as_json: bool) -> Response:
    ctx = context(request)
    return await _page(
        request, "overdue", "/aid/overdue", (), lambda who: aid.overdue(ctx, who),
        as_json=as_json,
    )  # fmt: skip


# /aid/requests/{number}, /aid/offers/{number} --------------------------------------------------


@router.get("/aid/requests/{name}")
async def request_timeline(request: Request, name: str) -> Response:
    number, as_json = _split(name)
    return await _timeline(request, number[:32], "request", as_json=as_json)


@router.get("/aid/offers/{name}")
async def offer_timeline(request: Request, name: str) -> Response:
    number, as_json = _split(name)
    return await _timeline(request, number[:32], "offer", as_json=as_json)


async def _timeline(request: Request, number: str, kind: str, *, as_json: bool) -> Response:
    ctx = context(request)
    path = f"/aid/{kind}s/{quote(number)}"
    return await _page(
        request,
        "timeline",
        path,
        (kind, number),
        lambda who: aid.timeline(ctx, who, number, kind),
        as_json=as_json,
    )
