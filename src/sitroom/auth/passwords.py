"""Password hashing (argon2id) and the password policy.

Hashes are argon2-cffi's ``PasswordHasher`` with its default parameters
(argon2id, RFC 9106's low-memory choice: 64 MiB, 3 passes, 4 lanes). A hash
made with other parameters still verifies; :func:`needs_rehash` tells the
sign-in to store a new one.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from sitroom.config import PACKAGE_DATA
from sitroom.errors import WeakPasswordError

if TYPE_CHECKING:
    from argon2 import PasswordHasher

#: The policy's numbers (docs/security.md).
MIN_LENGTH = 12
#: Longer passwords are refused: hashing megabytes per attempt would be a cheap attack.
MAX_LENGTH = 1024
#: A user name shorter than this is not looked for inside the password
#: ("al" would refuse every password holding those two letters).
MIN_NAME_CHECKED = 3

COMMON_PASSWORDS_FILE = PACKAGE_DATA / "passwords" / "common-10k.txt"


@cache
def hasher() -> PasswordHasher:
    """The password hasher (argon2id, argon2-cffi's default parameters)."""
    from argon2 import PasswordHasher

    return PasswordHasher()


@cache
def common_passwords() -> frozenset[str]:
    """The 10,000 most common passwords, lower-cased (see data/passwords/SOURCES.md)."""
    text = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def check_policy(password: str, username: str) -> None:
    """Return if ``password`` is acceptable for ``username``; raise WeakPasswordError if not.

    The message names the rule that failed: length, the user name inside it,
    or a common password.
    """
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(
            f"the password is too short: {len(password)} characters, at least {MIN_LENGTH}"
        )
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"the password is too long: at most {MAX_LENGTH} characters")
    if len(username) >= MIN_NAME_CHECKED and username.casefold() in password.casefold():
        raise WeakPasswordError("the password contains the user name")
    if password.lower() in common_passwords():
        raise WeakPasswordError(
            "the password is one of the 10,000 most common passwords: choose another"
        )


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (``$argon2id$v=19$m=...``), salted."""
    return hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; False for a mismatch or a bad hash."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than the hasher's current ones."""
    from argon2.exceptions import InvalidHashError

    try:
        return hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@cache
def _dummy_hash(current: PasswordHasher) -> str:
    """A hash made with ``current``'s parameters (so it costs what a real one does)."""
    return current.hash("sitroom: no such user, nothing to compare")


def spend_verification_time(password: str) -> None:
    """Verify ``password`` against a dummy hash, for as long as a real check takes.

    A sign-in under an unknown name costs what one under a known name does, so
    that the time taken does not tell which names exist.
    """
    verify_password(_dummy_hash(hasher()), password)
