"""Progress flags of the two lists (DOMAIN.md §8): 绿 done or on track, 黄 open with fewer
than N days left (or no deadline to judge by), 红 overdue.

N is ``supervised.yellow_days_left`` in include/risk.yaml, the setting that also
flags the listed hazards of ``mart_supervised_hazard``, so the workbook's lists and
the mart agree (the owner's definition is not fixed: DOMAIN.md marks it [K]).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

FLAGS = ("红", "黄", "绿")


def warn_days() -> int:
    """N: fewer days than this left to a deadline makes an open item 黄."""
    from safety_hub.config.risk import load_risk_config

    return load_risk_config().supervised.yellow_days_left


def _flag(done: bool, due: dt.date | None, as_of: dt.date, warn: int) -> str:
    if done:
        return "绿"
    if due is None or pd.isna(due):  # no deadline given (a frame's empty date is NaT)
        return "黄"
    if due < as_of:
        return "红"
    return "黄" if (due - as_of).days < warn else "绿"


def hazard_progress(closed: bool, deadline: dt.date | None, as_of: dt.date, warn: int) -> str:
    """A hazard on ``as_of``: 绿 closed or more than ``warn`` days to its deadline, 黄 fewer, 红 past it and open."""
    return _flag(bool(closed), deadline, as_of, warn)


def measure_progress(completed: bool, planned: dt.date | None, as_of: dt.date, warn: int) -> str:
    """A rules-and-measures item on ``as_of``: as for hazards, against its planned completion date."""
    return _flag(bool(completed), planned, as_of, warn)
