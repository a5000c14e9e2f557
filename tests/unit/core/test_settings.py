"""Settings from the environment: the rules users had with pydantic-settings, kept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from sitroom.config import DEFAULT_COUNTRY, Settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No SITROOM_ variable, and a working folder without a .env file."""
    for name in list(os.environ):
        if name.upper().startswith("SITROOM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_defaults(clean_env):
    settings = Settings()
    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url.endswith("sitroom.db")
    assert settings.country == DEFAULT_COUNTRY
    assert settings.user  # the login name
    assert settings.lock_timeout == 60.0


def test_variables_in_any_case(clean_env):
    clean_env.setenv("SITROOM_USER", "ann")
    clean_env.setenv("sitroom_lock_timeout", "5")
    clean_env.setenv("Sitroom_Country", "/srv/country.toml")
    settings = Settings()
    assert (settings.user, settings.lock_timeout) == ("ann", 5.0)
    assert settings.country == Path("/srv/country.toml")


def test_a_variable_beats_the_env_file_and_an_option_beats_both(clean_env, tmp_path):
    (tmp_path / ".env").write_text(
        "SITROOM_USER=mallory\nsitroom_database_url=sqlite:////srv/x.db\nOTHER=1\n"
        "SITROOM_LOCK_TIMEOUT\n"  # a line without a value sets nothing
    )
    assert Settings().user == "mallory"
    assert Settings().database_url == "sqlite:////srv/x.db"
    assert Settings().lock_timeout == 60.0
    clean_env.setenv("SITROOM_USER", "ann")
    assert Settings().user == "ann"
    assert Settings(user="bob").user == "bob"


def test_empty_means_the_default(clean_env):
    clean_env.setenv("SITROOM_DATABASE_URL", "")
    clean_env.setenv("SITROOM_USER", "")
    settings = Settings()
    assert settings.database_url.endswith("sitroom.db")
    assert settings.user


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SITROOM_LOCK_TIMEOUT", "abc", "valid number"),
        ("SITROOM_LOCK_TIMEOUT", "0", "greater than 0"),
        ("SITROOM_USER", " ann", "spaces at its start or end"),
    ],
)
def test_a_bad_variable_names_its_setting(clean_env, variable, value, message):
    clean_env.setenv(variable, value)
    with pytest.raises(ValidationError) as failed:
        Settings()
    (error,) = failed.value.errors()
    assert error["loc"] == (variable.removeprefix("SITROOM_").lower(),)
    assert message in error["msg"]


def test_unknown_names_are_ignored(clean_env, tmp_path):
    clean_env.setenv("SITROOM_COLOUR", "red")
    (tmp_path / ".env").write_text("SITROOM_SHAPE=round\n")
    assert "colour" not in Settings().model_dump()


def test_the_origin_names_the_variable_as_it_was_spelled(clean_env):
    clean_env.setenv("sitroom_user", "ann")
    settings = Settings()
    assert settings.user == "ann"
    assert settings.origin("user", set()) == "sitroom_user"
    assert settings.origin("user", {"user"}) == "command line"
