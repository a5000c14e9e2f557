"""DHIS2's metadata lists: ``/api/organisationUnits`` and ``/api/dataElements``.

What DHIS2 tools ask of them: paging (``page``, ``pageSize``, ``paging=false``, a
``pager``), ``fields`` (names, ``parent[id,name]``, ``*`` and ``:all``, presets,
``!name`` to leave one out; unknown names are ignored, as DHIS2 does), ``filter``
(``property:operator:value``, combined with AND or, with ``rootJunction=OR``, OR)
and ``order``. A user sees the org units of their scopes' subtrees; the paths of
those units name their ancestors' uids, as in DHIS2.

The parsing of ``fields`` and ``filter`` and the paging are pure functions of
this module; the two routes read the rows and hand them over.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from sitroom.auth.permissions import authorize
from sitroom.places.models import OrgUnit
from sitroom.server.deps import Db, User
from sitroom.server.problems import SIGNED_IN, Problem, responses
from sitroom.server.routes.dhis2 import VERSIONED
from sitroom.surveillance.models import DataElement

router = APIRouter(tags=["dhis2"])

#: The most objects one page holds (``paging=false`` returns them all).
MAX_PAGE_SIZE = 100_000

# --- fields ----------------------------------------------------------------------------

#: A parsed ``fields``: each name with its own sub-fields (None: the default for the name).
Fields = list[tuple[str, "Fields | None"]]

#: How deep ``fields`` may nest references (``parent[children[id]]`` is 2). DHIS2's own
#: tools ask for 2 or 3; each level over the hierarchy multiplies the answer.
MAX_FIELD_DEPTH = 3
#: The most objects one answer renders, references included.
MAX_RENDERED = 200_000


def parse_fields(text: str) -> Fields:
    """``id,name,parent[id,name]`` as ``[("id", None), ("name", None), ("parent", [...])]``.

    Raises ValueError for unbalanced brackets, the one thing DHIS2 refuses.
    """
    stack: list[Fields] = [[]]
    name = ""
    for char in text:
        if char in "[(":
            sub: Fields = []
            stack[-1].append((name.strip(), sub))
            stack.append(sub)
            if len(stack) > MAX_FIELD_DEPTH + 1:
                raise ValueError(f"nests references deeper than {MAX_FIELD_DEPTH} levels")
            name = ""
        elif char in "])":
            if len(stack) == 1:
                raise ValueError(f"{text!r} closes a bracket it did not open")
            if name.strip():
                stack[-1].append((name.strip(), None))
            stack.pop()
            name = ""
        elif char == ",":
            if name.strip():
                stack[-1].append((name.strip(), None))
            name = ""
        else:
            name += char
    if len(stack) > 1:
        raise ValueError(f"{text!r} opens a bracket it does not close")
    if name.strip():
        stack[-1].append((name.strip(), None))
    return stack[0]


@dataclass(frozen=True, slots=True)
class Kind:
    """How one kind of object is shown: its properties and presets."""

    plural: str
    #: Property name -> how to read it from an object (references return objects).
    simple: dict[str, Callable[[Any], Any]]
    #: Reference name -> how to read the referenced object(s); a list for a collection.
    references: dict[str, Callable[[Any], Any]]
    default: str
    presets: dict[str, str]

    def render(self, item: Any, fields: Fields, budget: list[int] | None = None) -> dict[str, Any]:
        """``item`` with the ``fields`` asked for; unknown names are left out.

        An object the user may not see (``hidden``: an ancestor of their
        scope) shows its ``id`` alone. ``budget`` counts the objects rendered
        down; past zero, ValueError.
        """
        if budget is not None:
            budget[0] -= 1
            if budget[0] < 0:
                raise ValueError(
                    f"the answer would hold more than {MAX_RENDERED:,} objects:"
                    " ask for fewer fields or a smaller page"
                )
        if getattr(item, "hidden", False):
            return {"id": self.simple["id"](item)}
        wanted: dict[str, Fields | None] = {}
        for name, sub in fields:
            if name in ("*", ":all", ":owner"):
                for prop in (*self.simple, *self.references):
                    wanted.setdefault(prop, None)
            elif name in self.presets:
                for prop in self.presets[name].split(","):
                    wanted.setdefault(prop, None)
            elif name.startswith("!"):
                continue
            else:
                wanted[name] = sub
        for name, _ in fields:
            if name.startswith("!"):
                wanted.pop(name[1:], None)
        out: dict[str, Any] = {}
        for name, sub in wanted.items():
            if name in self.simple:
                value = self.simple[name](item)
                if value is not None:
                    out[name] = value
            elif name in self.references:
                target = self.references[name](item)
                shown: Fields = sub or [("id", None)]
                if isinstance(target, list):
                    out[name] = [self.render(t, shown, budget) for t in target]
                elif target is not None:
                    out[name] = self.render(target, shown, budget)
        return out

    def value_at(self, item: Any, path: str) -> Any:
        """The value of a filter's property path (``name``, ``parent.id``)."""
        head, _, rest = path.partition(".")
        if not rest:
            if head in self.references:  # a reference alone is its id (parent:null)
                return self.value_at(item, f"{head}.id")
            if head not in self.simple:
                raise KeyError(path)
            return self.simple[head](item)
        if head not in self.references:
            raise KeyError(path)
        target = self.references[head](item)
        if isinstance(target, list):
            return [self.value_at(t, rest) for t in target]
        if target is None or (getattr(target, "hidden", False) and rest != "id"):
            return None  # an object the user may not see is its id alone
        return self.value_at(target, rest)


# --- filter ----------------------------------------------------------------------------

_NEGATED = {"!eq": "eq", "ne": "eq", "neq": "eq", "!in": "in", "!null": "null"}
_OPERATORS = {
    "eq",
    "in",
    "null",
    "empty",
    "gt",
    "ge",
    "lt",
    "le",
    "like",
    "ilike",
    "$like",
    "$ilike",
    "like$",
    "ilike$",
    "token",
}


@dataclass(frozen=True, slots=True)
class Filter:
    """One ``property:operator:value`` filter."""

    path: str
    operator: str  # without negation
    negated: bool
    value: str

    @classmethod
    def parse(cls, text: str) -> Filter:
        parts = text.split(":", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise ValueError(f"{text!r} is not property:operator:value (e.g. name:eq:Chagang)")
        path, operator = parts[0].strip(), parts[1].strip()
        value = parts[2] if len(parts) > 2 else ""
        negated = operator in _NEGATED or (operator.startswith("!") and operator[1:] in _OPERATORS)
        base = _NEGATED.get(operator, operator[1:] if negated else operator)
        if base not in _OPERATORS:
            known = ", ".join(sorted(_OPERATORS | set(_NEGATED)))
            raise ValueError(f"{text!r}: unknown operator {operator!r} (known: {known})")
        if base in ("null", "empty") and value:
            raise ValueError(f"{text!r}: {operator} takes no value")
        if base not in ("null", "empty") and len(parts) < 3:
            raise ValueError(f"{text!r}: {operator} needs a value (property:{operator}:value)")
        if base == "in" and not (value.startswith("[") and value.endswith("]")):
            raise ValueError(f"{text!r}: {operator} takes a list in brackets, e.g. [a,b]")
        return cls(path, base, negated, value)

    def matches(self, actual: Any) -> bool:
        # A collection matches when one of its members does.
        hit = any(map(self._test, actual)) if isinstance(actual, list) else self._test(actual)
        return not hit if self.negated else hit

    def _test(self, actual: Any) -> bool:
        op, value = self.operator, self.value
        if op == "null":
            return actual is None
        if op == "empty":
            return actual in (None, "", [])
        if actual is None:
            return False
        if op in ("gt", "ge", "lt", "le"):
            return _compare(actual, value, op)
        text = str(actual).lower() if isinstance(actual, bool) else str(actual)
        if op == "eq":
            return text == value
        if op == "in":
            return text in [v.strip() for v in value[1:-1].split(",")]
        folded = op in ("ilike", "$ilike", "ilike$", "token")
        if folded:
            text, value = text.casefold(), value.casefold()
        if op in ("like", "ilike"):
            return value in text
        if op in ("$like", "$ilike"):
            return text.startswith(value)
        if op in ("like$", "ilike$"):
            return text.endswith(value)
        return all(word in text for word in value.split())  # token: every word, in any order


def _compare(actual: Any, value: str, op: str) -> bool:
    if isinstance(actual, int) and not isinstance(actual, bool):
        try:
            other: Any = int(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number") from None
    else:
        actual, other = str(actual), value
    results: dict[str, bool] = {
        "gt": actual > other,
        "ge": actual >= other,
        "lt": actual < other,
        "le": actual <= other,
    }
    return results[op]


# --- the listing -----------------------------------------------------------------------


def listing(
    request: Request,
    kind: Kind,
    items: Iterable[Any],
    *,
    fields: str | None,
    filters: list[str],
    root_junction: str,
    order: list[str],
    page: int,
    page_size: int,
    paging: bool,
) -> dict[str, Any]:
    """The DHIS2 answer: ``{"pager": {...}, "<plural>": [...]}`` (no pager without paging)."""
    try:
        shown = parse_fields(fields or kind.default)
    except ValueError as exc:
        raise Problem(400, f"fields: {exc}") from None
    parsed = []
    for text in filters:
        try:
            parsed.append(Filter.parse(text))
        except ValueError as exc:
            raise Problem(400, f"filter: {exc}") from None
    junction = root_junction.strip().upper()
    if junction not in ("AND", "OR"):
        raise Problem(400, f"rootJunction: {root_junction!r} is not AND or OR")
    combine = all if junction == "AND" else any
    selected = []
    for item in items:
        try:
            hits = [f.matches(kind.value_at(item, f.path)) for f in parsed]
        except KeyError as exc:
            raise Problem(400, f"filter: cannot filter {kind.plural} on {exc.args[0]!r}") from None
        except ValueError as exc:
            raise Problem(400, f"filter: {exc}") from None
        if not parsed or combine(hits):
            selected.append(item)
    for spec in reversed(order or ["name:asc"]):
        prop, _, direction = spec.partition(":")
        if prop not in kind.simple:
            raise Problem(400, f"order: cannot order {kind.plural} by {prop!r}")
        if direction.lower() not in ("", "asc", "desc", "iasc", "idesc"):
            raise Problem(400, f"order: {spec!r}: the direction is asc or desc")
        getter = kind.simple[prop]
        selected.sort(
            key=lambda item, get=getter: (get(item) is None, get(item) or 0),  # type: ignore[misc]
            reverse=direction.lower() in ("desc", "idesc"),
        )
    total = len(selected)
    answer: dict[str, Any] = {}
    if paging:
        count = max(1, math.ceil(total / page_size))
        pager: dict[str, Any] = {
            "page": page,
            "pageCount": count,
            "total": total,
            "pageSize": page_size,
        }
        # Relative links: the Host header is the client's to choose, not a base URL to trust.
        if page < count:
            pager["nextPage"] = _relative(request.url.include_query_params(page=page + 1))
        if page > 1:
            pager["prevPage"] = _relative(
                request.url.include_query_params(page=min(page - 1, count))
            )
        answer["pager"] = pager
        selected = selected[(page - 1) * page_size : page * page_size]
    budget = [MAX_RENDERED]
    try:
        answer[kind.plural] = [kind.render(item, shown, budget) for item in selected]
    except ValueError as exc:
        raise Problem(400, f"fields: {exc}") from None
    return answer


def _relative(url: Any) -> str:
    return f"{url.path}?{url.query}" if url.query else str(url.path)


def _pager_schema(plural: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [plural],
        "properties": {
            "pager": {
                "type": "object",
                "required": ["page", "pageCount", "total", "pageSize"],
                "properties": {
                    "page": {"type": "integer"},
                    "pageCount": {"type": "integer"},
                    "total": {"type": "integer"},
                    "pageSize": {"type": "integer"},
                    "nextPage": {"type": "string"},
                    "prevPage": {"type": "string"},
                },
            },
            plural: {"type": "array", "items": {"type": "object"}},
        },
    }


def _responses(plural: str) -> dict[int | str, dict[str, Any]]:
    return {
        **responses(
            *SIGNED_IN,
            400,
            meaning={400: "A malformed fields, filter, order or rootJunction (named in detail)"},
        ),
        200: {
            "description": f"A page of {plural}, with the fields asked for",
            "content": {"application/json": {"schema": _pager_schema(plural)}},
        },
    }


Filters = Annotated[
    list[str] | None,
    Query(
        alias="filter",
        description="property:operator:value, e.g. level:eq:2, name:ilike:gang, id:in:[a,b]",
    ),
]
Order = Annotated[list[str] | None, Query(description="property:asc or property:desc")]
Page = Annotated[int, Query(ge=1, le=2**31)]
PageSize = Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE)]
Junction = Annotated[str, Query(alias="rootJunction", max_length=3)]


# --- org units -------------------------------------------------------------------------


@dataclass(slots=True)
class _Unit:
    """An org unit as DHIS2 shows it (uids for references; the path of uids)."""

    row: OrgUnit
    path: str
    parent: _Unit | None = None
    children: list[_Unit] | None = None
    #: Outside the user's scopes (an ancestor of one): shown as its id alone.
    hidden: bool = False


UNITS = Kind(
    plural="organisationUnits",
    simple={
        "id": lambda u: u.row.uid,
        "code": lambda u: u.row.code,
        "name": lambda u: u.row.name,
        "displayName": lambda u: u.row.name,
        "shortName": lambda u: u.row.name[:50],
        "displayShortName": lambda u: u.row.name[:50],
        "level": lambda u: u.row.level,
        "path": lambda u: u.path,
        "leaf": lambda u: not u.children,
    },
    references={"parent": lambda u: u.parent, "children": lambda u: list(u.children or [])},
    default="id,displayName",
    presets={
        ":identifiable": "id,code,name,displayName",
        ":nameable": "id,code,name,displayName,shortName,displayShortName",
    },
)


def _units(db: Db, covers: Callable[[str], bool]) -> list[_Unit]:
    """The units ``covers`` lets the user see, linked to parent and children.

    Each has its DHIS2 path of uids. An ancestor of a visible unit is there
    as a hidden reference (its id alone, as the path shows it anyway); a unit
    neither visible nor an ancestor of one is left out, from children lists too.
    """
    rows = list(db.scalars(select(OrgUnit).order_by(OrgUnit.path)))
    by_id: dict[int, _Unit] = {}
    for row in rows:  # ordered by path: a parent comes before its children
        parent = by_id.get(row.parent_id) if row.parent_id is not None else None
        path = f"{parent.path if parent else ''}/{row.uid}"
        unit = _Unit(row, path, parent, [], hidden=not covers(row.path))
        if parent is not None and parent.children is not None and not unit.hidden:
            parent.children.append(unit)
        by_id[row.id] = unit
    return [u for u in by_id.values() if not u.hidden]


@router.get("/organisationUnits", responses=_responses("organisationUnits"))
@router.get("/organisationUnits.json", responses=_responses("organisationUnits"))
@router.get(
    "/{version:int}/organisationUnits",
    responses=_responses("organisationUnits"),
    openapi_extra=VERSIONED,
)
@router.get(
    "/{version:int}/organisationUnits.json",
    responses=_responses("organisationUnits"),
    openapi_extra=VERSIONED,
)
def organisation_units(
    *,
    request: Request,
    user: User,
    db: Db,
    fields: Annotated[str | None, Query(max_length=2000)] = None,
    filters: Filters = None,
    root_junction: Junction = "AND",
    order: Order = None,
    page: Page = 1,
    page_size: PageSize = 50,
    paging: bool = True,
) -> JSONResponse:
    """The org units of the user's scopes, DHIS2's way (``/api/organisationUnits``)."""
    authorize(user, "data.read", None)
    visible = _units(db, user.covers)
    answer = listing(
        request,
        UNITS,
        visible,
        fields=fields,
        filters=filters or [],
        root_junction=root_junction,
        order=order or [],
        page=page,
        page_size=page_size,
        paging=paging,
    )
    return JSONResponse(answer)


# --- data elements ---------------------------------------------------------------------

#: sitroom's element kinds as DHIS2 aggregation types: a flow is summed over
#: time, a stock is its last level (both summed over places).
AGGREGATION = {"flow": "SUM", "stock": "LAST"}

ELEMENTS = Kind(
    plural="dataElements",
    simple={
        "id": lambda e: e.uid,
        "code": lambda e: e.code,
        "name": lambda e: e.name,
        "displayName": lambda e: e.name,
        "shortName": lambda e: e.name[:50],
        "displayShortName": lambda e: e.name[:50],
        "description": lambda e: e.description,
        "valueType": lambda _: "INTEGER_ZERO_OR_POSITIVE",
        "aggregationType": lambda e: AGGREGATION.get(e.kind, "SUM"),
        "domainType": lambda _: "AGGREGATE",
        "zeroIsSignificant": lambda _: True,
    },
    references={},
    default="id,displayName",
    presets={
        ":identifiable": "id,code,name,displayName",
        ":nameable": "id,code,name,displayName,shortName,displayShortName,description",
    },
)


@router.get("/dataElements", responses=_responses("dataElements"))
@router.get("/dataElements.json", responses=_responses("dataElements"))
@router.get(
    "/{version:int}/dataElements",
    responses=_responses("dataElements"),
    openapi_extra=VERSIONED,
)
@router.get(
    "/{version:int}/dataElements.json",
    responses=_responses("dataElements"),
    openapi_extra=VERSIONED,
)
def data_elements(
    *,
    request: Request,
    user: User,
    db: Db,
    fields: Annotated[str | None, Query(max_length=2000)] = None,
    filters: Filters = None,
    root_junction: Junction = "AND",
    order: Order = None,
    page: Page = 1,
    page_size: PageSize = 50,
    paging: bool = True,
) -> JSONResponse:
    """The data elements, DHIS2's way (``/api/dataElements``)."""
    authorize(user, "data.read", None)
    answer = listing(
        request,
        ELEMENTS,
        db.scalars(select(DataElement)),
        fields=fields,
        filters=filters or [],
        root_junction=root_junction,
        order=order or [],
        page=page,
        page_size=page_size,
        paging=paging,
    )
    return JSONResponse(answer)
