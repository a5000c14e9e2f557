"""load_country reads only a regular file of bounded size, and says why it will not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sitroom import country as country_module
from sitroom.config import DEFAULT_COUNTRY
from sitroom.country import MAX_COUNTRY_BYTES, load_country
from sitroom.errors import ConfigError


def test_the_limit_is_10_mib():
    assert MAX_COUNTRY_BYTES == 10 * 1024 * 1024


def test_dev_zero_is_refused_before_reading(alarm):
    with pytest.raises(ConfigError) as info:
        load_country(Path("/dev/zero"))
    assert str(info.value) == (
        "/dev/zero: not a regular file (a pipe, device or socket);"
        " the country configuration must be a file"
    )


def test_a_pipe_is_refused_without_opening_it(tmp_path, alarm):
    fifo = tmp_path / "country.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"country\.toml: not a regular file"):
        load_country(fifo)


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="is a folder, not a country configuration file"):
        load_country(tmp_path)


def test_a_file_over_the_limit_is_refused_before_reading(tmp_path, monkeypatch):
    big = tmp_path / "country.toml"
    with big.open("wb") as handle:  # sparse: 10 MiB + 1 byte of nothing
        handle.truncate(MAX_COUNTRY_BYTES + 1)
    read: list[Path] = []
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: read.append(self))
    with pytest.raises(ConfigError) as info:
        load_country(big)
    assert str(info.value) == (
        f"{big}: the country configuration has 10,485,761 bytes, more than the limit of 10 MiB"
    )
    assert read == []


def test_a_file_at_the_limit_is_read(tmp_path, monkeypatch):
    text = DEFAULT_COUNTRY.read_text(encoding="utf-8")
    copy = tmp_path / "country.toml"
    copy.write_text(text, encoding="utf-8")
    monkeypatch.setattr(country_module, "MAX_COUNTRY_BYTES", copy.stat().st_size)
    assert load_country(copy).country.code == load_country(DEFAULT_COUNTRY).country.code
    monkeypatch.setattr(country_module, "MAX_COUNTRY_BYTES", copy.stat().st_size - 1)
    with pytest.raises(ConfigError, match="more than the limit"):
        load_country(copy)


def test_the_other_messages_are_unchanged(tmp_path):
    with pytest.raises(ConfigError, match="country configuration not found"):
        load_country(tmp_path / "nowhere.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[country\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a valid TOML file"):
        load_country(bad)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'name = "Kaes\xf6ng"\n')
    with pytest.raises(ConfigError, match="not a valid TOML file"):
        load_country(latin)
