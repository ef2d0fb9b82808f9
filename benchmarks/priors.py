"""Observed vs requested pruning rate in ``prior`` mode after SRMP training, per prior.

    python -m benchmarks.priors --dataset sbu --split fold0 --jobs 2 --out benchmarks/out/priors

One SRMP run per (prior, rate, λ); the observed rate is the fraction of prunable weights whose
latent magnitude falls under a(r) = F_Q⁻¹((1 + r)/2) once training ends (the paper's Fig. 4, top).
Writes ``OUT/priors.md`` and ``OUT/priors.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from benchmarks.common import base_config, evaluate_rates, machine, run_jobs, train_cached
from mrmp.cli_config import TRAIN_FLAGS, field_list
from mrmp.config import parse_rates


def _job(cfg: Any, out: Path, key: tuple[Any, ...]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    info = train_cached(cfg, out)
    rep = evaluate_rates(info["checkpoint"], [cfg.prune.rate])[0]
    return key, {"observed": rep["observed_rate"], "accuracy": rep["accuracy"], "seconds": info["seconds"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    TRAIN_FLAGS.select("--dataset", "--split", "--epochs").add_to(
        p, defaults={"--dataset": "sbu", "--split": "fold0", "--epochs": 150}
    )
    p.add_argument("--data")
    p.add_argument("--priors", default="gaussian,laplace,uniform", type=field_list("prune.prior"))
    p.add_argument("--rates", type=parse_rates, default=parse_rates("0.5,0.6,0.7,0.8,0.9,0.95,0.98,0.99"))
    p.add_argument("--kl-weights", default="10,0", type=field_list("prune.kl_weight"))
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/priors"))
    args = p.parse_args()

    res = dict(run_jobs(_job, _plan(args), args.jobs))
    md = _report(res, args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "priors.md").write_text(md)
    plot(res, args)
    print(md)


def _plan(args: argparse.Namespace) -> list[tuple[Any, ...]]:
    """One SRMP job per (λ, prior, rate): (config, out dir, key)."""
    base = base_config(args.dataset, args.split, args.data).replace(train={"epochs": args.epochs, "eval_every": 10_000})
    jobs = []
    for lam in args.kl_weights:
        for prior in args.priors:
            for r in args.rates:
                cfg = base.replace(prune={"method": "srmp", "prior": prior, "rate": r, "kl_weight": lam})
                jobs.append((cfg, args.out / f"{prior}_lam{lam:g}_r{r:g}", (prior, lam, r)))
    return jobs


def _report(res: dict[tuple[Any, ...], dict[str, Any]], args: argparse.Namespace) -> str:
    """Markdown: per λ, observed rate (accuracy %) by requested rate and prior."""
    lines = [f"Machine: {machine()}; {args.dataset} {args.split}, SRMP {args.epochs} epochs per run.", ""]
    for lam in args.kl_weights:
        lines += [
            f"λ = {lam:g} — observed rate (accuracy %)",
            "",
            "| requested | " + " | ".join(args.priors) + " |",
            "|---" * (len(args.priors) + 1) + "|",
        ]
        for r in args.rates:
            cells = [
                f"{res[(pr, lam, r)]['observed']:.3f} ({100 * res[(pr, lam, r)]['accuracy']:.1f})" for pr in args.priors
            ]
            lines.append(f"| {r:g} | " + " | ".join(cells) + " |")
        worst = max(abs(res[(pr, lam, r)]["observed"] - r) for pr in args.priors for r in args.rates if r <= 0.98)
        lines += ["", f"largest |observed − requested| over r ≤ 0.98: {100 * worst:.2f} points", ""]
    return "\n".join(lines)


def plot(res: dict[tuple[Any, ...], dict[str, Any]], args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.plot([0.5, 1], [0.5, 1], "k:", lw=1, label="observed = requested")
    for lam in args.kl_weights:
        for prior in args.priors:
            ax.plot(
                args.rates,
                [res[(prior, lam, r)]["observed"] for r in args.rates],
                "o-" if lam else "x--",
                ms=4,
                label=f"{prior}, λ={lam:g}",
            )
    ax.set_xlabel("requested rate r")
    ax.set_ylabel("observed rate (prior-mode threshold a(r))")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "priors.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
