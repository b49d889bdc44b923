"""OCR throughput and accuracy of the intake path, beside plain Tesseract on the same cores.

    python -m bench.bench_ocr                 # 8 pages per variant, 1 run
    python -m bench.bench_ocr --pages 4 --runs 2

1. Generates N A4 Polish letters at 300 dpi (Pillow, DejaVu Sans: letterhead, date,
   address block, ~25 lines of body text full of diacritics, signature line) in three
   variants: clean (PNG), skewed 1.5 degrees + salt-and-pepper + blur (JPEG), fax-like
   (204x196 dpi, 1-bit TIFF G4).
2. Pages/hour of the intake OCR path, `garnizon.intake.ocr.ocr_file` (what the `Ocr`
   step calls: img2pdf, then OCRmyPDF `pol`, jobs = cores, OMP_THREAD_LIMIT=1):
   a) one file per page, one after the other (one intake item per scanned page);
   b) the N pages as one multi-page PDF made with img2pdf (a scanner's batch file),
      the img2pdf conversion included in the time;
   against the reference: `tesseract IMAGE OUT -l pol` over the same image files in a
   process pool of `os.cpu_count()` workers, each with OMP_THREAD_LIMIT=1.
3. Character error rate per variant against the source text (Levenshtein, whitespace
   runs as one space, as tests/test_ocr.py) and the Polish diacritics lost.
4. A 2-page PDF with a text layer (reportlab) through the `Ocr` step: time (no OCR
   must happen), and 200 such files one after the other: files/s.

Only files under a temporary folder and the blob store's folder are written; the
database is not touched (the step gets an unsaved `IntakeItem`).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import platform
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from garnizon.documents.blobstore import get_blob_store
from garnizon.intake.models import IntakeItem
from garnizon.intake.ocr import PDF, ocr_file
from garnizon.intake.steps import IntakeContext, Ocr

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


def make_pages(folder: Path, count: int) -> dict[str, list[tuple[Path, str]]]:
    """{variant: [(image file, source text)]}; files are what a scanner would deliver."""
    pages: dict[str, list[tuple[Path, str]]] = {variant: [] for variant in VARIANTS}
    for index in range(count):
        image, text = letter(index)
        clean = folder / f"clean-{index:02d}.png"
        image.save(clean, "PNG", dpi=(300, 300))
        pages["clean"].append((clean, text))

        rng = random.Random(7 + index)
        skewed = image.rotate(1.5, resample=Image.BICUBIC, fillcolor=255)
        pixels = skewed.load()
        for _ in range(skewed.width * skewed.height // 200):  # 0.5 % salt and pepper
            x, y = rng.randrange(skewed.width), rng.randrange(skewed.height)
            pixels[x, y] = 0 if rng.random() < 0.5 else 255
        path = folder / f"skewed-{index:02d}.jpg"
        skewed.filter(ImageFilter.GaussianBlur(0.6)).save(path, "JPEG", quality=85, dpi=(300, 300))
        pages["skewed+noisy"].append((path, text))

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


def diacritics_lost(expected: str, got: str) -> Counter:
    """How many of each diacritic the text has fewer of than the source (a lower bound)."""
    want, have = Counter(c for c in expected if c in DIACRITICS), Counter(got)
    return Counter({c: want[c] - have[c] for c in want if want[c] > have[c]})


# --- the reference and the pipeline ----------------------------------------------------------


def _limit_threads() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"


def _tesseract(job: tuple[str, str]) -> str:
    image, out = job
    subprocess.run(
        ["tesseract", image, out, "-l", "pol"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return Path(out + ".txt").read_text(encoding="utf-8")


def run_reference(pool, files: list[Path], folder: Path) -> tuple[float, list[str]]:
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(str(path), str(folder / f"{i:03d}-{path.stem}")) for i, path in enumerate(files)]
    started = time.perf_counter()
    texts = list(pool.map(_tesseract, jobs))
    return time.perf_counter() - started, texts


def run_per_file(files: list[Path], folder: Path) -> tuple[float, list[str]]:
    folder.mkdir(parents=True, exist_ok=True)
    texts = []
    started = time.perf_counter()
    for path in files:
        work = folder / path.stem
        texts.append(ocr_file(path, MIME[path.suffix], work).text)
        shutil.rmtree(work)
    return time.perf_counter() - started, texts


def run_batch(files: list[Path], folder: Path) -> tuple[float, list[str]]:
    import img2pdf

    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    batch = folder / "skan.pdf"
    batch.write_bytes(img2pdf.convert([str(path) for path in files]))
    result = ocr_file(batch, PDF, folder / "work")
    seconds = time.perf_counter() - started
    assert result.ocr_pages == len(files), result
    texts = result.text.split("\f")
    shutil.rmtree(folder)
    return seconds, texts


# --- a PDF with a text layer through the step ------------------------------------------------


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


def step_on(store, data: bytes) -> tuple[float, object, str]:
    ref = store.put(io.BytesIO(data))
    item = IntakeItem(blob_sha256=ref.sha256, mime_type=PDF, size=ref.size)  # not saved
    ctx = IntakeContext(item=item, store=store)
    step = Ocr()
    started = time.perf_counter()
    assert step.able_to_run(ctx)
    outcome = step.run(ctx)
    result = ctx.notes["ocr"]
    step.cleanup(ctx)
    seconds = time.perf_counter() - started
    assert result.ocr_pages == 0 and result.pdf is None and result.pages == 2, result
    return seconds, outcome, result.text


# --- main ------------------------------------------------------------------------------------


def machine() -> str:
    tesseract = subprocess.run(
        ["tesseract", "--version"], capture_output=True, text=True
    ).stdout.splitlines()[0]
    import ocrmypdf

    load = os.getloadavg()
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {tesseract}, OCRmyPDF {ocrmypdf.__version__}, "
        f"load average {load[0]:.2f} at start"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=8, help="pages per variant (8)")
    parser.add_argument("--runs", type=int, default=1, help="timed runs of each method (1)")
    parser.add_argument("--pdfs", type=int, default=200, help="text PDFs in the batch (200)")
    args = parser.parse_args()
    for name in ("fontTools", "ocrmypdf", "pikepdf", "pdfminer"):  # their INFO/DEBUG chatter
        logging.getLogger(name).setLevel(logging.WARNING)
    cores = os.cpu_count() or 1
    print(machine())
    folder = Path(tempfile.mkdtemp(prefix="bench-ocr-"))
    try:
        started = time.perf_counter()
        pages = make_pages(folder, args.pages)
        print(
            f"{args.pages} pages x {len(VARIANTS)} variants generated in "
            f"{time.perf_counter() - started:.1f} s ({folder})"
        )
        with ProcessPoolExecutor(max_workers=cores, initializer=_limit_threads) as pool:
            # warm-up, not timed: the pool's processes, the language data in the page cache
            warm = [pages["clean"][0][0]]
            run_reference(pool, warm * cores, folder / "warm")
            run_per_file(warm, folder / "warm")
            ocr_part(pool, pages, folder, args.runs, cores)
        text_layer_part(args.pdfs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def ocr_part(pool, pages, folder: Path, runs: int, cores: int) -> None:
    methods = {
        "tesseract, pool": lambda files, work: run_reference(pool, files, work),
        "ocr_file, a file per page": run_per_file,
        "ocr_file, one multi-page PDF": run_batch,
    }
    seconds = {(variant, method): [] for variant in VARIANTS for method in methods}
    texts: dict[tuple[str, str], list[str]] = {}
    for run in range(runs):
        for variant in VARIANTS:  # interleaved, so load from other processes hits all alike
            files = [path for path, _ in pages[variant]]
            for method, measure in methods.items():
                work = folder / f"{variant}-{len(seconds[variant, method])}-{abs(hash(method))}"
                work.mkdir()
                took, got = measure(files, work)
                seconds[variant, method].append(took)
                texts.setdefault((variant, method), got)
                print(f"  run {run + 1} {variant:13} {method:30} {took:7.2f} s", flush=True)

    n = len(pages["clean"])
    print(f"\nThroughput, {n} A4 pages per variant, {cores} cores, median of {runs} run(s)")
    print(f"{'variant':14}{'method':32}{'s':>8}{'s/page':>8}{'pages/h':>9}{'vs tesseract':>14}")
    totals = {method: 0.0 for method in methods}
    for variant in VARIANTS:
        reference = statistics.median(seconds[variant, "tesseract, pool"])
        for method in methods:
            took = statistics.median(seconds[variant, method])
            totals[method] += took
            print(
                f"{variant:14}{method:32}{took:8.2f}{took / n:8.2f}{n / took * 3600:9.0f}"
                f"{reference / took:13.0%}"
            )
    reference = totals["tesseract, pool"]
    for method, took in totals.items():
        print(
            f"{'all':14}{method:32}{took:8.2f}{took / n / 3:8.2f}{3 * n / took * 3600:9.0f}"
            f"{reference / took:13.0%}"
        )
    verdict = totals["ocr_file, a file per page"] <= totals["tesseract, pool"] / 0.9
    print(f"target >= 90 % of tesseract (a file per page): {'met' if verdict else 'NOT met'}")

    print("\nAccuracy (CER over all pages of the variant; diacritics lost = fewer in the output)")
    for variant in VARIANTS:
        for method in methods:
            edits = chars = 0
            lost: Counter = Counter()
            worst = 0.0
            got = texts[variant, method]
            for (_, source), text in zip(pages[variant], got, strict=False):
                e, c = cer_counts(source, text)
                edits, chars, worst = edits + e, chars + c, max(worst, e / c)
                lost += diacritics_lost(source, text)
            if len(got) != len(pages[variant]):
                print(f"  ({len(got)} texts for {len(pages[variant])} pages)")
            lost_text = ", ".join(f"{c} x{k}" for c, k in sorted(lost.items())) or "none"
            print(
                f"{variant:14}{method:32} CER {edits / chars:6.2%} (worst page {worst:6.2%}, "
                f"{edits} edits / {chars} chars); diacritics lost: {lost_text}"
            )
    sample = texts["fax", "ocr_file, a file per page"][0].splitlines()[:12]
    print("\nfax, page 1, first lines read by the pipeline:\n  " + "\n  ".join(sample))


def text_layer_part(count: int) -> None:
    store = get_blob_store()
    first = text_pdf(0)
    took, outcome, text = step_on(store, first)
    print(
        f"\nText PDF (2 pages, reportlab) through the Ocr step: first {took * 1000:.0f} ms; "
        f"{outcome.message!r}; {len(text)} characters extracted"
    )
    singles = [step_on(store, first)[0] for _ in range(10)]
    print(
        f"  the same file again, 10 times: median {statistics.median(singles) * 1000:.0f} ms, "
        f"max {max(singles) * 1000:.0f} ms"
    )
    files = [text_pdf(1 + index) for index in range(count)]
    started = time.perf_counter()
    steps = [step_on(store, data)[0] for data in files]
    seconds = time.perf_counter() - started
    print(
        f"  {count} different text PDFs one after the other: {seconds:.2f} s with the blob "
        f"store put, {count / seconds:.1f} files/s; the step alone {sum(steps):.2f} s, "
        f"{count / sum(steps):.1f} files/s (median {statistics.median(steps) * 1000:.0f} ms, "
        f"max {max(steps) * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
