"""OCR throughput of the whole intake pipeline against plain Tesseract on the same pages
and cores, in the same run; OCR accuracy; text PDFs through the pipeline.

    python -m bench.bench_ocr                       # 8 pages per variant, 1,000 text PDFs
    python -m bench.bench_ocr --pages 4 --pdfs 200 --runs 2
    GARNIZON_DATABASE_URL=postgres://... python -m bench.bench_ocr   # on PostgreSQL

Without GARNIZON_DATA_DIR the benchmark re-runs itself with a fresh temporary data
folder (its own SQLite database and blob store), so the development database is
never touched. On PostgreSQL give an empty database: it is migrated and gets the
test garrison of tests/factories.py (unit KWP, clerk `clerk_kwp`).

1. Generates N A4 Polish letters at 300 dpi (Pillow, DejaVu Sans: letterhead, date,
   address block, ~25 lines of body text full of diacritics, signature line) in three
   variants: clean (PNG), skewed 1.5 degrees + salt-and-pepper + blur (JPEG), fax-like
   (204x196 dpi, 1-bit TIFF G4).
2. Reference: `tesseract IMAGE IMAGE -l pol` over all 3N files with
   `xargs -P <cores>`, OMP_THREAD_LIMIT=1 (plain text out).
3. Pipeline: the same files, each through `intake_add_file` (one intake item per
   page, queued), processed by `<cores>` real `garnizon db_worker` processes started
   before the clock (as `./dev start` runs them); timed from the first add until every
   item is done, and until the task queue is empty (thumbnails included).
   Reference and pipeline alternate, `--runs` times; the ratio uses the medians, and
   every round's ratios and the pooled ones (sums over the rounds) are printed too.
   CPU time of both sides is printed too: the tesseract processes; the workers
   (with Tesseract, in the worker or as its children) plus adding the files (this
   process polling the database for the end is printed, not counted). Then each
   step's mean duration. `--engine cli` runs the workers with a `tesseract` process a
   page (GARNIZON_OCR_ENGINE=cli) instead of Tesseract loaded once in each worker.
4. Accuracy per variant: CER (Levenshtein, whitespace runs as one space) of the
   stored document text and of the reference's text against the source; diacritics
   lost (a letter read without its mark; case ignored) and case errors (`Ź` → `ź`).
5. A 2-page text PDF (reportlab) through the whole pipeline: inline
   (`intake_add_file(run_now=True)`) and queued to the idle workers (add → done,
   including the worker's 1 s poll interval); then `--pdfs` different ones added at
   once and processed by the workers: files/s.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

if __name__ == "__main__" and not os.environ.get("GARNIZON_DATA_DIR"):
    # A fresh data folder (database, blobs) of its own; set before Django starts.
    os.environ["GARNIZON_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-ocr-data-")
    os.execv(sys.executable, [sys.executable, "-m", "bench.bench_ocr", *sys.argv[1:]])

from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
DIACRITICS = "ąćęłńóśźżĄĆĘŁŃÓŚŹŻ"
A4 = (8.27, 11.69)  # inches
VARIANTS = ("clean", "skewed+noisy", "fax")
MIME = {".png": "image/png", ".jpg": "image/jpeg", ".tif": "image/tiff"}

SENTENCES = [
    "W odpowiedzi na pismo z dnia 3 października uprzejmie informuję, że sprawa została "
    "przekazana do Wydziału Ruchu Drogowego.",
    "Zgłaszający, pan Józef Łęcki, oświadczył, że samochód marki Skoda stał przy ulicy "
    "Źródlanej od późnego wieczora.",
    "Świadek zeznał, że żółty pojazd odjechał w stronę ronda, a kierowca nie zatrzymał się "
    "mimo sygnałów świetlnych.",
    "Proszę o przesłanie kopii notatki służbowej oraz nagrań z monitoringu miejskiego w "
    "terminie czternastu dni.",
    "Zażółć gęślą jaźń: ta fraza zawiera wszystkie polskie znaki diakrytyczne i służy do "
    "sprawdzenia czytelności.",
    "Postępowanie wyjaśniające prowadzi asp. szt. Michał Żółkiewski z Komisariatu Policji "
    "w Świdniku.",
    "Na podstawie art. 61 Kodeksu postępowania administracyjnego wszczęto postępowanie z "
    "urzędu w tej sprawie.",
    "Mieszkańcy osiedla skarżą się na hałas dochodzący z lokalu gastronomicznego po "
    "godzinie dwudziestej drugiej.",
    "Dołączam protokół oględzin miejsca zdarzenia, szkic sytuacyjny oraz dokumentację "
    "fotograficzną na płycie.",
    "Uprzejmie proszę o niezwłoczne udzielenie odpowiedzi, ponieważ termin określony w "
    "ustawie upływa w przyszłym tygodniu.",
    "Właścicielka posesji, pani Łucja Ćwik, wyraziła zgodę na udostępnienie nagrań z kamery "
    "zamontowanej nad bramą.",
    "Koszty postępowania ponosi strona, która złożyła wniosek o przeprowadzenie dowodu z "
    "opinii biegłego.",
    "Ślady opon zabezpieczono metodą fotograficzną; próbki lakieru przekazano do "
    "Laboratorium Kryminalistycznego.",
    "Informuję również, że ŻĄDANIE UDOSTĘPNIENIA AKT należy złożyć na piśmie w kancelarii "
    "jednostki.",
]
RECIPIENTS = [
    ["Pan", "Grzegorz Ślęzak", "ul. Źródlana 5 m. 12", "20-607 Lublin"],
    [
        "Sąd Rejonowy Lublin-Wschód",
        "w Lublinie z siedzibą w Świdniku",
        "ul. Kościuszki 7",
        "21-040 Świdnik",
    ],
    ["Prokuratura Rejonowa", "w Łęcznej", "ul. Gwarków 11", "21-010 Łęczna"],
    ["Pani", "Małgorzata Żurańska", "ul. Spółdzielcza 3", "22-100 Chełm"],
]
MONTHS = [
    "stycznia",
    "lutego",
    "marca",
    "kwietnia",
    "maja",
    "czerwca",
    "lipca",
    "sierpnia",
    "września",
    "października",
    "listopada",
    "grudnia",
]


# --- pages -------------------------------------------------------------------------------------


def letter(index: int, dpi: int = 300) -> tuple[Image.Image, str]:
    """An A4 letter drawn at `dpi` (square pixels), 8-bit grey, and its text line by line."""
    rng = random.Random(1000 + index)
    width, height = round(A4[0] * dpi), round(A4[1] * dpi)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    pt = dpi / 72
    body_font = ImageFont.truetype(FONT, round(11 * pt))
    head_font = ImageFont.truetype(FONT_BOLD, round(13 * pt))
    small_font = ImageFont.truetype(FONT, round(9 * pt))
    left, right = round(1.0 * dpi), width - round(0.9 * dpi)
    lines: list[str] = []
    y = round(0.6 * dpi)

    def put(text, font, x=left, gap=1.45, align="left"):
        nonlocal y
        if align == "right":
            x = right - draw.textlength(text, font=font)
        draw.text((x, y), text, font=font, fill=0)
        lines.append(text)
        y += round(font.size * gap)

    put("KOMENDA WOJEWÓDZKA POLICJI W LUBLINIE", head_font)
    put("Wydział Prewencji, ul. Narutowicza 73, 20-019 Lublin, tel. 47 811 41 00", small_font)
    draw.line((left, y, right, y), fill=0, width=max(1, round(pt)))
    y += round(0.35 * dpi)
    put(f"Lublin, {rng.randint(1, 28)} {rng.choice(MONTHS)} 2026 r.", body_font, align="right")
    put(f"L.dz. WP-{rng.randint(100, 999)}/{rng.randint(1, 99)}/26", body_font)
    y += round(0.25 * dpi)
    for part in rng.choice(RECIPIENTS):
        put(part, body_font, x=round(width * 0.55), gap=1.35)
    y += round(0.3 * dpi)
    put("Dotyczy: zgłoszenia z dnia 14 października 2026 r. (sprawa RSD-412/26)", body_font)
    y += round(0.15 * dpi)
    sentences = SENTENCES[:]
    rng.shuffle(sentences)
    words = " ".join(sentences * 2).split()
    body = 0
    current = ""
    while words and body < 25:
        candidate = f"{current} {words[0]}".strip()
        if draw.textlength(candidate, font=body_font) > right - left and current:
            put(current, body_font)
            body += 1
            current = ""
        else:
            current = candidate
            words.pop(0)
    y += round(0.3 * dpi)
    put("Z poważaniem", body_font, x=round(width * 0.6))
    y += round(0.45 * dpi)
    draw.line((round(width * 0.58), y, right, y), fill=0, width=max(1, round(pt)))
    y += round(0.08 * dpi)
    put("podinsp. Łucja Ćwik-Żółtowska, Naczelnik Wydziału", small_font, x=round(width * 0.58))
    return image, "\n".join(lines)


def make_pages(
    folder: Path, count: int, variants: tuple[str, ...] = VARIANTS
) -> dict[str, list[tuple[Path, str]]]:
    """{variant: [(image file, source text)]}; files are what a scanner would deliver."""
    pages: dict[str, list[tuple[Path, str]]] = {variant: [] for variant in variants}
    for index in range(count):
        image, text = letter(index)
        if "clean" in variants:
            clean = folder / f"clean-{index:02d}.png"
            image.save(clean, "PNG", dpi=(300, 300))
            pages["clean"].append((clean, text))

        if "skewed+noisy" in variants:
            rng = random.Random(7 + index)
            skewed = image.rotate(1.5, resample=Image.BICUBIC, fillcolor=255)
            pixels = skewed.load()
            for _ in range(skewed.width * skewed.height // 200):  # 0.5 % salt and pepper
                x, y = rng.randrange(skewed.width), rng.randrange(skewed.height)
                pixels[x, y] = 0 if rng.random() < 0.5 else 255
            path = folder / f"skewed-{index:02d}.jpg"
            skewed = skewed.filter(ImageFilter.GaussianBlur(0.6))
            skewed.save(path, "JPEG", quality=85, dpi=(300, 300))
            pages["skewed+noisy"].append((path, text))

        if "fax" in variants:
            fine, _ = letter(index, dpi=196)  # drawn at 196 dpi, stretched to 204 dpi across
            fax = fine.resize((round(A4[0] * 204), fine.height), Image.LANCZOS).convert("1")
            path = folder / f"fax-{index:02d}.tif"
            fax.save(path, "TIFF", compression="group4", dpi=(204, 196))
            pages["fax"].append((path, text))
    return pages


# --- accuracy --------------------------------------------------------------------------------


def _banded(a: str, b: str, band: int) -> int:
    """Levenshtein distance restricted to |i - j| <= band (exact when the result <= band)."""
    big = len(a) + len(b) + 1
    previous = {j: j for j in range(0, min(len(b), band) + 1)}
    for i in range(1, len(a) + 1):
        current = {}
        for j in range(max(0, i - band), min(len(b), i + band) + 1):
            if j == 0:
                current[j] = i
                continue
            current[j] = min(
                previous.get(j, big) + 1,
                current.get(j - 1, big) + 1,
                previous.get(j - 1, big) + (a[i - 1] != b[j - 1]),
            )
        previous = current
    return previous.get(len(b), big)


def levenshtein(a: str, b: str) -> int:
    band = max(32, abs(len(a) - len(b)))
    while True:
        distance = _banded(a, b, band)
        if distance <= band:
            return distance
        band *= 2


def cer_counts(expected: str, got: str) -> tuple[int, int]:
    """(edits, characters), whitespace runs counted as one space, as tests/test_ocr.py."""
    expected, got = " ".join(expected.split()), " ".join(got.split())
    return levenshtein(expected, got), len(expected)


# --- the reference: plain tesseract ----------------------------------------------------------


def run_reference(files: list[Path], folder: Path, cores: int) -> tuple[float, float, list[str]]:
    """`tesseract FILE OUT -l pol` for every file, `cores` at a time (xargs -P):
    (wall seconds, CPU seconds of the tesseract processes, texts)."""
    folder.mkdir(parents=True, exist_ok=True)
    jobs = folder / "jobs.txt"
    lines = [f"{path}\t{folder / f'{index:03d}'}" for index, path in enumerate(files)]
    jobs.write_text("\n".join(lines) + "\n")
    env = os.environ | {"OMP_THREAD_LIMIT": "1"}
    before = os.times()
    started = time.perf_counter()
    subprocess.run(
        [
            "xargs",
            "-a",
            str(jobs),
            "-d",
            "\n",
            "-P",
            str(cores),
            "-n",
            "1",
            "sh",
            "-c",
            'tesseract "${1%%\t*}" "${1#*\t}" -l pol 2>/dev/null',
            "_",
        ],
        env=env,
        check=True,
    )
    seconds = time.perf_counter() - started
    after = os.times()
    cpu = (after.children_user + after.children_system) - (
        before.children_user + before.children_system
    )
    texts = [
        (folder / f"{index:03d}.txt").read_text(encoding="utf-8") for index in range(len(files))
    ]
    shutil.rmtree(folder)
    return seconds, cpu, texts


# --- the pipeline: intake items and real workers ---------------------------------------------


def setup_database():
    """A migrated database with the test garrison (tests/factories.py); (unit, clerk)."""
    from django.core.management import call_command
    from tests.factories import make_garrison

    from garnizon.org.models import Person, Unit

    call_command("migrate", verbosity=0)
    if not Unit.objects.filter(symbol="KWP").exists():
        make_garrison()
    return Unit.objects.get(symbol="KWP"), Person.objects.get(username="clerk_kwp")


def start_workers(count: int, engine: str = "library") -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            # As `./dev start` runs them: an idle worker looks for work every 0.2 s.
            [sys.executable, "-m", "garnizon.cli", "db_worker", "--interval", "0.2"],
            env=os.environ | {"GARNIZON_LOG_LEVEL": "WARNING", "GARNIZON_OCR_ENGINE": engine},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


FINAL = ("done", "failed", "quarantined", "awaiting_match")


def wait_done(ids: list[int], timeout: float = 3600) -> None:
    from garnizon.intake.models import IntakeItem

    deadline = time.monotonic() + timeout
    while IntakeItem.objects.filter(pk__in=ids).exclude(state__in=FINAL).exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {len(ids)} intake items")
        time.sleep(0.1)  # the polling itself takes CPU from the workers


def wait_queue_empty(timeout: float = 600) -> None:
    from django_tasks_db.models import DBTaskResult

    deadline = time.monotonic() + timeout
    while DBTaskResult.objects.filter(status__in=["READY", "RUNNING"]).exists():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the task queue")
        time.sleep(0.1)  # the polling itself takes CPU from the workers


def add_files(files: list[Path], unit, person, tag: str) -> list[int]:
    from garnizon.intake.services import intake_add_file

    ids = []
    for path in files:
        result = intake_add_file(
            path=path,
            unit=unit,
            channel="paper",
            requested_by=person,
            source_key=f"bench:{tag}:{path.name}",
        )
        ids.append(result.item.pk)
    return ids


# Items of the timed pipeline runs (for the per-step durations).
TIMED_ITEMS: list[int] = []


def step_durations(ids: list[int]) -> None:
    """Mean wall-clock duration of each step (`IntakeStepResult.duration_ms`) per page."""
    from django.db.models import Avg, Count

    from garnizon.intake.models import IntakeStepResult

    rows = (
        IntakeStepResult.objects.filter(item_id__in=ids)
        .values("step")
        .annotate(mean=Avg("duration_ms"), n=Count("id"))
        .order_by("-mean")
    )
    parts = [f"{row['step']} {row['mean']:.0f}" for row in rows if row["mean"] >= 1]
    print(f"  step durations, ms a page (wall clock, mean of {len(ids)}): " + ", ".join(parts))


def process_cpu(pid: int) -> float:
    """CPU seconds of a process and its waited-for children (Tesseract), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def run_pipeline(
    files: list[Path], unit, person, tag: str, workers: list[subprocess.Popen]
) -> tuple[float, float, float, list[str]]:
    """(seconds until every item is done, until the queue is empty, CPU seconds of the
    workers and of adding the files, texts). The CPU this process spends polling the
    database for the end is the benchmark's own, not the pipeline's: printed, not
    counted."""
    from garnizon.intake.models import IntakeItem

    workers_before, own_before = sum(process_cpu(w.pid) for w in workers), sum(os.times()[:2])
    started = time.perf_counter()
    ids = add_files(files, unit, person, tag)
    added = sum(os.times()[:2]) - own_before
    wait_done(ids)
    done = time.perf_counter() - started
    wait_queue_empty()
    drained = time.perf_counter() - started
    worker_cpu = sum(process_cpu(w.pid) for w in workers) - workers_before
    own_cpu = sum(os.times()[:2]) - own_before
    print(
        f"    CPU: workers {worker_cpu:.1f} s + adding the files {added:.1f} s (counted); "
        f"the benchmark polling the database {own_cpu - added:.1f} s (not counted)"
    )
    cpu = worker_cpu + added
    TIMED_ITEMS.extend(ids)
    items = IntakeItem.objects.in_bulk(ids)
    texts = []
    for item_id in ids:
        item = items[item_id]
        if item.state != "done":
            print(f"  item {item_id} ({item.original_filename}): {item.state} {item.error_message}")
            texts.append("")
            continue
        version = item.document.versions.order_by("number").first()
        texts.append(version.text if version else "")
    return done, drained, cpu, texts


# --- accuracy --------------------------------------------------------------------------------


def accuracy(sources: list[str], texts: list[str]) -> tuple[float, float, Counter, Counter]:
    """(CER, worst page CER, diacritics lost, case errors on diacritics)."""
    edits = chars = 0
    worst = 0.0
    lost: Counter = Counter()
    case: Counter = Counter()
    for source, text in zip(sources, texts, strict=True):
        e, c = cer_counts(source, text)
        edits, chars, worst = edits + e, chars + c, max(worst, e / c)
        lost += diacritics_lost(source, text)
        case += case_errors(source, text)
    return edits / chars, worst, lost, case


def diacritics_lost(expected: str, got: str) -> Counter:
    """Diacritics the output has fewer of than the source, case ignored (a lower bound)."""
    lower = DIACRITICS[: len(DIACRITICS) // 2]
    want, have = Counter(c for c in expected.lower() if c in lower), Counter(got.lower())
    return Counter({c: want[c] - have[c] for c in want if want[c] > have[c]})


def case_errors(expected: str, got: str) -> Counter:
    """Capital diacritics the output has fewer of, where the letter itself is not lost."""
    upper = DIACRITICS[len(DIACRITICS) // 2 :]
    want, have = Counter(c for c in expected if c in upper), Counter(got)
    lost = diacritics_lost(expected, got)
    return Counter(
        {c: want[c] - have[c] for c in want if want[c] > have[c] and not lost[c.lower()]}
    )


# --- text PDFs ---------------------------------------------------------------------------------


def text_pdf(number: int) -> bytes:
    from reportlab.lib.pagesizes import A4 as A4_POINTS
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    if "DejaVu" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVu", FONT))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4_POINTS)
    for page in range(2):
        pdf.setFont("DejaVu", 11)
        pdf.drawString(60, 790, f"KOMENDA WOJEWÓDZKA POLICJI W LUBLINIE, pismo nr {number}")
        for index in range(30):
            pdf.drawString(60, 750 - index * 22, SENTENCES[(index + page) % len(SENTENCES)][:85])
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def text_pdf_part(count: int, unit, person, folder: Path) -> None:
    from garnizon.intake.models import IntakeItem
    from garnizon.intake.services import intake_add_file

    folder.mkdir(parents=True, exist_ok=True)
    inline = []
    for index in range(11):
        path = folder / f"inline-{index:02d}.pdf"
        path.write_bytes(text_pdf(100_000 + index))
        started = time.perf_counter()
        item = intake_add_file(
            path=path,
            unit=unit,
            channel="paper",
            requested_by=person,
            run_now=True,
            source_key=f"bench:inline:{index}",
        ).item
        inline.append(time.perf_counter() - started)
        assert item.state == "done", (item.state, item.error_message)
    ocr_message = item.step_results.filter(step="ocr").values_list("message", flat=True).first()
    print(
        f"\nText PDF (2 pages) through the whole pipeline, inline (run_now=True): first "
        f"{inline[0] * 1000:.0f} ms, then median {statistics.median(inline[1:]) * 1000:.0f} ms, "
        f"max {max(inline[1:]) * 1000:.0f} ms over 10; OCR step: {ocr_message!r}"
    )
    wait_queue_empty()
    queued = []
    for index in range(10):
        path = folder / f"queued-{index:02d}.pdf"
        path.write_bytes(text_pdf(200_000 + index))
        started = time.perf_counter()
        ids = add_files([path], unit, person, "queued")
        wait_done(ids)
        queued.append(time.perf_counter() - started)
        time.sleep(random.uniform(0, 1))  # land anywhere in the workers' poll interval
    print(
        f"  queued to idle workers (add -> done, incl. the 1 s poll interval): median "
        f"{statistics.median(queued) * 1000:.0f} ms, max {max(queued) * 1000:.0f} ms over 10"
    )
    wait_queue_empty()
    files = []
    for index in range(count):
        path = folder / f"batch-{index:04d}.pdf"
        path.write_bytes(text_pdf(1 + index))
        files.append(path)
    started = time.perf_counter()
    ids = add_files(files, unit, person, "batch")
    added = time.perf_counter() - started
    wait_done(ids)
    done = time.perf_counter() - started
    wait_queue_empty()
    drained = time.perf_counter() - started
    states = Counter(IntakeItem.objects.filter(pk__in=ids).values_list("state", flat=True))
    print(
        f"  {count} different text PDFs added at once: added in {added:.1f} s "
        f"({count / added:.0f} files/s); all done after {done:.1f} s: "
        f"{count / done:.1f} files/s = {count / done * 3600:,.0f} files/h; queue empty "
        f"(thumbnails) after {drained:.1f} s; states {dict(states)}"
    )


# --- main ------------------------------------------------------------------------------------


def machine() -> str:
    tesseract = subprocess.run(
        ["tesseract", "--version"], capture_output=True, text=True
    ).stdout.splitlines()[0]
    import ocrmypdf
    from django.db import connection

    load = os.getloadavg()
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {tesseract}, OCRmyPDF {ocrmypdf.__version__}, "
        f"database {connection.vendor}, load average {load[0]:.2f} at start"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=8, help="pages per variant (8)")
    parser.add_argument("--runs", type=int, default=1, help="reference/pipeline rounds (1)")
    parser.add_argument(
        "--pdfs", type=int, default=1000, help="text PDFs in the batch (1000; 0: skip that part)"
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="db_worker processes (cores)"
    )
    parser.add_argument(
        "--engine",
        choices=("library", "cli"),
        default="library",
        help="the workers' OCR engine (GARNIZON_OCR_ENGINE): Tesseract in the worker "
        "(library, the default) or the tesseract program a page (cli)",
    )
    args = parser.parse_args()
    for name in ("fontTools", "ocrmypdf", "pikepdf", "pdfminer"):  # their INFO/DEBUG chatter
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    cores = os.cpu_count() or 1
    print(machine())
    print(
        f"data folder {os.environ['GARNIZON_DATA_DIR']}, {args.workers} workers, "
        f"OCR engine {args.engine}"
    )
    unit, person = setup_database()
    folder = Path(tempfile.mkdtemp(prefix="bench-ocr-"))
    workers = start_workers(args.workers, args.engine)
    try:
        started = time.perf_counter()
        pages = make_pages(folder, args.pages)
        print(
            f"{args.pages} pages x {len(VARIANTS)} variants generated in "
            f"{time.perf_counter() - started:.1f} s ({folder})"
        )
        files = [path for variant in VARIANTS for path, _ in pages[variant]]
        sources = [text for variant in VARIANTS for _, text in pages[variant]]
        # warm-up, not timed: workers started, language data in the page cache
        run_reference(files[:cores], folder / "warm", cores)
        run_pipeline(files[: args.workers], unit, person, "warm", workers)
        TIMED_ITEMS.clear()
        reference, pipeline, drained, ref_cpu, pipe_cpu = [], [], [], [], []
        for run in range(args.runs):
            took, cpu, ref_texts = run_reference(files, folder / f"ref-{run}", cores)
            reference.append(took)
            ref_cpu.append(cpu)
            print(
                f"  run {run + 1}: tesseract, xargs -P {cores}: {took:7.2f} s (CPU {cpu:.1f} s, "
                f"load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
            took, empty, cpu, pipe_texts = run_pipeline(files, unit, person, f"run{run}", workers)
            pipeline.append(took)
            drained.append(empty)
            pipe_cpu.append(cpu)
            print(
                f"  run {run + 1}: pipeline, {args.workers} workers: {took:7.2f} s "
                f"(queue empty {empty:.2f} s; CPU {cpu:.1f} s, load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
            print(
                f"  run {run + 1}: pipeline / tesseract: wall {reference[-1] / took:.1%}, "
                f"CPU {ref_cpu[-1] / cpu:.1%}",
                flush=True,
            )
        report(len(files), reference, pipeline, drained, cores, args.workers)
        ref_total, pipe_total = sum(ref_cpu), sum(pipe_cpu)
        print(
            f"  pooled over the {args.runs} rounds: wall {sum(reference) / sum(pipeline):.1%}, "
            f"CPU {ref_total / pipe_total:.1%}"
        )
        print(
            f"  CPU time per page: tesseract {ref_total / len(files) / args.runs:.2f} s, "
            f"pipeline {pipe_total / len(files) / args.runs:.2f} s: pipeline / tesseract by "
            f"CPU {ref_total / pipe_total:.1%} (independent of other load on the machine)"
        )
        step_durations(TIMED_ITEMS)
        print("\nAccuracy (all pages of a variant)")
        offset = 0
        for variant in VARIANTS:
            n = len(pages[variant])
            part = slice(offset, offset + n)
            offset += n
            for name, texts in (("tesseract", ref_texts), ("pipeline", pipe_texts)):
                rate, worst, lost, case = accuracy(sources[part], texts[part])
                print(
                    f"  {variant:13} {name:10} CER {rate:6.2%} (worst page {worst:6.2%}); "
                    f"diacritics lost: {_counts(lost)}; case errors: {_counts(case)}"
                )
        if args.pdfs:
            text_pdf_part(args.pdfs, unit, person, folder / "text")
    finally:
        stop_workers(workers)
        shutil.rmtree(folder, ignore_errors=True)


def _counts(counter: Counter) -> str:
    return ", ".join(f"{c} x{k}" for c, k in sorted(counter.items())) or "none"


def report(n: int, reference, pipeline, drained, cores: int, workers: int) -> None:
    ref, pipe, empty = (statistics.median(v) for v in (reference, pipeline, drained))
    print(f"\nThroughput, {n} A4 pages (all variants), {cores} cores, median of {len(reference)}")
    print(f"  tesseract -l pol, xargs -P {cores}:   {n / ref * 3600:7,.0f} pages/h ({ref:.2f} s)")
    print(
        f"  pipeline, {workers} db_workers:         {n / pipe * 3600:7,.0f} pages/h ({pipe:.2f} s)"
        f"; queue empty: {n / empty * 3600:,.0f} pages/h ({empty:.2f} s)"
    )
    ratio = ref / pipe
    print(
        f"  pipeline / tesseract: {ratio:.1%} (queue empty: {ref / empty:.1%}); "
        f"target >= 90 %: {'met' if ratio >= 0.9 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
