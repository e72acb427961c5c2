"""`crm demo`: two demo companies with users in every role and realistic bilingual data.

Tenants, teams, users, products and tags go through the services (audited like any write); the
big tables are bulk loaded (see `bulk.py`) and the load leaves one audit link per tenant that says
how many rows it wrote, so `crm check` still finds every chain intact.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.db import connection

from crm.core.context import tenant_context
from crm.customers.services import tag_create
from crm.operations.demo.bulk import Progress
from crm.operations.demo.generators import EN, ZH
from crm.operations.demo.records import (
    BASE_CONTACTS,
    Owner,
    ProductInfo,
    Scale,
    StageInfo,
    TenantData,
    TenantStyle,
)
from crm.operations.demo.vocab import PRODUCTS, TAGS
from crm.operations.setup import tenant_setup
from crm.sales.models import Pipeline, Stage
from crm.sales.services import product_create, stage_update
from crm.tenancy.audit import audit_append
from crm.tenancy.models import Membership, Role, Team, Tenant
from crm.tenancy.services import membership_create, team_create, user_create

# Documented in the README; set with set_password, so the validators do not apply.
DEMO_PASSWORD = "demo1234"  # noqa: S105  # nosec B105
DEFAULT_CONTACTS = BASE_CONTACTS
DEFAULT_SEED = 20240601


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    display_name: str
    team: str = ""
    sells: float = 0.0  # weight as the owner of generated records (0: owns nothing)
    region: str = ""


@dataclass(frozen=True)
class DemoTenant:
    slug: str
    name: str
    language: str
    style: TenantStyle
    teams: tuple[str, ...]
    users: tuple[DemoUser, ...]
    stage_names: tuple[str, ...] = ()  # renames the default stages (English tenant)


DEMO = DemoTenant(
    slug="demo",
    name="星辰演示公司",
    language="zh-hans",
    style=TenantStyle(
        language=ZH,
        time_zone="Asia/Shanghai",
        currency="CNY",
        currency_per_cny=1.0,
        abroad_share=0.12,
        english_in_china=0.05,
    ),
    teams=("华东", "华北"),
    users=(
        DemoUser("admin", Role.ADMIN, "陈静"),
        DemoUser("manager", Role.MANAGER, "王磊", "华东", 0.4, "华东"),
        DemoUser("sales1", Role.SALES, "李娜", "华东", 1.0, "华东"),
        DemoUser("sales2", Role.SALES, "张伟", "华东", 1.0, "华东"),
        DemoUser("sales3", Role.SALES, "刘洋", "华东", 1.0, "华南"),
        DemoUser("sales4", Role.SALES, "赵敏", "华北", 1.0, "华北"),
        DemoUser("sales5", Role.SALES, "孙浩", "华北", 1.0, "华北"),
        DemoUser("sales6", Role.SALES, "周婷", "华北", 1.0, "西南"),
        DemoUser("marketing", Role.MARKETING, "吴倩"),
        DemoUser("service", Role.SERVICE, "郑凯"),
        DemoUser("viewer", Role.VIEWER, "黄丽"),
    ),
)

DEMO2 = DemoTenant(
    slug="demo2",
    name="Globex Demo",
    language="en",
    style=TenantStyle(
        language=EN,
        time_zone="Europe/London",
        currency="GBP",
        currency_per_cny=9.2,
        abroad_share=0.85,
        english_in_china=1.0,
    ),
    teams=("London",),
    users=(
        DemoUser("globex-admin", Role.ADMIN, "Alice Morgan", "", 0.3),
        DemoUser("globex-sales", Role.SALES, "Ben Carter", "London", 1.0, "UK"),
    ),
    stage_names=("Prospect", "Qualified", "Proposal", "Negotiation", "Won", "Lost"),
)

DEMO_TENANTS = (DEMO, DEMO2)


class DemoExistsError(Exception):
    pass


@dataclass
class TenantReport:
    slug: str
    name: str
    rows: dict[str, int]
    seconds: float
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # username, role, name

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def demo_exists() -> bool:
    return Tenant.objects.filter(slug__in=[t.slug for t in DEMO_TENANTS]).exists()


def second_tenant_contacts(contacts: int) -> int:
    """The second company is small: a tenth of the first, at most 5,000 contacts."""
    return max(50, min(contacts // 10, 5000))


def load_demo(
    *, contacts: int = DEFAULT_CONTACTS, seed: int = DEFAULT_SEED, progress: Progress | None = None
) -> list[TenantReport]:
    if demo_exists():
        raise DemoExistsError("The demo companies exist already.")
    progress = progress or Progress()
    if connection.vendor == "sqlite":
        # For this connection only: a bigger page cache keeps the indexes in memory, and no
        # fsync per checkpoint (a crash mid-load leaves a half-loaded demo to load again into an
        # empty database anyway; the committed data is durable once the file is closed).
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size=-262144")
            cursor.execute("PRAGMA synchronous=OFF")
    reports = []
    for spec, count in ((DEMO, contacts), (DEMO2, second_tenant_contacts(contacts))):
        reports.append(load_tenant(spec, contacts=count, seed=seed, progress=progress))
    return reports


def load_tenant(spec: DemoTenant, *, contacts: int, seed: int, progress: Progress) -> TenantReport:
    started = time.perf_counter()
    progress.section(f"{spec.slug} ({spec.name}): {contacts:,} contacts")
    tenant = tenant_setup(
        name=spec.name,
        slug=spec.slug,
        time_zone=spec.style.time_zone,
        currency=spec.style.currency,
        language=spec.language,
    )
    report = TenantReport(spec.slug, spec.name, {}, 0.0)
    # One hash for every demo user: a slow argon2 round per user would dominate a small load.
    password_hash = make_password(DEMO_PASSWORD)
    with tenant_context(tenant.pk):
        teams = {name: team_create(actor=None, name=name) for name in spec.teams}
        members: list[tuple[DemoUser, Membership]] = []
        for demo_user in spec.users:
            user = user_create(
                username=demo_user.username, email=f"{demo_user.username}@{spec.slug}.example.com"
            )
            user.password = password_hash
            user.save(update_fields=["password"])
            membership = membership_create(
                actor=None,
                user=user,
                role=demo_user.role,
                team=teams.get(demo_user.team),
                display_name=demo_user.display_name,
                region=demo_user.region,
                skills=["enterprise", "smb"] if demo_user.sells else [],
            )
            members.append((demo_user, membership))
            report.logins.append((demo_user.username, demo_user.role, demo_user.display_name))
        admin = next(m for u, m in members if u.role == Role.ADMIN)
        pipeline = Pipeline.objects.get(is_default=True)
        stages = list(Stage.objects.filter(pipeline=pipeline).order_by("order", "id"))
        for stage, new_name in zip(stages, spec.stage_names, strict=False):
            stage_update(actor=admin, stage=stage, values={"name": new_name})
        products = _products(admin, spec)
        tag_ids = [
            tag_create(actor=admin, name=zh if spec.style.language == ZH else en, color=color).pk
            for zh, en, color in TAGS
        ]
        data = TenantData(
            tenant_id=tenant.pk,
            style=spec.style,
            scale=Scale(contacts),
            owners=[
                Owner(m.pk, m.team_id, u.sells) for u, m in members if u.sells > 0 and m.can_write
            ],
            team_ids=[t.pk for t in Team.objects.order_by("id")],
            stages=StageInfo(
                ids=[s.pk for s in stages if not s.is_closed],
                probabilities=[s.probability for s in stages if not s.is_closed],
                won_id=next(s.pk for s in stages if s.is_won),
                lost_id=next(s.pk for s in stages if s.is_lost),
            ),
            pipeline_id=pipeline.pk,
            products=products,
            tag_ids=tag_ids,
            seed=f"{seed}:{spec.slug}",
            progress=progress,
        )
        report.rows = data.load(contacts)
        audit_append(
            actor=None,
            action="demo_loaded",
            record_type="tenant",
            record_id=tenant.pk,
            changes={
                "message": f"demo loaded {report.total} rows",
                "rows": report.rows,
                "contacts": contacts,
                "seed": seed,
            },
        )
    report.seconds = time.perf_counter() - started
    progress.message(
        f"{spec.slug}: {report.total:,} rows in {report.seconds:.1f} s "
        f"({report.total / max(report.seconds, 1e-9):,.0f} rows/s): "
        + ", ".join(f"{n.replace('_', ' ')} {c:,}" for n, c in report.rows.items())
    )
    return report


def _products(admin: Membership, spec: DemoTenant) -> list[ProductInfo]:
    rate = spec.style.currency_per_cny
    infos = []
    for number, product in enumerate(PRODUCTS, start=1):
        zh = spec.style.language == ZH
        price = Decimal(round(product.price / rate * 100)).scaleb(-2)
        created = product_create(
            actor=admin,
            values={
                "name": product.zh if zh else product.en,
                "sku": f"SKU-{number:04d}",
                "category": product.category_zh if zh else product.category_en,
                "price": price,
                "currency": spec.style.currency,
            },
        )
        infos.append(
            ProductInfo(
                id=created.pk,
                name=created.name,
                category=created.category,
                cents=int(price * 100),
                max_quantity=product.max_quantity,
            )
        )
    return infos
