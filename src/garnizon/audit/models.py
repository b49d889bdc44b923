"""The tamper-evident audit trail: append-only, hash-chained."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    VIEW = "view", _("wyświetlenie")
    CREATE = "create", _("utworzenie")
    UPDATE = "update", _("zmiana")
    DELETE = "delete", _("usunięcie")
    EXPORT = "export", _("eksport")
    LOGIN = "login", _("logowanie")
    LOGIN_FAILED = "login_failed", _("nieudane logowanie")
    LOGOUT = "logout", _("wylogowanie")
    IMPORT = "import", _("import")


class AuditEntry(models.Model):
    """Who did what to which object, when, and on whose behalf.

    `seq` runs without gaps and `entry_hash` covers the previous entry's hash,
    so a changed, removed or inserted entry breaks the chain and
    `garnizon audit verify` finds it. `AuditHead` holds the last seq and hash,
    so cutting off the newest entries is found too.
    """

    seq = models.BigIntegerField(unique=True)
    occurred_at = models.DateTimeField()
    # DO_NOTHING without a database constraint: the entry keeps the actor's id
    # and username after the person is deleted. SET_NULL would rewrite hashed
    # history (breaking the chain), and the immutability trigger refuses it.
    actor = models.ForeignKey(
        "org.Person",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
    )
    actor_username = models.CharField(max_length=150, blank=True)
    on_behalf_of_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=20, choices=AuditAction.choices)
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    unit_id = models.BigIntegerField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    remote_addr = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["actor", "-seq"], name="audit_actor"),
        ]
        verbose_name = _("wpis dziennika zdarzeń")
        verbose_name_plural = _("dziennik zdarzeń")

    def __str__(self) -> str:
        return (
            f"#{self.seq} {self.actor_username} {self.action} {self.object_type}:{self.object_id}"
        )


class AuditHead(models.Model):
    """A single row: the newest seq and hash. Locked to append one entry at a time."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"#{self.last_seq} {self.last_hash[:12]}"
