"""Domain functions behind the new feeds' derived columns: 事故等级 (DOMAIN.md §4,
国务院令第493号 Article 3) and railway mileage (K123+456, data dictionary 9)."""

from __future__ import annotations

import math

import pytest

from safety_hub.domain.codes import accident_grade, railway_km

# --- accident grade: every band edge on every criterion -------------------------------
# "以上" includes the bound, "以下" excludes it; direct loss in 万元 (1亿 = 10000万元).


@pytest.mark.parametrize(
    ("deaths", "expected"),
    [(0, "一般"), (2, "一般"), (3, "较大"), (9, "较大"), (10, "重大"), (29, "重大"), (30, "特别重大"), (31, "特别重大")],
)
def test_grade_by_deaths(deaths, expected):
    assert accident_grade(deaths, 0, 0) == expected


@pytest.mark.parametrize(
    ("injuries", "expected"),
    [(0, "一般"), (9, "一般"), (10, "较大"), (49, "较大"), (50, "重大"), (99, "重大"), (100, "特别重大"), (250, "特别重大")],
)
def test_grade_by_serious_injuries(injuries, expected):
    assert accident_grade(0, injuries, 0) == expected


@pytest.mark.parametrize(
    ("loss_wan", "expected"),
    [
        (0, "一般"),
        (999.99, "一般"),
        (1000, "较大"),
        (1000.0, "较大"),
        (4999.99, "较大"),
        (5000, "重大"),
        (9999.99, "重大"),
        (10000, "特别重大"),
        (25000.5, "特别重大"),
    ],
)
def test_grade_by_direct_loss(loss_wan, expected):
    assert accident_grade(0, 0, loss_wan) == expected


@pytest.mark.parametrize(
    ("deaths", "injuries", "loss_wan", "expected"),
    [
        (1, 2, 5000, "重大"),         # loss decides: casualties alone would be 一般
        (2, 9, 9999.99, "重大"),      # loss decides, just below 1亿
        (0, 0, 10000, "特别重大"),    # loss alone reaches the top band
        (2, 9, 999.99, "一般"),       # every criterion just below 较大
        (3, 0, 10, "较大"),           # deaths decide
        (0, 50, 100, "重大"),         # injuries decide
        (9, 49, 4999.99, "较大"),     # every criterion at the top of 较大
        (29, 99, 9999.99, "重大"),    # every criterion at the top of 重大
        (10, 10, 1000, "重大"),       # the highest criterion wins, not the majority
        (2, 100, 0, "特别重大"),
    ],
)
def test_grade_takes_the_highest_criterion(deaths, injuries, loss_wan, expected):
    assert accident_grade(deaths, injuries, loss_wan) == expected


def test_grade_accepts_numpy_and_decimal_values():
    from decimal import Decimal

    import numpy as np

    assert accident_grade(np.int64(3), np.int64(0), np.float64(0.0)) == "较大"
    assert accident_grade(0, 0, Decimal("5000.00")) == "重大"


# --- railway mileage -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "km"),
    [
        ("K123+456", 123.456),
        ("K0+800", 0.8),
        ("K0+008", 0.008),
        ("K1+000", 1.0),
        ("k12+345", 12.345),
        ("Ｋ１２３＋４５６", 123.456),  # full-width (C1)
        (" K 123 + 456 ", 123.456),
        ("DK45+120", 45.12),          # design mileage of a new line
        ("K123+456.5", 123.4565),
    ],
)
def test_railway_km_parses(text, km):
    assert math.isclose(railway_km(text), km, abs_tol=1e-9)


@pytest.mark.parametrize("text", [None, float("nan"), "", "123+456", "K123", "K123+", "K123-456", "+456", "K12+1000", "公里123"])
def test_railway_km_rejects(text):
    assert railway_km(text) is None


def test_railway_km_orders_like_the_track():
    assert railway_km("K99+999") < railway_km("K100+000") < railway_km("K100+001")
