"""The 退回清单: every rejected and flagged row of a validated batch, in its agency's outbox, in Chinese, masked."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import DAYS

FEED = "emb_hazard"


def test_every_rejected_and_flagged_row_of_the_batch_is_returned_to_its_agency(hub, simulator):
    import sqlalchemy as sa

    from safety_hub.config.registry import get_feed
    from safety_hub.pipeline import run_feed, run_returns
    from safety_hub.reporting.returns import FIXED, OUTCOME, outbox_dir
    from safety_hub.warehouse.engine import get_engine

    day = DAYS[0]
    batch = f"manual__{FEED}__{day.isoformat()}"
    run_feed(FEED, day, batch)
    result = run_returns(FEED, day, batch)
    feed = get_feed(FEED)
    assert result["path"] and result["agency"] == feed.agency
    path = outbox_dir(feed.agency) / f"退回清单_{FEED}_{day.isoformat()}_{batch}.xlsx"
    assert str(path) == result["path"] and path.is_file()

    with get_engine().connect() as conn:
        quarantine = pd.DataFrame(conn.execute(sa.text(
            "SELECT row_number, record_key, rule_id FROM quarantine WHERE feed_id = :f AND batch_id = :b"), {"f": FEED, "b": batch}).mappings().all())
        flags = pd.DataFrame(conn.execute(sa.text(
            "SELECT row_number, record_key, rule_id FROM quality_flag WHERE feed_id = :f AND batch_id = :b"), {"f": FEED, "b": batch}).mappings().all())
    listed = pd.read_excel(path, sheet_name="退回清单", dtype=str)
    assert list(listed.columns[: len(FIXED)]) == FIXED
    assert [c.source for c in feed.columns] == list(listed.columns[len(FIXED): len(FIXED) + len(feed.columns)]), "the agency's own headers"
    got = set(zip(listed["原始行号"].astype(int), listed["规则编号"], listed["处理结果"]))
    want = ({(int(r.row_number), r.rule_id, OUTCOME["quarantine"]) for r in quarantine.itertuples()}
            | {(int(r.row_number), r.rule_id, OUTCOME["quality_flag"]) for r in flags.itertuples()})
    assert len(quarantine) > 0 and got == want and len(listed) == len(want), "every (row, rule) of the batch, nothing else"
    assert result["rejected"] == quarantine["row_number"].nunique()
    assert result["flagged"] == (flags["row_number"].nunique() if len(flags) else 0)
    assert listed["修改方法"].notna().all() and listed["问题说明"].notna().all()
    uscc = listed[listed["规则编号"] == "uscc.valid_uscc"]
    assert len(uscc) and (uscc["需修改字段"] == "统一社会信用代码（tyshxydm）").all()
    # The simulator's injected defects of the day are all in it, by key and rule.
    truth = simulator[day]["feeds"][FEED]["defects"]
    expected = {(d["key"], d["expected_rule"]) for d in truth if d["expected_rule"] and "origin_day" not in d}
    assert expected <= set(zip(listed["业务主键"], listed["规则编号"]))
    # Personal fields are masked: the agency finds the row by number and key in its own file.
    owner = next(c.source for c in feed.columns if c.personal)
    shown = listed[owner].dropna()
    assert len(shown) and shown.str.contains("＊").all()
    about = pd.read_excel(path, sheet_name="说明", header=None)
    assert dict(zip(about[0], about[1]))["业务日期"] == day.isoformat()


def test_a_batch_that_was_not_validated_is_refused_in_one_line(hub):
    from safety_hub.domain.errors import FeedError
    from safety_hub.pipeline import run_returns

    with pytest.raises(FeedError, match="no validation of batch nope staged"):
        run_returns(FEED, DAYS[0], "nope")


def test_the_cli_writes_the_list_again_and_refuses_an_unknown_batch(hub, simulator, capsys):
    from safety_hub.cli import main
    from safety_hub.pipeline import run_feed

    day = DAYS[1]
    batch = f"manual__{FEED}__{day.isoformat()}"
    run_feed(FEED, day, batch)
    assert main(["returns", "--feed", FEED, "--date", day.isoformat(), "--batch", batch]) == 0
    out = capsys.readouterr().out
    assert out.startswith("wrote ") and "退回清单_emb_hazard_" in out and " rejected and " in out
    assert main(["returns", "--feed", FEED, "--date", day.isoformat(), "--batch", "other"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no validation of batch other staged" in err and len(err.strip().splitlines()) == 1
