"""`sitroom export` neutralises formula-like CSV cells unless told not to."""

import csv


def test_export_cli_neutralises_formulas_unless_no_formula_safe(cli, tmp_path):
    assert cli("setup").code == 0
    source = tmp_path / "in.csv"
    source.write_text(
        "dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,value,"
        "storedby,lastupdated,comment,followup,deleted\n"
        'new_fever,20220515,KP-01,,,7,"=HYPERLINK(""http://x"",""y"")",'
        "2022-05-16T00:00:00+09:00,-2+3,false,false\n"
        "new_deaths,20220515,KP-01,,,0,dr. kim,2022-05-16T00:00:00+09:00,fine,false,false\n",
        encoding="utf-8",
    )
    assert cli("import", str(source)).code == 0

    def cells(*options):
        out = tmp_path / "out.csv"
        result = cli("export", "--format", "csv-long", "--output", str(out), *options)
        assert result.code == 0, result.err
        assert "wrote 2 values" in result.out
        with out.open(encoding="utf-8", newline="") as handle:
            return [(r[2], r[6], r[8]) for r in list(csv.reader(handle))[1:]]

    assert cells() == [
        ("KP-01", '\'=HYPERLINK("http://x","y")', "'-2+3"),
        ("KP-01", "dr. kim", "fine"),
    ]
    assert cells("--formula-safe") == cells()
    assert cells("--no-formula-safe") == [
        ("KP-01", '=HYPERLINK("http://x","y")', "-2+3"),
        ("KP-01", "dr. kim", "fine"),
    ]


def test_export_cli_to_stdout_is_neutralised(cli, tmp_path):
    assert cli("setup").code == 0
    source = tmp_path / "in.csv"
    source.write_text(
        "dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,value,"
        "storedby,lastupdated,comment,followup,deleted\n"
        "new_fever,20220515,KP-01,,,7,@SUM(1+1),2022-05-16T00:00:00+09:00,,false,false\n",
        encoding="utf-8",
    )
    assert cli("import", str(source)).code == 0
    result = cli("export", "--format", "csv-long")
    assert result.code == 0
    row = list(csv.reader(result.out.splitlines()))[1]
    assert row[6] == "'@SUM(1+1)"
