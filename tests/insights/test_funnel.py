"""Funnel metrics against numbers worked out by hand from a small stage-change history."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from crm.insights.analytics.funnel import FunnelReport, StageInfo, funnel_metrics, stage_table

STAGES = [
    StageInfo("lead", 1, probability=10),
    StageInfo("qualified", 2, probability=30),
    StageInfo("proposal", 3, probability=60),
    StageInfo("won", 4, is_won=True, probability=100),
    StageInfo("lost", 5, is_lost=True, probability=0),
]

# opportunity_id, from_stage, to_stage, at (UTC), amount
CHANGES = [
    # A: the whole way, won after 17 days
    (1, None, "lead", "2024-01-01T00:00Z", 100.0),
    (1, "lead", "qualified", "2024-01-03T00:00Z", 100.0),
    (1, "qualified", "proposal", "2024-01-08T00:00Z", 120.0),
    (1, "proposal", "won", "2024-01-18T00:00Z", 150.0),
    # B: lost straight from lead
    (2, None, "lead", "2024-01-10T00:00Z", 200.0),
    (2, "lead", "lost", "2024-01-12T00:00Z", 200.0),
    # C: skips qualified, still open in proposal
    (3, None, "lead", "2024-01-20T00:00Z", 300.0),
    (3, "lead", "proposal", "2024-01-25T00:00Z", 300.0),
    # D: created in qualified late on 31 January UTC (1 February in Shanghai), lost
    (4, None, "qualified", "2024-01-31T20:00Z", 400.0),
    (4, "qualified", "lost", "2024-02-10T20:00Z", 400.0),
    # E: open in lead
    (5, None, "lead", "2024-02-05T00:00Z", 500.0),
    # F: qualified, back to lead, qualified again; open
    (6, None, "lead", "2024-02-01T00:00Z", 50.0),
    (6, "lead", "qualified", "2024-02-02T00:00Z", 60.0),
    (6, "qualified", "lead", "2024-02-04T00:00Z", 60.0),
    (6, "lead", "qualified", "2024-02-06T00:00Z", 70.0),
    # a stage that is not in this pipeline: ignored
    (7, None, "archived", "2024-02-01T00:00Z", 10.0),
]
COLUMNS = ["opportunity_id", "from_stage", "to_stage", "at", "amount"]


def _changes(rows: Sequence[tuple[object, ...]] = CHANGES) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


@pytest.fixture(scope="module")
def report() -> FunnelReport:
    return funnel_metrics(_changes(), STAGES, as_of="2024-02-15T00:00Z")


def test_stage_table_orders_and_ranks_stages() -> None:
    shuffled = [STAGES[3], STAGES[0], STAGES[4], STAGES[2], STAGES[1]]
    table = stage_table(shuffled)
    assert list(table.index) == ["lead", "qualified", "proposal", "won", "lost"]
    assert list(table["open_rank"]) == [0, 1, 2, -1, -1]
    frame = pd.DataFrame(
        {"stage": ["b", "a"], "order": [2, 1], "is_won": [True, False], "is_lost": [False, False]}
    )
    assert list(stage_table(frame).index) == ["a", "b"]


def test_headline_numbers(report: FunnelReport) -> None:
    # deals A..F; won A; lost B, D; open C, E, F
    assert (report.deals, report.won, report.lost, report.open_deals) == (6, 1, 2, 3)
    assert report.win_rate == pytest.approx(1 / 3)
    assert report.avg_won_amount == pytest.approx(150.0)
    assert report.avg_cycle_days == pytest.approx(17.0)  # 1 Jan -> 18 Jan
    # 3 open x 1/3 x 150 / 17 days
    assert report.sales_velocity == pytest.approx(150.0 / 17.0)
    assert report.notes == ("1 changes to unknown stages ignored",)


def test_reach_exit_and_conversions(report: FunnelReport) -> None:
    st = report.stages
    # lead: reached by all six (D entered later, so it passed lead); E is still there.
    # exited A B C D F; of those A C D F reached qualified or beyond -> 4/5.
    # closed A B D, won A -> 1/3.
    lead = st.loc["lead"]
    assert (lead["reached"], lead["in_stage"], lead["exited"], lead["converted_next"]) == (
        6,
        1,
        5,
        4,
    )
    assert lead["conversion_next"] == pytest.approx(0.8)
    assert (lead["closed"], lead["won"]) == (3, 1)
    assert lead["conversion_won"] == pytest.approx(1 / 3)
    # qualified: reached A C D F; F is there; exited A C D, of which A C reached proposal+.
    q = st.loc["qualified"]
    assert (q["reached"], q["in_stage"], q["exited"], q["converted_next"]) == (4, 1, 3, 2)
    assert q["conversion_next"] == pytest.approx(2 / 3)
    assert q["conversion_won"] == pytest.approx(1 / 2)  # closed A D, won A
    # proposal: reached A C; C is there; A exited and won.
    p = st.loc["proposal"]
    assert (p["reached"], p["in_stage"], p["exited"], p["converted_next"]) == (2, 1, 1, 1)
    assert p["conversion_next"] == pytest.approx(1.0)
    assert p["conversion_won"] == pytest.approx(1.0)
    assert (st.loc["won", "reached"], st.loc["lost", "reached"]) == (1, 2)


def test_amounts_are_the_latest_entry_per_deal(report: FunnelReport) -> None:
    st = report.stages
    # lead: A 100, B 200, C 300, E 500, F 60 (its second entry) -> 1160 / 5
    assert st.loc["lead", "avg_amount"] == pytest.approx(232.0)
    assert st.loc["lead", "amount_deals"] == 5
    # qualified: A 100, D 400, F 70
    assert st.loc["qualified", "avg_amount"] == pytest.approx(190.0)
    assert st.loc["proposal", "avg_amount"] == pytest.approx(210.0)  # A 120, C 300
    assert st.loc["won", "avg_amount"] == pytest.approx(150.0)
    assert st.loc["lost", "avg_amount"] == pytest.approx(300.0)  # B 200, D 400


def test_days_in_stage_over_completed_visits(report: FunnelReport) -> None:
    st = report.stages
    # lead visits: A 2, B 2, C 5, F 1 and 2 days -> mean 2.4, median 2
    assert st.loc["lead", "visits"] == 5
    assert st.loc["lead", "avg_days"] == pytest.approx(2.4)
    assert st.loc["lead", "median_days"] == pytest.approx(2.0)
    # qualified visits: A 5, D 10, F 2 -> mean 17/3, median 5
    assert st.loc["qualified", "visits"] == 3
    assert st.loc["qualified", "avg_days"] == pytest.approx(17 / 3)
    assert st.loc["qualified", "median_days"] == pytest.approx(5.0)
    assert st.loc["proposal", "avg_days"] == pytest.approx(10.0)
    # in progress on 15 Feb: E in lead since 5 Feb, F in qualified since 6 Feb, C in proposal
    # since 25 Jan
    assert st.loc["lead", "open_days_mean"] == pytest.approx(10.0)
    assert st.loc["qualified", "open_days_mean"] == pytest.approx(9.0)
    assert st.loc["proposal", "open_days_mean"] == pytest.approx(21.0)
    assert math.isnan(st.loc["won", "avg_days"])


def test_monthly_cohorts_by_current_stage(report: FunnelReport) -> None:
    c = report.cohorts
    assert [str(p) for p in c.index] == ["2024-01", "2024-02"]
    jan, feb = c.loc[pd.Period("2024-01", "M")], c.loc[pd.Period("2024-02", "M")]
    # January (UTC): A won, B lost, C proposal, D lost
    assert (jan["deals"], jan["open"], jan["won"], jan["lost"]) == (4, 1, 1, 2)
    assert (jan["proposal"], jan["won"], jan["lost"]) == (1, 1, 2)
    assert jan["win_rate"] == pytest.approx(1 / 3)
    # February: E lead, F qualified
    assert (feb["deals"], feb["lead"], feb["qualified"], feb["open"]) == (2, 1, 1, 2)
    assert math.isnan(feb["win_rate"])


def test_cohorts_follow_the_tenant_time_zone() -> None:
    shanghai = funnel_metrics(_changes(), STAGES, tz="Asia/Shanghai").cohorts
    jan, feb = shanghai.loc[pd.Period("2024-01", "M")], shanghai.loc[pd.Period("2024-02", "M")]
    # D was created at 04:00 on 1 February in Shanghai
    assert (jan["deals"], jan["won"], jan["lost"]) == (3, 1, 1)
    assert jan["win_rate"] == pytest.approx(0.5)
    assert (feb["deals"], feb["lost"], feb["open"]) == (3, 1, 2)
    assert feb["win_rate"] == pytest.approx(0.0)


def test_input_order_does_not_matter() -> None:
    base = funnel_metrics(_changes(), STAGES, as_of="2024-02-15")
    shuffled = _changes().sample(frac=1.0, random_state=4).reset_index(drop=True)
    other = funnel_metrics(shuffled, STAGES, as_of="2024-02-15")
    pd.testing.assert_frame_equal(base.stages, other.stages)
    pd.testing.assert_frame_equal(base.cohorts, other.cohorts)


def test_same_timestamp_changes_keep_their_input_order() -> None:
    at = "2024-03-01T09:00Z"
    forward = [(1, None, "lead", at, 1.0), (1, "lead", "qualified", at, 1.0)]
    assert funnel_metrics(_changes(forward), STAGES).stages.loc["qualified", "in_stage"] == 1
    backward = [(1, "lead", "qualified", at, 1.0), (1, None, "lead", at, 1.0)]
    assert funnel_metrics(_changes(backward), STAGES).stages.loc["lead", "in_stage"] == 1


def test_empty_history() -> None:
    report = funnel_metrics(pd.DataFrame(columns=COLUMNS), STAGES)
    assert report.deals == 0
    assert math.isnan(report.win_rate)
    assert report.cohorts.empty
    assert list(report.stages.index) == ["lead", "qualified", "proposal", "won", "lost"]


def test_missing_columns_are_reported() -> None:
    with pytest.raises(ValueError, match="amount"):
        funnel_metrics(_changes().drop(columns=["amount"]), STAGES)


def _reference(changes: pd.DataFrame) -> dict[str, dict[str, float]]:
    """The definitions of the module docstring, deal by deal in plain Python."""
    open_stages = ["lead", "qualified", "proposal"]
    rank = {s: i for i, s in enumerate(open_stages)}
    out: dict[str, dict[str, float]] = {
        s: {"exited": 0, "conv": 0, "closed": 0, "won": 0} for s in open_stages
    }
    for _, g in changes.sort_values(["opportunity_id", "at"], kind="stable").groupby(
        "opportunity_id"
    ):
        stages_seen = [s for s in list(g["to_stage"]) + list(g["from_stage"]) if s in rank]
        progress = max((rank[s] for s in stages_seen), default=-1)
        current = g["to_stage"].iloc[-1]
        won, lost = current == "won", current == "lost"
        for s in open_stages:
            reached = won or progress >= rank[s]
            if not reached:
                continue
            nxt = rank[s] + 1
            reached_next = won or (nxt < len(open_stages) and progress >= nxt)
            if current != s:
                out[s]["exited"] += 1
                out[s]["conv"] += reached_next
            if won or lost:
                out[s]["closed"] += 1
                out[s]["won"] += won
    return out


def test_matches_a_deal_by_deal_reference_on_random_histories() -> None:
    rng = np.random.default_rng(11)
    names = ["lead", "qualified", "proposal", "won", "lost"]
    rows: list[tuple[object, ...]] = []
    for deal in range(400):
        t = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=int(rng.integers(0, 5000)))
        stage = names[int(rng.integers(0, 3))]
        rows.append((deal, None, stage, t, float(rng.integers(1, 100))))
        for _ in range(int(rng.integers(0, 5))):
            t += pd.Timedelta(hours=int(rng.integers(1, 300)))
            new = names[int(rng.integers(0, 5))]
            rows.append((deal, stage, new, t, float(rng.integers(1, 100))))
            stage = new
            if stage in ("won", "lost"):
                break
    changes = _changes(rows)
    st = funnel_metrics(changes, STAGES).stages
    for stage, ref in _reference(changes).items():
        assert st.loc[stage, "exited"] == ref["exited"]
        assert st.loc[stage, "converted_next"] == ref["conv"]
        assert st.loc[stage, "closed"] == ref["closed"]
        assert st.loc[stage, "won"] == ref["won"]
