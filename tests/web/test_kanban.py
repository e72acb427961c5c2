"""The kanban board and the stage move behind its drag and drop."""

from __future__ import annotations

from typing import Any

from django.test import Client

from crm.activities.services import task_create
from crm.sales.models import Opportunity, Stage, StageChange
from crm.sales.services import opportunity_create
from tests.web.conftest import client_for

JSON = {"HTTP_ACCEPT": "application/json"}


def _stages() -> list[Stage]:
    return list(Stage.objects.order_by("order"))


def test_board_has_a_column_per_stage_with_totals_and_cards(
    world: Any, sales_client: Client
) -> None:
    first = _stages()[0]
    opp = opportunity_create(actor=world.sales, values={"name": "ERP", "amount": "1200.50"})
    opportunity_create(actor=world.sales, values={"name": "CRM", "amount": "800"})
    task_create(
        actor=world.sales, values={"title": "发合同"}, record_type="opportunity", record_id=opp.pk
    )
    html = sales_client.get("/kanban/").content.decode()
    assert html.count('class="kanban-column') == len(_stages())
    column = html.split(f'data-stage-id="{first.pk}"', 1)[1].split("</section>", 1)[0]
    assert "2,000.50" in column and ">2<" in column
    assert "ERP" in column and "发合同" in column


def test_filters_by_owner_and_close_date(world: Any, manager_client: Client) -> None:
    opportunity_create(
        actor=world.sales, values={"name": "早", "expected_close_date": "2026-01-10"}
    )
    opportunity_create(
        actor=world.manager, values={"name": "晚", "expected_close_date": "2026-06-10"}
    )
    by_owner = manager_client.get("/kanban/", {"owner": world.sales.pk}).content.decode()
    assert "早" in by_owner and ">晚<" not in by_owner
    by_date = manager_client.get("/kanban/", {"close_before": "2026-03-01"}).content.decode()
    assert "早" in by_date and ">晚<" not in by_date


def test_a_move_records_a_stage_change_and_answers_the_new_totals(
    world: Any, sales_client: Client
) -> None:
    first, second = _stages()[:2]
    opp = opportunity_create(actor=world.sales, values={"name": "ERP", "amount": "1000"})
    response = sales_client.post(
        f"/opportunities/{opp.pk}/move/", {"stage_id": second.pk, "filters": ""}, **JSON
    )
    data = response.json()
    assert data["ok"] and data["stage_id"] == second.pk and data["from_stage_id"] == first.pk
    assert data["totals"][str(second.pk)] == {"count": 1, "amount": "1,000.00"}
    assert data["totals"][str(first.pk)] == {"count": 0, "amount": "0.00"}
    assert StageChange.objects.filter(opportunity=opp, to_stage=second).count() == 1
    undo = sales_client.post(f"/opportunities/{opp.pk}/move/", {"stage_id": first.pk}, **JSON)
    assert undo.json()["stage_id"] == first.pk
    assert Opportunity.objects.get(pk=opp.pk).stage_id == first.pk


def test_a_move_is_rechecked_on_the_server(world: Any) -> None:
    second = _stages()[1]
    opp = opportunity_create(actor=world.sales, values={"name": "ERP"})
    other_rep = client_for(world.sales2)
    assert (
        other_rep.post(
            f"/opportunities/{opp.pk}/move/", {"stage_id": second.pk}, **JSON
        ).status_code
        == 404
    )
    viewer = client_for(world.viewer).post(
        f"/opportunities/{opp.pk}/move/", {"stage_id": second.pk}, **JSON
    )
    assert viewer.status_code == 403 and viewer.json()["ok"] is False
    wrong = client_for(world.sales).post(
        f"/opportunities/{opp.pk}/move/", {"stage_id": 999_999}, **JSON
    )
    assert wrong.status_code == 422 and wrong.json()["message"]
    assert StageChange.objects.filter(opportunity=opp).count() == 1


def test_the_record_pages_stage_menu_moves_without_script(world: Any, sales_client: Client) -> None:
    second = _stages()[1]
    opp = opportunity_create(actor=world.sales, values={"name": "ERP"})
    response = sales_client.post(f"/opportunities/{opp.pk}/move/", {"stage_id": second.pk})
    assert response.status_code == 302 and response["Location"] == f"/opportunities/{opp.pk}/"
    assert Opportunity.objects.get(pk=opp.pk).stage_id == second.pk
