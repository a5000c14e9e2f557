"""The day's report of one org unit: the reporters' form.

Nothing here knows HTTP: the web pages (``sitroom.server.web.entry``) parse a
form into a :class:`Submission` and render what comes back, and an API can
do the same later.

- :func:`entry_form` is what a reporter sees for a unit and a period: one
  field per element of the data set, the stored value and the previous
  period's beside each, the window and deadline, and the approval, if any.
- :func:`submit` checks the submitted values against the validation rules
  *before* writing, and writes only what changed, through
  :meth:`Importer.apply` (the one write path: scope, approvals, lateness, the
  audit row), under the period's lock, in one transaction. Errors refuse
  the submission; a warning is accepted with a reason; a change to a stored
  value of a past period is a correction and needs a reason; the reasons
  become the written values' comment. Each field carries the version of the
  stored value the reporter saw (:attr:`StoredValue.version`): if any
  changed meanwhile, nothing is written (no lost update).
- ``sitroom.surveillance.review`` is the epidemiologists' view of a period.

Choices: a blank field means "no value". Blank where a value is stored is
refused rather than read as a deletion (a cleared field is more often a slip
than a decision; deleting stays with the API and the command line). Rules
are checked on the unit's own period (with the previous period's stored
values for ``prev(x)`` and the children's for ``children(x)``); a rule
that the submission does not touch (none of its elements changed) is shown
but neither refuses nor asks for a reason. The outlier screen is not run on
the form: it needs the series, and its findings appear on the review page.
"""

from __future__ import annotations

import io
import json
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Principal, authorize, refusal
from sitroom.country import Country, DataSetConfig, PeriodType
from sitroom.counts import parse_count
from sitroom.db import DEFAULT_LOCK_TIMEOUT, begin_write, is_db_error, is_retryable, utcnow
from sitroom.errors import BusyError, ConflictError, NotFoundError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.surveillance.approvals import ApprovalCover, ApprovalIndex
from sitroom.surveillance.bulk import BulkStatements, ConcurrentChange
from sitroom.surveillance.imports import MAX_ATTEMPTS, Importer
from sitroom.surveillance.models import DataElement, DataValue
from sitroom.surveillance.periods import ReportingCalendar, label, shift
from sitroom.surveillance.rules import Rule, check_rules_rowwise
from sitroom.surveillance.single import MAX_COMMENT_CHARS, StoredValue
from sitroom.surveillance.validation import compile_rules

log = logging.getLogger(__name__)

#: Longest reason (for a warning or a correction) a form takes.
MAX_REASON_CHARS = 1000


# The form ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryField:
    """One element of the form: what it is, its stored value and the previous period's."""

    element: str
    name: str
    unit: str
    description: str | None
    required: bool
    current: StoredValue | None
    previous: int | None

    @property
    def version(self) -> str:
        """The stored value's version tag, or "" when none is stored (the form's hidden field)."""
        return "" if self.current is None else self.current.version


@dataclass(frozen=True, slots=True)
class EntryForm:
    """What the form of ``org_unit`` for ``period`` shows (see :func:`entry_form`)."""

    org_unit: str
    org_unit_name: str
    org_unit_local: str | None
    data_set: str
    period: date
    period_type: PeriodType
    #: The period open now (today's window), by the reporting calendar.
    open_period: date
    window_start: datetime  # UTC, inclusive
    window_end: datetime  # UTC, exclusive
    deadline: datetime  # UTC: later receipts are late
    zone: str
    now: datetime
    approval: ApprovalCover | None
    fields: tuple[EntryField, ...]

    @property
    def label(self) -> str:
        return label(self.period, self.period_type)

    @property
    def previous_label(self) -> str:
        return label(shift(self.period, -1, self.period_type), self.period_type)

    @property
    def next_label(self) -> str | None:
        """The next period, unless this one is open now (nobody reports the future)."""
        if self.period >= self.open_period:
            return None
        return label(shift(self.period, 1, self.period_type), self.period_type)

    @property
    def is_open(self) -> bool:
        return self.period == self.open_period

    @property
    def is_past(self) -> bool:
        """An earlier period: changing its stored values is a correction."""
        return self.period < self.open_period

    @property
    def overdue(self) -> bool:
        """Past the deadline: values entered now are marked late."""
        return self.now > self.deadline

    @property
    def read_only(self) -> bool:
        return self.approval is not None

    @property
    def entered(self) -> bool:
        return any(f.current is not None for f in self.fields)

    def local(self, instant: datetime) -> datetime:
        """``instant`` in the country's time zone (for display)."""
        return instant.astimezone(ZoneInfo(self.zone))


@dataclass(frozen=True, slots=True)
class Submission:
    """A submitted form: the text of each field, the versions it was read at, the reasons.

    ``values`` and ``versions`` are keyed by element code (a version is ""
    where no value was stored); ``reasons`` by rule code (a warning accepted);
    ``correction`` is the reason for correcting an earlier period.
    """

    values: Mapping[str, str]
    versions: Mapping[str, str]
    reasons: Mapping[str, str] = field(default_factory=dict)
    correction: str = ""


@dataclass(frozen=True, slots=True)
class RuleCheck:
    """A validation rule that fails on the submitted values."""

    rule: str
    name: str
    severity: str
    message: str
    left: float | None
    right: float | None
    operator: str
    #: The form's elements the rule names, in the form's order.
    elements: tuple[str, ...]
    #: Whether the submission changes one of them (otherwise it is only shown).
    touched: bool
    #: The field next to which the rule is shown.
    anchor: str

    @property
    def sentence(self) -> str:
        """The rule's name and what fails: the message of a refused form."""
        return f"{self.name}: {self.message}"

    @property
    def blocking(self) -> bool:
        return self.touched and self.severity == "error"

    @property
    def needs_reason(self) -> bool:
        return self.touched and self.severity == "warning"


Status = Literal["saved", "unchanged", "invalid", "conflict", "approved"]


@dataclass(frozen=True, slots=True)
class EntryResult:
    """What a submission came to, with the form to show again.

    ``status``: ``saved`` (written), ``unchanged`` (nothing to write),
    ``invalid`` (errors, or a reason missing: nothing written), ``conflict``
    (a value changed since the form was read: nothing written), ``approved``
    (the period is approved: nothing written). ``errors`` map a form field
    (``value_<element>``, ``reason_<rule>``, ``correction``) to its message.
    """

    status: Status
    form: EntryForm
    entered: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    checks: tuple[RuleCheck, ...] = ()
    conflicts: tuple[str, ...] = ()
    written: tuple[str, ...] = ()
    corrected: tuple[str, ...] = ()
    import_id: int | None = None
    message: str = ""

    @property
    def late(self) -> bool:
        """Whether a value written now is stored as late."""
        by = {f.element: f for f in self.form.fields}
        return any((c := by[e].current) is not None and c.late for e in self.written)


def _calendar(country: Country) -> ReportingCalendar:
    return ReportingCalendar.from_config(country.reporting)


def data_set(country: Country) -> DataSetConfig:
    """The data set the form shows: the one holding the first required element."""
    required = country.reporting.required_elements or [country.roles.cases]
    return country.data_set_of(required[0])


def open_period(country: Country, now: datetime | None = None) -> date:
    """The period open at ``now`` (the clock by default): today's window."""
    period_type = data_set(country).period_type
    return _calendar(country).period_of(now or utcnow(), period_type)


def latest_closed_period(country: Country, now: datetime | None = None) -> date:
    """The last period whose window has closed: what the morning's review looks at."""
    period_type = data_set(country).period_type
    return shift(open_period(country, now), -1, period_type)


def _unit(session: Session, code: str) -> OrgUnit:
    unit = session.scalar(select(OrgUnit).where(OrgUnit.code == code))
    if unit is None:
        raise NotFoundError(f"unknown org unit {code!r}")
    return unit


def check_period(country: Country, period: date, now: datetime) -> None:
    first = country.reporting.first_period
    if first is not None and period < first:
        raise SitroomError(f"{period} is before the first period {first}")
    kind = data_set(country).period_type
    latest = shift(open_period(country, now), country.reporting.days_ahead, kind)
    if period > latest:
        raise SitroomError(
            f"{label(period, kind)} has not begun yet: the open period is"
            f" {label(open_period(country, now), kind)}"
        )


def reporting_units(
    session: Session, country: Country, principal: Principal, permission: str
) -> list[tuple[str, str, str | None]]:
    """Units a user may choose for a form or a review: their scopes and the reporting
    level's units inside them, as (code, name, local name), scopes first."""
    level = country.reporting.reporting_level
    rows = session.execute(
        select(OrgUnit.code, OrgUnit.name, OrgUnit.name_local, OrgUnit.path, OrgUnit.level).where(
            (OrgUnit.level == level) | OrgUnit.code.in_(principal.scope_codes)
        )
    ).all()
    if not principal.can(permission):
        return []
    chosen = [r for r in rows if principal.covers(r.path)]
    chosen.sort(key=lambda r: (r.level, r.code))
    return [(r.code, r.name, r.name_local) for r in chosen]


def _stored(
    session: Session, unit: OrgUnit, periods: list[date], codes: list[str], kind: PeriodType
) -> dict[tuple[str, date], StoredValue]:
    rows = session.execute(
        select(DataValue, DataElement.code)
        .join(DataElement, DataElement.id == DataValue.element_id)
        .where(
            DataValue.org_unit_id == unit.id,
            DataValue.period.in_(periods),
            DataElement.code.in_(codes),
        )
    ).all()
    out = {}
    for row, code in rows:
        out[(code, row.period)] = StoredValue(
            id=row.id,
            element=code,
            org_unit=unit.code,
            period=label(row.period, kind),
            period_type=kind,
            value=row.value,
            comment=row.comment,
            stored_by=row.stored_by,
            changed_by=row.changed_by,
            received_at=row.received_at,
            updated_at=row.updated_at,
            late=row.late,
            import_id=row.import_id,
        )
    return out


def _load_form(
    session: Session, country: Country, unit: OrgUnit, period: date, now: datetime
) -> EntryForm:
    dataset = data_set(country)
    kind = dataset.period_type
    calendar = _calendar(country)
    previous = shift(period, -1, kind)
    stored = _stored(session, unit, [period, previous], dataset.elements, kind)
    required = set(country.reporting.required_elements)
    fields = []
    for code in dataset.elements:
        config = country.element(code)
        before = stored.get((code, previous))
        fields.append(
            EntryField(
                element=code,
                name=config.name,
                unit=config.unit,
                description=config.description,
                required=code in required,
                current=stored.get((code, period)),
                previous=None if before is None else before.value,
            )
        )
    start, end = calendar.window(period, kind)
    approvals = ApprovalIndex.load(session, [period])
    return EntryForm(
        org_unit=unit.code,
        org_unit_name=unit.name,
        org_unit_local=unit.name_local,
        data_set=dataset.name,
        period=period,
        period_type=kind,
        open_period=calendar.period_of(now, kind),
        window_start=start,
        window_end=end,
        deadline=calendar.deadline(period, kind),
        zone=country.reporting.time_zone,
        now=now,
        approval=approvals.covering(unit.path, kind, period),
        fields=tuple(fields),
    )


def entry_form(
    session: Session,
    country: Country,
    *,
    org_unit: str,
    period: date | None = None,
    principal: Principal | None = None,
    now: datetime | None = None,
) -> EntryForm:
    """The form of ``org_unit`` for ``period`` (default: the period open at ``now``).

    ForbiddenError when ``principal`` may not write the unit's data;
    NotFoundError for an unknown unit; SitroomError for a period before the
    first or not begun yet.
    """
    now = now or utcnow()
    unit = _unit(session, org_unit)
    if principal is not None:
        authorize(principal, "data.write", unit.path)
    period = open_period(country, now) if period is None else period
    check_period(country, period, now)
    return _load_form(session, country, unit, period, now)


# Checking a submission -------------------------------------------------------------


def parse_entry(text: str) -> int | None:
    """A field's count: blank is None; digit groups may be separated by commas or spaces."""
    cleaned = text.strip().replace(",", "").replace(" ", "").replace("\u00a0", "")
    if not cleaned:
        return None
    return parse_count(cleaned)


def _form_rules(country: Country, elements: list[str]) -> list[Rule]:
    known = set(elements)
    return [rule for rule in compile_rules(country) if rule.elements <= known]


def check_values(
    session: Session,
    country: Country,
    form: EntryForm,
    values: Mapping[str, int],
    changed: set[str],
) -> list[RuleCheck]:
    """The rules that fail on ``values`` (the unit's values for the form's period, as they
    would be stored), with the previous period's and the children's stored values."""
    order = [f.element for f in form.fields]
    rules = _form_rules(country, order)
    if not rules:
        return []
    unit = _unit(session, form.org_unit)
    previous = shift(form.period, -1, form.period_type)
    table: dict[tuple[str, date], dict[str, int]] = {(unit.code, form.period): dict(values)}
    before = {f.element: f.previous for f in form.fields if f.previous is not None}
    if before:
        table[(unit.code, previous)] = before
    children = session.execute(
        select(OrgUnit.code, DataElement.code, DataValue.value)
        .join(DataValue, DataValue.org_unit_id == OrgUnit.id)
        .join(DataElement, DataElement.id == DataValue.element_id)
        .where(OrgUnit.parent_id == unit.id, DataValue.period == form.period)
    ).all()
    kids: dict[str, list[str]] = {unit.code: []}
    for child, element, value in children:
        if child not in kids[unit.code]:
            kids[unit.code].append(child)
        table.setdefault((child, form.period), {})[element] = value
    findings = check_rules_rowwise(rules, table, kids, [form.period])
    by_code = {rule.code: rule for rule in rules}
    checks = []
    for finding in findings:
        if finding.org_unit != unit.code:
            continue
        named = tuple(e for e in order if e in by_code[finding.rule].elements)
        touched = [e for e in named if e in changed]
        checks.append(
            RuleCheck(
                rule=finding.rule,
                name=finding.name,
                severity=finding.severity,
                message=finding.message,
                left=finding.left,
                right=finding.right,
                operator=finding.operator,
                elements=named,
                touched=bool(touched),
                anchor=(touched or list(named) or order)[0],
            )
        )
    # Errors first: what refuses the form is read before what asks for a reason.
    checks.sort(key=lambda c: c.severity != "error")
    return checks


def _reason(text: str) -> str:
    return " ".join(text.split())


@dataclass(slots=True)
class _Checked:
    """A submission read against the stored form: what it writes and what is wrong."""

    entered: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    new: dict[str, int] = field(default_factory=dict)  # element -> value to write
    checks: list[RuleCheck] = field(default_factory=list)
    corrected: list[str] = field(default_factory=list)
    comments: dict[str, str] = field(default_factory=dict)


def _read(session: Session, country: Country, form: EntryForm, sub: Submission) -> _Checked:
    entered = {f.element: sub.values.get(f.element, "") for f in form.fields}
    out = _Checked(entered)
    merged: dict[str, int] = {}
    for f in form.fields:
        name = f"value_{f.element}"
        try:
            value = parse_entry(entered[f.element])
        except ValueError as exc:
            out.errors[name] = f"{f.name}: {exc}."
            continue
        stored = None if f.current is None else f.current.value
        if value is None:
            if stored is not None:
                out.errors[name] = (
                    f"{f.name}: {stored:,} is stored; a blank field would remove it."
                    " Enter the number (0 if there were none)."
                )
            elif f.required:
                out.errors[name] = f"{f.name} is required: enter the number (0 if there were none)."
            continue
        merged[f.element] = value
        if value != stored:
            out.new[f.element] = value
            if stored is not None and form.is_past:
                out.corrected.append(f.element)
    if out.errors:
        return out
    # Values left blank and not stored stay absent: rules naming them are not checked.
    out.checks = check_values(session, country, form, merged, set(out.new))
    reasons: dict[str, list[str]] = {}
    for check in out.checks:
        if check.blocking:
            out.errors.setdefault(f"value_{check.anchor}", check.sentence)
        elif check.needs_reason:
            reason = _reason(sub.reasons.get(check.rule, ""))
            name = f"reason_{check.rule}"
            if not reason:
                out.errors[name] = (
                    "This warning needs a reason to be accepted: say why the figures are right."
                )
            elif len(reason) > MAX_REASON_CHARS:
                out.errors[name] = f"The reason is longer than {MAX_REASON_CHARS} characters."
            else:
                for element in check.elements:
                    if element in out.new:
                        reasons.setdefault(element, []).append(reason)
    if out.corrected:
        reason = _reason(sub.correction)
        if not reason:
            out.errors["correction"] = (
                f"Changing values of an earlier period ({form.label}) is a correction:"
                " give its reason."
            )
        elif len(reason) > MAX_REASON_CHARS:
            out.errors["correction"] = f"The reason is longer than {MAX_REASON_CHARS} characters."
        else:
            for element in out.corrected:
                reasons.setdefault(element, []).insert(0, reason)
    for element, given in reasons.items():
        unique = list(dict.fromkeys(given))
        out.comments[element] = "; ".join(unique)[:MAX_COMMENT_CHARS]
    return out


# Writing ------------------------------------------------------------------------------


def submit(
    session: Session,
    country: Country,
    *,
    org_unit: str,
    period: date,
    submission: Submission,
    user: str,
    principal: Principal | None = None,
    client: str | None = None,
    now: datetime | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> EntryResult:
    """Check ``submission`` and write what it changes, or nothing. Commits when it writes.

    Under the period's lock (as every import takes it): the stored values
    and the approval are read again, the versions compared, the rules
    checked, and the changed values written through the importer with
    channel ``web`` and ``client``, checked against ``principal``'s scope.
    Refusals are results, not exceptions (see :class:`EntryResult`), but for
    ForbiddenError (the unit is outside the scope), NotFoundError and
    SitroomError (a bad period), and BusyError after repeated conflicts.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return _submit_once(
                session,
                country,
                org_unit=org_unit,
                period=period,
                submission=submission,
                user=user,
                principal=principal,
                client=client,
                now=now or utcnow(),
                lock_timeout=lock_timeout,
            )
        except ConcurrentChange as exc:  # not expected under the lock; kept as the importer does
            session.rollback()
            reason = str(exc)
        except Exception as exc:
            session.rollback()
            if not (is_db_error(exc) and is_retryable(exc)):
                raise
            reason = type(exc).__name__
        log.warning("form of %s %s conflicted (%s); attempt %d", org_unit, period, reason, attempt)
        time.sleep(random.uniform(0.05, 0.25) * attempt)
    raise BusyError(
        "the form conflicted with concurrent changes too often: nothing was written;"
        " send it again in a moment"
    )


def _submit_once(
    session: Session,
    country: Country,
    *,
    org_unit: str,
    period: date,
    submission: Submission,
    user: str,
    principal: Principal | None,
    client: str | None,
    now: datetime,
    lock_timeout: float,
) -> EntryResult:
    begin_write(session, lock_timeout)
    unit = _unit(session, org_unit)
    if principal is not None:
        authorize(principal, "data.write", unit.path)
    check_period(country, period, now)
    BulkStatements(session.connection()).lock_periods([period])
    form = _load_form(session, country, unit, period, now)
    entered = {f.element: submission.values.get(f.element, "") for f in form.fields}
    if form.approval is not None:
        session.rollback()
        return EntryResult(
            "approved",
            form,
            entered,
            message=(
                f"{form.label} of {form.approval.org_unit} was approved by"
                f" {form.approval.approved_by}: its values cannot change. Nothing was written."
            ),
        )
    conflicts = tuple(
        f.element for f in form.fields if submission.versions.get(f.element, "") != f.version
    )
    if conflicts:
        session.rollback()
        names = ", ".join(f.name for f in form.fields if f.element in conflicts)
        return EntryResult(
            "conflict",
            form,
            entered,
            conflicts=conflicts,
            message=(
                f"Someone changed these values since you opened the form: {names}."
                " Nothing was written. Their values now are shown beside each field; check"
                " yours against them and send the form again."
            ),
        )
    checked = _read(session, country, form, submission)
    if checked.errors:
        session.rollback()
        return EntryResult(
            "invalid",
            form,
            entered,
            errors=checked.errors,
            checks=tuple(checked.checks),
            corrected=tuple(checked.corrected),
            message="Nothing was written: correct what is marked and send the form again.",
        )
    if not checked.new:
        session.rollback()
        return EntryResult(
            "unchanged",
            form,
            entered,
            checks=tuple(checked.checks),
            message="Nothing changed: the values sent are the ones stored.",
        )
    items = []
    for element, value in checked.new.items():
        item = {
            "dataElement": element,
            "orgUnit": unit.code,
            "period": form.label,
            "value": str(value),
        }
        if element in checked.comments:
            item["comment"] = checked.comments[element]
        items.append(item)
    body = json.dumps({"dataValues": items}, ensure_ascii=False).encode()
    scope = None
    if principal is not None:
        who = principal
        scope = lambda ref: refusal(who, "data.write", ref.path)  # noqa: E731
    importer = Importer(
        session,
        country,
        user=user,
        lock_timeout=lock_timeout,
        authorize_unit=scope,
        channel="web",
        client=client,
        now=now,
    )
    shown = f"web form {unit.code} {form.label} from {client or 'unknown'}"
    summary = importer.apply(io.BytesIO(body), name=shown, fmt="dhis2-json")
    if not summary.ok:
        session.rollback()
        reasons = "; ".join(r.reason for r in summary.rejections) or "refused"
        raise ConflictError(f"{unit.code} {form.label}: {reasons}")
    session.commit()
    fresh = _load_form(session, country, unit, period, now)
    written = tuple(checked.new)
    result = EntryResult(
        "saved",
        fresh,
        {f.element: "" if f.current is None else str(f.current.value) for f in fresh.fields},
        checks=tuple(checked.checks),
        written=written,
        corrected=tuple(checked.corrected),
        import_id=summary.import_id,
    )
    what = f"{len(written)} value{'' if len(written) == 1 else 's'}"
    late = " They are marked late: the deadline had passed." if result.late else ""
    fixed = " The correction and its reason are in the audit trail." if checked.corrected else ""
    return replace(result, message=f"Saved {what}.{late}{fixed}")


__all__ = [
    "EntryField",
    "EntryForm",
    "EntryResult",
    "RuleCheck",
    "Submission",
    "check_period",
    "check_values",
    "data_set",
    "entry_form",
    "latest_closed_period",
    "open_period",
    "parse_entry",
    "reporting_units",
    "submit",
]
