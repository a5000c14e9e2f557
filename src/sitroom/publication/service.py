"""Publishing editions and reading them back: the one write path of ``edition``.

:func:`publish` is called by the command line (``sitroom sitrep publish``),
the API (``POST /api/v1/editions``), the reports page and the schedule, each
with its channel. It refuses nothing about who acts: the callers check
``report.publish`` over the country first.

Publishing unchanged data makes no new edition: when the period's latest
edition was built from the same values (the same :func:`values_digest`),
:func:`publish` returns that edition with ``new=False`` and stores nothing,
unless ``force`` asks for a new edition anyway (the command line's
``--force``, after a change of template, say); a forced edition records "no
data changed".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from sitroom.db import advisory_lock, begin_write, utcnow
from sitroom.errors import ConflictError, NotFoundError, SitroomError
from sitroom.publication import changes as changes_of
from sitroom.publication.models import FILE_FORMATS, Edition, EditionFile
from sitroom.publication.values import values_digest

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from sitroom.context import AppContext
    from sitroom.country import Country

#: The PostgreSQL advisory lock space of publications (one key per period).
LOCK_SPACE_PUBLICATION = 0x5171
#: How many times the report is built again when the values change while it is built.
BUILD_ATTEMPTS = 3
#: The content type of each stored format.
CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "md": "text/markdown; charset=utf-8",
    "json": "application/json",
}


@dataclass(frozen=True, slots=True)
class FileInfo:
    format: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class EditionRecord:
    """An edition as listings show it (its files' sizes, not their bytes)."""

    period: date
    period_label: str
    number: int
    values_sha256: str
    built_at: datetime
    built_by: str
    channel: str
    summary: str
    changes: list[changes_of.Change]
    files: list[FileInfo] = field(default_factory=list)

    def file_name(self, fmt: str) -> str:
        """The download's name: ``sitrep-2022-05-20-edition-2.pdf``."""
        return f"sitrep-{self.period_label}-edition-{self.number}.{fmt}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period_label,
            "number": self.number,
            "values_sha256": self.values_sha256,
            "built_at": self.built_at.isoformat(),
            "built_by": self.built_by,
            "channel": self.channel,
            "summary": self.summary,
            "changes": [c.to_dict() for c in self.changes],
            "files": [
                {
                    "format": f.format,
                    "content_type": f.content_type,
                    "size": f.size,
                    "sha256": f.sha256,
                }
                for f in self.files
            ],
        }


@dataclass(frozen=True, slots=True)
class Published:
    """What :func:`publish` came to: the edition, and whether it is new."""

    edition: EditionRecord
    new: bool


@dataclass(frozen=True, slots=True)
class StoredFile:
    """One file of an edition, with its bytes."""

    name: str
    content_type: str
    content: bytes
    sha256: str


def resolve_period(
    session: Session, country: Country, period: str | None
) -> tuple[date, date, str]:
    """The report's period (its first and last day, its label) for ``period`` as written.

    The latest period with national figures when None, as ``sitroom sitrep``.
    """
    from sitroom.places.models import OrgUnit
    from sitroom.surveillance.bulletin import latest_bulletin_period
    from sitroom.surveillance.models import DataElement, DataValue
    from sitroom.surveillance.periods import label, last_day, period_bounds, start_of
    from sitroom.surveillance.service import period_types

    day = period_bounds(period) if period else latest_bulletin_period(session, country)
    period_type = period_types(session).get(country.roles.cases, "daily")
    start = start_of(day, period_type)
    shown = label(start, period_type)
    national = session.scalar(
        select(DataValue.id)
        .join(OrgUnit, OrgUnit.id == DataValue.org_unit_id)
        .join(DataElement, DataElement.id == DataValue.element_id)
        .where(
            OrgUnit.code == country.country.code,
            DataElement.code == country.roles.cases,
            DataValue.period == start,
        )
        .limit(1)
    )
    if national is None:
        raise NotFoundError(f"no national figures for the period {shown}: nothing to publish")
    return start, last_day(start, period_type), shown


def _files_of(session: Session, ids: list[int]) -> dict[int, list[FileInfo]]:
    """The files' descriptions of the editions ``ids``, in one query (not their contents)."""
    found: dict[int, list[FileInfo]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = session.execute(
        select(
            EditionFile.edition_id,
            EditionFile.format,
            EditionFile.content_type,
            EditionFile.size,
            EditionFile.sha256,
        ).where(EditionFile.edition_id.in_(ids))
    )
    for edition_id, fmt, content_type, size, sha256 in rows:
        found[edition_id].append(FileInfo(fmt, content_type, size, sha256))
    return found


def _record(
    session: Session, edition: Edition, files: list[FileInfo] | None = None
) -> EditionRecord:
    if files is None:
        files = _files_of(session, [edition.id])[edition.id]
    order = {f: i for i, f in enumerate(FILE_FORMATS)}
    return EditionRecord(
        period=edition.period,
        period_label=edition.period_label,
        number=edition.number,
        values_sha256=edition.values_sha256,
        built_at=edition.built_at,
        built_by=edition.built_by,
        channel=edition.channel,
        summary=edition.summary,
        changes=[changes_of.Change(**c) for c in json.loads(edition.changes)],
        files=sorted(files, key=lambda f: order.get(f.format, 99)),
    )


def _latest(session: Session, period: date) -> Edition | None:
    return session.scalars(
        select(Edition).where(Edition.period == period).order_by(Edition.number.desc()).limit(1)
    ).first()


def _build(
    context: AppContext, label: str, last: date, digest: str
) -> tuple[Any, dict[str, bytes], str]:
    """The report, its files and the digest of the values it was built from.

    The digest is read before and after the build: when the values changed
    meanwhile (an import), the report is built again, so that the stored
    digest is the one of the values in the files.
    """
    from sitroom.sitrep.build import build_report
    from sitroom.sitrep.charts import warm_up
    from sitroom.sitrep.render import render_all

    warm_up()
    for _ in range(BUILD_ATTEMPTS):
        report = build_report(context, label)
        files = render_all(report, FILE_FORMATS)
        with context.session() as session:
            after = values_digest(session, context.country, last)
        if after == digest:
            return report, files, digest
        digest = after
    raise ConflictError(
        f"the values of {label} kept changing while its report was built: nothing was"
        " published; try again when the imports are done"
    )


def publish(
    context: AppContext,
    period: str | None = None,
    *,
    user: str,
    channel: str,
    force: bool = False,
) -> Published:
    """Build the report of ``period`` (default: the latest) and store it as a new edition.

    Returns the period's latest edition unchanged (``new=False``) when it was
    built from the same values and ``force`` is false. Raises NotFoundError
    for a period without national figures; nothing is stored on any error.
    """
    from sitroom.users.service import ensure_user

    country = context.country
    with context.session() as session:
        start, last, label = resolve_period(session, country, period)
        digest = values_digest(session, country, last)
        latest = _latest(session, start)
        if latest is not None and latest.values_sha256 == digest and not force:
            return Published(_record(session, latest), new=False)
    report, files, digest = _build(context, label, last, digest)
    if report.period != start:  # pragma: no cover - resolve_period mirrors the bulletin
        raise SitroomError(f"the report was built for {report.period_label}, not {label}")
    after = changes_of.figures(report)
    with context.session(write=True) as session:
        begin_write(session, context.settings.lock_timeout)
        advisory_lock(session, LOCK_SPACE_PUBLICATION, start.toordinal())
        latest = _latest(session, start)
        same = latest is not None and latest.values_sha256 == digest
        if same and not force:
            # Another publisher stored these values while this one built: theirs stands.
            assert latest is not None
            return Published(_record(session, latest), new=False)
        if latest is None:
            found: list[changes_of.Change] = []
        else:
            found = [] if same else changes_of.what_changed(json.loads(latest.figures), after)
        ensure_user(session, user)
        edition = Edition(
            period=start,
            period_label=label,
            number=(latest.number if latest else 0) + 1,
            values_sha256=digest,
            built_at=utcnow(),
            built_by=user,
            channel=channel,
            summary=changes_of.summary(found, first=latest is None, same_values=same),
            changes=json.dumps([c.to_dict() for c in found], ensure_ascii=False),
            figures=json.dumps(after, ensure_ascii=False),
        )
        session.add(edition)
        session.flush()
        for fmt, content in files.items():
            session.add(
                EditionFile(
                    edition_id=edition.id,
                    format=fmt,
                    content_type=CONTENT_TYPES[fmt],
                    size=len(content),
                    sha256=hashlib.sha256(content).hexdigest(),
                    content=content,
                )
            )
        session.flush()
        record = _record(session, edition)
        session.commit()
    return Published(record, new=True)


def list_editions(session: Session, period: str | None = None) -> list[EditionRecord]:
    """Every edition, newest period first and the latest edition of each first; or a period's."""
    query = select(Edition).order_by(Edition.period.desc(), Edition.number.desc())
    if period:
        from sitroom.surveillance.periods import period_bounds

        query = query.where(Edition.period == period_bounds(period))
    editions = list(session.scalars(query))
    files = _files_of(session, [e.id for e in editions])
    return [_record(session, e, files[e.id]) for e in editions]


def _find(session: Session, period: str | None, number: int | None) -> Edition:
    from sitroom.surveillance.periods import period_bounds

    query = select(Edition)
    if period:
        query = query.where(Edition.period == period_bounds(period))
    if number is not None:
        query = query.where(Edition.number == number)
    found = session.scalars(
        query.order_by(Edition.period.desc(), Edition.number.desc()).limit(1)
    ).first()
    if found is None:
        what = f"edition {number}" if number is not None else "no edition"
        where = f" of {period}" if period else ""
        if number is None:
            raise NotFoundError(
                f"{what}{where} has been published: publish one with `sitroom sitrep publish`"
            )
        raise NotFoundError(f"{what}{where} does not exist: `sitroom sitrep editions` lists them")
    return found


def get_edition(session: Session, period: str | None, number: int | None = None) -> EditionRecord:
    """The edition ``number`` of ``period`` (the latest of either when None); NotFoundError."""
    return _record(session, _find(session, period, number))


def edition_file(
    session: Session, period: str | None, number: int | None, fmt: str
) -> tuple[EditionRecord, StoredFile]:
    """One stored file of an edition, with the edition; NotFoundError if there is none."""
    if fmt not in FILE_FORMATS:
        raise SitroomError(f"unknown format {fmt!r}: choose one of {', '.join(FILE_FORMATS)}")
    edition = _find(session, period, number)
    stored = session.scalars(
        select(EditionFile).where(EditionFile.edition_id == edition.id, EditionFile.format == fmt)
    ).first()
    record = _record(session, edition)
    if stored is None:  # pragma: no cover - every edition stores every format
        raise NotFoundError(f"edition {edition.number} of {edition.period_label} has no {fmt}")
    return record, StoredFile(
        record.file_name(fmt), stored.content_type, stored.content, stored.sha256
    )


def edition_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Edition)) or 0)


__all__: Sequence[str] = (
    "EditionRecord",
    "Published",
    "StoredFile",
    "edition_file",
    "get_edition",
    "list_editions",
    "publish",
    "resolve_period",
)
