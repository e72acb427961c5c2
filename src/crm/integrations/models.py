"""Imports, duplicates and merges, exports and privacy requests.

Every table here is tenant-owned. Jobs (imports, scans, exports, privacy requests) keep their
progress on their own row, so a page or the API can show it while a worker runs the job, and
a killed worker can resume from what the row says.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.core.fields import EncryptedTextField
from crm.core.models import TenantModel
from crm.customers.models import Channel, Contact
from crm.tenancy.models import Membership


class ImportTarget(models.TextChoices):
    CONTACT = "contact", _("Contacts")
    ACCOUNT = "account", _("Accounts")
    LEAD = "lead", _("Leads")
    OPPORTUNITY = "opportunity", _("Opportunities")
    ORDER = "order", _("Orders")
    ACTIVITY = "activity", _("Activities")


class DuplicatePolicy(models.TextChoices):
    SKIP = "skip", _("Skip the row")
    UPDATE = "update", _("Update the existing record")
    CREATE = "create", _("Create anyway")


class JobStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class ImportTemplate(TenantModel):
    """A saved column mapping: normalised header text -> field key, plus the import options."""

    name = models.CharField(max_length=100)
    target = models.CharField(max_length=20, choices=ImportTarget.choices)
    mapping = models.JSONField(default=dict)
    options = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "target", "name"], name="import_template_unique_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ImportJob(TenantModel):
    """One uploaded file and its import. `position` counts the data rows already handled.

    Each batch commits its rows, its row errors and the new `position` in one transaction, so
    after a crash the job resumes at `position`: no row is lost and none is written twice.
    """

    target = models.CharField(max_length=20, choices=ImportTarget.choices)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.UPLOADED)
    dry_run = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    template = models.ForeignKey(
        ImportTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # the file
    file_name = models.CharField(max_length=255)
    file_path = models.CharField(max_length=500)
    file_size = models.BigIntegerField(default=0)
    file_sha256 = models.CharField(max_length=64, blank=True)
    file_format = models.CharField(max_length=10)  # csv | xlsx
    encoding = models.CharField(max_length=30, blank=True)
    delimiter = models.CharField(max_length=1, blank=True)
    sheet = models.CharField(max_length=100, blank=True)
    headers = models.JSONField(default=list)
    # what to do with it
    mapping = models.JSONField(default=list)  # one field key (or "") per column
    options = models.JSONField(default=dict)
    #: rows per committed batch; 0: sized from the file (crm.integrations.bulk.batch_rows)
    batch_size = models.PositiveIntegerField(default=0)
    # progress
    total_rows = models.PositiveIntegerField(null=True, blank=True)
    position = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    batches = models.PositiveIntegerField(default=0)
    rate = models.FloatField(null=True, blank=True)  # rows per second in the current run
    eta_seconds = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=120, blank=True)  # host:pid:nonce of the runner
    attempts = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    #: when the uploaded file and the failed rows' cells were deleted (crm.integrations.expiry)
    file_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "-id"], name="import_job_list_idx"),
            models.Index(fields=["status", "heartbeat_at"], name="import_job_status_idx"),
        ]

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status == JobStatus.DONE else 0
        return min(100, int(self.position * 100 / self.total_rows))


class RowOutcome(models.TextChoices):
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")


class ImportRowError(TenantModel):
    """A row that was not written (failed) or deliberately left out (skipped), with why.

    `values` holds the row's cells as read, so the failed rows can be downloaded, fixed and
    imported again.
    """

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row_number = models.PositiveIntegerField()  # as the spreadsheet shows it (header = 1)
    outcome = models.CharField(max_length=10, choices=RowOutcome.choices)
    errors = models.JSONField(default=dict)  # {field: [messages]}
    values = models.JSONField(default=list)
    record_id = models.BigIntegerField(null=True, blank=True)  # the duplicate, when skipped

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "row_number"], name="import_row_once"),
        ]
        indexes = [models.Index(fields=["tenant", "job", "outcome", "row_number"])]


class DuplicateScan(TenantModel):
    """A background scan of one record type for likely duplicates."""

    record_type = models.CharField(max_length=20)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    created_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    scanned = models.PositiveIntegerField(default=0)
    pairs_found = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    message = models.TextField(blank=True)


class CandidateStatus(models.TextChoices):
    OPEN = "open", _("To review")
    MERGED = "merged", _("Merged")
    DISMISSED = "dismissed", _("Not a duplicate")


class DuplicateCandidate(TenantModel):
    """A pair of records that look like the same person or company, with a score and reasons.

    `left_id` < `right_id`, so a pair is stored once however it was found.
    """

    record_type = models.CharField(max_length=20)
    left_id = models.BigIntegerField()
    right_id = models.BigIntegerField()
    score = models.PositiveSmallIntegerField()  # 0..100
    reasons = models.JSONField(default=list)
    status = models.CharField(
        max_length=10, choices=CandidateStatus.choices, default=CandidateStatus.OPEN
    )
    scan = models.ForeignKey(
        DuplicateScan, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "record_type", "left_id", "right_id"], name="duplicate_pair_once"
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "record_type", "status", "-score"], name="dup_queue_idx"
            ),
            models.Index(fields=["tenant", "record_type", "right_id"], name="dup_right_idx"),
        ]


class MergeRecord(TenantModel):
    """One merge: what the survivor looked like before, what moved, so it can be undone.

    `survivor_before` holds the survivor's changed fields before the merge as encrypted JSON
    (it may contain personal data). The merged record itself is soft-deleted, not removed.
    """

    record_type = models.CharField(max_length=20)
    survivor_id = models.BigIntegerField()
    merged_id = models.BigIntegerField()
    survivor_before = EncryptedTextField(blank=True)
    survivor_after = EncryptedTextField(blank=True)
    choices = models.JSONField(default=dict)  # field -> "survivor" | "merged"
    relinked = models.JSONField(default=dict)  # "activity" -> [ids], "opportunity" -> [ids], ...
    merged_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    undo_until = models.DateTimeField()
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["tenant", "record_type", "survivor_id"], name="merge_survivor_idx"
            ),
            models.Index(fields=["tenant", "record_type", "merged_id"], name="merge_merged_idx"),
        ]


class ConsentRecord(TenantModel):
    """One consent given or withdrawn, per channel, with where, when and the wording shown.

    Append-only: the latest row per (contact, channel) is the current state, mirrored on the
    contact's consent_* flags.
    """

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    granted = models.BooleanField()
    source = models.CharField(max_length=100)  # "web form /signup", "import #12", "phone call"
    wording = models.TextField(max_length=5000, blank=True)
    at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "contact", "channel", "-at"], name="consent_contact_idx")
        ]


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "XLSX"


class ExportJob(TenantModel):
    """A large export written to a file by a worker; the member is notified when it is ready."""

    target = models.CharField(max_length=20, choices=ImportTarget.choices)
    file_format = models.CharField(max_length=4, choices=ExportFormat.choices)
    filters = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    created_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rows_done = models.PositiveIntegerField(default=0)
    file_path = models.CharField(max_length=500, blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    file_size = models.BigIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    message = models.TextField(blank=True)
    file_deleted_at = models.DateTimeField(null=True, blank=True)  # crm.integrations.expiry


class PrivacyKind(models.TextChoices):
    EXPORT = "export", _("Export everything about a person")
    ERASE = "erase", _("Erase a person")


class PrivacyRequest(TenantModel):
    """A data subject's request (PIPL / GDPR). After an erasure no personal data stays here."""

    kind = models.CharField(max_length=10, choices=PrivacyKind.choices)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject_ref = models.CharField(max_length=60)  # "contact #12", never a name or an email
    requested_by = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    summary = models.JSONField(default=dict)
    file_path = models.CharField(max_length=500, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    message = models.TextField(blank=True)
    file_deleted_at = models.DateTimeField(null=True, blank=True)  # crm.integrations.expiry


class RetentionPolicy(TenantModel):
    """Anonymise contacts with no activity for `inactive_years` (None: keep forever)."""

    inactive_years = models.PositiveSmallIntegerField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run_summary = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="retention_policy_once"),
        ]
