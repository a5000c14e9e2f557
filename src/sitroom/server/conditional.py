"""Conditional requests and safe retries: ETags, If-None-Match, If-Match, Idempotency-Key.

* :data:`ConditionalGet`, a dependency for a GET: ``return check.respond(content)``
  sends the JSON with a weak ETag (a hash of the body) and answers
  ``304 Not Modified`` when the client's ``If-None-Match`` names it.
* :func:`entity_tags` reads ``If-Match`` / ``If-None-Match`` for the writes of
  one value (the compare-and-set itself is ``surveillance.single``'s).
* :func:`idempotent`, a decorator for a batch POST: with an ``Idempotency-Key``
  the request runs once per user and key, and a retry gets the stored answer
  (``Idempotent-Replayed: true``). The records are ``auth.idempotency``'s.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, get_type_hints

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from sitroom.errors import SitroomError
from sitroom.server.problems import Problem, problem_response, status_of

#: The OpenAPI declaration of a 304 (no body), for a GET that uses :data:`ConditionalGet`.
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: If-None-Match names the current ETag (no body)"}
}
#: Kept private to the user, revalidated on every use: the body depends on who asks.
CACHE_CONTROL = "private, no-cache"

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_CHARS = 200
REPLAYED_HEADER = "Idempotent-Replayed"


def entity_tags(header: str | None, *, strong: bool = False) -> tuple[str, ...] | None:
    """The opaque tags of an ``If-Match`` / ``If-None-Match`` header; None without one.

    ``"abc", W/"def"`` gives ``("abc", "def")``: weak comparison, as GET and
    If-None-Match use. ``strong=True`` (If-Match) leaves weak tags out, since
    they never match strongly. ``*`` gives ``("*",)``. A tag sent without its
    quotes is taken as it is.
    """
    if header is None:
        return None
    tags = []
    for part in header.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            if strong:
                continue
            tag = tag[2:]
        if len(tag) >= 2 and tag[0] == tag[-1] == '"':
            tag = tag[1:-1]
        if tag:
            tags.append(tag)
    return tuple(tags)


class Conditional:
    """A GET's conditional answer; made by the :data:`ConditionalGet` dependency."""

    def __init__(self, if_none_match: str | None) -> None:
        self.tags = entity_tags(if_none_match) or ()

    def matches(self, tag: str) -> bool:
        """True when If-None-Match names ``tag`` (weak comparison, as for GET) or is ``*``."""
        return "*" in self.tags or tag in self.tags

    def respond(self, content: Any) -> Response:
        """``content`` as JSON with a weak ETag of its body, or 304 when the client has it."""
        response = JSONResponse(jsonable_encoder(content))
        digest = hashlib.sha256(bytes(response.body)).hexdigest()[:32]
        return self.answer(response, digest, weak=True)

    def answer(self, response: Response, tag: str, *, weak: bool = False) -> Response:
        """``response`` with the ETag ``tag``, or a 304 when If-None-Match names it."""
        etag = f'W/"{tag}"' if weak else f'"{tag}"'
        headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
        if self.matches(tag):
            return Response(status_code=304, headers=headers)
        response.headers.update(headers)
        return response


def _conditional(
    if_none_match: Annotated[
        str | None,
        Header(
            alias="If-None-Match",
            description="An ETag from an earlier answer: 304 Not Modified if it is still current",
        ),
    ] = None,
) -> Conditional:
    return Conditional(if_none_match)


#: ``check: ConditionalGet`` in a GET's parameters; end it with ``return check.respond(data)``.
ConditionalGet = Annotated[Conditional, Depends(_conditional)]


# Idempotency-Key --------------------------------------------------------------

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


async def _raw_body(request: Request) -> bytes:
    """The body as received (read in the event loop; Starlette keeps it for the route)."""
    return await request.body()


def checked_key(key: str) -> str:
    """``key`` if it is 1-200 printable ASCII characters; 422 naming the header if not."""
    why = None
    if not key.strip():
        why = "is empty"
    elif len(key) > MAX_KEY_CHARS:
        why = f"is longer than {MAX_KEY_CHARS} characters"
    elif not all(" " <= c <= "~" for c in key):
        why = "holds characters other than printable ASCII"
    if why:
        raise Problem(
            422,
            f"{IDEMPOTENCY_HEADER}: the key {why}; send 1-{MAX_KEY_CHARS} printable ASCII"
            " characters (a UUID, say)",
            errors=[{"field": IDEMPOTENCY_HEADER, "message": why}],
        )
    return key


def fingerprint(method: str, target: str, body: bytes) -> str:
    """SHA-256 of the request: method, path with query, body."""
    digest = hashlib.sha256()
    digest.update(method.upper().encode() + b"\n" + target.encode("utf-8", "replace") + b"\n")
    digest.update(body)
    return digest.hexdigest()


def idempotent(endpoint: Endpoint) -> Endpoint:
    """Run ``endpoint`` once per user and ``Idempotency-Key``; answer retries from the record.

    Apply below the route decorators (``@router.post(...)`` then ``@idempotent``).
    The endpoint must take ``request: Request`` and ``user: User``. Without the
    header the request runs as it would without this decorator. With it:

    * the first request claims the key, runs, and its answer (status, content
      type, body; problem answers included, except 5xx) is stored;
    * the same request again (same method, path, query and body) gets that
      answer with ``Idempotent-Replayed: true``, nothing applied again; while
      the first still runs it waits for it (up to the lock timeout), then 409;
    * another request under the same key is 422, naming the header.

    A server error or a busy database (5xx) gives the key up, so that a retry runs.
    """
    hints = get_type_hints(endpoint, include_extras=True)
    signature = inspect.signature(endpoint)
    parameters = [
        p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()
    ]
    names = {p.name for p in parameters}
    if not {"request", "user"} <= names:
        raise TypeError(f"{endpoint.__name__}: @idempotent needs the parameters request and user")
    parameters += [
        inspect.Parameter(
            "idempotency_key",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[
                str | None,
                Header(
                    alias=IDEMPOTENCY_HEADER,
                    description="Up to 200 printable characters, new for each new request: a"
                    " retry with the same key and request gets the first answer, applied once",
                ),
            ],
        ),
        inspect.Parameter(
            "idempotency_body",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[bytes, Depends(_raw_body)],
        ),
    ]

    @functools.wraps(endpoint)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = kwargs.pop("idempotency_key", None)
        body: bytes = kwargs.pop("idempotency_body", b"")
        if key is None:
            return endpoint(*args, **kwargs)
        return _once(
            kwargs["request"],
            kwargs["user"].username,
            checked_key(key),
            body,
            lambda: endpoint(*args, **kwargs),
        )

    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=hints.get("return", signature.return_annotation)
    )
    return wrapper  # type: ignore[return-value]


def _once(
    request: Request, username: str, key: str, body: bytes, run: Callable[[], Any]
) -> Response:
    from sitroom.auth import idempotency
    from sitroom.server.deps import context

    ctx = context(request)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    with ctx.session(write=True) as records:
        try:
            found = idempotency.claim(
                records,
                username=username,
                key=key,
                method=request.method,
                path=target,
                request_sha256=fingerprint(request.method, target, body),
                wait=ctx.settings.lock_timeout,
            )
        except idempotency.KeyReused as exc:
            raise Problem(
                422,
                str(exc),
                errors=[{"field": IDEMPOTENCY_HEADER, "message": "used for another request"}],
            ) from None
        except idempotency.InProgress as exc:
            raise Problem(409, str(exc), headers={"Retry-After": "1"}) from None
        if isinstance(found, idempotency.Answered):
            return Response(
                found.body,
                status_code=found.status_code,
                media_type=found.content_type,
                headers={REPLAYED_HEADER: "true"},
            )
        try:
            response = _rendered(run())
        except Problem as exc:
            response = problem_response(
                exc.status, exc.detail, title=exc.title, headers=exc.headers, **exc.extra
            )
        except SitroomError as exc:
            status = status_of(exc)
            response = problem_response(
                status, str(exc), headers={"Retry-After": "5"} if status == 503 else None
            )
        except BaseException:
            idempotency.release(records, found)
            raise
        if response.status_code >= 500:
            idempotency.release(records, found)
        else:
            idempotency.complete(
                records,
                found,
                response.status_code,
                response.media_type or response.headers.get("content-type", "application/json"),
                bytes(response.body),
            )
        return response


def _rendered(result: Any) -> Response:
    """The endpoint's result as the response FastAPI would send (to store its bytes)."""
    if isinstance(result, Response):
        return result
    return JSONResponse(jsonable_encoder(result))


__all__ = [
    "NOT_MODIFIED",
    "Conditional",
    "ConditionalGet",
    "entity_tags",
    "fingerprint",
    "idempotent",
]
