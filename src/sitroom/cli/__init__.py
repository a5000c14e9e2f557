"""The ``sitroom`` command line: thin commands over the services."""

from __future__ import annotations

import os
import sys

from sitroom.cli.app import app, err_console
from sitroom.errors import SitroomError


def main() -> None:
    """Entry point: runs the app and turns errors into messages and exit codes."""
    try:
        app()
    except SitroomError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted: nothing was written by the interrupted step")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("SITROOM_DEBUG"):
            raise
        err_console.print(
            f"[bold red]error:[/] unexpected {type(exc).__name__}: {exc}\n"
            "Set SITROOM_DEBUG=1 to see the traceback, and please report it.",
            highlight=False,
        )
        sys.exit(70)


__all__ = ["app", "main"]
