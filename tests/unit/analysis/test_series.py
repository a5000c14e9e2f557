from datetime import date

import numpy as np
import pytest

from sitroom.analysis.series import Series
from sitroom.errors import SitroomError

S = Series("x", date(2022, 5, 10), np.array([1.0, np.nan, 3.0, 4.0]))


def test_spanning_pads_and_cuts():
    wider = S.spanning(date(2022, 5, 8), date(2022, 5, 14))
    np.testing.assert_array_equal(wider.values, [np.nan, np.nan, 1, np.nan, 3, 4, np.nan])
    narrower = S.spanning(date(2022, 5, 11), date(2022, 5, 12))
    np.testing.assert_array_equal(narrower.values, [np.nan, 3])
    assert narrower.start == date(2022, 5, 11)
    assert np.isnan(S.spanning(date(2022, 6, 1), date(2022, 6, 2)).values).all()


def test_filling_gaps():
    np.testing.assert_array_equal(S.filled("zero").values, [1, 0, 3, 4])
    np.testing.assert_array_equal(S.filled("linear").values, [1, 2, 3, 4])
    with pytest.raises(SitroomError, match="no value in 1 day: 2022-05-11;"):
        S.filled("none")
