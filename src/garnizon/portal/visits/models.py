"""Visit booking: what a unit offers (kinds), when (rules, closed days, slots), who comes.

A slot's capacity can never be exceeded: each booking takes a numbered seat,
and (slot, seat) is unique among active bookings in the database itself, so
two requests racing for the last seat cannot both win on either database.
"""

from __future__ import annotations

import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from garnizon.org.models import Unit


class AppointmentKind(models.Model):
    """One kind of visit a unit offers (e.g. the commander's complaint reception hours)."""

    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="appointment_kinds")
    name = models.CharField(_("nazwa"), max_length=200)
    description = models.TextField(_("opis dla interesantów"), blank=True, max_length=2000)
    duration_minutes = models.PositiveSmallIntegerField(_("czas trwania (minuty)"), default=15)
    place = models.CharField(_("miejsce (adres, pokój)"), max_length=300)
    capacity = models.PositiveSmallIntegerField(_("liczba osób na jeden termin"), default=1)
    book_ahead_days = models.PositiveSmallIntegerField(
        _("ile dni naprzód można rezerwować"), default=28
    )
    min_notice_hours = models.PositiveSmallIntegerField(
        _("najkrótsze wyprzedzenie rezerwacji (godziny)"), default=24
    )
    is_active = models.BooleanField(_("dostępny dla interesantów"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["unit_id", "name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=5) & Q(duration_minutes__lte=480),
                name="visits_kind_duration",
            ),
            models.CheckConstraint(
                condition=Q(capacity__gte=1) & Q(capacity__lte=100), name="visits_kind_capacity"
            ),
        ]
        verbose_name = _("rodzaj wizyty")
        verbose_name_plural = _("rodzaje wizyt")

    def __str__(self) -> str:
        return self.name


class OpeningRule(models.Model):
    """Weekly hours: on `weekday` (0 = Monday) slots run from `starts` to `ends`."""

    kind = models.ForeignKey(AppointmentKind, on_delete=models.CASCADE, related_name="rules")
    weekday = models.PositiveSmallIntegerField(_("dzień tygodnia"))
    starts = models.TimeField(_("od"))
    ends = models.TimeField(_("do"))

    class Meta:
        ordering = ["weekday", "starts"]
        constraints = [
            models.CheckConstraint(condition=Q(weekday__lte=6), name="visits_rule_weekday"),
            models.CheckConstraint(
                condition=Q(ends__gt=models.F("starts")), name="visits_rule_range"
            ),
        ]
        verbose_name = _("godziny przyjęć")
        verbose_name_plural = _("godziny przyjęć")

    def __str__(self) -> str:
        return f"{self.weekday} {self.starts:%H:%M}–{self.ends:%H:%M}"


class ClosedDay(models.Model):
    """A day without visits in a unit (all kinds, or one kind only)."""

    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="closed_days")
    kind = models.ForeignKey(
        AppointmentKind,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="closed_days",
        verbose_name=_("rodzaj wizyty"),
    )
    date = models.DateField(_("dzień"))
    reason = models.CharField(_("powód"), max_length=200, blank=True)

    class Meta:
        ordering = ["date", "id"]
        verbose_name = _("dzień bez przyjęć")
        verbose_name_plural = _("dni bez przyjęć")

    def __str__(self) -> str:
        return f"{self.date:%d.%m.%Y}"


class Slot(models.Model):
    """One bookable time of one kind; `capacity` is copied from the kind when generated."""

    kind = models.ForeignKey(AppointmentKind, on_delete=models.PROTECT, related_name="slots")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    capacity = models.PositiveSmallIntegerField()
    is_cancelled = models.BooleanField(default=False)
    cancel_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "starts_at"], name="visits_slot_unique"),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="visits_slot_capacity"),
        ]
        indexes = [models.Index(fields=["starts_at"], name="visits_slot_start")]
        verbose_name = _("termin")
        verbose_name_plural = _("terminy")

    def __str__(self) -> str:
        return f"{self.kind}: {self.starts_at:%Y-%m-%d %H:%M}"

    @property
    def day(self) -> datetime.date:
        return timezone.localtime(self.starts_at).date()


class BookingStatus(models.TextChoices):
    BOOKED = "booked", _("zarezerwowana")
    CANCELLED_BY_CITIZEN = "cancelled_citizen", _("odwołana przez interesanta")
    CANCELLED_BY_UNIT = "cancelled_unit", _("odwołana przez jednostkę")


class Booking(models.Model):
    """A citizen's place on a slot. `seat` is 1..slot.capacity, unique while booked."""

    slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="bookings")
    seat = models.PositiveSmallIntegerField()
    status = models.CharField(
        max_length=20, choices=BookingStatus.choices, default=BookingStatus.BOOKED
    )
    name = models.CharField(_("imię i nazwisko"), max_length=200)
    email = models.EmailField(_("adres e-mail"), max_length=254)
    phone = models.CharField(_("telefon"), max_length=30, blank=True)
    matter = models.CharField(_("sprawa"), max_length=500)
    # The form's secret token: the same form sent twice makes one booking.
    client_token = models.CharField(max_length=64, unique=True)
    # SHA-256 of the secret manage/cancel token (the token itself is only in the link).
    token_sha256 = models.CharField(max_length=64, unique=True)
    language = models.CharField(max_length=8, default="pl")
    client_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=300, blank=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    cancellation_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["slot__starts_at", "seat", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["slot", "seat"],
                condition=Q(status="booked"),
                name="visits_booking_one_per_seat",
            ),
            models.CheckConstraint(condition=Q(seat__gte=1), name="visits_booking_seat"),
        ]
        indexes = [
            models.Index(fields=["email", "created_at"], name="visits_booking_email"),
        ]
        verbose_name = _("rezerwacja wizyty")
        verbose_name_plural = _("rezerwacje wizyt")

    def __str__(self) -> str:
        return f"{self.slot} #{self.seat}"

    @property
    def is_active(self) -> bool:
        return self.status == BookingStatus.BOOKED
