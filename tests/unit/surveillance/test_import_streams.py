"""The importer reads streams once, and can write inside the caller's transaction."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from sitroom.db import begin_write, utcnow
from sitroom.errors import InputError, SitroomError
from sitroom.surveillance.imports import Importer
from sitroom.surveillance.models import DataValue, ImportRun
from sitroom.users.models import AppUser

ROWS = "org_unit,period,new_fever\n" + "".join(f"KP-01,2022-05-{d},{d}\n" for d in range(14, 20))


class ReadOnce(io.RawIOBase):
    """A stream that cannot seek and refuses to be read after its end (an HTTP body)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        assert not self.ended, "read again after its end"
        n = self._data.readinto(buffer)
        self.ended = n == 0
        return n


def reviewer() -> AppUser:
    return AppUser(username="reviewer", created_at=utcnow())


def count(session) -> int:
    return session.scalar(select(func.count()).select_from(DataValue))


def test_a_stream_is_read_once_and_named_as_the_caller_names_it(loaded, country):
    stream = ReadOnce(ROWS.encode())
    summary = Importer(loaded, country, user="api").run(stream, name="upload.csv")
    assert summary.ok, summary.rejections
    assert (summary.file, summary.created, summary.committed) == ("upload.csv", 6, True)
    assert loaded.scalar(select(ImportRun.file_name)) == "upload.csv"
    # The same content again, from another stream: recognised, nothing changes.
    again = Importer(loaded, country, user="api").run(io.BytesIO(ROWS.encode()), name="b.csv")
    assert (again.unchanged, again.previously_imported is not None) == (6, True)


def test_a_json_stream_is_detected_by_its_name_and_errors_name_it(loaded, country):
    body = (
        b'{"dataValues": [{"dataElement": "new_fever", "period": "20220515",\n "orgUnit": "KP-01"'
    )
    with pytest.raises(InputError) as caught:
        Importer(loaded, country, user="api").run(io.BytesIO(body), name="request.json")
    assert str(caught.value).startswith("request.json, line 2: not valid JSON")
    assert count(loaded) == 0


def test_apply_writes_in_the_callers_transaction(loaded, country):
    begin_write(loaded)
    summary = Importer(loaded, country, user="api").apply(io.BytesIO(ROWS.encode()), name="a.csv")
    assert summary.ok
    assert not summary.committed  # the caller's to commit
    loaded.add(reviewer())  # the caller's own write, same transaction
    loaded.rollback()
    assert count(loaded) == 0  # rolled back together
    begin_write(loaded)
    Importer(loaded, country, user="api").apply(io.BytesIO(ROWS.encode()), name="a.csv")
    loaded.commit()
    assert count(loaded) == 6


def test_a_rejected_file_leaves_nothing_in_the_callers_transaction(loaded, country):
    # Batches of two: the first batches are written before the bad line is read.
    bad = ROWS + "KP-01,2022-05-20,many\n"
    begin_write(loaded)
    importer = Importer(loaded, country, user="api", batch_size=2)
    summary = importer.apply(io.BytesIO(bad.encode()), name="bad.csv")
    assert not summary.ok
    assert summary.rejections[0].line == 8
    loaded.add(reviewer())
    loaded.commit()  # a careless caller commits anyway: the savepoint kept nothing
    assert count(loaded) == 0
    assert loaded.scalar(select(func.count()).select_from(ImportRun)) == 0
    assert loaded.scalar(select(AppUser).where(AppUser.username == "reviewer")) is not None
    dry = importer.apply(io.BytesIO(ROWS.encode()), name="dry.csv", dry_run=True)
    loaded.commit()
    assert (dry.created, count(loaded)) == (6, 0)


def test_apply_without_a_write_transaction_begun_still_leaves_the_commit_to_the_caller(
    loaded, country
):
    # The caller forgot begin_write: apply() begins it, so the savepoint is not outermost.
    loaded.commit()
    Importer(loaded, country, user="api").apply(io.BytesIO(ROWS.encode()), name="a.csv")
    loaded.rollback()
    assert count(loaded) == 0


@pytest.mark.parametrize("name", ["..", "a/..", "x\x00.csv", "n" * 300 + ".csv", "../../etc/x.csv"])
def test_hostile_stream_names_are_harmless(loaded, country, name):
    summary = Importer(loaded, country, user="api").run(io.BytesIO(ROWS.encode()), name=name)
    assert summary.ok
    assert summary.file == name
    assert "/" not in loaded.scalar(select(ImportRun.file_name).order_by(ImportRun.id.desc()))


def test_a_text_stream_is_refused_with_a_message(loaded, country):
    with pytest.raises(SitroomError, match="binary stream"):
        Importer(loaded, country, user="api").run(io.StringIO(ROWS), name="t.csv")
