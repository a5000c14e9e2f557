"""Loading a country configuration: what it gives, and how it says what is wrong.

Limits on the file itself (size, pipes, folders) are in test_country_limits.py.
The variants here are the test country (tests/data/lakeland) with one change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sitroom.country import cached_country, load_country
from sitroom.errors import ConfigError
from tests.conftest import DATA

LAKELAND = DATA / "lakeland" / "country.toml"


def variant(tmp_path: Path, *changes: tuple[str, str]) -> Path:
    """The Lakeland configuration with each (old, new) text replaced, in a file of its own."""
    text = LAKELAND.read_text(encoding="utf-8")
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "country.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> str:
    """The message of the ConfigError that loading ``path`` raises, without the path."""
    with pytest.raises(ConfigError) as info:
        load_country(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")


def test_a_configuration_knows_its_folder_and_its_defaults():
    country = load_country(LAKELAND)
    assert country.folder == LAKELAND.parent.resolve()
    assert (country.country.code, country.reporting.cutoff_minutes) == ("LL", 24 * 60)
    assert country.reporting.days_ahead == 0
    # The outlier screen's settings not given are the defaults.
    assert (country.outliers.window, country.outliers.threshold) == (6, 6.0)
    assert country.mappings == {}
    assert country.roles.named() == {
        "cases": "cholera_cases",
        "deaths": "cholera_deaths",
        "active": "in_treatment_centres",
    }
    assert country.element("cholera_deaths").kind == "flow"
    assert country.element("cholera_deaths").unit == "persons"
    with pytest.raises(KeyError):
        country.element("new_fever")


def test_a_cutoff_is_kept_in_minutes(tmp_path):
    country = load_country(variant(tmp_path, ('cutoff = "24:00"', 'cutoff = "18:30"')))
    assert country.reporting.cutoff_minutes == 18 * 60 + 30


@pytest.mark.parametrize(
    ("change", "where", "what"),
    [
        (('cutoff = "24:00"', 'cutoff = "18h"'), "reporting.cutoff", "cutoff must be HH:MM"),
        (('cutoff = "24:00"', 'cutoff = "24:01"'), "reporting.cutoff", "between 00:01 and 24:00"),
        (('cutoff = "24:00"', 'cutoff = "00:00"'), "reporting.cutoff", "between 00:01 and 24:00"),
        (('cutoff = "24:00"', 'cutoff = "12:60"'), "reporting.cutoff", "between 00:01 and 24:00"),
        (("grace_minutes = 720", "grace_minutes = -1"), "reporting.grace_minutes", ""),
        (("reporting_level = 2", "reporting_level = 5"), "reporting.reporting_level", ""),
        (("\nlevel = 2", "\nlevel = 1"), "places.files.0.level", ""),
        (('code = "cholera_cases"', 'code = "1st_cases"'), "elements.0.code", "pattern"),
        (('kind = "stock"', 'kind = "rate"'), "elements.2.kind", "'flow' or 'stock'"),
        (('severity = "warning"', 'severity = "fatal"'), "rules.0.severity", ""),
        (('period_type = "monthly"', 'period_type = "yearly"'), "data_sets.1.period_type", ""),
        (('name = "Lakeland"', 'name = "Lakeland"\ncapital = "Port"'), "country.capital", "Extra"),
        (('code = "LL"', "code = 76"), "country.code", "string"),
    ],
)
def test_a_wrong_value_is_named_by_where_it_is(tmp_path, change, where, what):
    message = problems(variant(tmp_path, change))
    assert message.startswith(f"{where}: ")
    assert what in message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('cases = "cholera_cases"', 'cases = "zombies"'), "unknown element codes: zombies"),
        (
            ('required_elements = ["cholera_cases"]', 'required_elements = ["a", "b"]'),
            "unknown element codes: a, b",
        ),
        (
            ('elements = ["cholera_cases"]\nwindow', 'elements = ["ghosts"]\nwindow'),
            "codes: ghosts",
        ),
        (
            ('elements = ["cholera_tests"]', 'elements = ["cholera_tests", "ghosts"]'),
            "codes: ghosts",
        ),
        (
            ('elements = ["cholera_tests"]', 'elements = ["cholera_tests", "cholera_deaths"]'),
            "element cholera_deaths is in two data sets (IDSR_WEEKLY and LAB_MONTHLY)",
        ),
        (
            ('"cholera_deaths", "in_treatment_centres"]', '"cholera_deaths"]'),
            "elements in no data set: in_treatment_centres",
        ),
        (('code = "LAB_MONTHLY"', 'code = "IDSR_WEEKLY"'), "data set codes must be unique"),
        (
            (
                'required_elements = ["cholera_cases"]',
                'required_elements = ["cholera_cases", "cholera_tests"]',
            ),
            "reporting.required_elements mix period types (monthly, weekly)",
        ),
        (
            ('required_elements = ["cholera_cases"]', 'required_elements = ["cholera_tests"]'),
            "reporting.required_elements are monthly but the cases (cholera_cases) are weekly",
        ),
        (
            ('deaths = "cholera_deaths"', 'deaths = "cholera_tests"'),
            "roles.deaths (cholera_tests) is reported monthly but the cases (cholera_cases) weekly",
        ),
        (
            (
                'expression = "cholera_deaths <= cholera_cases"',
                'expression = "cholera_tests <= cholera_cases"',
            ),
            "rule deaths_within_cases mixes period types (monthly, weekly)",
        ),
        (('code = "cholera_deaths"', 'code = "cholera_cases"'), "element codes must be unique"),
        (('code = "code"\n', ""), "regions.csv: give either code or code_template"),
    ],
)
def test_inconsistent_parts_are_refused_with_the_reason(tmp_path, change, message):
    assert message in problems(variant(tmp_path, change))


def test_a_missing_part_is_named(tmp_path):
    path = variant(tmp_path, ('[roles]\ncases = "cholera_cases"\n', "[roles]\n"))
    assert problems(path).startswith("roles.cases: Field required")
    text = LAKELAND.read_text(encoding="utf-8").replace("[reporting]", "[reports]")
    path.write_text(text, encoding="utf-8")
    assert "reporting: Field required" in problems(path)


def test_every_problem_is_listed_in_one_message(tmp_path):
    path = variant(
        tmp_path,
        ('cutoff = "24:00"', 'cutoff = "25:00"'),
        ("reporting_level = 2", "reporting_level = 0"),
        ('kind = "flow"', 'kind = "flux"'),
    )
    listed = problems(path).split("; ")
    assert [p.split(":")[0] for p in listed] == [
        "reporting.cutoff",
        "reporting.reporting_level",
        "elements.0.kind",
    ]


def test_a_configuration_is_read_once_per_path(tmp_path):
    path = variant(tmp_path)
    first = cached_country(path)
    path.write_text("not toml at all [", encoding="utf-8")
    assert cached_country(path) is first
    with pytest.raises(ConfigError, match="not a valid TOML file"):
        load_country(path)
