"""The incoming and outgoing registers and the address book."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from garnizon.cases.deadlines import DeadlineKind

EDORECZENIA_ADDRESS = re.compile(r"^AE:PL-\d{5}-\d{5}-[A-Z]{5}-\d{2}$")


def validate_edoreczenia_address(value: str) -> None:
    if value and not EDORECZENIA_ADDRESS.match(value):
        raise ValidationError(
            _("Adres do e-Doręczeń ma postać AE:PL-12345-67890-ABCDE-12."), code="edoreczenia"
        )


class Channel(models.TextChoices):
    PAPER = "paper", _("papier")
    EMAIL = "email", _("e-mail")
    FAX = "fax", _("faks")
    EPUAP = "epuap", _("ePUAP")
    EDORECZENIA = "edoreczenia", _("e-Doręczenia")
    PORTAL = "portal", _("portal")
    IN_PERSON = "in_person", _("osobiście")


class CorrespondentKind(models.TextChoices):
    PERSON = "person", _("osoba fizyczna")
    INSTITUTION = "institution", _("instytucja")
    COMPANY = "company", _("firma")
    PUBLIC_BODY = "public_body", _("podmiot publiczny")


class Correspondent(models.Model):
    """A sender or addressee in the address book."""

    kind = models.CharField(_("rodzaj"), max_length=20, choices=CorrespondentKind.choices)
    name = models.CharField(_("nazwa lub imię i nazwisko"), max_length=300, db_index=True)
    street = models.CharField(_("ulica i numer"), max_length=200, blank=True)
    postal_code = models.CharField(_("kod pocztowy"), max_length=12, blank=True)
    city = models.CharField(_("miejscowość"), max_length=100, blank=True)
    country = models.CharField(_("kraj"), max_length=2, default="PL")
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("telefon"), max_length=40, blank=True)
    edoreczenia_address = models.CharField(
        _("adres do e-Doręczeń"),
        max_length=40,
        blank=True,
        validators=[validate_edoreczenia_address],
    )
    tax_id = models.CharField(_("NIP"), max_length=20, blank=True)
    unit = models.ForeignKey(
        "org.Unit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Jednostka, która dodała wpis; książka adresowa jest wspólna."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("kontrahent")
        verbose_name_plural = _("książka adresowa")

    def __str__(self) -> str:
        return self.name

    def address_line(self) -> str:
        parts = [self.street, " ".join(p for p in [self.postal_code, self.city] if p)]
        return ", ".join(p for p in parts if p)


class IncomingItem(models.Model):
    """One entry of the incoming register (RPW): numbered per unit per year."""

    unit = models.ForeignKey("org.Unit", on_delete=models.PROTECT, related_name="incoming_items")
    year = models.PositiveIntegerField()
    number = models.PositiveIntegerField()
    registration_number = models.CharField(max_length=60, unique=True)
    received_at = models.DateTimeField(_("data wpływu"))
    channel = models.CharField(_("kanał"), max_length=20, choices=Channel.choices)
    subject = models.CharField(_("tytuł / dotyczy"), max_length=500)
    sender = models.ForeignKey(
        Correspondent, null=True, blank=True, on_delete=models.PROTECT, related_name="sent_items"
    )
    sender_name = models.CharField(_("nadawca"), max_length=300, blank=True)
    letter_date = models.DateField(_("data pisma"), null=True, blank=True)
    letter_reference = models.CharField(_("znak pisma"), max_length=100, blank=True)
    attachments_count = models.PositiveIntegerField(_("liczba załączników"), null=True, blank=True)
    kind = models.CharField(
        _("rodzaj sprawy"), max_length=40, choices=DeadlineKind.choices, default=DeadlineKind.NONE
    )
    due_date = models.DateField(_("termin"), null=True, blank=True)
    deadline_basis = models.CharField(_("podstawa terminu"), max_length=300, blank=True)
    deadline_explanation = models.TextField(_("sposób liczenia terminu"), blank=True)
    # The current handling assignment's cell and person, copied here by the
    # services (registration, `assign`) so the register filters on indexed columns;
    # the assignments themselves are the history.
    assigned_cell = models.ForeignKey(
        "org.Cell", null=True, blank=True, on_delete=models.PROTECT, related_name="incoming_items"
    )
    assigned_person = models.ForeignKey(
        "org.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="incoming_items"
    )
    case = models.ForeignKey(
        "cases.Case",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="incoming_items",
    )
    paper_location = models.CharField(
        _("miejsce przechowywania oryginału"), max_length=200, blank=True
    )
    remarks = models.TextField(_("uwagi"), blank=True)
    is_restricted = models.BooleanField(
        _("dostęp ograniczony"),
        default=False,
        help_text=_("Np. zgłoszenia sygnalistów: widzi tylko adresat dekretacji."),
    )
    registered_by = models.ForeignKey(
        "org.Person", on_delete=models.PROTECT, related_name="registered_items"
    )
    registered_at = models.DateTimeField(auto_now_add=True)
    client_token = models.CharField(max_length=64, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["unit", "year", "number"], name="rpw_number_unique")
        ]
        indexes = [
            models.Index(fields=["unit", "-id"], name="rpw_unit_id"),
            models.Index(fields=["assigned_cell", "-id"], name="rpw_cell_id"),
            models.Index(fields=["assigned_person", "-id"], name="rpw_person_id"),
            models.Index(fields=["due_date"], name="rpw_due"),
            models.Index(fields=["registered_by", "-id"], name="rpw_registrar_id"),
        ]
        verbose_name = _("przesyłka wpływająca")
        verbose_name_plural = _("rejestr przesyłek wpływających")

    def __str__(self) -> str:
        return self.registration_number


class OutgoingItem(models.Model):
    """One dispatch in the outgoing register, numbered per unit per year."""

    unit = models.ForeignKey("org.Unit", on_delete=models.PROTECT, related_name="outgoing_items")
    year = models.PositiveIntegerField()
    number = models.PositiveIntegerField()
    registration_number = models.CharField(max_length=60, unique=True)
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="outgoing_items"
    )
    channel = models.CharField(_("kanał"), max_length=20, choices=Channel.choices)
    addressee = models.ForeignKey(
        Correspondent,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="received_items",
    )
    addressee_name = models.CharField(_("adresat"), max_length=300)
    address = models.CharField(_("adres"), max_length=400, blank=True)
    edoreczenia_address = models.CharField(
        _("adres do e-Doręczeń"),
        max_length=40,
        blank=True,
        validators=[validate_edoreczenia_address],
    )
    subject = models.CharField(_("dotyczy"), max_length=500)
    sent_on = models.DateField(_("data wysłania"))
    priority = models.BooleanField(_("priorytet"), default=False)
    registered_mail = models.BooleanField(_("polecony"), default=False)
    return_receipt = models.BooleanField(_("za potwierdzeniem odbioru"), default=False)
    tracking_number = models.CharField(_("numer nadawczy"), max_length=60, blank=True)
    postage = models.DecimalField(
        _("opłata"), max_digits=8, decimal_places=2, null=True, blank=True
    )
    remarks = models.TextField(_("uwagi"), blank=True)
    registered_by = models.ForeignKey(
        "org.Person", on_delete=models.PROTECT, related_name="dispatched_items"
    )
    registered_at = models.DateTimeField(auto_now_add=True)
    client_token = models.CharField(max_length=64, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["unit", "year", "number"], name="outgoing_number_unique"
            )
        ]
        indexes = [models.Index(fields=["unit", "-id"], name="out_unit_id")]
        verbose_name = _("przesyłka wychodząca")
        verbose_name_plural = _("rejestr przesyłek wychodzących")

    def __str__(self) -> str:
        return self.registration_number
