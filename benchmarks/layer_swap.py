"""Which layer breaks a multi-rate model at an unseen rate: masks swapped one layer at a time.

    python -m benchmarks.layer_swap CKPT --rate 0.99 --anchor 0.98

For one band-stop checkpoint (MRMP, SRMP) it ranks the latents globally (``exact``, with the
run's floor) at ``--rate`` and at ``--anchor``, and evaluates on the run's test split: every layer
at ``--rate``; every layer at ``--anchor``; each layer alone at ``--rate`` (the others at
``--anchor``); each layer alone at ``--anchor`` (the others at ``--rate``); and, where
``--rate`` is the higher one, ``anchored`` masks at ``--rate`` from ``--anchor`` (what the
default rule gives when ``--anchor`` is the nearest seen rate below ``--rate``). Prints one
markdown table (accuracy %, kept weights per layer).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

import torch
from torch import Tensor

from benchmarks.common import machine
from mrmp.engine import accuracy, load_bundle, load_data
from mrmp.engine.setup import Bundle, Data
from mrmp.pruning import magnitude_masks
from mrmp.pruning.select import anchored_masks


def _accuracy(bundle: Bundle, data: Data, masks: Mapping[str, Tensor]) -> float:
    """Test accuracy (%) with these fixed masks over the latents (the bundle's masks are restored)."""
    handle = bundle.pruner
    with handle.at_rate(handle.rate, "exact"):
        for name, band in handle.masks.items():
            band.override = masks[name]
        with torch.no_grad():
            return 100 * accuracy(bundle.model, data.test, data.test_labels)


def swap_table(bundle: Bundle, data: Data, rate: float, anchor: float) -> list[tuple[str, float, dict[str, int]]]:
    """(setting, accuracy %, kept weights per layer) of every swap (module docstring)."""
    handle = bundle.pruner
    scores = {n: handle.latent(n).detach() for n in handle.names}
    high = magnitude_masks(scores, rate, handle.scale, handle.floor)
    low = magnitude_masks(scores, anchor, handle.scale, handle.floor)
    rows = [(f"every layer at {rate:g}", high), (f"every layer at {anchor:g}", low)]
    rows += [(f"`{n}` alone at {rate:g}", {**low, n: high[n]}) for n in handle.names]
    rows += [(f"`{n}` alone at {anchor:g}", {**high, n: low[n]}) for n in handle.names]
    if rate > anchor:
        anchored = anchored_masks(scores, rate, anchor, handle.scale, handle.floor)
        rows.append((f"`anchored` at {rate:g} from {anchor:g}", anchored))
    return [(label, _accuracy(bundle, data, m), {n: int(v.sum()) for n, v in m.items()}) for label, m in rows]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--rate", type=float, default=0.99)
    p.add_argument("--anchor", type=float, default=0.98)
    p.add_argument("--data", default=None, help="dataset folder (default $MRMP_DATA/<name>)")
    args = p.parse_args(argv)
    bundle, _ = load_bundle(args.checkpoint)
    if bundle.pruner is None or not bundle.method.band_stop:
        raise SystemExit(f"{args.checkpoint}: not a band-stop checkpoint (MRMP or SRMP)")
    data = load_data(bundle.cfg, args.data, scale=bundle.meta.scale)
    rows = swap_table(bundle, data, args.rate, args.anchor)
    names = [n.rsplit(".", 1)[0] for n in bundle.pruner.names]
    print(f"`python -m benchmarks.layer_swap {args.checkpoint} --rate {args.rate:g} --anchor {args.anchor:g}`")
    print(f"— {machine()}.\n")
    print("| masks | accuracy | " + " | ".join(f"kept: {n}" for n in names) + " |")
    print("|---|---|" + "---|" * len(names))
    for label, acc, kept in rows:
        print(f"| {label} | {acc:.1f} | " + " | ".join(f"{k:,}" for k in kept.values()) + " |")


if __name__ == "__main__":
    main()
