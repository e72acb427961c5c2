"""The recompute stores every customer's insight; a failed run keeps the previous results; the
nightly job covers every tenant and each tenant sees only its own customers."""

from __future__ import annotations

from datetime import timedelta

from crm.core.context import tenant_context
from crm.customers.services import contact_delete
from crm.insights.models import CustomerInsight, InsightRun, RunStatus
from crm.insights.services import insights_recompute
from crm.insights.tasks import insights_nightly
from tests.conftest import TenantWorld
from tests.insights.test_wiring_data import HISTORIES, NOW, build_shop


def by_name() -> dict[str, CustomerInsight]:
    return {i.contact.name: i for i in CustomerInsight.objects.select_related("contact")}


def test_recompute_stores_every_customers_insight(world: TenantWorld) -> None:
    build_shop(world.sales)

    run = insights_recompute(now=NOW)

    assert run.status == RunStatus.SUCCEEDED, run.error
    n_orders = sum(len(days) for _name, days, _amount in HISTORIES)
    assert (run.customers, run.orders, run.order_lines) == (15, n_orders, 2 * n_orders)
    assert run.as_of == NOW.date() and run.finished_at is not None
    assert {"r", "alpha", "a", "b"} <= set(run.metrics["bgnbd"])
    assert run.metrics["churn_model"] == "p_alive"
    rows = by_name()
    assert len(rows) == len(HISTORIES) + 1
    assert {i.run_id for i in rows.values()} == {run.pk}
    assert {i.model_version for i in rows.values()} == {run.model_version}

    regular, lapsed = rows["c-steady-1"], rows["c-lapsed-1"]
    assert regular.stage == "loyal" and lapsed.stage == "lost"
    assert rows["c-once-2"].stage == "at_risk"
    assert rows["c-new-1"].stage == "new"
    assert rows["c-prospect"].stage == "prospect" and rows["c-prospect"].orders == 0
    assert regular.orders == 6 and regular.recency_days == 10
    assert str(regular.monetary) == "780.00"  # 6 orders of 120 + 10
    assert regular.rfm_code == f"{regular.r_score}{regular.f_score}{regular.m_score}"
    # the purchase-pattern model: the regular is alive and will buy again; the lapsed is not
    assert regular.p_alive is not None and lapsed.p_alive is not None
    assert regular.p_alive > 0.6 > 0.1 > lapsed.p_alive
    assert regular.churn_risk == 1 - regular.p_alive
    assert regular.expected_purchases_12m is not None
    assert lapsed.expected_purchases_12m is not None
    assert regular.expected_purchases_12m > 1 > lapsed.expected_purchases_12m
    assert regular.clv_12m is not None and lapsed.clv_12m is not None
    assert regular.clv_12m > 10 * lapsed.clv_12m
    assert {r["code"] for r in lapsed.churn_reasons} >= {"no_recent_purchase", "low_p_alive"}
    assert regular.health > lapsed.health > rows["c-prospect"].health
    assert regular.segment_name != lapsed.segment_name
    assert rows["c-prospect"].segment == -1
    assert regular.preferences == {
        "categories": ["tea", "cups"],
        "channel": "call",
        "channel_source": "activity",
    }
    assert regular.engagement == 1
    assert regular.actions == ["reward_loyalty", "ask_referral"]
    assert lapsed.actions == ["reactivation_campaign", "exit_survey"]


def test_a_second_run_replaces_the_results(world: TenantWorld) -> None:
    shop = build_shop(world.sales)
    first = insights_recompute(now=NOW)
    contact_delete(actor=world.sales, contact=shop.contacts["once-3"])

    second = insights_recompute(now=NOW + timedelta(days=1))

    assert second.status == RunStatus.SUCCEEDED
    rows = by_name()
    assert "c-once-3" not in rows
    assert {i.run_id for i in rows.values()} == {second.pk} != {first.pk}
    assert rows["c-steady-1"].recency_days == 11


def test_a_failed_run_leaves_the_previous_results_in_place(world: TenantWorld) -> None:
    build_shop(world.sales)
    good = insights_recompute(now=NOW)
    before = sorted(CustomerInsight.objects.values_list("contact_id", "run_id", "churn_risk"))

    # an impossible discount rate makes the value model refuse: the run fails
    failed = insights_recompute(now=NOW + timedelta(days=1), monthly_discount_rate=-2.0)

    assert failed.status == RunStatus.FAILED
    assert "discount rate" in failed.error
    assert failed.finished_at is not None and failed.customers == 0
    after = sorted(CustomerInsight.objects.values_list("contact_id", "run_id", "churn_risk"))
    assert after == before
    assert {r[1] for r in after} == {good.pk}


def test_the_nightly_job_recomputes_every_tenant_apart(
    world: TenantWorld, other_world: TenantWorld
) -> None:
    build_shop(world.sales, "a")
    with tenant_context(other_world.tenant.pk):
        build_shop(other_world.sales, "b")

    done = insights_nightly.call_local()

    assert done == [world.tenant.pk, other_world.tenant.pk]
    for w, prefix in ((world, "a-"), (other_world, "b-")):
        with tenant_context(w.tenant.pk):
            runs = list(InsightRun.objects.values_list("status", "trigger"))
            assert runs == [(RunStatus.SUCCEEDED, "nightly")]
            names = list(CustomerInsight.objects.values_list("contact__name", flat=True))
            assert len(names) == 15 and all(n.startswith(prefix) for n in names)
            assert CustomerInsight.all_tenants.filter(tenant=w.tenant).count() == 15
    assert CustomerInsight.all_tenants.count() == 30


def test_a_tenant_without_orders_gets_prospects_only(world: TenantWorld) -> None:
    build_shop(world.sales).contacts.clear()
    run = insights_recompute(now=NOW - timedelta(days=800))  # before any order

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert set(CustomerInsight.objects.values_list("stage", flat=True)) == {"prospect"}
    assert "bgnbd" not in run.metrics
