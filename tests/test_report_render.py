"""The committed sweep report as a headless browser renders it (skipped without Chromium)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from sparseloom.reports.screenshot import browser, screenshot

REPORT = Path(__file__).resolve().parent.parent / "reports" / "showcase" / "sparsity" / "sparsity.html"


@pytest.mark.skipif(browser() is None, reason="no headless Chromium (apt-get install chromium)")
def test_the_sparsity_report_renders_with_its_plots_and_fits_the_page(tmp_path):
    image = mpimg.imread(screenshot(REPORT, tmp_path / "page.png", width=1280))[..., :3]
    assert image.shape[0] > 3000                               # the whole page, not one screen
    colour = np.abs(image - image.mean(axis=2, keepdims=True)).max(axis=2) > 0.2
    assert colour.sum() > 10_000                               # the plots loaded (their coloured marks)
    inked = (image < 0.9).any(axis=2)
    assert not inked[:, -64:].any()                            # nothing runs off the right edge
