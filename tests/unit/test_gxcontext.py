"""Every GX context has our custom expectations registered (issue 16: `replay` of a day without
a landed partition rebuilt the Data Docs in a process that had never imported them and failed
with thousands of lines of ExpectationNotFoundError, dropping the USCC and district checks).

Each step runs in its own Python process, as the CLI does: this pytest process has long imported
``safety_hub.quality.expectations``, which would hide the defect.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

DAY = dt.date(2026, 11, 2)

STORE = f"""
import datetime as dt, json
import pandas as pd
from safety_hub.landing import apply_aliases
from safety_hub.quality.docs import store_result
from safety_hub.quality.validate import check_batch
from safety_hub.registry import get_feed
from safety_hub_dev.simulator.generate import generate_day

day = dt.date.fromisoformat("{DAY.isoformat()}")
feed = get_feed("emb_hazard")
data = generate_day(day)
frame = apply_aliases(feed, pd.DataFrame.from_records(json.loads(json.dumps(data.records["emb_hazard"], ensure_ascii=False))))
check = check_batch(feed, frame, day)
store_result("emb_hazard", check.suite, check.gx_result, "test-batch", day)
"""

BUILD = """
import sys
from safety_hub.quality.docs import build_docs
assert "safety_hub.quality.expectations" not in sys.modules
print(build_docs())
"""


def _python(code: str, home) -> subprocess.CompletedProcess:
    env = {**os.environ, "SAFETY_HUB_HOME": str(home), "SAFETY_HUB_LOG": "WARNING"}
    env.pop("SAFETY_HUB_WAREHOUSE_URL", None)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)


def test_docs_build_in_a_fresh_process_knows_our_expectations(tmp_path):
    stored = _python(STORE, tmp_path)
    assert stored.returncode == 0, stored.stderr[-3000:]
    suite_file = tmp_path / "data" / "gx" / "expectations" / "emb_hazard_suite.json"
    custom = {"expect_column_values_to_be_valid_uscc", "expect_column_values_to_be_known_district"}
    assert custom <= {e["type"] for e in json.loads(suite_file.read_text(encoding="utf-8"))["expectations"]}

    built = _python(BUILD, tmp_path)
    assert built.returncode == 0, built.stderr[-3000:]
    assert "not found" not in built.stderr and "Traceback" not in built.stderr, built.stderr[-3000:]
    # the stored suite keeps its custom expectations, and the validation page renders them
    assert custom <= {e["type"] for e in json.loads(suite_file.read_text(encoding="utf-8"))["expectations"]}
    pages = list((tmp_path / "reports" / "data_docs" / "validations").rglob("*.html"))
    assert len(pages) == 1
    text = pages[0].read_text(encoding="utf-8")
    assert "valid_uscc" in text and "known_district" in text
