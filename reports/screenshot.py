"""An HTML report as a headless browser renders it, to look at: ``python -m
sparseloom.reports.screenshot REPORT.html OUT.png [--width 1280]``.

Uses Chromium in headless mode (Debian's ``chromium`` package, or any ``chromium``/``google-chrome``
on the PATH); the page is laid out at ``--width`` pixels and cut below its last non-blank row.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def screenshot(html: Path, out: Path, width: int = 1280, height: int = 12000) -> Path:
    """Render ``html`` in a ``width`` x ``height`` window and keep the rows down to the last
    non-blank one (the page's own height)."""
    exe = browser()
    if exe is None:
        raise FileNotFoundError("no headless browser: install Debian's chromium (apt-get install chromium)")
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={width},{height}", f"--screenshot={out.resolve()}", html.resolve().as_uri()],
                   check=True, capture_output=True, timeout=180)
    import matplotlib.image as mpimg

    image = mpimg.imread(out)
    inked = np.flatnonzero((image[..., :3] < 0.98).any(axis=(1, 2)))
    mpimg.imsave(out, image[: (inked[-1] + 20 if inked.size else 1)])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="screenshot", description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args(argv)
    if not args.html.is_file():
        print(f"screenshot: error: {args.html}: file not found", file=sys.stderr)
        return 2
    try:
        print(f"wrote {screenshot(args.html, args.out, args.width)}")
    except (FileNotFoundError, subprocess.SubprocessError) as exc:
        print(f"screenshot: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
