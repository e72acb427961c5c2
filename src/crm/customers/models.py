"""Companies (accounts), the people at them (contacts) and tags."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.core.fields import EncryptedTextField
from crm.core.models import TenantModel
from crm.tenancy.models import Membership


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    PHONE = "phone", _("Phone")
    WECHAT = "wechat", _("WeChat")


class Tag(TenantModel):
    name = models.CharField(max_length=60)
    color = models.CharField(max_length=7, default="#6c757d")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="tag_unique_name")]

    def __str__(self) -> str:
        return self.name


class NameKeys(models.Model):
    """Search keys stored beside a name: folded name, full pinyin and initials (张三 → zs)."""

    name_key = models.CharField(max_length=200, blank=True, editable=False)
    pinyin_key = models.CharField(max_length=200, blank=True, editable=False)
    initials_key = models.CharField(max_length=60, blank=True, editable=False)

    class Meta:
        abstract = True


class Account(TenantModel, NameKeys):
    name = models.CharField(max_length=200)
    industry = models.CharField(max_length=100, blank=True)
    size = models.CharField(max_length=40, blank=True)
    region = models.CharField(max_length=100, blank=True)
    city = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=60, blank=True)
    website = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    owner = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    external_id = models.CharField(max_length=100, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="+")
    deleted_at = models.DateTimeField(null=True, blank=True)
    # crm.core.company_keys of name, phone and website: the check of a new account looks its
    # likely duplicates up by these (星辰科技(北京)有限公司 by 星辰科技, 010-8888 1234 by +86 10...)
    core_name_key = models.CharField(max_length=200, blank=True, editable=False)
    phone_key = models.CharField(max_length=40, blank=True, editable=False)
    website_key = models.CharField(max_length=200, blank=True, editable=False)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "deleted_at", "id"], name="account_list_idx"),
            models.Index(fields=["tenant", "core_name_key"], name="account_core_name_idx"),
            # not partial (WHERE phone_key <> ''): SQLite would not see that an equality implies it
            models.Index(fields=["tenant", "phone_key"], name="account_phone_key_idx"),
            models.Index(fields=["tenant", "website_key"], name="account_website_key_idx"),
            models.Index(fields=["tenant", "name_key"], name="account_name_idx"),
            models.Index(fields=["tenant", "pinyin_key"], name="account_pinyin_idx"),
            models.Index(fields=["tenant", "initials_key"], name="account_initials_idx"),
            models.Index(fields=["tenant", "owner", "id"], name="account_owner_idx"),
            models.Index(fields=["tenant", "external_id"], name="account_external_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class Contact(TenantModel, NameKeys):
    """A person. Email, phone and ID number are encrypted; *_index are their blind indexes."""

    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    name = models.CharField(max_length=200)
    title = models.CharField(max_length=100, blank=True)
    email = EncryptedTextField(blank=True)
    email_index = models.CharField(max_length=32, blank=True, editable=False)
    # The blind index of the mailbox when the email is another spelling of it (a+tag@x.com,
    # a.b@gmail.com), NULL otherwise: so a@x.com finds a+tag@x.com on record, and the partial
    # index holds only the few aliases (an import of plain addresses adds nothing to it).
    email_alias_index = models.CharField(  # noqa: DJ001
        max_length=32, null=True, blank=True, editable=False
    )
    phone = EncryptedTextField(blank=True)
    phone_index = models.CharField(max_length=32, blank=True, editable=False)
    id_number = EncryptedTextField(blank=True)
    id_number_index = models.CharField(max_length=32, blank=True, editable=False)
    wechat = models.CharField(max_length=100, blank=True)
    city = models.CharField(max_length=100, blank=True)
    preferred_channel = models.CharField(max_length=10, choices=Channel.choices, blank=True)
    consent_email = models.BooleanField(default=False)
    consent_sms = models.BooleanField(default=False)
    consent_phone = models.BooleanField(default=False)
    consent_wechat = models.BooleanField(default=False)
    owner = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    external_id = models.CharField(max_length=100, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="+")
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "deleted_at", "id"], name="contact_list_idx"),
            # Name search: a prefix range of one key, with what the list filters on next (not
            # deleted, visible owner) in the index, so that walking a search's ids to a deep page
            # never reads the table (crm.customers.selectors.contact_list_ids).
            models.Index(
                fields=["tenant", "name_key", "deleted_at", "owner"], name="contact_name_live_idx"
            ),
            models.Index(
                fields=["tenant", "pinyin_key", "deleted_at", "owner"],
                name="contact_pinyin_live_idx",
            ),
            models.Index(
                fields=["tenant", "initials_key", "deleted_at", "owner"],
                name="contact_initials_live_idx",
            ),
            models.Index(fields=["tenant", "email_index"], name="contact_email_idx"),
            models.Index(
                fields=["tenant", "email_alias_index"],
                name="contact_email_alias_idx",
                condition=Q(email_alias_index__isnull=False),
            ),
            models.Index(fields=["tenant", "phone_index"], name="contact_phone_idx"),
            models.Index(fields=["tenant", "owner", "id"], name="contact_owner_idx"),
            models.Index(fields=["tenant", "account", "id"], name="contact_account_idx"),
            models.Index(fields=["tenant", "external_id"], name="contact_external_idx"),
        ]

    def __str__(self) -> str:
        return self.name
