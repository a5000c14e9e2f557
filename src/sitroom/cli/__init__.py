"""The ``sitroom`` command line: thin commands over the services."""

from __future__ import annotations

import errno
import os
import sys

from sitroom.cli import aid as _aid  # noqa: F401  (registers its commands)
from sitroom.cli import aid_gap as _aid_gap  # noqa: F401
from sitroom.cli import analyze as _analyze  # noqa: F401
from sitroom.cli import approvals as _approvals  # noqa: F401
from sitroom.cli import audit as _audit  # noqa: F401
from sitroom.cli import commands as _commands  # noqa: F401
from sitroom.cli import reports as _reports  # noqa: F401
from sitroom.cli import server as _server  # noqa: F401
from sitroom.cli import sitrep as _sitrep  # noqa: F401
from sitroom.cli import supply as _supply  # noqa: F401
from sitroom.cli import supply_orders as _supply_orders  # noqa: F401
from sitroom.cli import supply_planning as _supply_planning  # noqa: F401
from sitroom.cli import users as _users  # noqa: F401
from sitroom.cli.app import app, err_console, pause_collector
from sitroom.cli.text import styled
from sitroom.errors import SitroomError, StorageFullError


def _known(exc: BaseException) -> SitroomError | None:
    """The user's error for a failure that is not a bug (full disk, busy database)."""
    if isinstance(exc, SitroomError):
        return exc
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return StorageFullError(f"no space left on the disk ({exc.filename or 'writing'})")
    if isinstance(exc, OSError) and exc.filename is not None:
        # A file the user named that cannot be read or written: say which and why.
        failed = SitroomError(f"{exc.filename}: {exc.strerror or exc}")
        failed.exit_code = 74  # EX_IOERR
        return failed
    from sitroom.db import is_db_error, translate_db_error

    return translate_db_error(exc) if is_db_error(exc) else None


#: The global options, accepted anywhere on the line (``sitroom bulletin --db URL``).
GLOBAL_OPTIONS = frozenset({"--db", "--country", "--user"})

#: Commands with an option of their own named like a global one, which stays theirs
#: after the command's name (``sitroom audit --user kim`` lists kim's writes).
OWN_OPTIONS = {"audit": frozenset({"--user"})}


def hoist_global_options(args: list[str]) -> list[str]:
    """``args`` with the global options moved before the command, where Typer wants them."""
    front: list[str] = []
    rest: list[str] = []
    own: frozenset[str] = frozenset()
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if not rest and not arg.startswith("-"):
            own = OWN_OPTIONS.get(arg, frozenset())
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS and name not in own:
            take = 1 if "=" in arg or i + 1 == len(args) else 2
            front.extend(args[i : i + take])
            i += take
            continue
        rest.append(arg)
        i += 1
    return front + rest


def main() -> None:
    """Entry point: runs the app and turns errors into messages and exit codes."""
    try:
        app(args=hoist_global_options(sys.argv[1:]), prog_name="sitroom")
    except KeyboardInterrupt:
        err_console.print("interrupted: nothing was written by the interrupted step")
        sys.exit(130)
    except Exception as exc:
        known = _known(exc)
        if known is not None:
            err_console.print(styled("[bold red]error:[/] {}", known))
            sys.exit(known.exit_code)
        if os.environ.get("SITROOM_DEBUG"):
            raise
        err_console.print(
            styled("[bold red]error:[/] unexpected {}: {}", type(exc).__name__, exc),
        )
        err_console.print("Set SITROOM_DEBUG=1 to see the traceback, and please report it.")
        sys.exit(70)


def entry() -> None:
    """The ``sitroom`` program: :func:`main` in a process of its own.

    It also keeps the garbage collector out of the start-up
    (:func:`~sitroom.cli.app.pause_collector`), which only a process that
    ends with the command may do; :func:`main` can run in-process.
    """
    pause_collector()
    main()


__all__ = ["app", "entry", "main"]
