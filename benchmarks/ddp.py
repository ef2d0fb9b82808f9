"""Data-parallel training: ``torchrun`` with 2 processes of 1 thread against 1 process of 1 and of 2 threads.

    python -m benchmarks.ddp --dataset auto --epochs 20 --repeats 2 --out benchmarks/out/ddp
    python -m benchmarks.ddp --smoke --out /tmp/ddp-smoke        # 1 epoch, tiny model and data

The same dense configuration (``--model``, default the attention GCN; ``--method mrmp`` trains
MRMP without its dense warm-up) is trained for ``--epochs`` epochs by ``mrmp train`` in three
settings, each a subprocess into its own run folder under ``OUT/runs``:

* ``1x1``: one process, ``--threads 1``;
* ``1x2``: one process, ``--threads 2``;
* ``ddp2x1``: ``python -m torch.distributed.run --standalone --nproc-per-node 2 -m mrmp train``,
  ``--threads 1`` in each process (gloo).

``--batch-size`` is the global batch in every setting: under ``torchrun`` each of the 2 ranks
trains the strided half ``batch[rank::2]`` of every global batch (32 of 64) and DDP averages the
gradients, so the three settings take the same steps. Each rank augments only its half, with the
whole global batch's random draws (the same on every rank). Dropout draws differ per rank, so the
data-parallel run follows the single-process trajectory only statistically; its test accuracy
shows it trains the same model.

Time: the ``seconds`` of each epoch in the run's ``log.jsonl`` (training only: no start-up, no
evaluation, no checkpoint); samples/s over epochs 2.. (the first warms up; all epochs when
``--epochs`` is 1). ``wall`` is the subprocess's whole time (imports, data, rendezvous,
evaluation). Settings alternate ``--repeats`` times; the best samples/s of each is kept. Data:
``--dataset auto`` is FPHA under ``--data`` / ``$MRMP_DATA`` / ``../shared/data`` when present,
else the built-in synthetic set with ``--per-class`` sequences per class (written as one
``.npz``: ``--dataset synthetic`` alone has a fixed 240 sequences). Writes ``OUT/ddp.json`` and
``OUT/ddp.md`` and, with ``--results``, replaces the ``<!-- ddp -->`` section of that file.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import SPLITS, data_root
from benchmarks.dense import replace_section, section_problem
from mrmp.bench import machine_info
from mrmp.data import load_dataset, make_synthetic
from mrmp.data.features import pad_sequences

#: Setting name -> (description, processes, torch threads per process).
SETTINGS: dict[str, tuple[str, int, int]] = {
    "1x1": ("1 process, 1 thread", 1, 1),
    "1x2": ("1 process, 2 threads", 1, 2),
    "ddp2x1": ("`torchrun` 2 processes, 1 thread each", 2, 1),
}
#: Model and feature sizes of ``--smoke`` (seconds per run).
SMOKE_SETS = ("model.hidden=16", "model.heads=2", "model.att_dim=4", "model.head_dim=4", "model.embed=8")


def synthetic_npz(path: Path, per_class: int) -> Path:
    """The built-in synthetic set with ``per_class`` sequences per class, as an ``.npz`` archive
    (its 50/50 split as ``split``, its body as ``root`` and axes)."""
    ds = make_synthetic(per_class=per_class)
    x, lengths = pad_sequences(ds.sequences)
    split = np.full(len(x), "train")
    split[ds.split("default").test] = "test"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        x=x.numpy(),
        y=ds.labels,
        edges=np.array(ds.edges),
        lengths=lengths.numpy(),
        split=split,
        class_names=np.array(ds.class_names),
        root=np.array(ds.body.root),
        primary_axis=np.array(ds.body.primary),
        secondary_axis=np.array(ds.body.secondary),
    )
    return path


def dataset_flags(dataset: str, data: str | None, per_class: int, out: Path) -> tuple[list[str], int]:
    """``mrmp train`` flags of the data, and the number of training sequences."""
    if dataset == "synthetic":
        path = synthetic_npz(out / f"synthetic-{per_class}.npz", per_class)
        flags, name, root, split = ["--dataset", "npz", "--data", str(path)], "npz", str(path), "default"
    else:
        root, split, name = str(data_root(dataset, data)), SPLITS[dataset][0], dataset
        flags = ["--dataset", dataset, "--data", root, "--split", split]
    return flags, len(load_dataset(name, root).split(split).train)


def command(setting: str, train: list[str], folder: Path) -> list[str]:
    """The subprocess of one setting: ``mrmp train`` in one process or under ``torchrun``."""
    _, procs, threads = SETTINGS[setting]
    mrmp = ["-m", "mrmp", "train", *train, "--threads", str(threads), "--out", str(folder), "--no-progress"]
    if procs == 1:
        return [sys.executable, *mrmp]
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(procs)]
    return [sys.executable, *launcher, *mrmp]


def run_setting(setting: str, train: list[str], folder: Path, samples: int, timeout: float) -> dict[str, Any]:
    """Run one setting into ``folder``; its times, samples/s and final metrics."""
    _, procs, threads = SETTINGS[setting]
    shutil.rmtree(folder, ignore_errors=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = command(setting, train, folder)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{setting} failed ({done.returncode}): {shlex.join(cmd)}\n{done.stderr[-3000:]}")
    log = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    epochs = [r["seconds"] for r in log]
    timed = epochs[1:] or epochs  # the first epoch warms up
    metrics = json.loads((folder / "metrics.json").read_text())
    return {
        "setting": setting,
        "processes": procs,
        "threads": threads,
        "wall_s": wall,
        "first_epoch_s": epochs[0],
        "epoch_s": statistics.median(timed),
        "train_s": sum(epochs),
        "samples_per_s": samples * len(timed) / sum(timed),
        "test_accuracy": metrics["test_accuracy"],
        "train_accuracy": metrics["train_accuracy"],
        "command": shlex.join(cmd),
    }


def per_process(batch: int, procs: int) -> str:
    """Samples of a global batch each process trains: ``32`` of 64 on 2, ``8–9`` of 17."""
    low, high = batch // procs, -(-batch // procs)
    return f"{low}" if low == high else f"{low}–{high}"


def table(result: dict[str, Any], command_line: str) -> str:
    """The markdown table: one row per setting, then the ratios."""
    rows, a = result["rows"], result["args"]
    info = result["machine"]
    lines = [
        "| setting | batch / process | s / epoch | first epoch s | wall s | samples/s | test acc. | train acc. |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        cells = [SETTINGS[name][0], per_process(a["batch_size"], r["processes"])]
        cells += [f"{r['epoch_s']:.3f}", f"{r['first_epoch_s']:.3f}", f"{r['wall_s']:.1f}", f"{r['samples_per_s']:.0f}"]
        cells += [f"{100 * r['test_accuracy']:.1f}", f"{100 * r['train_accuracy']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    ratios, epochs = result["ratios"], a["epochs"]
    timed = "epochs 2.." if epochs > 1 else "the epoch"
    about = (
        f"{a['model']} {a['method']} on {result['data']}: {result['train_samples']} training sequences,"
        f" global batch {a['batch_size']}, {epochs} epoch{'s' * (epochs > 1)}, best of {a['repeats']}."
        f" `s / epoch`: median training time of {timed} (log.jsonl: no start-up, evaluation or checkpoint);"
        " `wall`: the whole subprocess (imports, data, rendezvous, evaluation)."
    )
    ratio = (
        f"samples/s of `torchrun` 2 × 1 thread: **{ratios['ddp2x1/1x1']:.2f}×** one process of 1 thread,"
        f" **{ratios['ddp2x1/1x2']:.2f}×** one process of 2 threads."
    )
    head = f"`{command_line}` — {info['cpu']}, {info['cores']} cores, torch {info['torch']}."
    return "\n".join([head, about, "", *lines, "", ratio])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=["auto", "fpha", "sbu", "synthetic"], default="auto")
    p.add_argument("--data", help="folder holding fpha/ and sbu/ (default $MRMP_DATA or ../shared/data)")
    p.add_argument("--per-class", type=int, default=400, help="synthetic: sequences per class (6 classes, half train)")
    p.add_argument("--model", choices=["gcn", "stgcn"], default="gcn")
    p.add_argument("--method", choices=["dense", "mrmp"], default="dense")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64, help="global batch (split across the ranks)")
    p.add_argument("--repeats", type=int, default=1, help="runs of each setting, alternated (best kept)")
    p.add_argument("--set", action="append", default=[], help="SECTION.FIELD=VALUE passed to mrmp train")
    p.add_argument("--smoke", action="store_true", help="1 epoch of a tiny model on 24 synthetic sequences")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/ddp"))
    p.add_argument("--results", type=Path, help="markdown file whose ddp section is replaced")
    p.add_argument("--section", default="ddp", help="marker name of the section to replace (e.g. ddp:stgcn)")
    args = p.parse_args()
    if args.results and (problem := section_problem(args.results, args.section)):
        p.error(problem)
    if args.smoke:
        args.dataset, args.per_class, args.epochs, args.batch_size = "synthetic", 4, 1, 8
        args.set = [*SMOKE_SETS, *args.set]
    if args.dataset == "auto":
        args.dataset = "fpha" if Path(data_root("fpha", args.data) or "").is_dir() else "synthetic"
    args.out.mkdir(parents=True, exist_ok=True)
    data, samples = dataset_flags(args.dataset, args.data, args.per_class, args.out)
    train = [*data, "--model", args.model, "--method", args.method, "--epochs", str(args.epochs)]
    train += ["--batch-size", str(args.batch_size)] + (["--no-warmup"] if args.method == "mrmp" else [])
    quiet = ["train.eval_every=1000000", "train.save_every=1000000", "train.save_seconds=0"]
    for change in [*quiet, *args.set]:
        train += ["--set", change]

    rows: dict[str, dict[str, Any]] = {}
    for _ in range(args.repeats):
        for setting in SETTINGS:
            r = run_setting(setting, train, args.out / "runs" / setting, samples, args.timeout)
            print(json.dumps(r), flush=True)
            if r["samples_per_s"] > rows.get(setting, {}).get("samples_per_s", 0):
                rows[setting] = r
    speed = {k: r["samples_per_s"] for k, r in rows.items()}
    name = f"synthetic ({args.per_class} per class)" if args.dataset == "synthetic" else args.dataset
    result: dict[str, Any] = {
        "machine": machine_info(),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "data": name,
        "train_samples": samples,
        "rows": rows,
        "ratios": {"ddp2x1/1x1": speed["ddp2x1"] / speed["1x1"], "ddp2x1/1x2": speed["ddp2x1"] / speed["1x2"]},
    }
    line = f"python -m benchmarks.ddp --dataset {args.dataset} --model {args.model} --method {args.method}"
    line += f" --epochs {args.epochs} --batch-size {args.batch_size} --repeats {args.repeats}"
    line += f" --per-class {args.per_class}" if args.dataset == "synthetic" else ""
    line += "".join(f" --set {c}" for c in args.set)
    text = table(result, line)
    (args.out / "ddp.json").write_text(json.dumps(result, indent=1))
    (args.out / "ddp.md").write_text(text + "\n")
    if args.results:
        replace_section(args.results, args.section, text)
    print(text)


if __name__ == "__main__":
    main()
