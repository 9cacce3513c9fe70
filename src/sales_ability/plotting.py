"""Figures as files: matplotlib without a display, and atomic PNG writes (used by the knowledge base's validation,
the bias audit and the evaluate stage)."""

from __future__ import annotations

from pathlib import Path

from sales_ability.io_utils import atomic_path


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display on a server or in a DVC stage)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` atomically (format from its suffix) and close it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")
    pyplot().close(fig)
    return path
