"""Scoring in the database: rule weights per tenant, the trained model and its record."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from crm.core.errors import PermissionDeniedError, ValidationFailedError
from crm.sales import scoring
from crm.sales.capture import lead_capture
from crm.sales.lead_models import LeadIntake, ScoringModel
from crm.sales.lead_scoring import (
    lead_rescore,
    lead_settings,
    lead_settings_update,
    leads_rescore,
    scoring_model_train,
)
from crm.sales.models import Lead
from tests.api.conftest import Api, make_token

pytestmark = pytest.mark.urls("tests.leads.urls")


def closed_leads(world, n: int, seed: int = 0, *, labels: np.ndarray | None = None) -> None:
    """n closed leads in time order whose outcome follows scoring.synthetic_leads' signal."""
    facts, converted, _order = scoring.synthetic_leads(n, seed=seed)
    if labels is not None:
        converted = labels
    now = timezone.now()
    leads = [
        Lead(
            tenant_id=world.tenant.pk,
            name=f"closed {i}",
            source=str(facts.source[i]),
            email_index="e" if facts.has_email[i] else "",
            phone_index="p" if facts.has_phone[i] else "",
            company="c" if facts.has_company[i] else "",
            title="t" if facts.has_title[i] else "",
            region="r" if facts.has_region[i] else "",
            contact_count=int(facts.contact_count[i]),
            last_interaction_at=now - timedelta(days=float(facts.days_since_interaction[i])),
            status="converted" if converted[i] else "unqualified",
        )
        for i in range(n)
    ]
    Lead.objects.bulk_create(leads)
    LeadIntake.objects.bulk_create(
        LeadIntake(tenant_id=world.tenant.pk, lead=lead, message="m" * int(facts.message_length[i]))
        for i, lead in enumerate(leads)
    )


def test_too_few_closed_leads_keeps_the_rules(world) -> None:
    closed_leads(world, 150)
    assert scoring_model_train() is None
    assert ScoringModel.objects.count() == 0


def test_model_trained_on_closed_leads_is_recorded_and_used(flow) -> None:
    closed_leads(flow.world, 600)
    model = scoring_model_train()
    assert model is not None and model.is_active
    assert (model.n_train, model.n_holdout, model.positives) == (
        450,
        150,
        Lead.objects.filter(status="converted").count(),
    )
    assert model.auc > model.rules_auc and model.auc >= 0.75
    assert 0 < model.brier < 0.25 and sum(b["count"] for b in model.calibration) == 150
    print(f"DB model: AUC {model.auc:.3f} vs rules {model.rules_auc:.3f}, brier {model.brier:.3f}")
    lead = lead_capture(
        actor=None,
        values={"name": "new", "source": "event", "phone": "13800138000"},
        channel="api",
        message="x" * 300,
    ).lead
    intake = LeadIntake.objects.get(lead=lead)
    assert intake.scored_by == "model" and intake.scoring_model == model
    assert len(lead.score_reasons) == 3
    # The score is the calibrated probability x 100, rounded.
    outcome = lead_rescore(lead=lead)
    assert outcome.score == round(outcome.probability * 100)
    assert 0 < outcome.score < 100


def test_a_model_no_better_than_the_rules_is_recorded_but_not_used(world) -> None:
    facts, _c, _o = scoring.synthetic_leads(400, seed=4)
    rules = scoring.rule_probability(facts, scoring.RuleWeights())
    closed_leads(world, 400, seed=4, labels=(rules > np.median(rules)).astype(int))
    model = scoring_model_train()
    assert model is not None and model.is_active is False
    assert model.rules_auc >= model.auc
    lead = lead_capture(actor=None, values={"name": "n"}, channel="api").lead
    assert LeadIntake.objects.get(lead=lead).scored_by == "rules"


def test_tenant_weights_are_editable_and_rescore(flow) -> None:
    lead = lead_capture(actor=None, values={"name": "w", "source": "cold"}, channel="api").lead
    before = lead.score
    lead_settings_update(
        actor=flow.world.admin,
        values={
            "weights": {"source": 1.0},
            "source_values": {"cold": 0.9},
            "high_from": 80,
            "medium_from": 50,
        },
    )
    assert leads_rescore() == 1
    lead.refresh_from_db()
    assert (before, lead.score, lead.priority) != (90, 90, "high")
    assert lead.score == 90 and lead.priority == "high"
    assert lead.score_reasons[0]["code"] == "source"
    with pytest.raises(ValidationFailedError):
        lead_settings_update(actor=flow.world.admin, values={"weights": {"magic": 1}})
    with pytest.raises(ValidationFailedError):
        lead_settings_update(actor=flow.world.admin, values={"high_from": 10})
    with pytest.raises(PermissionDeniedError):
        lead_settings_update(actor=flow.manager, values={"high_from": 90})
    assert lead_settings().high_from == 80


def test_training_api(flow) -> None:
    closed_leads(flow.world, 300, seed=2)
    admin = Api(make_token(flow.world.admin))
    trained = admin.post("/lead-flow/scoring/train")
    assert trained.status_code == 200 and trained.json()["trained"] is True
    body = trained.json()["model"]
    assert {"auc", "brier", "calibration", "rules_auc", "is_active"} <= set(body)
    assert admin.get("/lead-flow/scoring/models").json()[0]["id"] == body["id"]
    assert Api(make_token(flow.reps[0])).post("/lead-flow/scoring/train").status_code == 403
