"""Cost of one training step per method, measured in one run (interleaved, median of repeats).

    python -m benchmarks.step_cost --dataset sbu --split fold0

Reports dense, SRMP without KL, SRMP with KL and MRMP (K rates; empirical or prior cut-offs)
steps, and the KL's share.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from benchmarks.common import base_config, machine
from mrmp.cli_config import TRAIN_FLAGS
from mrmp.config import RunConfig
from mrmp.engine import Data, build_bundle, build_objective, load_data
from mrmp.pruning import threshold_names
from mrmp.timing import median_times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    TRAIN_FLAGS.select("--dataset", "--split").add_to(p, defaults={"--dataset": "sbu", "--split": "fold0"})
    p.add_argument("--data")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=60)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    base = base_config(args.dataset, args.split, args.data)
    data = load_data(base)
    gen = torch.Generator().manual_seed(0)
    idx = torch.arange(min(args.batch, len(data.train)))
    x, y = data.train(idx, gen), data.train_labels[idx]
    variants = _variants(base)
    steps = {name: _step(cfg, data, x, y, gen) for name, cfg in variants.items()}
    med = _median_ms(steps, args.repeats)
    print(f"Machine: {machine()}; {args.dataset} {args.split}, batch {len(idx)}, {args.threads} thread(s)\n")
    print("| step | median ms | ratio to dense |\n|---|---|---|")
    for n, v in med.items():
        print(f"| {n} | {v:.1f} | {v / med['dense']:.2f} |")
    kl_share = med["srmp, λ>0"] / med["srmp, λ=0"] - 1
    print(
        f"\nKL term adds {100 * kl_share:.1f} % to an SRMP step; MRMP step / SRMP step = "
        f"{med['mrmp'] / med['srmp, λ>0']:.2f}; empirical cut-offs (the default) add "
        f"{100 * (med['mrmp'] / med['mrmp, prior'] - 1):.1f} % to an MRMP step with prior ones"
    )
    rate_switch(variants["mrmp"], data, args.repeats)


def _variants(base: RunConfig) -> dict[str, RunConfig]:
    """The configurations timed, by row label."""
    return {
        "dense": base,
        "srmp, λ=0": base.replace(prune={"method": "srmp", "kl_weight": 0.0}),
        "srmp, λ>0": base.replace(prune={"method": "srmp"}),
        "mrmp": base.replace(prune={"method": "mrmp"}),  # empirical cut-offs (the default)
        "mrmp, prior": base.replace(prune={"method": "mrmp", "threshold": "prior"}),
    }


def _step(cfg: RunConfig, data: Data, x: Tensor, y: Tensor, gen: torch.Generator) -> Callable[[], None]:
    """One optimiser step of ``cfg``'s model and loss on the batch (x, y), as a function."""
    bundle = build_bundle(cfg, data.meta, torch.Generator().manual_seed(0))
    obj = build_objective(bundle, cfg)
    opt = torch.optim.Adam(bundle.model.parameters(), lr=1e-4)
    if bundle.pruner is not None:
        bundle.pruner.set_sigma(20.0)

    def step() -> None:
        out = obj(x, y, bundle.method.step_rates(cfg.prune, gen), gen)
        opt.zero_grad()
        out.loss.backward()
        opt.step()

    return step


def _median_ms(steps: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Median time (ms) of each step over ``repeats`` interleaved rounds, after 3 warm-up rounds."""
    return {n: 1000 * t for n, t in zip(steps, median_times(list(steps.values()), repeats, warmup=3), strict=True)}


def rate_switch(cfg, data, repeats: int) -> None:
    """Time of ``set_rate`` on a whole MRMP model (prior, exact and empirical thresholds, ranked
    over the model's latent-scale scope), and of the first
    batch-1 forward after it (masks are applied inside the forward)."""
    bundle = build_bundle(cfg, data.meta, torch.Generator().manual_seed(0))
    model, pruner = bundle.model.eval(), bundle.pruner
    pruner.set_hard(True)
    x1 = data.test(torch.arange(1))

    def forward() -> None:
        with torch.no_grad():
            model(x1)

    out = {}
    for mode in threshold_names():
        rates = itertools.cycle([0.5, 0.93, 0.77, 0.98, 0.61])

        def switch(mode: str = mode, rates: Iterator[float] = rates) -> None:
            pruner.set_rate(next(rates), threshold=mode)  # ranked within the handle's scale

        sw, fw = median_times([switch, forward], repeats, warmup=0)  # interleaved: each forward follows a switch
        out[mode] = (1000 * sw, 1000 * fw)
    print("\n| rate switch (whole model) | set_rate ms | next batch-1 forward ms |\n|---|---|---|")
    for mode, (sw, fw) in out.items():
        print(f"| {mode} threshold | {sw:.3f} | {fw:.2f} |")


if __name__ == "__main__":
    main()
