"""Thumbnails: rendering (PDF, PNG, JPEG, TIFF; bombs refused; other formats none), the
version's column, the view's need-to-know and headers, web uploads and the intake step."""

from __future__ import annotations

import io
import re

import pikepdf
import pytest
from django.urls import reverse
from PIL import Image

from garnizon.documents import services
from garnizon.documents import thumbnails as thumbs
from garnizon.documents.blobstore import get_blob_store
from garnizon.documents.models import DocumentVersion
from garnizon.documents.thumbnails import (
    ThumbnailError,
    render_thumbnail,
    version_thumbnail,
)
from garnizon.intake.models import IntakeState
from garnizon.intake.pipeline import run_pipeline
from garnizon.intake.steps import MAX_IMAGE_PIXELS, STEPS
from garnizon.intake.thumbnails import Thumbnail
from tests import test_documents
from tests.test_documents import CASE_READERS, client_for, upload
from tests.test_intake import add, png_claiming, steps, write
from tests.workers import run_db_worker_batch

world = test_documents.world  # the case, items and people of the documents tests


@pytest.fixture(autouse=True)
def _dirs(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    settings.GARNIZON_INTAKE_DIR = tmp_path / "intake"
    settings.GARNIZON_QUARANTINE_DIR = tmp_path / "quarantine"
    settings.GARNIZON_MAX_UPLOAD_MB = 5
    settings.GARNIZON_CLAMD = ""


def a4_pdf() -> bytes:
    """An A4 page, white with a black square in its top-left quarter."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    pdf.pages[0].Contents = pdf.make_stream(b"0 g 50 600 200 200 re f")
    buffer = io.BytesIO()
    pdf.save(buffer)
    return buffer.getvalue()


def image_bytes(fmt: str, size: tuple[int, int], mode: str = "RGB", **save) -> bytes:
    buffer = io.BytesIO()
    image = Image.new(mode, size, "white" if mode != "1" else 1)
    # A black bar across the top tenth, to see that the picture is the page.
    image.paste("black" if mode != "1" else 0, (0, 0, size[0], max(1, size[1] // 10)))
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("L")


def render(tmp_path, content: bytes, mime: str) -> bytes | None:
    path = tmp_path / "file"
    path.write_bytes(content)
    return render_thumbnail(path, mime)


# --- rendering ----------------------------------------------------------------------------------


def test_a_pdf_page_is_rendered_300_px_wide(tmp_path):
    image = decode(render(tmp_path, a4_pdf(), "application/pdf"))
    assert image.size == (300, round(842 * 300 / 595))
    assert image.getpixel((60, 60)) < 60  # the black square (PDF y grows upwards)
    assert image.getpixel((250, 400)) > 200  # white paper


def test_a_png_is_scaled_down_keeping_its_shape(tmp_path):
    image = decode(render(tmp_path, image_bytes("PNG", (1200, 800)), "image/png"))
    assert image.size == (300, 200)
    assert image.getpixel((150, 5)) < 60 and image.getpixel((150, 150)) > 200


def test_a_large_jpeg_is_drafted(tmp_path):
    image = decode(render(tmp_path, image_bytes("JPEG", (4000, 3000)), "image/jpeg"))
    assert image.size == (300, 225)


def test_a_fax_tiff_first_page_with_square_pixels(tmp_path):
    """1728×1078 at 204×98 dpi (fax normal resolution), two pages, G4."""
    buffer = io.BytesIO()
    first = Image.new("1", (1728, 1078), 1)
    first.paste(0, (0, 0, 1728, 100))
    second = Image.new("1", (1728, 1078), 0)
    first.save(
        buffer, "TIFF", compression="group4", dpi=(204, 98), save_all=True, append_images=[second]
    )
    image = decode(render(tmp_path, buffer.getvalue(), "image/tiff"))
    assert image.size == (300, round(1078 * 204 / 98 * 300 / 1728))
    assert image.getpixel((150, 3)) < 60  # the first page's bar
    assert image.getpixel((150, 300)) > 200  # not the black second page


def test_a_small_gif_with_transparency_is_not_enlarged(tmp_path):
    buffer = io.BytesIO()
    Image.new("P", (40, 30), 0).save(buffer, "GIF", transparency=0)
    image = decode(render(tmp_path, buffer.getvalue(), "image/gif"))
    assert image.size == (40, 30)
    assert image.getpixel((20, 15)) > 200  # transparent → white paper


@pytest.mark.parametrize("size", [(10_000, 10_000), (30_000, 30_000)])
def test_a_decompression_bomb_is_refused(tmp_path, size):
    with pytest.raises(ThumbnailError) as caught:
        render(tmp_path, png_claiming(*size), "image/png")
    assert "podejrzanie wielkie wymiary" in caught.value.message


def test_the_bomb_limit_is_the_preflights():
    assert thumbs.MAX_IMAGE_PIXELS == MAX_IMAGE_PIXELS


def test_a_broken_pdf_is_an_error(tmp_path):
    with pytest.raises(ThumbnailError) as caught:
        render(tmp_path, b"%PDF-1.7\nnonsense\n%%EOF\n", "application/pdf")
    assert "PDF" in caught.value.message


@pytest.mark.parametrize(
    "mime", ["text/plain", "application/xml", "application/zip", "message/rfc822"]
)
def test_other_formats_have_no_thumbnail(tmp_path, mime):
    assert render(tmp_path, b"zwykly tekst", mime) is None


# --- the version's column -----------------------------------------------------------------------


def test_version_thumbnail_is_stored_once(world, monkeypatch):
    g = world["g"]
    document = services.document_add(
        actor=g.people["handler"], file=upload(a4_pdf()), case=world["case"]
    )
    version = document.versions.get()
    assert version.thumbnail_sha256 == ""
    sha = version_thumbnail(version)
    assert sha and DocumentVersion.objects.get(pk=version.pk).thumbnail_sha256 == sha
    assert get_blob_store().check(sha) is None

    def boom(*args, **kwargs):
        raise AssertionError("rendered twice")

    monkeypatch.setattr(thumbs, "render_thumbnail", boom)
    again = DocumentVersion.objects.get(pk=version.pk)
    assert version_thumbnail(again) == sha


def test_a_text_version_gets_none(world):
    g = world["g"]
    document = services.document_add(
        actor=g.people["handler"], file=upload(b"notatka", "n.txt"), case=world["case"]
    )
    version = document.versions.get()
    assert version_thumbnail(version) is None
    assert DocumentVersion.objects.get(pk=version.pk).thumbnail_sha256 == ""


# --- the view -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), CASE_READERS.items())
def test_the_thumbnail_follows_need_to_know(world, role, status):
    g = world["g"]
    document = services.document_add(
        actor=g.people["handler"], file=upload(a4_pdf()), case=world["case"]
    )
    version = document.versions.get()
    version_thumbnail(version)
    response = client_for(g.people[role]).get(reverse("documents:thumbnail", args=[version.pk]))
    assert response.status_code == status
    if status == 200:
        assert response["Content-Type"] == "image/webp"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Cache-Control"] == "private, max-age=31536000, immutable"
        body = b"".join(response.streaming_content)
        assert decode(body).size[0] == 300
        assert response["Content-Length"] == str(len(body))


def test_no_thumbnail_is_404_and_the_page_shows_no_image(world):
    g = world["g"]
    document = services.document_add(
        actor=g.people["handler"], file=upload(a4_pdf()), case=world["case"]
    )
    version = document.versions.get()
    client = client_for(g.people["handler"])
    assert client.get(reverse("documents:thumbnail", args=[version.pk])).status_code == 404
    page = client.get(reverse("documents:detail", args=[document.pk])).content.decode()
    assert reverse("documents:thumbnail", args=[version.pk]) not in page
    assert client.get(reverse("documents:thumbnail", args=[999_999])).status_code == 404


def test_a_lost_thumbnail_blob_is_404(world):
    g = world["g"]
    document = services.document_add(
        actor=g.people["handler"], file=upload(a4_pdf()), case=world["case"]
    )
    version = document.versions.get()
    sha = version_thumbnail(version)
    get_blob_store().path(sha).unlink()
    response = client_for(g.people["handler"]).get(
        reverse("documents:thumbnail", args=[version.pk])
    )
    assert response.status_code == 404


def test_blobs_verify_does_not_call_thumbnails_orphans(world):
    from django.core.management import call_command

    g = world["g"]
    document = services.document_add(
        actor=g.people["handler"], file=upload(a4_pdf()), case=world["case"]
    )
    version_thumbnail(document.versions.get())
    out = io.StringIO()
    call_command("blobs", "verify", stdout=out)
    assert "osieroconych: 0" in out.getvalue()


# --- web upload (a real commit and a real worker) -----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_web_upload_gets_a_thumbnail_shown_on_the_item_and_document_pages(world, settings):
    from django_tasks_db.models import DBTaskResult

    g = world["g"]
    client = client_for(g.people["clerk"])
    response = client.post(
        reverse("documents:upload", args=["incoming", world["item"].pk]),
        {"files": [upload(a4_pdf(), "pismo.pdf"), upload(b"notatka", "n.txt")], "kind": "pismo"},
    )
    assert response.status_code == 302
    # One task, for the PDF only (a text file has no thumbnail).
    queued = DBTaskResult.objects.get()
    assert queued.task_path == "garnizon.documents.tasks.make_thumbnail"
    pdf_version = DocumentVersion.objects.get(mime_type="application/pdf")
    assert queued.args_kwargs["args"] == [pdf_version.pk]

    result = run_db_worker_batch(
        GARNIZON_BLOB_DIR=str(settings.GARNIZON_BLOB_DIR),
    )
    assert result.returncode == 0, result.stderr
    pdf_version.refresh_from_db()
    assert pdf_version.thumbnail_sha256
    url = reverse("documents:thumbnail", args=[pdf_version.pk])
    item_page = client.get(reverse("web:incoming_detail", args=[world["item"].pk])).content
    assert re.search(rf'<img [^>]*src="{url}"[^>]*alt="Pierwsza strona: [^"]+"', item_page.decode())
    detail = client.get(reverse("documents:detail", args=[pdf_version.document_id])).content
    assert re.search(rf'<img src="{url}" width="300" alt="[^"]+"', detail.decode())
    assert client.get(url).status_code == 200


# --- the intake step ----------------------------------------------------------------------------


def _with_thumbnail() -> list:
    return [*(s for s in STEPS if s.name != "thumbnail"), Thumbnail()]


def test_the_intake_step_makes_the_attached_versions_thumbnail(garrison, tmp_path):
    item = add(garrison, write(tmp_path, "pismo.pdf", a4_pdf()), run_now=False)
    assert run_pipeline(item.pk, steps=_with_thumbnail()) == IntakeState.DONE
    item.refresh_from_db()
    assert steps(item)[-1] == ("thumbnail", "ok")
    version = item.document.versions.get()
    assert version.thumbnail_sha256


def test_the_intake_step_twice_renders_once(garrison, tmp_path):
    item = add(garrison, write(tmp_path, "pismo.pdf", a4_pdf()), run_now=False)
    run_pipeline(item.pk, steps=_with_thumbnail())
    item.refresh_from_db()
    from garnizon.intake.steps import IntakeContext

    outcome = Thumbnail().run(IntakeContext(item=item))
    assert outcome.status == "skipped" and "już istnieje" in outcome.message


def test_a_render_failure_is_a_note_not_a_failure(garrison, tmp_path, monkeypatch):
    def broken(path, mime):
        raise ThumbnailError("PDF nie daje się otworzyć do miniatury (test).")

    monkeypatch.setattr(thumbs, "render_thumbnail", broken)
    item = add(garrison, write(tmp_path, "pismo.pdf", a4_pdf()), run_now=False)
    assert run_pipeline(item.pk, steps=_with_thumbnail()) == IntakeState.DONE
    result = item.step_results.get(step="thumbnail")
    assert result.outcome == "skipped"
    assert "Nie utworzono miniatury" in result.message and "przyjęty" in result.message


def test_an_unexpected_error_is_a_note_too(garrison, tmp_path, monkeypatch):
    def broken(path, mime):
        raise RuntimeError("pdfium crashed")

    monkeypatch.setattr(thumbs, "render_thumbnail", broken)
    item = add(garrison, write(tmp_path, "pismo.pdf", a4_pdf()), run_now=False)
    assert run_pipeline(item.pk, steps=_with_thumbnail()) == IntakeState.DONE
    assert item.step_results.get(step="thumbnail").outcome == "skipped"


def test_a_text_file_gets_no_thumbnail_and_says_so(garrison, tmp_path):
    item = add(garrison, write(tmp_path, "notatka.txt", b"zwykla notatka"), run_now=False)
    assert run_pipeline(item.pk, steps=_with_thumbnail()) == IntakeState.DONE
    result = item.step_results.get(step="thumbnail")
    assert result.outcome == "skipped" and "text/plain" in result.message
