"""The password policy (each rule alone) and argon2id hashing."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from sitroom.auth import passwords
from sitroom.auth.passwords import check_policy, hash_password, needs_rehash, verify_password
from sitroom.errors import SitroomError, WeakPasswordError

GOOD = "amber-Kettle-91-harbour"


def test_a_good_password_passes():
    check_policy(GOOD, "alice")


@pytest.mark.parametrize(
    ("password", "username", "rule"),
    [
        # 11 characters: refused by the length rule alone.
        ("kettle-9-Hx", "alice", "too short: 11 characters, at least 12"),
        # The user name inside, in another case.
        ("my-ALICE-password-77", "alice", "contains the user name"),
        # Common, 12 characters and more, in another case than the list's.
        ("QWERTY123456", "alice", "10,000 most common passwords"),
        ("1qaz2wsx3edc", "alice", "10,000 most common passwords"),
        ("x" * 1025, "alice", "too long"),
    ],
)
def test_each_rule_refuses_with_its_reason(password, username, rule):
    with pytest.raises(WeakPasswordError, match=rule) as refused:
        check_policy(password, username)
    assert isinstance(refused.value, SitroomError)


def test_each_refused_password_passes_without_its_rule():
    """The cases above fail because of their rule, not another one."""
    check_policy("kettle-9-Hx" + "z", "alice")  # 12 characters
    check_policy("my-ALICE-password-77", "bob")  # another name
    check_policy("QWERTY123456!", "alice")  # not in the list
    check_policy("x" * 1024, "alice")


def test_a_very_short_user_name_is_not_looked_for():
    check_policy("glacial-marmot-44", "al")
    with pytest.raises(WeakPasswordError):
        check_policy("glacial-marmot-44", "mar")


def test_the_common_list_is_the_shipped_10000():
    common = passwords.common_passwords()
    assert len(common) == 9_913  # 10,000 lines; 87 differ from another only in case
    assert {"123456", "password", "qwerty", "thomas"} <= common


def test_hashes_are_argon2id_with_the_default_parameters():
    hashed = hash_password(GOOD)
    assert hashed.startswith("$argon2id$v=19$")
    default = PasswordHasher()
    assert f"m={default.memory_cost},t={default.time_cost},p={default.parallelism}" in hashed
    assert verify_password(hashed, GOOD)
    assert not verify_password(hashed, GOOD + "!")
    assert not verify_password("not a hash", GOOD)
    assert hash_password(GOOD) != hashed  # salted


def test_a_hash_made_with_other_parameters_needs_rehash():
    old = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(GOOD)
    assert verify_password(old, GOOD)
    assert needs_rehash(old)
    assert not needs_rehash(hash_password(GOOD))
    assert needs_rehash("not a hash")
