"""Records of crm.insights for the API isolation tests: a computed insight and a run."""

from __future__ import annotations

from typing import Any

from crm.insights.services import insight_settings_update, insights_recompute


def build(world: Any, prefix: str) -> tuple[dict[str, int], list[str]]:
    insight_settings_update(
        actor=world.admin, values={"email_subject": f"{prefix}-playbook-subject {{name}}"}
    )
    run = insights_recompute()
    assert run.status == "succeeded", run.error
    return {"run_id": run.pk}, [f"{prefix}-playbook-subject"]
