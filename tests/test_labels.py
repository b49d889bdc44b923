"""Barcode labels for incoming items: PDF decoded from pixels, ZPL, raw TCP, views."""

from __future__ import annotations

import itertools
import socket
import threading

import pypdfium2 as pdfium
import pytest
import zxingcpp
from django.urls import reverse

from garnizon.audit.models import AuditEntry
from garnizon.common.errors import DomainError
from garnizon.registry import labels
from garnizon.registry.labels import label_pdf, label_zpl, send_zpl
from garnizon.registry.services import incoming_item_register
from tests.factories import PASSWORD
from tests.test_web import MATRIX, ROLES, client_for, world  # noqa: F401 (a fixture)

MM_PER_INCH = 25.4


@pytest.fixture
def item(garrison):
    return incoming_item_register(
        actor=garrison.people["clerk"], unit=garrison.kwp, subject="Skarga — żółć", channel="paper"
    )


def _render(pdf: bytes, dpi: int):
    page = pdfium.PdfDocument(pdf)[0]
    return page.render(scale=dpi / 72).to_pil().convert("L")


def _decoded(image) -> dict[str, object]:
    return {
        b.format.name: b
        for b in zxingcpp.read_barcodes(
            image, formats=(zxingcpp.BarcodeFormat.Code128, zxingcpp.BarcodeFormat.QRCode)
        )
    }


class _Printer:
    """A raw TCP listener on 127.0.0.1 that records what a client sends, like port 9100
    of a Zebra printer (which cannot run here)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
            self.received.append(b"".join(chunks))

    def wait(self) -> bytes:
        self.thread.join(timeout=5)
        self.server.close()
        return self.received[0]


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


# --- PDF ----------


@pytest.mark.django_db
@pytest.mark.parametrize("dpi", [300, 200])
def test_pdf_barcodes_decode_from_pixels(item, dpi):
    decoded = _decoded(_render(label_pdf(item), dpi))
    assert item.registration_number.startswith("KWP/RPW/")
    assert decoded["Code128"].text == item.registration_number
    assert decoded["QRCode"].text == item.registration_number


@pytest.mark.django_db
def test_pdf_barcodes_decode_from_a_bilevel_fax_like_image(item):
    """Fax is black and white at about 200 dpi (204 x 196): no grey to help the reader."""
    image = _render(label_pdf(item), 200).point(lambda v: 255 if v >= 128 else 0).convert("1")
    decoded = _decoded(image.convert("L"))
    assert decoded["Code128"].text == item.registration_number
    assert decoded["QRCode"].text == item.registration_number


@pytest.mark.django_db
def test_pdf_a4_and_long_numbers_decode(item):
    item.registration_number = "KMP-BP/RPW/123456/2026"
    decoded = _decoded(_render(label_pdf(item, size="a4"), 200))
    assert decoded["Code128"].text == item.registration_number
    assert decoded["QRCode"].text == item.registration_number


@pytest.mark.django_db
def test_code128_narrowest_module_is_at_least_04_mm(item):
    assert labels.CODE128_MODULE_MM >= 0.4
    dpi = 600
    image = _render(label_pdf(item), dpi)
    code = _decoded(image)["Code128"]
    pos = code.position
    row = (pos.top_left.y + pos.bottom_left.y) // 2
    left, right = pos.top_left.x, pos.top_right.x
    pixels = [image.getpixel((x, row)) < 128 for x in range(left - 5, right + 6)]
    runs, count = [], 1
    for previous, current in itertools.pairwise(pixels):
        if current == previous:
            count += 1
        else:
            runs.append((previous, count))
            count = 1
    bars = [n for dark, n in runs if dark]
    spaces = [n for dark, n in runs[1:] if not dark]  # not the quiet zone before the first bar
    assert len(bars) > 30
    narrowest_mm = min(bars + spaces) * MM_PER_INCH / dpi
    assert narrowest_mm >= 0.4, narrowest_mm
    assert narrowest_mm == pytest.approx(labels.CODE128_MODULE_MM, abs=0.05)


@pytest.mark.django_db
def test_pdf_keeps_polish_text(item):
    pdf = pdfium.PdfDocument(label_pdf(item))
    text = pdf[0].get_textpage().get_text_range()
    assert "Wpłynęło" in text
    assert "Skarga — żółć" in text
    assert item.registration_number in text
    assert "KWP" in text


@pytest.mark.django_db
def test_pdf_unknown_size_is_refused(item):
    with pytest.raises(DomainError):
        label_pdf(item, size="b5")


# --- ZPL ----------


@pytest.mark.django_db
def test_zpl_structure(item):
    zpl = label_zpl(item)
    number = item.registration_number
    assert zpl.startswith("^XA")
    assert zpl.rstrip().endswith("^XZ")
    assert zpl.count("^XA") == 1 and zpl.count("^XZ") == 1
    assert "^CI28" in zpl and zpl.index("^CI28") < zpl.index("^FD")
    assert "^BY4," in zpl
    assert f"^BCR,160,N,N,N,A^FH^FD{number}^FS" in zpl
    assert f"^BQN,2,8^FH^FDMA,{number}^FS" in zpl
    assert "Skarga — żółć" in zpl
    assert "Wpłynęło" in zpl
    assert "Skarga — żółć".encode() in zpl.encode("utf-8")


@pytest.mark.django_db
def test_zpl_user_text_cannot_inject_commands(item):
    item.subject = "A^XZ^XA^FDzły~JA_x\nB"
    zpl = label_zpl(item)
    assert "A_5EXZ_5EXA_5EFDzły_7EJA_5Fx B" in zpl
    assert zpl.count("^XZ") == 1 and zpl.count("^XA") == 1
    assert "~" not in zpl and "\nB" not in zpl


# --- raw TCP ----------


def test_send_zpl_delivers_exact_bytes():
    printer = _Printer()
    zpl = "^XA^CI28^FO10,10^A0N,30,30^FDżółć^FS^XZ\n"
    send_zpl(zpl, "127.0.0.1", printer.port)
    assert printer.wait() == zpl.encode("utf-8")


def test_send_zpl_to_closed_port_is_a_polish_error():
    with pytest.raises(DomainError) as exc:
        send_zpl("^XA^XZ", "127.0.0.1", _closed_port(), timeout=2)
    assert "odrzuciła połączenie" in str(exc.value.message)
    assert exc.value.code == "printer_refused"


# --- views ----------


def _login(client, person):
    assert client.login(username=person.username, password=PASSWORD)


@pytest.mark.django_db
def test_pdf_view_for_a_visible_item(client, garrison, item):
    _login(client, garrison.people["clerk"])
    response = client.get(reverse("web:incoming_label_pdf", args=[item.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline;")
    assert _decoded(_render(response.content, 200))["Code128"].text == item.registration_number
    entry = AuditEntry.objects.filter(action="export", object_id=str(item.pk)).get()
    assert entry.details == {"label": "pdf"}


@pytest.mark.django_db
def test_views_hide_items_the_user_may_not_see(client, garrison, item, settings):
    printer_port = _closed_port()
    settings.GARNIZON_LABEL_PRINTERS = {"Zebra": f"127.0.0.1:{printer_port}"}
    _login(client, garrison.people["kmp_handler"])
    assert client.get(reverse("web:incoming_detail", args=[item.pk])).status_code == 404
    assert client.get(reverse("web:incoming_label_pdf", args=[item.pk])).status_code == 404
    url = reverse("web:incoming_label_print", args=[item.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"printer": "Zebra"}).status_code == 404
    assert not AuditEntry.objects.filter(action="export").exists()


@pytest.mark.django_db
def test_views_need_login(client, item):
    response = client.get(reverse("web:incoming_label_pdf", args=[item.pk]))
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.django_db
def test_print_view_sends_zpl_to_the_configured_printer(client, garrison, item, settings):
    printer = _Printer()
    settings.GARNIZON_LABEL_PRINTERS = {"Kancelaria KWP": f"127.0.0.1:{printer.port}"}
    _login(client, garrison.people["clerk"])
    url = reverse("web:incoming_label_print", args=[item.pk])
    chooser = client.get(url).content.decode()
    assert '<option value="Kancelaria KWP">' in chooser
    response = client.post(url, {"printer": "Kancelaria KWP"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("web:incoming_detail", args=[item.pk])
    assert printer.wait() == label_zpl(item).encode("utf-8")
    assert "Etykietę wysłano do drukarki Kancelaria KWP." in response.content.decode()
    entry = AuditEntry.objects.filter(action="export", object_id=str(item.pk)).get()
    assert entry.details == {"label": "zpl", "printer": "Kancelaria KWP"}
    assert entry.actor_username == garrison.people["clerk"].username


@pytest.mark.django_db
def test_print_view_shows_a_refusal_as_a_message(client, garrison, item, settings):
    settings.GARNIZON_LABEL_PRINTERS = {"Zebra": f"127.0.0.1:{_closed_port()}"}
    _login(client, garrison.people["clerk"])
    url = reverse("web:incoming_label_print", args=[item.pk])
    response = client.post(url, {"printer": "Zebra"}, follow=True)
    assert response.status_code == 200
    assert "odrzuciła połączenie" in response.content.decode()
    assert not AuditEntry.objects.filter(action="export").exists()


@pytest.mark.django_db
def test_print_view_refuses_an_unknown_printer(client, garrison, item, settings):
    settings.GARNIZON_LABEL_PRINTERS = {}
    _login(client, garrison.people["clerk"])
    url = reverse("web:incoming_label_print", args=[item.pk])
    response = client.post(url, {"printer": "10.0.0.1:9100"}, follow=True)
    assert response.status_code == 200
    assert "Wybierz drukarkę etykiet z listy." in response.content.decode()
    assert "Nie skonfigurowano drukarek etykiet." in response.content.decode()


@pytest.mark.django_db
def test_item_page_links_to_labels(client, garrison, item):
    _login(client, garrison.people["clerk"])
    page = client.get(reverse("web:incoming_detail", args=[item.pk])).content.decode()
    assert reverse("web:incoming_label_pdf", args=[item.pk]) in page
    assert reverse("web:incoming_label_print", args=[item.pk]) in page


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_label_pages_follow_the_item_page_in_the_permission_matrix(world, role):  # noqa: F811
    client = client_for(world["g"].people[role])
    item_id = world["item"].pk
    expected = MATRIX["incoming_detail"][role]
    assert client.get(reverse("web:incoming_label_pdf", args=[item_id])).status_code == expected
    assert client.get(reverse("web:incoming_label_print", args=[item_id])).status_code == expected


def test_label_printers_come_from_the_environment(monkeypatch) -> None:
    import importlib

    import garnizon.settings as garnizon_settings

    monkeypatch.setenv("GARNIZON_LABEL_PRINTERS", "kancelaria=10.0.0.5:9100,wydzial=zebra-2")
    reloaded = importlib.reload(garnizon_settings)
    try:
        assert reloaded.GARNIZON_LABEL_PRINTERS == {
            "kancelaria": "10.0.0.5:9100",
            "wydzial": "zebra-2",
        }
    finally:
        monkeypatch.delenv("GARNIZON_LABEL_PRINTERS")
        importlib.reload(garnizon_settings)
