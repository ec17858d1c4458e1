"""report.html printed to A4 by Chromium, checked on the PDF with poppler-utils
(pdfinfo, pdfimages, pdftotext, pdftoppm)."""

from __future__ import annotations

import dataclasses
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lifecircle
from lifecircle.i18n import level_title
from lifecircle.outputs import report

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-pdf-header-footer"]
TOOLS = (CHROMIUM, "pdfinfo", "pdfimages", "pdftoppm", "pdftotext")
# A facility name with no place to break: without wrapping it would run off the page's right edge.
LONG_NAME = "Apteekki" * 40
# Pixels at the low resolution used to look at the pages.
DPI = 40
A4_PT = (595.0, 842.0)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not all(shutil.which(tool) for tool in TOOLS),
                       reason="needs Debian chromium and poppler-utils"),
]


@pytest.fixture(scope="module")
def analysis():
    """The bundled run, with one nearest-facility name that cannot be broken at a space."""
    real = lifecircle.analyze()
    communities = real.communities.copy()
    key = real.config.keys[1]
    communities.loc[communities.index[0], f"nearest_{key}"] = LONG_NAME
    return dataclasses.replace(real, communities=communities)


def print_pdf(html: Path, pdf: Path) -> None:
    subprocess.run([CHROMIUM, *CHROMIUM_ARGS, f"--print-to-pdf={pdf}", html.as_uri()],
                   check=True, capture_output=True, timeout=120)
    assert pdf.is_file() and pdf.read_bytes()[:5] == b"%PDF-"


def pdf_info(pdf: Path) -> dict[str, str]:
    out = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)


def pdf_images(pdf: Path) -> list[dict[str, str]]:
    """Rows of ``pdfimages -list``: page, width, height, x-ppi of every image drawn."""
    lines = subprocess.run(["pdfimages", "-list", str(pdf)], check=True, capture_output=True,
                           text=True).stdout.splitlines()
    names = lines[0].split()
    return [dict(zip(names, line.split())) for line in lines[2:]]


def pdf_text(pdf: Path, page: int) -> str:
    return subprocess.run(["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(pdf), "-"],
                          check=True, capture_output=True, text=True).stdout.strip()


def pages(pdf: Path, folder: Path) -> list[np.ndarray]:
    """Every page as a grey-level array at :data:`DPI`."""
    subprocess.run(["pdftoppm", "-r", str(DPI), "-gray", str(pdf), str(folder / "page")], check=True, timeout=120)
    return [np.asarray(Image.open(p).convert("L")) for p in sorted(folder.glob("page-*.pgm"))]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_prints_on_a4(analysis, tmp_path, lang):
    html = report.write_report(analysis, tmp_path, lang)
    text = html.read_text("utf-8")
    assert level_title(analysis.config, lang) in text.split("</title>")[0]
    pdf = tmp_path / "report.pdf"
    print_pdf(html, pdf)

    info = pdf_info(pdf)
    width, height = (float(v) for v in re.findall(r"[\d.]+", info["Page size"])[:2])
    assert (width, height) == pytest.approx(A4_PT, abs=1.0), info["Page size"]
    # one page of facts and summary (the facilities and the basis may run over), one for the map,
    # one for the charts, then the communities: more than one row to a page, none cut in two
    n_pages = int(info["Pages"])
    n = len(analysis.communities)
    assert 4 <= n_pages <= 5 + math.ceil(n / 2), n_pages

    # the overview map and the two charts are printed across the full text width: the page was
    # not shrunk to fit something wider (Chromium scales the whole document down instead of clipping)
    images = pdf_images(pdf)
    overview = report_png_size(report.overview_png(analysis, lang))
    assert [(int(im["width"]), int(im["height"])) for im in images][:1] == [overview], images
    assert len(images) == 3
    assert [int(im["x-ppi"]) for im in images] == pytest.approx(full_width_ppi(text, images), abs=2)

    # the title (in the run's language, CJK glyphs embedded as text) heads page 1; the last page is numbered
    first_text, last_text = (pdf_text(pdf, page) for page in (1, n_pages))
    assert level_title(analysis.config, lang) in first_text.splitlines()[0]
    assert f"{n_pages} / {n_pages}" in last_text

    sheets = pages(pdf, tmp_path)
    assert len(sheets) == n_pages
    first = sheets[0]
    assert first.shape == (round(297 / 25.4 * DPI), round(210 / 25.4 * DPI))
    assert (first < 200).mean() > 0.02  # title, facts and summary: not a blank page
    # nothing reaches the right or left margin (15 mm / 14 mm): no content clipped at the edge
    margin = round(10 / 25.4 * DPI)
    for i, sheet in enumerate(sheets):
        assert (sheet[:, -margin:] < 200).sum() == 0, f"ink in the right margin of page {i + 1}"
        assert (sheet[:, :margin] < 200).sum() == 0, f"ink in the left margin of page {i + 1}"


def full_width_ppi(html: str, images: list[dict[str, str]]) -> list[float]:
    """Each image's resolution if it spans the text width that the report's @page rule
    ("margin: <top> <left and right> <bottom>") leaves on an A4 sheet."""
    side_mm = float(re.search(r"@page \{ size: A4; margin: [\d.]+mm ([\d.]+)mm", html).group(1))
    text_width_in = (210.0 - 2 * side_mm) / 25.4
    return [int(im["width"]) / text_width_in for im in images]


def report_png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_margin_check_sees_an_overflow(analysis, tmp_path):
    """The width check above can fail: without its wrapping rule the long name widens the
    communities table past the page, and Chromium shrinks every page to fit it."""
    html = report.write_report(analysis, tmp_path, "en")
    text = html.read_text("utf-8")
    rule = "td { overflow-wrap: anywhere; }"
    assert rule in text
    html.write_text(text.replace(rule, ""), "utf-8")
    pdf = tmp_path / "report.pdf"
    print_pdf(html, pdf)
    images = pdf_images(pdf)
    shrunk = [int(im["x-ppi"]) > ppi + 2 for im, ppi in zip(images, full_width_ppi(text, images))]
    assert len(images) == 3 and all(shrunk), images
