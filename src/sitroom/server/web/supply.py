"""The supply chain's dashboard pages, each with its JSON twin (issue #11, item 12).

``/supply``, ``/supply/stockouts``, ``/supply/orders``, ``/supply/allocation``
and ``/supply/investigations`` (and each with ``.json``) are built by
:mod:`sitroom.server.web.supply_context` and shown as the dashboard's pages
are (:func:`sitroom.server.web.dashboard._show`): the same cache, keyed also by
the supply data's version (the last ledger batch, order step, case), the same
refusals (a page, never a traceback; JSON for a twin).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from sitroom.server.deps import context
from sitroom.server.web import supply_context as supply
from sitroom.server.web.dashboard import BadInput, _bad, _day, _show
from sitroom.server.web.dashboard_context import Dashboard

router = APIRouter(include_in_schema=False)

#: The navigation's name of each page (``_nav.html`` marks "Supply" current on all).
TITLES = {
    "supply": "Supply",
    "stockouts": "Stock-outs",
    "orders": "Orders",
    "allocation": "Allocation",
    "investigations": "Investigations",
}
#: The query parameters each page reads (the twin's URL keeps them, and nothing else).
PARAMETERS = {
    "supply": ("item", "measure", "day"),
    "stockouts": ("item", "kind", "region", "day"),
    "orders": ("status",),
    "allocation": ("item", "source", "level", "horizon", "floor_days", "weights", "day"),
    "investigations": (),
}


def _text(request: Request, name: str, longest: int = 64) -> str | None:
    value = (request.query_params.get(name) or "").strip()[:longest]
    return value or None


def _number(request: Request, name: str, default: float, low: float, high: float) -> float:
    text = _text(request, name, 20)
    if text is None:
        return float(default)
    try:
        value = float(text)
    except ValueError:
        raise BadInput(f"{name}: {text!r} is not a number") from None
    if not low <= value <= high:
        raise BadInput(f"{name}: {text} is not between {low:g} and {high:g}")
    return value


def _twin(page: str, request: Request) -> str:
    path = "/supply" if page == "supply" else f"/supply/{page}"
    query = request.query_params
    kept = [(name, query[name]) for name in PARAMETERS[page] if query.get(name)]
    return f"{path}.json" + (f"?{urlencode(kept)}" if kept else "")


def _version(ctx: Any) -> str:
    return supply.supply_version(ctx)


async def _page(
    request: Request,
    page: str,
    key: tuple[Hashable, ...],
    build: Callable[[Any], Dashboard],
    *,
    as_json: bool,
) -> Response:
    return await _show(
        request,
        (page, *key),
        build,
        as_json=as_json,
        title=TITLES[page],
        back="/supply",
        twin=_twin(page, request),
        extra=_version,
    )


# /supply ----------------------------------------------------------------------------


@router.get("/supply")
async def overview(request: Request) -> Response:
    return await _overview(request, as_json=False)


@router.get("/supply.json")
async def overview_json(request: Request) -> Response:
    return await _overview(request, as_json=True)


async def _overview(request: Request, *, as_json: bool) -> Response:
    try:
        day = _day(request.query_params.get("day"), "day")
    except BadInput as exc:
        return await _bad(request, exc, as_json)
    item = _text(request, "item")
    measure = _text(request, "measure") or "days"
    ctx = context(request)
    return await _page(
        request,
        "supply",
        (item, measure, day),
        lambda who: supply.overview(ctx, who, item=item, measure=measure, day=day),
        as_json=as_json,
    )


# /supply/stockouts ----------------------------------------------------------------------


@router.get("/supply/stockouts")
async def stockouts(request: Request) -> Response:
    return await _stockouts(request, as_json=False)


@router.get("/supply/stockouts.json")
async def stockouts_json(request: Request) -> Response:
    return await _stockouts(request, as_json=True)


async def _stockouts(request: Request, *, as_json: bool) -> Response:
    try:
        day = _day(request.query_params.get("day"), "day")
    except BadInput as exc:
        return await _bad(request, exc, as_json)
    item, kind, region = (_text(request, n) for n in ("item", "kind", "region"))
    ctx = context(request)
    return await _page(
        request,
        "stockouts",
        (item, kind, region, day),
        lambda who: supply.stockouts(ctx, who, item=item, kind=kind, region=region, day=day),
        as_json=as_json,
    )


# /supply/orders --------------------------------------------------------------------------


@router.get("/supply/orders")
async def orders(request: Request) -> Response:
    return await _orders(request, as_json=False)


@router.get("/supply/orders.json")
async def orders_json(request: Request) -> Response:
    return await _orders(request, as_json=True)


async def _orders(request: Request, *, as_json: bool) -> Response:
    status = _text(request, "status")
    ctx = context(request)
    return await _page(
        request,
        "orders",
        (status,),
        lambda who: supply.orders(ctx, who, status=status),
        as_json=as_json,
    )


# /supply/allocation ------------------------------------------------------------------------


@router.get("/supply/allocation")
async def allocation(request: Request) -> Response:
    return await _allocation(request, as_json=False)


@router.get("/supply/allocation.json")
async def allocation_json(request: Request) -> Response:
    return await _allocation(request, as_json=True)


async def _allocation(request: Request, *, as_json: bool) -> Response:
    defaults = supply.PLAN_DEFAULTS
    try:
        day = _day(request.query_params.get("day"), "day")
        horizon = _number(request, "horizon", defaults["horizon"], 1, 90)
        if not horizon.is_integer():
            raise BadInput(f"horizon: {horizon:g} is not a whole number of days")
        floor = _number(request, "floor_days", defaults["floor_days"], 0, 90)
    except BadInput as exc:
        return await _bad(request, exc, as_json)
    item, source = _text(request, "item"), _text(request, "source")
    level = _text(request, "level") or defaults["level"]
    weights = _text(request, "weights") or defaults["weights"]
    ctx = context(request)
    return await _page(
        request,
        "allocation",
        (item, source, level, int(horizon), floor, weights, day),
        lambda who: supply.allocation(
            ctx,
            who,
            item=item,
            source=source,
            level=level,
            horizon=int(horizon),
            floor_days=floor,
            weights=weights,
            day=day,
        ),
        as_json=as_json,
    )


# /supply/investigations ----------------------------------------------------------------------


@router.get("/supply/investigations")
async def investigations(request: Request) -> Response:
    return await _investigations(request, as_json=False)


@router.get("/supply/investigations.json")
async def investigations_json(request: Request) -> Response:
    return await _investigations(request, as_json=True)


async def _investigations(request: Request, *, as_json: bool) -> Response:
    ctx = context(request)

    def build(who: Any) -> Dashboard:
        # The suspects are kept per their own data version (detection_service).
        return supply.investigations(ctx, who)

    return await _page(request, "investigations", (), build, as_json=as_json)
