"""``make report-screenshot DIR=runs/x``: a full-page PNG of a report, taken in a real
headless Chromium (the reports' look, checked by eye)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["CHROMIUM_ARGS", "find_chromium", "screenshot"]

#: Flags for a headless Chromium that makes no connection of its own.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(report: Path, png: Path, width: int = 1200) -> Path:
    """Save a full-page screenshot of ``report`` (an HTML file) to ``png``."""
    browser = find_chromium()
    if browser is None:
        raise SystemExit("no Chromium found: install Debian's chromium package")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # without Playwright: a fixed-height shot from the command line
        subprocess.run([browser, *CHROMIUM_ARGS, f"--window-size={width},6000",
                        f"--screenshot={png}", report.resolve().as_uri()], check=True,
                       capture_output=True)
        return png
    with sync_playwright() as pw:
        chrome = pw.chromium.launch(executable_path=browser, args=CHROMIUM_ARGS[1:])
        page = chrome.new_page(viewport={"width": width, "height": 900})
        page.goto(report.resolve().as_uri())
        page.screenshot(path=str(png), full_page=True)
        chrome.close()
    return png


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m reports.screenshot RUN_DIR_OR_REPORT_HTML")
    target = Path(sys.argv[1])
    html = target / "report.html" if target.is_dir() else target
    if not html.exists():
        raise SystemExit(f"no report at {html}: run `squall report {target}` first")
    print(screenshot(html, html.with_suffix(".png")))
