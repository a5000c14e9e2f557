"""``sitroom sitrep``: every format for the real outbreak, and bad input refused cleanly."""

from __future__ import annotations

import json

import pytest


def test_every_format_for_the_real_outbreak(cli, outbreak, tmp_path):
    for fmt in ("html", "pdf", "md", "json"):
        target = tmp_path / f"report.{fmt}"
        done = cli("sitrep", "--period", "2022-05-20", "--format", fmt, "-o", str(target))
        assert done.code == 0, done.err
        assert f"wrote {target}" in done.out
        assert target.stat().st_size > 1000
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
    assert "평양직할시" in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert (tmp_path / "report-curve.svg").exists()
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert data["period"] == "2022-05-20"
    headline = {f["label"]: f["value"] for f in data["sections"][0]["facts"]}
    assert headline["New fever cases"] == 219030


def test_the_default_period_is_the_latest_and_the_file_named_after_it(
    cli, outbreak, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    done = cli("sitrep", "--format", "json")
    assert done.code == 0, done.err
    assert (tmp_path / "sitrep-2022-08-09.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "2021-01-01"], "no national figures for the period 2021-01-01"),
        (["--period", "tomorrow"], "period"),
        (["--format", "docx"], "unknown format 'docx'"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(cli, outbreak, tmp_path, args, message):
    folder = tmp_path / "out"
    folder.mkdir()
    done = cli("sitrep", *args, "-o", str(folder / "out.html"))
    assert done.code != 0
    assert message in done.err
    assert "Traceback" not in done.err
    assert list(folder.iterdir()) == []


def test_an_empty_database_says_so(cli, tmp_path):
    assert cli("setup").code == 0
    folder = tmp_path / "out"
    folder.mkdir()
    done = cli("sitrep", "-o", str(folder / "r.html"))
    assert done.code != 0
    assert "no national figures are stored yet" in done.err
    assert list(folder.iterdir()) == []


def test_a_missing_folder_or_a_folder_as_output(cli, outbreak, tmp_path):
    done = cli("sitrep", "--period", "2022-05-20", "-o", str(tmp_path / "no" / "r.html"))
    assert done.code != 0
    assert "no such folder" in done.err
    done = cli("sitrep", "--period", "2022-05-20", "-o", str(tmp_path))
    assert done.code != 0
    assert "is a folder" in done.err
