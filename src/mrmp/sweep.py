"""Accuracy vs pruning rate for one or more checkpoints: CSV rows and a plot."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from mrmp.engine.evaluate import rate_report
from mrmp.engine.setup import Bundle, Data
from mrmp.io import atomic_write_bytes, atomic_write_files

__all__ = [
    "SweepRow",
    "sweep",
    "is_seen",
    "write_sweep",
    "write_csv",
    "plot_sweep",
    "csv_bytes",
    "png_bytes",
    "label_of",
]


@dataclass(frozen=True)
class SweepRow:
    """One (checkpoint, rate) evaluation."""

    label: str
    method: str
    rate: float
    seen: bool
    accuracy: float
    observed_rate: float
    nonzero: int
    total: int


def is_seen(bundle: Bundle, rate: float) -> bool:
    """Whether ``rate`` was trained: a seen rate of MRMP, the rate of SRMP / MP, 0 for dense."""
    return bundle.method.is_seen(bundle.cfg.prune, rate)


def label_of(bundle: Bundle) -> str:
    """Short curve label, e.g. ``MRMP (gaussian)``, ``SRMP r=0.9``, ``MP (no FT)``."""
    return bundle.method.label(bundle.cfg.prune)


def sweep(
    bundles: Sequence[tuple[str, Bundle]],
    data: Data,
    rates: Sequence[float],
    threshold: str | None = None,
    progress: bool = True,
) -> list[SweepRow]:
    """Evaluate every (label, bundle) at every rate on ``data``'s test split."""
    rows = []
    jobs = [(label, b, r) for label, b in bundles for r in rates]
    for label, bundle, rate in tqdm(jobs, desc="sweep", unit="rate", disable=not progress):
        rep = rate_report(bundle, data, rate, threshold)
        rows.append(
            SweepRow(
                label,
                bundle.cfg.prune.method,
                rate,
                is_seen(bundle, rate),
                rep["accuracy"],
                rep["observed_rate"],
                rep["nonzero"],
                rep["total"],
            )
        )
    return rows


def write_sweep(
    rows: Sequence[SweepRow], out: str | Path, dense_accuracy: float | None = None, title: str = ""
) -> tuple[Path, Path]:
    """``out/sweep.csv`` and ``out/sweep.png``, published together (both written, then both renamed)."""
    out = Path(out)
    table, plot = csv_bytes(rows), png_bytes(rows, dense_accuracy, title)
    paths = out / "sweep.csv", out / "sweep.png"
    atomic_write_files({paths[0]: lambda fh: fh.write(table), paths[1]: lambda fh: fh.write(plot)})
    return paths


def write_csv(rows: Sequence[SweepRow], path: str | Path) -> None:
    """Write :func:`csv_bytes` to ``path`` atomically."""
    table = csv_bytes(rows)
    atomic_write_bytes(path, lambda fh: fh.write(table))


def csv_bytes(rows: Sequence[SweepRow]) -> bytes:
    """Columns: rate, seen, accuracy, observed_rate, nonzero, total, label, method."""
    fields = ["rate", "seen", "accuracy", "observed_rate", "nonzero", "total", "label", "method"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    for row in rows:
        d = asdict(row)
        d["seen"] = int(d["seen"])
        writer.writerow({k: d[k] for k in fields})
    return buf.getvalue().encode()


def plot_sweep(
    rows: Sequence[SweepRow], path: str | Path, dense_accuracy: float | None = None, title: str = ""
) -> None:
    """Write :func:`png_bytes` to ``path`` atomically."""
    plot = png_bytes(rows, dense_accuracy, title)
    atomic_write_bytes(path, lambda fh: fh.write(plot))


def png_bytes(rows: Sequence[SweepRow], dense_accuracy: float | None = None, title: str = "") -> bytes:
    """Accuracy (%) vs rate, one curve per label, seen rates marked, dense as a line (a PNG file)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label in dict.fromkeys(r.label for r in rows):
        mine = sorted((r for r in rows if r.label == label), key=lambda r: r.rate)
        (line,) = ax.plot([r.rate for r in mine], [100 * r.accuracy for r in mine], label=label, lw=1.5)
        seen = [r for r in mine if r.seen]
        if seen:
            ax.plot(
                [r.rate for r in seen], [100 * r.accuracy for r in seen], "o", ms=5, color=line.get_color(), mfc="white"
            )
    if dense_accuracy is not None:
        ax.axhline(100 * dense_accuracy, color="k", ls="--", lw=1, label="dense")
    ax.plot([], [], "o", color="gray", mfc="white", label="seen in training")
    ax.set_xlabel("pruning rate")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    return buf.getvalue()
