"""``mrmp demo``: dense reference + one MRMP run on the built-in synthetic set, then a sweep."""

from __future__ import annotations

from pathlib import Path

from mrmp.config import DEFAULT_SEEN_RATES, RunConfig
from mrmp.engine import fit, load_data
from mrmp.methods import MultiRateMethod
from mrmp.sweep import SweepRow, sweep, write_sweep

__all__ = ["UNSEEN_RATES", "run_demo", "format_table"]

#: Rates never trained by the default MRMP run, evaluated to show interpolation.
UNSEEN_RATES: tuple[float, ...] = (0.52, 0.63, 0.77, 0.87, 0.93, 0.96, 0.99)


def run_demo(
    out: str | Path = "runs/demo", epochs: int = 60, seed: int = 0, progress: bool = True
) -> tuple[list[SweepRow], float]:
    """Train dense, then MRMP warm-started from it, on the synthetic set; sweep seen and unseen rates
    (the default ``anchored`` thresholds: observed rate = requested).

    Writes ``out/{dense,mrmp}/`` runs, ``out/sweep.csv`` and ``out/sweep.png``; returns the
    sweep rows and the dense accuracy.
    """
    out = Path(out)
    base = RunConfig().replace(
        data={"dataset": "synthetic"}, train={"epochs": epochs, "seed": seed, "eval_every": epochs}
    )
    data = load_data(base)
    dense = fit(base, out / "dense", data=data, progress=progress)
    # the recipe of ``mrmp train``, made explicit: latents warm-started from the dense run above
    mrmp_cfg = base.replace(prune={"method": MultiRateMethod.name, "source": str(dense.checkpoint)})
    multi = fit(mrmp_cfg, out / "mrmp", data=data, progress=progress)
    rates = sorted(set(DEFAULT_SEEN_RATES) | set(UNSEEN_RATES))
    rows = sweep([("MRMP", multi.bundle), ("MP (no FT)", dense.bundle)], data, rates, progress=progress)
    dense_acc = float(dense.metrics["test_accuracy"])
    write_sweep(rows, out, dense_accuracy=dense_acc, title="mrmp demo (synthetic)")
    return rows, dense_acc


def format_table(rows: list[SweepRow], dense_accuracy: float | None = None) -> str:
    """Plain-text table: one line per rate, one accuracy column per curve."""
    labels = list(dict.fromkeys(r.label for r in rows))
    by = {(r.label, r.rate): r for r in rows}
    head = f"{'rate':>6} {'seen':>5} " + " ".join(f"{lab:>12}" for lab in labels) + f" {'observed':>9}"
    lines = [head]
    for rate in sorted({r.rate for r in rows}):
        first = by[(labels[0], rate)]
        accs = " ".join(f"{100 * by[(lab, rate)].accuracy:11.1f}%" for lab in labels)
        lines.append(f"{rate:6.2f} {'yes' if first.seen else 'no':>5} {accs} {first.observed_rate:9.3f}")
    if dense_accuracy is not None:
        lines.append(f"dense accuracy: {100 * dense_accuracy:.1f}%")
    return "\n".join(lines)
