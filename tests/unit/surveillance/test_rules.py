from datetime import date

import pytest

from sitroom.country import RuleConfig
from sitroom.errors import ConfigError
from sitroom.surveillance.rules import Rule, check_rules, check_rules_rowwise

ELEMENTS = ["cum_fever", "cum_recovered", "under_treatment", "cum_deaths", "new_fever", "confirmed"]
D1, D2 = date(2022, 5, 14), date(2022, 5, 15)


def rule(expression, **kw):
    return Rule.compile(RuleConfig(code="r", name="r", expression=expression, **kw), ELEMENTS)


def test_identity_with_tolerance():
    identity = "cum_fever == cum_recovered + under_treatment + cum_deaths"
    values = {
        ("KP", D2): {
            "cum_fever": 1_213_550,
            "cum_recovered": 648_630,
            "under_treatment": 564_860,
            "cum_deaths": 50,
        }
    }
    # Off by 10 (rounding to tens): fails with no tolerance, holds with 20.
    [finding] = check_rules([rule(identity)], values, {})
    assert (finding.left, finding.right, finding.difference) == (1_213_550, 1_213_540, 10)
    assert finding.to_dict()["operator"] == "=="
    assert check_rules([rule(identity, tolerance=20)], values, {}) == []


def test_an_identity_missing_by_exactly_one_term_says_so():
    identity = "cum_fever == cum_recovered + under_treatment + cum_deaths"
    day = {"cum_fever": 4_253_500, "cum_recovered": 4_000_000, "under_treatment": 253_500}
    left_out = {("KP", D2): {**day, "cum_deaths": 71}}
    [finding] = check_rules([rule(identity)], left_out, {})
    assert finding.message.endswith(
        "; the gap is exactly cum_deaths (71): the other figures add up without it,"
        " as if cum_deaths had been left out"
    )
    assert check_rules_rowwise([rule(identity)], left_out, {}) == [finding]
    # Off by one more than the deaths: no explanation offered.
    near = {("KP", D2): {**day, "cum_fever": 4_253_499, "cum_deaths": 71}}
    [finding] = check_rules([rule(identity)], near, {})
    assert "left out" not in finding.message


def test_relative_tolerance_scales_with_the_values():
    values = {("KP", D2): {"new_fever": 1000, "confirmed": 1040}}
    assert check_rules([rule("new_fever >= confirmed", relative=0.05)], values, {}) == []
    assert len(check_rules([rule("new_fever >= confirmed", relative=0.01)], values, {})) == 1


def test_prev_reads_the_previous_period_and_skips_when_missing():
    r = rule("cum_fever - prev(cum_fever) == new_fever")
    values = {
        ("KP", D1): {"cum_fever": 100},
        ("KP", D2): {"cum_fever": 150, "new_fever": 40},
    }
    [finding] = check_rules([r], values, {})
    assert finding.period == D2
    assert (finding.left, finding.right) == (50, 40)
    # Without the previous day the rule is not checked at all.
    assert check_rules([r], {("KP", D2): values[("KP", D2)]}, {}) == []


def test_children_sums_only_the_children_that_reported():
    r = rule("children(new_fever) <= new_fever")
    values = {
        ("KP", D2): {"new_fever": 100},
        ("KP-01", D2): {"new_fever": 70},
        ("KP-02", D2): {"new_fever": 40},
        ("KP-03", D2): {},
    }
    [finding] = check_rules([r], values, {"KP": ["KP-01", "KP-02", "KP-03"]})
    assert (finding.org_unit, finding.left, finding.right) == ("KP", 110, 100)


def test_periods_filter_limits_the_findings():
    r = rule("new_fever >= confirmed")
    values = {
        ("KP", D1): {"new_fever": 1, "confirmed": 2},
        ("KP", D2): {"new_fever": 1, "confirmed": 2},
    }
    assert [f.period for f in check_rules([r], values, {}, periods=[D2])] == [D2]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("cum_fever", "must compare"),
        ("a < b < c", "must compare"),
        ("zombies >= 0", "unknown data element 'zombies'"),
        ("__import__('os') == 0", "only element codes"),
        ("new_fever / 2 >= 0", "only element codes"),
        ("new_fever >=", "not an expression"),
    ],
)
def test_bad_rules_are_configuration_errors(expression, message):
    with pytest.raises(ConfigError, match=message):
        rule(expression)


def test_rules_on_arrays_give_the_rowwise_findings(outbreak_session, country):
    """The whole 2022 wave, every rule: the array evaluation equals the cell-by-cell one."""
    from sitroom.surveillance.rules import check_rules, check_rules_rowwise
    from sitroom.surveillance.service import fetch_values
    from sitroom.surveillance.validation import children_map, compile_rules

    values = fetch_values(outbreak_session)
    rules = compile_rules(country)
    children = children_map(outbreak_session)
    fast = check_rules(rules, values, children)
    slow = check_rules_rowwise(rules, values, children)
    assert len(slow) >= 10  # the real data fails some rules (18 findings)
    assert [f.to_dict() for f in fast] == [f.to_dict() for f in slow]
    some = sorted({p for _, p in values})[10:40]
    assert [f.to_dict() for f in check_rules(rules, values, children, some)] == [
        f.to_dict() for f in check_rules_rowwise(rules, values, children, some)
    ]
