"""Blank pages (the empty backs of a duplex scan) are found and left out of the letter.

The pages are made the way a duplex scanner makes them: a 200 dpi grey A4 page,
a blank back with dust specks, a dark scanner edge and the letter on the other
side showing through faintly; the original scan stays the intake item's blob.
"""

from __future__ import annotations

import random

from PIL import Image, ImageDraw, ImageFont

from garnizon.intake.barcodes import is_blank, read_pages
from garnizon.intake.models import IntakeMode, IntakeState, IntakeStepResult
from garnizon.registry.labels import label_pdf
from garnizon.registry.models import IncomingItem
from tests.test_intake_barcodes import (
    FONT,
    LETTER,
    MM_PER_INCH,
    letter_page,
    page_count,
    register,
    scan_pdf,
    separator_page,
    take,
)
from tests.test_intake_barcodes import _dirs as _dirs

DPI = 200


def blank_back(dpi: int = DPI, *, seed: int = 1) -> Image.Image:
    """An empty back: dust specks, a dark edge at the border, the front showing through."""
    rng = random.Random(seed)
    front = letter_page(dpi, LETTER).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    page = front.point(lambda v: 255 - (255 - v) * 12 // 100)  # show-through: ~12 % of ink
    draw = ImageDraw.Draw(page)
    for _ in range(60):  # dust: single dark pixels and 2x2 specks
        x, y = rng.randrange(page.width), rng.randrange(page.height)
        draw.rectangle((x, y, x + rng.randrange(2), y + rng.randrange(2)), fill=0)
    draw.rectangle((0, 0, round(3 * dpi / MM_PER_INCH), page.height), fill=30)  # scanner edge
    return page


def one_word(dpi: int = DPI) -> Image.Image:
    """A back with only a short handwritten-size word on it: not blank."""
    page = Image.new("L", (round(210 / MM_PER_INCH * dpi), round(297 / MM_PER_INCH * dpi)), 255)
    font = ImageFont.truetype(FONT, round(14 / 72 * dpi))
    ImageDraw.Draw(page).text((page.width // 2, page.height // 2), "Wpłynęło", font=font, fill=0)
    return page


def test_empty_backs_are_blank_and_a_single_word_is_not():
    assert is_blank(blank_back())
    assert is_blank(blank_back(seed=2).reduce(2))  # read at half resolution too
    assert not is_blank(one_word())
    assert not is_blank(letter_page(DPI, LETTER))


def test_the_blank_pages_of_a_pdf_are_listed_but_not_a_page_with_a_barcode(tmp_path):
    pages = [letter_page(DPI, LETTER), blank_back(), one_word(), blank_back(seed=3)]
    pages.append(separator_page(DPI))
    found = read_pages(scan_pdf(pages, tmp_path / "skan.pdf", DPI), "application/pdf")
    assert found.pages == 5
    assert found.blank == [2, 4]


def test_a_duplex_letter_is_attached_without_its_empty_backs(garrison, tmp_path):
    pages = [letter_page(DPI, LETTER), blank_back(), letter_page(DPI, LETTER[1:]), blank_back()]
    item = take(
        garrison, scan_pdf(pages, tmp_path / "in" / "dwustronny.pdf", DPI), mode=IntakeMode.REGISTER
    )
    assert item.state == IntakeState.DONE, item.error_message
    assert item.blank_pages == [2, 4]
    assert page_count(item.document) == 2
    messages = dict(IntakeStepResult.objects.filter(item=item).values_list("step", "message"))
    assert "Puste strony (zostaną pominięte): 2, 4." in messages["barcodes"]
    assert "pominięto puste strony: 2, 4" in messages["ocr"]
    # The scan as it came stays the item's blob: nothing is lost.
    import pikepdf

    from garnizon.documents.blobstore import get_blob_store

    with pikepdf.open(get_blob_store().path(item.blob_sha256)) as original:
        assert len(original.pages) == 4


def test_a_scan_that_is_all_blank_keeps_its_pages(garrison, tmp_path):
    pages = [blank_back(), blank_back(seed=5)]
    item = take(
        garrison, scan_pdf(pages, tmp_path / "in" / "puste.pdf", DPI), mode=IntakeMode.REGISTER
    )
    assert item.state == IntakeState.DONE, item.error_message
    assert item.blank_pages == [1, 2]
    assert page_count(item.document) == 2


def test_dropping_can_be_switched_off(garrison, tmp_path, settings):
    settings.GARNIZON_INTAKE_DROP_BLANK_PAGES = False
    pages = [letter_page(DPI, LETTER), blank_back()]
    item = take(
        garrison, scan_pdf(pages, tmp_path / "in" / "wszystko.pdf", DPI), mode=IntakeMode.REGISTER
    )
    assert item.state == IntakeState.DONE, item.error_message
    assert item.blank_pages == []
    assert page_count(item.document) == 2


def test_a_duplex_batch_drops_the_backs_of_letters_and_separator_sheets(garrison, tmp_path):
    entries = [register(garrison, subject=f"Pismo {n}") for n in (1, 2)]
    first = letter_page(DPI, LETTER, label=label_pdf(entries[0]))
    second = letter_page(DPI, LETTER, label=label_pdf(entries[1]))
    pages = [first, blank_back(), separator_page(DPI), blank_back(seed=7), second, blank_back()]
    batch = take(garrison, scan_pdf(pages, tmp_path / "in" / "stos.pdf", DPI))
    assert batch.state == IntakeState.DONE, batch.error_message
    children = list(batch.children.order_by("pk"))
    assert len(children) == 2
    for child, entry in zip(children, entries, strict=True):
        assert child.state == IntakeState.DONE, child.error_message
        assert child.incoming_item_id == entry.pk
        assert page_count(child.document) == 1
    assert IncomingItem.objects.count() == 2
