"""Funnel and pipeline-forecast results as plain, JSON-ready dicts, shared by the API and the
pages (NaN becomes None)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from django.utils.translation import gettext as _

from crm.forecasts.rollup import ROLLUP_COLUMNS, clean
from crm.forecasts.selectors import FunnelView, PipelineView

STAGE_COUNTS = ("reached", "exited", "converted_next", "closed", "won")
STAGE_FLOATS = (
    "conversion_next",
    "conversion_won",
    "avg_amount",
    "avg_days",
    "median_days",
    "open_days_mean",
)


def _int_or_none(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def funnel_data(view: FunnelView) -> dict[str, Any]:
    report = view.report
    pipeline = view.pipeline
    head: dict[str, Any] = {
        "pipeline_id": pipeline.pk if pipeline else None,
        "pipeline_name": pipeline.name if pipeline else "",
        "start": view.start,
        "end": view.end,
    }
    if report is None:
        return head | {
            "deals": 0,
            "open_deals": 0,
            "won": 0,
            "lost": 0,
            "win_rate": None,
            "avg_won_amount": None,
            "avg_cycle_days": None,
            "sales_velocity": None,
            "stages": [],
            "notes": [],
        }
    rows = []
    for stage in view.stages:
        row = report.stages.loc[stage.id]
        item: dict[str, Any] = {
            "stage_id": stage.id,
            "name": stage.name,
            "order": stage.order,
            "probability": stage.probability,
            "is_open": stage.is_open,
            "is_won": stage.is_won,
            "is_lost": stage.is_lost,
            "in_stage": int(row["in_stage"]),
            "amount_deals": int(row["amount_deals"]),
            "visits": int(row["visits"]),
        }
        item |= {name: _int_or_none(row[name]) for name in STAGE_COUNTS}
        item |= {name: clean(row[name]) for name in STAGE_FLOATS}
        rows.append(item)
    return head | {
        "deals": report.deals,
        "open_deals": report.open_deals,
        "won": report.won,
        "lost": report.lost,
        "win_rate": clean(report.win_rate),
        "avg_won_amount": clean(report.avg_won_amount),
        "avg_cycle_days": clean(report.avg_cycle_days),
        "sales_velocity": clean(report.sales_velocity),
        "stages": rows,
        "notes": list(report.notes),
    }


def cohorts_data(view: FunnelView) -> dict[str, Any]:
    pipeline = view.pipeline
    out: dict[str, Any] = {
        "pipeline_id": pipeline.pk if pipeline else None,
        "pipeline_name": pipeline.name if pipeline else "",
        "stages": [{"stage_id": s.id, "name": s.name} for s in view.stages],
        "cohorts": [],
    }
    if view.report is None:
        return out
    table = view.report.cohorts
    for month, row in table.iterrows():
        out["cohorts"].append(
            {
                "month": str(month),
                "deals": int(row["deals"]),
                "open": int(row["open"]),
                "won": int(row["won"]),
                "lost": int(row["lost"]),
                "win_rate": clean(row["win_rate"]),
                "counts": [int(row[s.id]) for s in view.stages],
            }
        )
    return out


def _rollup_rows(frame: pd.DataFrame, names: dict[int, str]) -> list[dict[str, Any]]:
    rows = []
    for key, row in frame.iterrows():
        ident = int(key) if key else None
        item: dict[str, Any] = {
            "id": ident,
            "name": names.get(ident, "") if ident else str(_("Unassigned")),
        }
        for column in ROLLUP_COLUMNS:
            value = row[column]
            item[column] = int(value) if column == "deals" else clean(value)
        for column in ("closed_won", "commit", "best_case", "pipeline"):
            item[column] = item[column] or 0.0
        item["weighted_stage"] = item["weighted_stage"] or 0.0
        item["weighted_win_rate"] = item["weighted_win_rate"] or 0.0
        rows.append(item)
    return rows


def pipeline_data(view: PipelineView) -> dict[str, Any]:
    totals: dict[str, Any] = {"deals": int(view.totals.get("deals", 0))}
    for column in ROLLUP_COLUMNS:
        if column != "deals":
            totals[column] = clean(view.totals.get(column))
    for column in ("closed_won", "commit", "best_case", "pipeline", "weighted_stage"):
        totals[column] = totals[column] or 0.0
    totals["weighted_win_rate"] = totals["weighted_win_rate"] or 0.0
    parts = []
    for part in view.parts:
        by_stage = part.forecast.by_stage
        rates = part.win_rates
        stages = []
        for stage in part.stages:
            if not stage.is_open:
                continue
            row = by_stage.loc[stage.id]
            deals = int(row["deals"])
            stages.append(
                {
                    "stage_id": stage.id,
                    "name": stage.name,
                    "deals": deals,
                    "amount": float(row["amount"]),
                    "weighted_stage": float(row["weighted_stage"]),
                    "weighted_win_rate": float(row["weighted_win_rate"]),
                    "probability": stage.probability,
                    "win_rate": clean(row["win_rate"]),
                    "win_rate_n": int(row["n"]),
                    "win_rate_low": clean(rates.loc[stage.id, "low"]),
                    "win_rate_high": clean(rates.loc[stage.id, "high"]),
                    "avg_days": clean(rates.loc[stage.id, "avg_days"]),
                    "avg_amount": clean(float(row["amount"]) / deals) if deals else None,
                }
            )
        parts.append(
            {"pipeline_id": part.pipeline.pk, "pipeline_name": part.pipeline.name, "stages": stages}
        )
    return {
        "start": view.start,
        "end": view.end,
        "as_of": view.as_of,
        "totals": totals,
        "by_owner": _rollup_rows(view.by_owner, {k: str(m) for k, m in view.members.items()}),
        "by_team": _rollup_rows(view.by_team, {k: t.name for k, t in view.teams.items()}),
        "pipelines": parts,
    }


def totals_change(base: dict[str, Any], changed: dict[str, Any]) -> dict[str, Any]:
    """what-if totals minus base totals (None where either is unknown)."""
    out: dict[str, Any] = {}
    for column in ROLLUP_COLUMNS:
        a, b = base.get(column), changed.get(column)
        if column == "deals":
            out[column] = int(b or 0) - int(a or 0)
        elif column in ("quota",):
            out[column] = a
        else:
            out[column] = None if a is None or b is None else float(b) - float(a)
    for column in ("closed_won", "commit", "best_case", "pipeline"):
        out[column] = out[column] or 0.0
    out["weighted_stage"] = out["weighted_stage"] or 0.0
    out["weighted_win_rate"] = out["weighted_win_rate"] or 0.0
    return out
