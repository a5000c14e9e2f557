"""Errors a user can act on.

Every error that reaches the command line is a :class:`SitroomError`; the CLI
prints its message and exits non-zero instead of showing a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class SitroomError(Exception):
    """An error with a message meant for the user.

    ``exit_code`` is the command line's exit status for it (1 unless a kind says
    otherwise; the codes follow BSD's sysexits where one fits).
    """

    exit_code = 1


class BusyError(SitroomError):
    """The database stayed locked by another writer past the documented wait.

    Nothing was written; the same command can simply be run again.
    """

    exit_code = 75  # EX_TEMPFAIL


class StorageFullError(SitroomError):
    """The disk (or the database's storage) is full; nothing was written."""

    exit_code = 74  # EX_IOERR


class ConfigError(SitroomError):
    """The country configuration or the settings are wrong."""


class ConflictError(SitroomError):
    """The change conflicts with the stored state (already approved, for one)."""


class NotFoundError(SitroomError):
    """A named thing (org unit, data element, period) does not exist."""


@dataclass(frozen=True, slots=True)
class Location:
    """Where in an input file something went wrong."""

    file: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.field:
            parts.append(f"field {self.field!r}")
        return ", ".join(parts)


class InputError(SitroomError):
    """A whole input file cannot be read (bad encoding, bad syntax, empty)."""

    def __init__(self, location: Location, message: str) -> None:
        self.location = location
        self.reason = message
        super().__init__(f"{location}: {message}")


class AuthenticationError(SitroomError):
    """A sign-in (password or token) was refused.

    The message never says whether the user name exists, except when the
    account is locked: then it says until when (see docs/security.md).
    """

    exit_code = 77  # EX_NOPERM


class ForbiddenError(SitroomError):
    """A signed-in user asked for something their role or scopes do not allow."""

    exit_code = 77  # EX_NOPERM


class WeakPasswordError(SitroomError):
    """A new password breaks the password policy; the message names the rule."""
