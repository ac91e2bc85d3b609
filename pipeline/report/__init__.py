"""Look at a run: a dataset card (README.md) and an HTML report (report.html), from its shards and stats.

`scan` reads the run in one streaming pass into bounded aggregates, `summary` holds what both outputs
are made of, `card` and `html` render them.
"""

from __future__ import annotations

import os

from .card import render_card
from .html import render_html
from .summary import summarize


def write_report(run_dir: str) -> tuple[str, str]:
    """Write RUN_DIR/README.md and RUN_DIR/report.html; returns their paths."""
    s = summarize(run_dir)
    card = os.path.join(s.run_dir, "README.md")
    page = os.path.join(s.run_dir, "report.html")
    for path, text in ((card, render_card(s)), (page, render_html(s))):
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    return card, page
