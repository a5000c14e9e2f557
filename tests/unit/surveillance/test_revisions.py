from datetime import UTC, date, datetime

import numpy as np

from sitroom.surveillance.imports import Importer
from sitroom.surveillance.periods import ReportingCalendar
from sitroom.surveillance.revisions import reporting_triangle


def test_triangle_follows_receipt_and_corrections(loaded, country, tmp_path):
    calendar = ReportingCalendar.from_config(country.reporting)
    first = tmp_path / "first.csv"
    first.write_text("org_unit,period,new_fever\nKP-01,2022-05-10,100\nKP-01,2022-05-11,80\n")
    fix = tmp_path / "fix.csv"
    fix.write_text("org_unit,period,new_fever\nKP-01,2022-05-10,130\n")
    # On time (05-10 18:00 KST = 09:00 UTC; deadline 15:00 UTC), then corrected 47 hours late.
    Importer(loaded, country, user="x", now=datetime(2022, 5, 10, 12, tzinfo=UTC)).run(first)
    Importer(loaded, country, user="x", now=datetime(2022, 5, 12, 14, tzinfo=UTC)).run(fix)
    tri = reporting_triangle(
        loaded, calendar, "KP-01", "new_fever", max_delay=3, as_of=date(2022, 5, 13)
    )
    assert tri.periods[0] == date(2022, 5, 10)
    np.testing.assert_array_equal(tri.counts[0], [100, 0, 30, 0])
    # 05-11's value arrived a day before its period closed: delay 0; later cells are unknown.
    np.testing.assert_array_equal(tri.counts[1][:3], [80, 0, 0])
    assert np.isnan(tri.counts[1][3])
    assert np.isnan(tri.counts[3][1:]).all()
