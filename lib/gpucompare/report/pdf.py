"""Print the report to one PDF with headless Chromium (``gpucompare report --pdf``).

The build writes ``print.html`` (the whole report as one document: cover and contents, each
section from a new page, parameters, sources, provenance) and Chromium's print-to-PDF turns it
into ``report.pdf`` with A4 pages, page numbers (CSS ``@page`` margin boxes) and a PDF outline
from the headings. Chromium is the Debian package ``chromium`` (``/usr/bin/chromium``), or
whatever ``$GPUCOMPARE_CHROMIUM`` names. Without it, ``--pdf`` stops before the build starts
(exit code 2), so the previous report stays as it was; without ``--pdf`` nothing needs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from gpucompare.core.errors import BuildError, InputError

#: Environment variable naming the Chromium (or Chrome) executable to use.
CHROMIUM_ENV = "GPUCOMPARE_CHROMIUM"
#: Executables looked for on ``PATH``, in order, when ``$GPUCOMPARE_CHROMIUM`` is not set.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Seconds Chromium may take to print the report.
PDF_TIMEOUT_S = 180
#: Flags for a quiet, offline, throw-away headless browser. ``--no-sandbox``: CI and containers
#: run as root, where Chromium's sandbox cannot start; it only opens the report's own local file.
#: The host-resolver rule makes any network lookup fail, so nothing can leave the machine.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-extensions",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


def find_chromium() -> str | None:
    """The Chromium executable: ``$GPUCOMPARE_CHROMIUM`` if set (``None`` if that is not an
    executable file), else the first of :data:`CHROMIUM_NAMES` on ``PATH``, else ``None``."""
    override = os.environ.get(CHROMIUM_ENV)
    if override:
        return override if Path(override).is_file() and os.access(override, os.X_OK) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """:func:`find_chromium`, or an InputError (exit code 2) saying how to install it."""
    found = find_chromium()
    if found is None:
        override = os.environ.get(CHROMIUM_ENV)
        looked = (
            f"${CHROMIUM_ENV}={override} is not an executable file"
            if override
            else f"none of {', '.join(CHROMIUM_NAMES)} is on PATH"
        )
        raise InputError(
            f"--pdf: headless Chromium is needed to print the PDF, and {looked}. Install it "
            f"(Debian/Ubuntu: apt-get install chromium) or set {CHROMIUM_ENV} to a Chromium or "
            "Chrome executable; or build without --pdf. Nothing was built; the previous report "
            "is untouched."
        )
    return found


def print_to_pdf(
    html_path: Path, pdf_path: Path, chromium: str | None = None, timeout_s: int = PDF_TIMEOUT_S
) -> Path:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium (no header or footer of its
    own, a document outline from the headings); a failure raises BuildError with its output."""
    chromium = chromium or require_chromium()
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path).resolve()
    with tempfile.TemporaryDirectory(prefix="gpucompare-chromium-") as profile:
        cmd = [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            "--generate-pdf-document-outline",
            f"--print-to-pdf={pdf_path}",
            html_path.as_uri(),
        ]
        try:
            res = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            raise BuildError(
                f"{chromium} did not print {html_path.name} within {timeout_s} s"
            ) from None
        except OSError as exc:
            raise BuildError(f"cannot run {chromium}: {exc.strerror}") from None
    ok = pdf_path.is_file() and pdf_path.read_bytes()[:5] == b"%PDF-"
    if res.returncode != 0 or not ok:
        tail = "\n    ".join((res.stderr or res.stdout).strip().splitlines()[-8:])
        raise BuildError(
            f"{chromium} could not print {html_path.name} to PDF (exit code {res.returncode}):\n"
            f"    {tail}"
        )
    return pdf_path
