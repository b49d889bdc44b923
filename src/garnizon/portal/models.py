"""What a citizen filed through the portal, beside the register entry it created."""

from __future__ import annotations

import json

from django.db import models
from django.utils.translation import gettext_lazy as _


class EService(models.TextChoices):
    """The portal's services; the value is also the URL slug."""

    LETTER = "pismo", _("Pismo do jednostki Policji")
    COMPLAINT = "skarga", _("Skarga lub wniosek")
    PUBLIC_INFORMATION = "informacja-publiczna", _("Wniosek o udostępnienie informacji publicznej")
    PETITION = "petycja", _("Petycja")
    CERTIFICATE = "zaswiadczenie", _("Zaświadczenie o zdarzeniu drogowym")
    ROAD_VIDEO = "agresja-drogowa", _("Nagranie agresji drogowej")
    THREAT = "zagrozenie", _("Zgłoszenie zagrożenia na mapie")


class Citizen(models.Model):
    """A filer who proved who they are: through SAML (the login node) or a confirmed e-mail.

    `saml_subject` is the identity provider's persistent NameID (never a PESEL in
    clear); `email` is set and confirmed for either kind of login.
    """

    class Method(models.TextChoices):
        SAML = "saml", _("węzeł krajowy (SAML)")
        EMAIL = "email", _("potwierdzony adres e-mail")

    method = models.CharField(max_length=10, choices=Method.choices)
    saml_issuer = models.CharField(max_length=500, blank=True)
    saml_subject = models.CharField(max_length=500, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    language = models.CharField(max_length=10, default="pl")
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("użytkownik portalu")
        verbose_name_plural = _("użytkownicy portalu")
        constraints = [
            models.UniqueConstraint(
                fields=["saml_issuer", "saml_subject"],
                condition=models.Q(method="saml"),
                name="portal_citizen_unique_saml",
            ),
            models.UniqueConstraint(
                fields=["email"],
                condition=models.Q(method="email"),
                name="portal_citizen_unique_email",
            ),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.email or f"#{self.pk}"


class Submission(models.Model):
    """One filing: the register entry, what exactly was filed and its hash, the tracking key.

    `canonical_json` is the filed form (with each attachment's SHA-256) serialised
    with sorted keys; `content_sha256` is its hash and is printed on the receipt.
    Only the SHA-256 of the tracking token is kept: the token itself is shown once.
    """

    service = models.CharField(max_length=30, choices=EService.choices)
    incoming_item = models.OneToOneField(
        "registry.IncomingItem", on_delete=models.PROTECT, related_name="portal_submission"
    )
    unit = models.ForeignKey("org.Unit", on_delete=models.PROTECT, related_name="+")
    citizen = models.ForeignKey(
        Citizen, null=True, blank=True, on_delete=models.PROTECT, related_name="submissions"
    )
    #: Where notifications go (the filer's address, or the logged-in citizen's).
    email = models.EmailField(max_length=254, blank=True)
    client_token = models.CharField(max_length=64, unique=True)
    tracking_token_sha256 = models.CharField(max_length=64, unique=True)
    canonical_json = models.TextField()
    content_sha256 = models.CharField(max_length=64)
    attachments = models.JSONField(default=list)
    is_anonymous = models.BooleanField(default=False)
    language = models.CharField(max_length=10, default="pl")
    client_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    #: A petition published as the law requires (art. 8 of the Petitions Act), once accepted.
    published_at = models.DateTimeField(null=True, blank=True)
    published_text = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("zgłoszenie z portalu")
        verbose_name_plural = _("zgłoszenia z portalu")
        indexes = [models.Index(fields=["citizen", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_service_display()} {self.incoming_item_id}"

    def filed_fields(self) -> dict:
        """The answers as filed (from `canonical_json`); {} if it cannot be read."""
        try:
            fields = json.loads(self.canonical_json).get("fields", {})
        except (ValueError, AttributeError):
            return {}
        return fields if isinstance(fields, dict) else {}


class SubmissionAddition(models.Model):
    """A document a logged-in citizen added to an earlier filing (goes to intake on its entry)."""

    submission = models.ForeignKey(Submission, on_delete=models.PROTECT, related_name="additions")
    name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    mime = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class PortalReply(models.Model):
    """An answer delivered through the portal: an outgoing item (channel `portal`) and its files.

    `files` lists each delivered file as {name, sha256, size, mime}; `opened_at`
    records the first time the filer opened it (the proof of delivery).
    """

    submission = models.ForeignKey(Submission, on_delete=models.PROTECT, related_name="replies")
    outgoing_item = models.OneToOneField(
        "registry.OutgoingItem", on_delete=models.PROTECT, related_name="portal_reply"
    )
    subject = models.CharField(max_length=500)
    body = models.TextField(blank=True)
    files = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("odpowiedź przez portal")
        verbose_name_plural = _("odpowiedzi przez portal")

    def __str__(self) -> str:
        return self.subject


class ThreatCategory(models.TextChoices):
    """The national threat map's (KMZB) categories, as listed in DOMAIN.md."""

    ILLEGAL_PARKING = "parkowanie", _("nielegalne parkowanie")
    SPEEDING = "predkosc", _("przekraczanie dozwolonej prędkości")
    ROAD_INFRASTRUCTURE = "infrastruktura", _("niebezpieczna infrastruktura drogowa")
    STREET_RACING = "wyscigi", _("nielegalne wyścigi samochodowe")
    VANDALISM = "wandalizm", _("akty wandalizmu")
    ILLEGAL_DUMPING = "odpady", _("dzikie wysypiska śmieci")
    PUBLIC_DRINKING = "alkohol", _("spożywanie alkoholu w miejscach niedozwolonych")
    STRAY_DOGS = "psy", _("bezpańskie psy")
    GRASS_BURNING = "wypalanie", _("wypalanie traw")
    POACHING = "klusownictwo", _("kłusownictwo")
    ANIMAL_CRUELTY = "zwierzeta", _("znęcanie się nad zwierzętami")
    DRUGS = "narkotyki", _("miejsce handlu lub używania narkotyków")
    HOMELESS_IN_NEED = "bezdomny", _("osoba bezdomna wymagająca pomocy")
    DANGEROUS_BATHING = "kapieliska", _("niebezpieczne miejsce kąpieli")


class ThreatReport(models.Model):
    """A threat-map report: the point, its category and its public status.

    Nearby reports are shown to the next filer (category, place, date, status:
    never the description or the filer), so the location is public data.
    """

    class Status(models.TextChoices):
        REPORTED = "reported", _("zgłoszone")
        VERIFYING = "verifying", _("weryfikowane")
        CONFIRMED = "confirmed", _("potwierdzone")
        NOT_CONFIRMED = "not_confirmed", _("niepotwierdzone")
        RESOLVED = "resolved", _("wyeliminowane")

    submission = models.OneToOneField(
        Submission, on_delete=models.PROTECT, related_name="threat_report"
    )
    unit = models.ForeignKey("org.Unit", on_delete=models.PROTECT, related_name="+")
    category = models.CharField(max_length=20, choices=ThreatCategory.choices)
    latitude = models.DecimalField(max_digits=9, decimal_places=6)
    longitude = models.DecimalField(max_digits=9, decimal_places=6)
    place = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.REPORTED)
    created_at = models.DateTimeField(auto_now_add=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["latitude", "longitude"])]
        verbose_name = _("zgłoszenie zagrożenia")
        verbose_name_plural = _("zgłoszenia zagrożeń")

    def __str__(self) -> str:
        return f"{self.get_category_display()} ({self.latitude}, {self.longitude})"
