"""Running the server under uvicorn, after checking its settings."""

from __future__ import annotations

import logging
import os
import secrets
import sys

from sitroom.context import AppContext
from sitroom.errors import ConfigError

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
    """Serve until interrupted; SIGTERM or Ctrl-C finishes the requests in flight first."""
    import uvicorn

    settings = context.settings
    secret = checked_secret(settings.secret_key, demo=demo)
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
        uvicorn.run(create_app(context), **common)  # type: ignore[arg-type]
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
    ):
        os.environ[f"SITROOM_{name}"] = value
    uvicorn.run(
        "sitroom.server.app:app_from_environment",
        factory=True,
        workers=workers,
        **common,  # type: ignore[arg-type]
    )
