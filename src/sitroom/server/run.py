"""Running the server under uvicorn, after checking its settings."""

from __future__ import annotations

import errno
import logging
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from sitroom.context import AppContext
from sitroom.errors import ConfigError, SitroomError

#: Secrets seen in examples and tutorials: refused as if none were set.
WEAK_SECRETS = frozenset(
    {"changeme", "change-me", "change_me", "secret", "sitroom", "password", "default", "test"}
)
MIN_SECRET_CHARS = 32


def checked_secret(secret: str, *, demo: bool) -> str:
    """The secret key to serve with; refuses a missing or weak one outside the demo.

    The embedded demo (one process on loopback, a SQLite file) makes a random
    key for the run: sessions end when it stops.
    """
    if secret and secret.lower() not in WEAK_SECRETS and len(secret) >= MIN_SECRET_CHARS:
        return secret
    if demo:
        return secrets.token_urlsafe(32)
    reason = "is not set" if not secret else "is too weak (a known default, or too short)"
    raise ConfigError(
        f"SITROOM_SECRET_KEY {reason}: set it to at least {MIN_SECRET_CHARS} random characters,"
        ' e.g. `python -c "import secrets; print(secrets.token_urlsafe(32))"`'
    )


def check_port(host: str, port: int) -> None:
    """Return if the server can listen on ``host:port``; SitroomError saying why not.

    Binds a probe socket as uvicorn will (``SO_REUSEADDR``, so a port left in
    TIME_WAIT by a server just stopped counts as free). Another process may
    still take the port before uvicorn binds it; uvicorn then says so itself.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise SitroomError(
                    f"port {port} on {host} is in use (another sitroom, or another server):"
                    " stop it, or choose another port with --port"
                ) from None
            raise SitroomError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _stopped(signum: int, frame: FrameType | None) -> None:
    """Take a stop signal that uvicorn has already acted on (see :func:`_stops_end_cleanly`)."""


@contextmanager
def _stops_end_cleanly() -> Iterator[None]:
    """While uvicorn runs, a SIGINT or SIGTERM ends the command with exit status 0.

    uvicorn (0.29 and later) answers SIGINT and SIGTERM with a graceful
    shutdown, then raises the signal again for the handler that was there
    before it: Python's would turn SIGINT into KeyboardInterrupt (the command
    line's "interrupted", status 130) and let SIGTERM kill the process (-15).
    A server asked to stop that stops has done nothing wrong, so the handlers
    in place meanwhile take the repeated signal and do nothing. uvicorn's
    workers (``--workers`` above 1) already end this way.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signals go to the main thread only; nothing to take
        return
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def configure_logging() -> None:
    """Request lines and server messages on stderr, one line each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger("sitroom")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False


def serve(
    context: AppContext,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    demo: bool = False,
) -> None:
    """Serve until interrupted; SIGTERM or Ctrl-C finishes the requests in flight first.

    Refuses (SitroomError) a weak secret outside the demo and a port in use.
    Returns when stopped by SIGINT or SIGTERM, so that the command exits 0.
    """
    import uvicorn

    settings = context.settings
    secret = checked_secret(settings.secret_key, demo=demo)
    check_port(host, port)
    configure_logging()
    # Migrate once, here, before any worker starts: workers then find it current.
    context.engine  # noqa: B018
    context.close()
    common = {
        "host": host,
        "port": port,
        "access_log": False,  # sitroom.access logs one line a request, with the user
        "timeout_graceful_shutdown": 30,
        "proxy_headers": settings.behind_tls,
        "server_header": False,
        "log_config": None,
    }
    if workers == 1:
        from sitroom.server.app import create_app

        context.settings = settings.model_copy(update={"secret_key": secret})
        application = create_app(context, schedule=not demo)
        with _stops_end_cleanly():
            uvicorn.run(application, **common)  # type: ignore[arg-type]
        return
    # Several processes: each builds the app from the environment, so pass the
    # settings this command resolved (options included) down to them.
    for name, value in (
        ("DATABASE_URL", settings.database_url),
        ("COUNTRY", str(settings.country)),
        ("SECRET_KEY", secret),
        ("LOCK_TIMEOUT", str(settings.lock_timeout)),
        ("MAX_BODY_BYTES", str(settings.max_body_bytes)),
        ("BEHIND_TLS", "true" if settings.behind_tls else "false"),
        ("PUBLISH_AT", settings.publish_at),
        ("PUBLIC_REPORTS", "true" if settings.public_reports else "false"),
    ):
        os.environ[f"SITROOM_{name}"] = value
    with _stops_end_cleanly():
        uvicorn.run(
            "sitroom.server.app:app_from_environment",
            factory=True,
            workers=workers,
            **common,  # type: ignore[arg-type]
        )
