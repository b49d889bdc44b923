from django.db import models
from django.utils.translation import gettext_lazy as _


class Sequence(models.Model):
    """A named gapless counter (register numbers, case numbers, audit sequence).

    Incremented by one atomic upsert inside the caller's transaction, so a
    rolled-back registration gives its number back and concurrent writers
    queue on the row lock instead of colliding.
    """

    name = models.CharField(max_length=200, unique=True)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class ScheduledJob(models.Model):
    """One periodic job's lease and last outcome (`common/scheduler.py`).

    Of several scheduler processes, the one whose compare-and-set UPDATE moves
    `next_run_at` forward (and takes `lease_until`) runs the job; the others see
    zero rows updated and skip it, so a job runs once per interval.
    """

    name = models.CharField(max_length=100, unique=True)
    next_run_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=200, blank=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=10, blank=True)
    last_message = models.TextField(blank=True)
    runs = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} (next {self.next_run_at:%Y-%m-%d %H:%M:%S})"


class JobRun(models.Model):
    """One run of a scheduled job: who ran it, when, and how it ended."""

    OK = "ok"
    FAILED = "failed"

    job = models.CharField(max_length=100)
    owner = models.CharField(max_length=200)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["job", "started_at"])]

    def __str__(self) -> str:
        return f"{self.job} {self.started_at:%Y-%m-%d %H:%M:%S} {self.outcome}"


class RateCounter(models.Model):
    """Fixed-window counters for rate limits, shared by every web process and machine.

    `key` is the limit's name, the subject (an address, an e-mail hash) and the
    window's number; `expires_at` lets the cleanup drop old windows.
    """

    key = models.CharField(max_length=200, unique=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}={self.count}"


class Lease(models.Model):
    """Who holds a named piece of work right now, on any machine (`common/leases.py`):
    an IMAP mailbox's poll (`imap:<mailbox>`), a full rebuild of the search index
    (`search:rebuild`).

    Taken with one compare-and-set UPDATE (free, or expired), renewed as the work
    goes on and cleared at the end; a holder that dies leaves a lease that expires.
    """

    name = models.CharField(_("zadanie"), max_length=200, unique=True)
    owner = models.CharField(_("proces"), max_length=200, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    acquired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("dzierżawa zadania")
        verbose_name_plural = _("dzierżawy zadań")

    def __str__(self) -> str:
        return f"{self.name}: {self.owner or '-'}"
