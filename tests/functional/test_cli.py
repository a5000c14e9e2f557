"""The command line, end to end, on the database of the test."""

import json

from sitroom.db import HEAD_REVISION


def test_demo_loads_the_outbreak_and_can_run_twice(cli):
    first = cli("demo", "--no-supply", "--no-serve", "--no-users")
    assert first.code == 0, first.err
    assert "fever_national.csv: 548 created" in first.out
    # The demo ends on the latest period with regional reports, and says so.
    assert "The latest period with regional reports is 2022-07-26" in first.out
    assert "situation for the period 26 July 2022" in first.out
    assert "Regions reporting: 13 of 13" in first.out
    assert "4,772,790" in first.out
    # --no-users: exactly what the demo printed before it had users and a server.
    assert "password" not in first.out
    second = cli("demo", "--no-supply", "--no-serve", "--no-users")
    assert second.code == 0
    assert "fever_national.csv: 0 created, 0 updated, 548 unchanged" in second.out
    assert "fever_by_region.csv: 0 created, 0 updated, 2756 unchanged" in second.out


def test_bulletin_json_for_15_may(cli):
    assert cli("demo", "--no-supply", "--no-serve", "--no-users").code == 0
    result = cli("bulletin", "--period", "2022-05-15", "--json")
    assert result.code == 0
    data = json.loads(result.out)
    assert {
        k: data[k]
        for k in (
            "new_fever",
            "new_deaths",
            "cum_deaths",
            "cum_fever",
            "cum_recovered",
            "under_treatment",
        )
    } == {
        "new_fever": 392_920,
        "new_deaths": 8,
        "cum_deaths": 50,
        "cum_fever": 1_213_550,
        "cum_recovered": 648_630,
        "under_treatment": 564_860,
    }
    text = cli("bulletin", "--period", "2022-05-15").out
    for figure in ("392,920", "1,213,550", "648,630", "564,860", "cumulative deaths 50"):
        assert figure in text
    assert text.index("Pyongyang") < text.index("South Pyongan") < text.index("North Hamgyong")


def test_validate_json_has_the_documented_keys(cli):
    assert cli("demo", "--no-supply", "--no-serve", "--no-users").code == 0
    result = cli("validate", "--period", "2022-06-08", "--json")
    findings = json.loads(result.out)
    assert findings
    for key in ("rule", "org_unit", "period", "left", "right", "severity"):
        assert all(key in f for f in findings)
    assert {"rule": "stock_identity", "org_unit": "KP", "left": 4_304_360, "right": 4_304_431} in [
        {k: f[k] for k in ("rule", "org_unit", "left", "right")} for f in findings
    ]
    table = cli("validate", "--period", "2022-06-08")
    assert "stock_identity" in table.out
    assert "error" in table.out


def test_completeness_aggregate_history_export_and_places(cli, tmp_path):
    assert cli("demo", "--no-supply", "--no-serve", "--no-users").code == 0
    rows = json.loads(
        cli("completeness", "--start", "2022-05-15", "--end", "2022-05-16", "--json").out
    )
    assert [(r["received"], len(r["missing"])) for r in rows] == [(13, 0), (0, 13)]
    regions = json.loads(cli("completeness", "--by-region", "--json").out)
    assert len(regions) == 13
    kp04 = next(r for r in regions if r["org_unit"] == "KP-04")
    assert (kp04["expected"], kp04["received"], kp04["on_time"]) == (90, 53, 42)
    agg = json.loads(cli("aggregate", "--period", "2022-05-15", "--json").out)
    assert {
        "element": "new_fever",
        "own": 392_920,
        "children_sum": 354_284,
        "gap": 38_636,
    }.items() <= next(a for a in agg if a["element"] == "new_fever").items()
    fix = tmp_path / "fix.csv"
    fix.write_text("org_unit,period,new_fever\nKP-04,2022-05-15,7700\n", encoding="utf-8")
    assert cli("import", str(fix)).code == 0
    history = json.loads(cli("history", "new_fever", "KP-04", "2022-05-15", "--json").out)
    assert [(h["action"], h["value"]) for h in history] == [("created", 7_651), ("updated", 7_700)]
    assert history[1]["by"] == "tester"
    out = tmp_path / "export.json"
    result = cli("export", "--format", "dhis2-json", "--output", str(out), "--org-unit", "KP-04")
    assert result.code == 0
    assert "wrote 212 values" in result.out
    tree = cli("places", "tree")
    assert "KP-04 Chagang 자강도" in tree.out


def test_import_dry_run_and_json_summary(cli, tmp_path):
    assert cli("setup").code == 0
    path = tmp_path / "a.csv"
    path.write_text("org_unit,period,new_fever\nKP-01,2022-05-15,5\n", encoding="utf-8")
    dry = cli("import", "--dry-run", str(path))
    assert "Dry run: nothing was written." in dry.out
    summary = json.loads(cli("import", "--json", str(path)).out)
    assert (summary["created"], summary["committed"]) == (1, True)
    again = cli("import", str(path))
    assert "No changes: every value was already stored (this file was imported before" in again.out


def test_db_commands(cli):
    result = cli("db", "upgrade")
    assert result.code == 0
    assert "database at revision" in result.out
    assert f"current: {HEAD_REVISION}; head: {HEAD_REVISION}" in cli("db", "current").out


def test_commands_before_setup_explain_what_to_do(cli, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("org_unit,period,new_fever\nKP-01,2022-05-15,5\n", encoding="utf-8")
    result = cli("import", str(path))
    assert result.code == 1
    assert "run `sitroom setup` first" in result.err
    assert "import some data first" in cli("bulletin").err


def test_validate_exits_1_on_errors_unless_exit_zero(cli):
    assert cli("demo", "--no-supply", "--no-serve", "--no-users").code == 0
    found = cli("validate", "--period", "2022-06-08")
    assert found.code == 1
    assert "stock_identity" in found.out
    assert cli("validate", "--period", "2022-06-08", "--exit-zero").code == 0
    assert cli("validate", "--period", "2022-06-08", "--json").code == 1


def test_inverted_ranges_and_unknown_codes_are_errors(cli, tmp_path):
    assert cli("demo", "--no-supply", "--no-serve", "--no-users").code == 0
    for args in (
        ["validate", "--start", "2022-06-10", "--end", "2022-06-01"],
        ["completeness", "--start", "2022-06-10", "--end", "2022-06-01"],
        ["export", "--start", "2022-06-10", "--end", "2022-06-01"],
    ):
        result = cli(*args)
        assert result.code == 1, args
        assert "start 2022-06-10 is after end 2022-06-01" in result.err
    out = tmp_path / "out.csv"
    result = cli("export", "--org-unit", "KP-99", "-o", str(out))
    assert result.code == 1
    assert "unknown org unit 'KP-99'" in result.err
    assert not out.exists()


def test_global_options_work_after_the_command_too(cli, db_url, tmp_path):
    assert cli("demo", "--no-supply", "--no-serve", "--no-users").code == 0
    before = cli("bulletin", "--period", "2022-05-15", "--json")
    after = cli("bulletin", "--db", db_url, "--period", "2022-05-15", "--json")
    assert after.code == 0, after.err
    assert json.loads(after.out) == json.loads(before.out)
    equals = cli("bulletin", f"--db={db_url}", "--period=2022-05-15", "--json")
    assert json.loads(equals.out) == json.loads(before.out)
    day = tmp_path / "day.csv"
    day.write_text("org_unit,period,new_fever\nKP-01,2022-05-15,1\n", encoding="utf-8")
    result = cli("import", str(day), "--user", "ann", "--dry-run")
    assert result.code == 0, result.err


def test_a_write_to_a_missing_folder_is_refused(cli, tmp_path):
    wrong = tmp_path / "typo" / "sitroom.db"
    result = cli("--db", f"sqlite:///{wrong}", "setup")
    assert result.code == 1
    assert f"no folder {wrong.parent}" in result.err
    assert not wrong.parent.exists()


def test_short_help_and_version(cli):
    assert "Usage: sitroom" in cli("-h").out
    assert "Usage: sitroom bulletin" in cli("bulletin", "-h").out
    version = cli("--version")
    assert version.code == 0
    assert version.out.startswith("sitroom 0.")


def test_org_units_are_named_as_the_import_names_them(cli):
    """Codes, English and Korean names and aliases work wherever an org unit is asked for."""
    assert cli("demo", "--no-supply", "--no-serve", "--no-users").code == 0
    by_code = json.loads(cli("history", "new_fever", "KP-04", "2022-05-15", "--json").out)
    for label in ("Chagang", "Jagang", "자강", "chagang"):
        result = cli("history", "new_fever", label, "2022-05-15", "--json")
        assert result.code == 0, result.err
        assert json.loads(result.out) == by_code
    rt = cli("analyze", "rt", "--org-unit", "자강", "--end", "2022-05-31", "--fill", "linear")
    assert rt.code == 0, rt.err
    missing = cli("aggregate", "--period", "2022-05-15", "--org-unit", "Atlantis")
    assert "unknown org unit 'Atlantis'" in missing.err


def test_import_reads_standard_input(cli, monkeypatch):
    import io

    assert cli("setup").code == 0
    body = b"org_unit,period,new_fever\nKP-01,2022-05-15,12\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(body)))
    result = cli("import", "-")
    assert result.code == 0, result.err
    assert "standard input (csv-wide)" in result.out
    assert "created 1" in result.out


def test_import_reads_dhis2_json_from_standard_input_by_its_content(cli, monkeypatch):
    import io

    assert cli("setup").code == 0
    body = (
        b'\xef\xbb\xbf  {"dataValues": [{"dataElement": "new_fever", "period": "20220515",'
        b' "orgUnit": "KP-01", "value": "12"}]}'
    )
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(body)))
    result = cli("import", "-")
    assert result.code == 0, result.err
    assert "standard input (dhis2-json)" in result.out
