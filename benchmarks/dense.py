"""Dense backbone benchmark: test accuracy, mean ± std over seeds (SBU: of the 5-fold means), per setting.

    python -m benchmarks.dense --dataset sbu --seeds 0,1,2 --jobs 2 --out benchmarks/out/dense
    python -m benchmarks.dense --dataset fpha --seeds 0,1,2 --jobs 2 --out benchmarks/out/dense

Each row of :data:`ROWS` is a change of the default configuration (the first row, ``default``, is the
recipe a user gets); every (row, split, seed) run is cached under ``OUT/<dataset>/<row>/…``. Writes
``OUT/<dataset>.json`` and ``OUT/<dataset>.md`` and, with ``--results``, replaces the table between
``<!-- dense:<dataset> -->`` markers in that file (docs/results.md). ``--errors`` adds, per row
and split, the test sequences that every seed gets wrong and the accuracy of the seeds' averaged
class probabilities (whether a row's errors are seed noise or the same sequences every time).
``--paired`` adds each row against the first, seed by seed (the differences, the seeds each way and
a sign-flip test's p-value; with several splits also run by run, which alone needs one seed only);
``--ensembles`` the accuracy of averaged class probabilities.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import SPLITS, base_config, cache_mismatch, clip_accuracies, machine, run_jobs, train_cached
from mrmp.config import FeatureConfig, RunConfig
from mrmp.config_fields import Changes, parse_field
from mrmp.errors import ConfigError

#: ST-GCN's default channels (SBU's; FPHA's recipe had 48-96-96 before round 22) with the pooled head (every
#: recipe's before FPHA's took the joint head in round 22): the rows measured with both pin them.
_NARROW = ("model.stgcn_channels=32,64,64", "model.stgcn_head=pool")

#: ST-GCN's recipe before its learned graphs and mixup: the ST-GCN rows measured on it pin it.
_STGCN_BEFORE = ("model.stgcn_adaptive=false", "model.stgcn_attention=false", "train.mixup=0", *_NARROW)

#: FPHA's test clips before its ST-GCN recipe took one pass: the FPHA-only ST-GCN rows measured then pin them.
_FPHA_CLIPS = ("features.clips=5",)

#: §8's ST-GCN schedule, both persons in one graph, float32 (SBU's ST-GCN default before its recipe).
_STGCN_GRAPH = (
    "model.name=stgcn",
    "model.stgcn_persons=graph",
    "train.epochs=200",
    "train.lr=0.003",
    "model.dropout=0.1",
    "train.amp=off",
    *_STGCN_BEFORE,
)

#: The streams of every recipe before FPHA's took the distance stream: the FPHA rows measured then pin them.
_JOINT_BONE = ("features.streams=joint,bone",)

#: Each joint's distances to all joints on top of the joint and bone streams (SBU's distance rows).
_DIST = ("features.streams=joint,bone,distance",)

#: Ablations measured on the recipe before the GCN's layer norm (``model.norm=false``, the paper's GCN).
_NO_NORM = ("model.norm=false",)

#: SBU's recipes trained on crops ≤ 40 % before crops ≤ 60 % (round 18): the rows measured then keep it.
_CROP4 = ("features.crop=0.4",)

#: Setting name -> (description, changes of the default configuration as ``section.field=value``).
ROWS: dict[str, tuple[str, tuple[str, ...]]] = {
    "default": ("**default recipe**", ()),
    "no_norm": ("no layer norm over the node embeddings (`model.norm=false`), the paper's GCN", _NO_NORM),
    "generic": (
        "the generic schedule, no dataset recipe (`train.lr=0.001`, `train.epochs=600`)",
        ("train.lr=0.001", "train.epochs=600"),
    ),
    "ep600": ("600 epochs (`train.epochs=600`)", ("train.epochs=600",)),
    "clips5": ("5 test-time clips (`features.clips=5`), no layer norm", ("features.clips=5", *_NO_NORM)),
    "no_ema": ("no weight averaging (`train.ema=0`)", ("train.ema=0",)),
    "ema999": ("weight average decay 0.999 (`train.ema=0.999`)", ("train.ema=0.999",)),
    "lr3": ("learning rate 3e-3 (`train.lr=0.003`)", ("train.lr=0.003",)),
    "lr3_1200": ("learning rate 3e-3, 1200 epochs", ("train.lr=0.003", "train.epochs=1200")),
    "lr3_1800": ("learning rate 3e-3, 1800 epochs", ("train.lr=0.003", "train.epochs=1800")),
    "lr3_1200_embed64": (
        "… and embedding 64 (`model.embed=64`)",
        ("train.lr=0.003", "train.epochs=1200", "model.embed=64"),
    ),
    "lr3_1200_chunks8": (
        "… and 8 chunks (`features.chunks=8`)",
        ("train.lr=0.003", "train.epochs=1200", "features.chunks=8"),
    ),
    "std": ("the per-chunk spread too (`features.stats=mean,velocity,std`)", ("features.stats=mean,velocity,std",)),
    "speed": (
        "the per-chunk speed too (`features.stats=mean,velocity,speed`), no layer norm",
        ("features.stats=mean,velocity,speed", *_NO_NORM),
    ),
    "no_noise": ("no coordinate noise (`features.noise=0`), no layer norm", ("features.noise=0", *_NO_NORM)),
    "speed_no_noise": (
        (
            "the per-chunk speed, no coordinate noise (`features.stats=mean,velocity,speed`, `features.noise=0`), "
            "no layer norm"
        ),
        ("features.stats=mean,velocity,speed", "features.noise=0", *_NO_NORM),
    ),
    "drop5": ("dropout 0.5 (`model.dropout=0.5`)", ("model.dropout=0.5",)),
    "wd": ("weight decay 1e-4 (`train.weight_decay=1e-4`), no layer norm", ("train.weight_decay=1e-4", *_NO_NORM)),
    "no_dist": ("no distance stream (`features.streams=joint,bone`; FPHA's recipe before it)", _JOINT_BONE),
    "no_mixup": ("… and no mixup (`train.mixup=0`; FPHA's recipe before that)", (*_JOINT_BONE, "train.mixup=0")),
    "no_mixup_no_norm": (
        "… and no layer norm (`model.norm=false`), the paper's GCN",
        (*_JOINT_BONE, "train.mixup=0", *_NO_NORM),
    ),
    "no_mixup_no_wd": (
        "… and no weight decay (`train.weight_decay=0`), no layer norm",
        (*_JOINT_BONE, "train.mixup=0", "train.weight_decay=0", *_NO_NORM),
    ),
    "no_wd": ("no weight decay (`train.weight_decay=0`), no layer norm", ("train.weight_decay=0", *_NO_NORM)),
    "wd5e-4": ("weight decay 5e-4 (`train.weight_decay=5e-4`), no layer norm", ("train.weight_decay=5e-4", *_NO_NORM)),
    "partner": (
        "partner stream too (`features.streams=joint,bone,partner`), no layer norm",
        ("features.streams=joint,bone,partner", *_NO_NORM),
    ),
    "no_swap": (
        "persons as stored, no swap (`features.swap_persons=0`, `features.test_swap=false`), no layer norm",
        ("features.swap_persons=0", "features.test_swap=false", *_NO_NORM),
    ),
    "swap_train": (
        "persons swapped in training, one order at test time (`features.test_swap=false`), no layer norm",
        ("features.swap_persons=0.5", "features.test_swap=false", *_NO_NORM),
    ),
    "mirror": (
        (
            "mirror images too, in training (`features.mirror=0.5`) and at test time (`features.test_mirror=true`), "
            "no layer norm"
        ),
        ("features.mirror=0.5", "features.test_mirror=true", *_NO_NORM),
    ),
    "mirror_train": (
        "mirror images in training only (`features.mirror=0.5`), no layer norm",
        ("features.mirror=0.5", "features.test_mirror=false", *_NO_NORM),
    ),
    "crop2": ("temporal crop ≤ 20 % (`features.crop=0.2`)", ("features.crop=0.2",)),
    "stgcn": (
        "ST-GCN (`model.name=stgcn`), persons apart (`model.stgcn_persons=apart`), §8's schedule",
        (
            "model.name=stgcn",
            "model.stgcn_persons=apart",
            "train.epochs=200",
            "train.lr=0.003",
            "model.dropout=0.1",
            "train.amp=off",
            *_STGCN_BEFORE,
        ),
    ),
    "stgcn_graph": (
        "ST-GCN, the persons' joints in one graph (`model.stgcn_persons=graph`), §8's schedule",
        _STGCN_GRAPH,
    ),
    "stgcn_graph_spatial": (
        "… and the spatial configuration's 3 subsets (`model.stgcn_partitions=spatial`)",
        (*_STGCN_GRAPH, "model.stgcn_partitions=spatial"),
    ),
    "stgcn_graph_motion": (
        "… and a motion stream, no noise (`features.streams=joint,bone,motion`, `features.noise=0`)",
        (*_STGCN_GRAPH, "features.streams=joint,bone,motion", "features.noise=0"),
    ),
    "stgcn_nonoise": (
        "ST-GCN, §8's schedule, no coordinate noise (`features.noise=0`)",
        (
            "model.name=stgcn",
            "train.epochs=200",
            "train.lr=0.003",
            "model.dropout=0.1",
            "features.noise=0",
            "train.amp=off",
            *_STGCN_BEFORE,
            *_FPHA_CLIPS,
        ),
    ),
    "stgcn_default": (
        (
            "ST-GCN, its recipe (`--model stgcn`: bf16; SBU 350 epochs, 5 clips, a motion stream, no noise; FPHA 300, "
            "a learned graph, the classifier on each joint, mixup, 1 pass)"
        ),
        ("model.name=stgcn",),
    ),
    "stgcn_narrow": (
        (
            "ST-GCN, its recipe with the pooled head and 32-64-64 channels (`model.stgcn_head=pool`: every recipe's "
            "before round 22, FPHA's then with 48-96-96 channels)"
        ),
        ("model.name=stgcn", *_NARROW),
    ),
    "stgcn_clips5": ("… 5 test clips (`features.clips=5`)", ("model.name=stgcn", *_NARROW, "features.clips=5")),
    "stgcn_before": (
        "ST-GCN, its recipe before the learned graph and mixup (`model.stgcn_adaptive=false`, `train.mixup=0`)",
        ("model.name=stgcn", *_STGCN_BEFORE),
    ),
    "stgcn_before_clips5": (
        "ST-GCN's recipe before, with FPHA's 5 test clips then (`features.clips=5`)",
        ("model.name=stgcn", *_STGCN_BEFORE, "features.clips=5"),
    ),
    "stgcn_adaptive": (
        "… a learned graph per block (`model.stgcn_adaptive=true`)",
        ("model.name=stgcn", *_STGCN_BEFORE, "model.stgcn_adaptive=true"),
    ),
    "stgcn_attention": (
        "… a learned graph and each sample's own (`model.stgcn_adaptive=true`, `model.stgcn_attention=true`)",
        ("model.name=stgcn", *_STGCN_BEFORE, "model.stgcn_adaptive=true", "model.stgcn_attention=true"),
    ),
    "stgcn_mixup": (
        "… mixup alone, α = 0.2 (`train.mixup=0.2`)",
        ("model.name=stgcn", *_STGCN_BEFORE, "train.mixup=0.2"),
    ),
    "stgcn_adaptive_mixup": (
        "… a learned graph and mixup, α = 0.2 (`model.stgcn_adaptive=true`, `train.mixup=0.2`)",
        ("model.name=stgcn", *_STGCN_BEFORE, "model.stgcn_adaptive=true", "train.mixup=0.2"),
    ),
    "stgcn_attention_mixup": (
        "… both graphs and mixup (`model.stgcn_adaptive=true`, `model.stgcn_attention=true`, `train.mixup=0.2`)",
        ("model.name=stgcn", "model.stgcn_adaptive=true", "model.stgcn_attention=true", "train.mixup=0.2", *_NARROW),
    ),
    "stgcn_fp32": (
        "… in float32 (`train.amp=off`)",
        ("model.name=stgcn", *_STGCN_BEFORE, *_FPHA_CLIPS, "train.amp=off"),
    ),
    "stgcn_wd": (
        "… weight decay 1e-4 (`train.weight_decay=1e-4`)",
        ("model.name=stgcn", *_STGCN_BEFORE, "train.weight_decay=1e-4"),
    ),
    "stgcn_200": ("… 200 epochs (`train.epochs=200`)", ("model.name=stgcn", *_STGCN_BEFORE, "train.epochs=200")),
    "stgcn_350": ("… 350 epochs (`train.epochs=350`)", ("model.name=stgcn", *_STGCN_BEFORE, "train.epochs=350")),
    "stgcn_600": (
        "… 600 epochs (`train.epochs=600`)",
        ("model.name=stgcn", *_STGCN_BEFORE, *_FPHA_CLIPS, "train.epochs=600"),
    ),
    "stgcn_4blocks": (
        "… a fourth block (`model.stgcn_channels=32,64,64,64`)",
        ("model.name=stgcn", *_STGCN_BEFORE, *_FPHA_CLIPS, "model.stgcn_channels=32,64,64,64"),
    ),
    "stgcn_frames48": (
        "… 48 frames (`features.frames=48`)",
        ("model.name=stgcn", *_STGCN_BEFORE, *_FPHA_CLIPS, "features.frames=48"),
    ),
    "stgcn_drop3": (
        "… dropout 0.3 (`model.dropout=0.3`)",
        ("model.name=stgcn", *_STGCN_BEFORE, *_FPHA_CLIPS, "model.dropout=0.3"),
    ),
    "stgcn_spatial": (  # FPHA: its recipe's 300 epochs, in float32 (SBU: stgcn_graph_spatial)
        "… float32, the spatial configuration's 3 subsets (`model.stgcn_partitions=spatial`)",
        ("model.name=stgcn", *_STGCN_BEFORE, *_FPHA_CLIPS, "model.stgcn_partitions=spatial", "train.amp=off"),
    ),
    "stgcn_motion": (  # FPHA (SBU: stgcn_graph_motion)
        "… float32, a motion stream, no noise (`features.streams=joint,bone,motion`, `features.noise=0`)",
        (
            "model.name=stgcn",
            *_STGCN_BEFORE,
            *_FPHA_CLIPS,
            "features.streams=joint,bone,motion",
            "features.noise=0",
            "train.amp=off",
        ),
    ),
    "pyramid": ("temporal pyramid: chunk levels 4, 2 and 1 (`features.pyramid=true`)", ("features.pyramid=true",)),
    "chunks6": ("6 chunks (`features.chunks=6`), no layer norm", ("features.chunks=6", *_NO_NORM)),
    "chunks6_norm": ("6 chunks (`features.chunks=6`)", ("features.chunks=6",)),
    "chunks2": ("2 chunks (`features.chunks=2`)", ("features.chunks=2",)),
    "wd_norm": ("weight decay 1e-4 (`train.weight_decay=1e-4`)", ("train.weight_decay=1e-4",)),
    "lr2e-3": ("learning rate 2e-3 (`train.lr=0.002`)", ("train.lr=0.002",)),
    "embed64_norm": ("embedding 64 (`model.embed=64`)", ("model.embed=64",)),
    "shear": ("a random shear ≤ 0.3 in training (`features.shear=0.3`)", ("features.shear=0.3",)),
    "mixup": ("mixup of each training batch, α = 0.2 (`train.mixup=0.2`)", ("train.mixup=0.2",)),
    "std_norm": (
        "the per-chunk spread too (`features.stats=mean,velocity,std`)",
        ("features.stats=mean,velocity,std",),
    ),
    "crop2_norm": ("temporal crop ≤ 20 % (`features.crop=0.2`)", ("features.crop=0.2",)),
    "dist": (
        "each joint's distances to all joints too (`features.streams=joint,bone,distance`)",
        _DIST,
    ),
    "dist_clips5": (
        "distances too and 5 test-time clips (`features.streams=joint,bone,distance`, `features.clips=5`)",
        (*_DIST, "features.clips=5"),
    ),
    "dist_mixup": (
        "… with 5 test-time clips and mixup, α = 0.2 (`train.mixup=0.2`)",
        (*_DIST, "features.clips=5", "train.mixup=0.2"),
    ),
    "dist_embed64": (
        "… with 5 test-time clips and embedding 64 (`model.embed=64`)",
        (*_DIST, "features.clips=5", "model.embed=64"),
    ),
    "input_drop": ("input dropout 0.1 (`model.input_dropout=0.1`)", ("model.input_dropout=0.1",)),
    "clips5_norm": ("5 test-time clips (`features.clips=5`)", ("features.clips=5",)),
    "wd_dist": (
        "weight decay 1e-4 (`train.weight_decay=1e-4`), with SBU's distances, crops ≤ 40 %",
        ("train.weight_decay=1e-4", *_CROP4),
    ),
    "heads16": ("16 attention heads (`model.heads=16`)", ("model.heads=16",)),
    "hidden512": ("a hidden layer of 512 (`model.hidden=512`)", ("model.hidden=512",)),
    "chunks6_dist": ("6 chunks (`features.chunks=6`), with SBU's distances", ("features.chunks=6",)),
    "ema_distill": (
        (
            "the weight average's predictions distilled, α = 0.5, T = 2 (`train.ema_distill=0.5`, "
            "`train.distill_temperature=2`), crops ≤ 40 %"
        ),
        ("train.ema_distill=0.5", "train.distill_temperature=2", *_CROP4),
    ),
    "ema_distill_t1": (
        "the weight average's predictions distilled, α = 0.5, T = 1 (`train.ema_distill=0.5`)",
        ("train.ema_distill=0.5",),
    ),
    "balanced": (
        "each class's cross-entropy weighed by its inverse training frequency (`train.class_weight=balanced`)",
        ("train.class_weight=balanced",),
    ),
    "smooth2": ("label smoothing 0.2 (`train.label_smoothing=0.2`)", ("train.label_smoothing=0.2",)),
    "rot20": (
        "rotations ≤ 20° in training (`features.rotate_deg=20`), crops ≤ 40 %",
        ("features.rotate_deg=20", *_CROP4),
    ),
    "swa": (
        "the last quarter of the epochs averaged equally at a flat lr 5e-4 (`train.swa=0.25`, SWA)",
        ("train.swa=0.25",),
    ),
    "swa_lr1": (
        "the last quarter of the epochs averaged equally at a flat lr 1e-4 (`train.swa=0.25`, `train.swa_lr=1e-4`)",
        ("train.swa=0.25", "train.swa_lr=1e-4"),
    ),
    "stgcn_jb": (
        (
            "ST-GCN, its recipe with joint and bone streams and coordinate noise 0.05 (`features.streams=joint,bone`, "
            "`features.noise=0.05`), crops ≤ 40 %: SBU's ST-GCN recipe before the motion stream"
        ),
        ("model.name=stgcn", "features.streams=joint,bone", "features.noise=0.05", *_CROP4),
    ),
    "stgcn_ema_distill": (
        "ST-GCN, its recipe, the weight average's predictions distilled, α = 0.5, T = 2 (`train.ema_distill=0.5`, …)",
        ("model.name=stgcn", "train.ema_distill=0.5", "train.distill_temperature=2"),
    ),
    "joint_bone": (
        (
            "joint and bone streams, one test pass, crops ≤ 40 % (`features.streams=joint,bone`, `features.clips=1`, "
            "`features.crop=0.4`): SBU's recipe before the distances"
        ),
        ("features.streams=joint,bone", "features.clips=1", "features.clip_lengths=", *_CROP4),
    ),
    "stgcn_dist": (
        (
            "ST-GCN, its recipe with 32-64-64 channels, each joint's distances to all joints too "
            "(`features.streams=joint,bone,distance`)"
        ),
        ("model.name=stgcn", *_NARROW, *_DIST),
    ),
    "stgcn_bn": (
        "ST-GCN, its recipe with 32-64-64 channels, an input batch norm (`model.stgcn_input_norm=true`)",
        ("model.name=stgcn", *_NARROW, "model.stgcn_input_norm=true"),
    ),
    "stgcn_dist_bn": (
        (
            "ST-GCN, its recipe with 32-64-64 channels, distances too (`features.streams=joint,bone,distance`) "
            "and an input batch norm (`model.stgcn_input_norm=true`)"
        ),
        ("model.name=stgcn", *_NARROW, *_DIST, "model.stgcn_input_norm=true"),
    ),
    "stgcn_dist_seqnoise": (
        (
            "ST-GCN, its recipe with 32-64-64 channels, distances too (`features.streams=joint,bone,distance`) "
            "and the noise one offset per joint and sequence (`features.noise_per=sequence`)"
        ),
        ("model.name=stgcn", *_NARROW, *_DIST, "features.noise_per=sequence"),
    ),
    "stgcn_ms": (
        "ST-GCN, its recipe with ST-GCN++'s multi-scale temporal convolution (`model.stgcn_temporal=multiscale`)",
        ("model.name=stgcn", "model.stgcn_temporal=multiscale"),
    ),
    "stgcn_gres": (
        "ST-GCN, its recipe with a residual around each graph convolution (`model.stgcn_gcn_residual=true`)",
        ("model.name=stgcn", "model.stgcn_gcn_residual=true"),
    ),
    "stgcn_450": (
        "ST-GCN, its recipe with 32-64-64 channels, 450 epochs (`train.epochs=450`)",
        ("model.name=stgcn", *_NARROW, "train.epochs=450"),
    ),
    "stgcn_wide_bn": (
        "ST-GCN, its recipe with 48-96-96 channels and an input batch norm (`model.stgcn_input_norm=true`)",
        ("model.name=stgcn", "model.stgcn_channels=48,96,96", "model.stgcn_input_norm=true"),
    ),
    "stgcn_f16_e600": (
        "ST-GCN, its recipe on 16 frames, 600 epochs (`features.frames=16`, `train.epochs=600`)",
        ("model.name=stgcn", "features.frames=16", "train.epochs=600"),
    ),
    "stgcn_f16_c48": (
        (
            "ST-GCN, its recipe on 16 frames, 48-96-96 channels (`features.frames=16`, "
            "`model.stgcn_channels=48,96,96`), crops ≤ 40 %"
        ),
        ("model.name=stgcn", "features.frames=16", "model.stgcn_channels=48,96,96", *_CROP4),
    ),
    "stgcn_mixup4": (
        "ST-GCN, its recipe with mixup α = 0.4 (`train.mixup=0.4`)",
        ("model.name=stgcn", "train.mixup=0.4"),
    ),
    "stgcn_joint_narrow": (
        "ST-GCN, its recipe with 32-64-64 channels on the joint stream alone (`features.streams=joint`)",
        ("model.name=stgcn", *_NARROW, "features.streams=joint"),
    ),
    "stgcn_bone_narrow": (
        "ST-GCN, its recipe with 32-64-64 channels on the bone stream alone (`features.streams=bone`)",
        ("model.name=stgcn", *_NARROW, "features.streams=bone"),
    ),
    "stgcn_swa": (
        "ST-GCN, its recipe, the last quarter of the epochs averaged equally at a flat lr 5e-4 (`train.swa=0.25`)",
        ("model.name=stgcn", "train.swa=0.25"),
    ),
    "stgcn_adamw": (
        "ST-GCN, its recipe with decoupled weight decay 0.05 (`train.optimizer=adamw`, `train.weight_decay=0.05`)",
        ("model.name=stgcn", "train.optimizer=adamw", "train.weight_decay=0.05"),
    ),
    "stgcn_lr6": (
        "ST-GCN, its recipe at twice the learning rate (`train.lr=6e-3`)",
        ("model.name=stgcn", "train.lr=6e-3"),
    ),
    "stgcn_mixup1": (
        "ST-GCN, its recipe with mixup α = 0.1 (`train.mixup=0.1`)",
        ("model.name=stgcn", "train.mixup=0.1"),
    ),
    "stgcn_ema999": (
        "ST-GCN, its recipe with a slower weight average (`train.ema=0.999`)",
        ("model.name=stgcn", "train.ema=0.999"),
    ),
    "stgcn_b32": (
        "ST-GCN, its recipe with batches of 32, twice the steps (`train.batch_size=32`)",
        ("model.name=stgcn", "train.batch_size=32"),
    ),
    "stgcn_b16": (
        "ST-GCN, its recipe with batches of 16, four times the steps (`train.batch_size=16`)",
        ("model.name=stgcn", "train.batch_size=16"),
    ),
    "stgcn_lr15": (
        "ST-GCN, its recipe with half the learning rate (`train.lr=0.0015`)",
        ("model.name=stgcn", "train.lr=0.0015"),
    ),
    "stgcn_b32_bdrop2": (
        "… and dropout 0.2 in the blocks after the first (`model.stgcn_block_dropout=0.2`)",
        ("model.name=stgcn", "train.batch_size=32", "model.stgcn_block_dropout=0.2"),
    ),
    "stgcn_kd_narrow": (
        "ST-GCN, its recipe with 32-64-64 channels, the GCN's predictions distilled, α = 0.5, T = 1",
        ("model.name=stgcn", *_NARROW, "train.teacher=@default"),
    ),
    "stgcn_kd_narrow_t2": (
        "… α = 0.5, T = 2 (`train.distill_temperature=2`)",
        ("model.name=stgcn", *_NARROW, "train.teacher=@default", "train.distill_temperature=2"),
    ),
    "stgcn_kd_narrow_a9": (
        "… α = 0.9, T = 2 (`train.teacher_distill=0.9`, `train.distill_temperature=2`)",
        (
            "model.name=stgcn",
            *_NARROW,
            "train.teacher=@default",
            "train.teacher_distill=0.9",
            "train.distill_temperature=2",
        ),
    ),
    "stgcn_joints": (
        (
            "ST-GCN, its recipe with the classifier on each joint's features (`model.stgcn_head=joints`: "
            "FPHA's recipe has it)"
        ),
        ("model.name=stgcn", "model.stgcn_head=joints"),
    ),
    "stgcn_joints_narrow": (
        (
            "ST-GCN, its recipe with the classifier on each joint's features and 32-64-64 channels "
            "(`model.stgcn_head=joints`: FPHA's recipe since round 22)"
        ),
        ("model.name=stgcn", "model.stgcn_channels=32,64,64", "model.stgcn_head=joints"),
    ),
    "stgcn_joints_d3_narrow": (
        "… and dropout 0.3 before the classifier (`model.dropout=0.3`)",
        ("model.name=stgcn", "model.stgcn_channels=32,64,64", "model.stgcn_head=joints", "model.dropout=0.3"),
    ),
    "stgcn_wide_pool": (
        "ST-GCN, FPHA's recipe before round 22 (48-96-96 channels, the pooled head: `model.stgcn_head=pool`)",
        ("model.name=stgcn", "model.stgcn_channels=48,96,96", "model.stgcn_head=pool"),
    ),
    "stgcn_f32": (
        "ST-GCN, its recipe in float32 (`train.amp=off`: what `train.amp=auto` gives a CPU without bf16)",
        ("model.name=stgcn", "train.amp=off"),
    ),
    "stgcn_f32_kd": (
        (
            "ST-GCN, its recipe in float32, the GCN's predictions distilled, α = 0.5, T = 2 "
            "(`train.teacher=@default`, `train.distill_temperature=2`)"
        ),
        ("model.name=stgcn", "train.amp=off", "train.teacher=@default", "train.distill_temperature=2"),
    ),
    "stgcn_wd5": (
        "ST-GCN, its recipe with weight decay 5e-4 (`train.weight_decay=5e-4`)",
        ("model.name=stgcn", "train.weight_decay=5e-4"),
    ),
    "crop4": (
        "temporal crops ≤ 40 % in training (`features.crop=0.4`: SBU's GCN before crops ≤ 60 %)",
        _CROP4,
    ),
    "crop6": (
        "temporal crops ≤ 60 % in training (`features.crop=0.6`): SBU's GCN recipe, elsewhere",
        ("features.crop=0.6",),
    ),
    "crop8": (
        "temporal crops ≤ 80 % in training (`features.crop=0.8`)",
        ("features.crop=0.8",),
    ),
    "stgcn_f32_crop8": (
        "ST-GCN, its recipe in float32 with temporal crops ≤ 80 % in training (`train.amp=off`, `features.crop=0.8`)",
        ("model.name=stgcn", "train.amp=off", "features.crop=0.8"),
    ),
    "stgcn_crop4": (
        "ST-GCN, its recipe with temporal crops ≤ 40 % in training (`features.crop=0.4`: SBU's before crops ≤ 60 %)",
        ("model.name=stgcn", *_CROP4),
    ),
    "stgcn_crop6": (
        "ST-GCN, its recipe with temporal crops ≤ 60 % in training (`features.crop=0.6`: SBU's recipe, elsewhere)",
        ("model.name=stgcn", "features.crop=0.6"),
    ),
    "dist_seqnoise": (
        (
            "distances too, 5 test-time clips, the noise one offset per joint and sequence "
            "(`features.streams=joint,bone,distance`, `features.clips=5`, `features.noise_per=sequence`)"
        ),
        (*_DIST, "features.clips=5", "features.noise_per=sequence"),
    ),
    "seqnoise": (
        "the noise one offset per joint and sequence (`features.noise_per=sequence`)",
        ("features.noise_per=sequence",),
    ),
    "seqnoise_clips5": (
        (
            "the noise one offset per joint and sequence, 5 test-time clips "
            "(`features.noise_per=sequence`, `features.clips=5`)"
        ),
        ("features.noise_per=sequence", "features.clips=5"),
    ),
    "centre_frame": ("centred on every frame's root (`features.centre=frame`)", ("features.centre=frame",)),
    "speed_no_noise_norm": (
        "the per-chunk speed, no coordinate noise (`features.stats=mean,velocity,speed`, `features.noise=0`)",
        ("features.stats=mean,velocity,speed", "features.noise=0"),
    ),
    "speed_seq_noise": (
        (
            "the per-chunk speed, the noise one offset per joint and sequence "
            "(`features.stats=mean,velocity,speed`, `features.noise_per=sequence`)"
        ),
        ("features.stats=mean,velocity,speed", "features.noise_per=sequence"),
    ),
    "chunks8": ("8 chunks (`features.chunks=8`), no layer norm", ("features.chunks=8", *_NO_NORM)),
    "embed64": ("embedding 64 (`model.embed=64`), no layer norm", ("model.embed=64", *_NO_NORM)),
    "no_align": ("no view alignment (`features.align=off`)", ("features.align=off",)),
    "no_bones": ("joint stream only (`features.streams=joint`)", ("features.streams=joint",)),
    "no_size": ("no bone-length size normalisation (`features.size=dataset`)", ("features.size=dataset",)),
    "active_first": ("most active person first (`features.person_order=active`)", ("features.person_order=active",)),
    "first_release": (
        "first release: centroid-centred, dataset-scaled joints in native units, 300 epochs, no EMA",
        (
            "features.centre=centroid",
            "features.size=dataset",
            "features.align=off",
            "features.streams=joint",
            "data.coords=native",
            "train.ema=0",
            "train.epochs=300",
        ),
    ),
}


def changes(items: tuple[str, ...]) -> Changes:
    """``section.field=value`` items -> {section: {field: value}}, each value parsed by its field's type."""
    out: Changes = {}
    for item in items:
        key, _, text = item.partition("=")
        section, _, name = key.partition(".")
        out.setdefault(section, {})[name] = parse_field(key, text)
    return out


def plan(
    dataset: str, rows: list[str], seeds: list[int], data: str | None, out: Path, splits: list[str] | None = None
) -> list[tuple[Any, ...]]:
    """(config, run folder, key) of every run; key = (row, split, seed); ``splits``: a subset of the
    dataset's splits (default: all)."""
    jobs = []
    for row in rows:
        for split in splits or SPLITS[dataset]:
            for seed in seeds:
                extra = changes(ROWS[row][1])
                model = extra.get("model", {}).get("name", "gcn")  # the backbone's recipe under the row
                cfg = base_config(dataset, split, data, model).replace(train={"eval_every": 10_000, "seed": seed})
                if teacher := teacher_row(row):  # ``@ROW``: that row's run of this split and seed
                    extra["train"]["teacher"] = str(out / dataset / teacher / split / f"seed{seed}")
                cfg = cfg.replace(**extra) if extra else cfg
                jobs.append((cfg, out / dataset / row / split / f"seed{seed}", (row, split, seed)))
    return jobs


def teacher_row(row: str) -> str | None:
    """The row whose runs teach ``row``'s (its ``train.teacher=@ROW``), or None."""
    teacher = changes(ROWS[row][1]).get("train", {}).get("teacher")
    return teacher[1:] if isinstance(teacher, str) and teacher.startswith("@") else None


def _train(cfg: RunConfig, folder: Path, key: tuple[Any, ...]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Train (cached), then evaluate with the row's test-time clips and with one pass (``single``),
    both with the row's ``test_swap`` and ``test_mirror`` (which do not change training)."""
    run = train_cached(cfg, folder)
    f = cfg.features
    clips, single = (f.clips, f.clip_lengths), (1, ())
    acc = clip_accuracies(run["checkpoint"], [clips, single], f.test_swap, f.test_mirror)
    views = {"clips": f.clips, "clip_lengths": f.clip_lengths, "test_swap": f.test_swap, "test_mirror": f.test_mirror}
    return key, {**run, "test": acc[clips], "single": acc[single], "views": views}


def run_probabilities(run: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, Any, str]:
    """Class probabilities (N, classes) of a cached run on its test sequences, averaged over its
    row's test views (``views``: features fields, as :func:`_train` gives them; else those the run
    was trained with), the true labels (N,), the loaded :class:`~mrmp.engine.Data` and its split."""
    from mrmp.engine import load_bundle, load_data

    bundle, _ = load_bundle(run["checkpoint"])
    cfg = bundle.cfg.replace(features=run["views"]) if "views" in run else bundle.cfg
    data = load_data(cfg, scale=bundle.meta.scale)
    model, idx = bundle.model.eval(), torch.arange(len(data.test_labels))
    with torch.no_grad():
        p = sum(model(view).softmax(1) for view in data.test.views(idx))
    return p / p.sum(1, keepdim=True), data.test_labels, data, cfg.data.split


def seed_errors(results: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (row, split): the test sequences every seed gets wrong (``id: true → predicted``), the
    number wrong in some seed only, and the accuracy of the seeds' averaged class probabilities
    (:func:`run_probabilities`)."""
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for (row, split, _), run in results:
        runs.setdefault((row, split), []).append(run)
    out = {}
    for key, row_runs in runs.items():
        probs, wrong, confused, tested = [], [], Counter(), Counter()
        for run in row_runs:
            p, labels, data, split = run_probabilities(run)
            probs.append(p)
            wrong.append(set((p.argmax(1) != labels).nonzero().flatten().tolist()))
            names = data.dataset.class_names
            confused.update((names[int(labels[i])], names[int(p[i].argmax())]) for i in wrong[-1])
            tested.update(names[int(y)] for y in labels)
        mean = torch.stack(probs).mean(0)
        test = data.dataset.split(split).test
        ids = [data.dataset.ids[i] for i in test]
        always = sorted(set.intersection(*wrong))
        out[key] = {
            "always": [f"{ids[i]}: {names[int(labels[i])]} → {names[int(mean[i].argmax())]}" for i in always],
            "sometimes": len(set.union(*wrong)) - len(always),
            "ensemble": float((mean.argmax(1) == labels).float().mean()),
            "confused": confused,
            "tested": tested,
        }
    return out


def ensembles(results: list[tuple[tuple[Any, ...], dict[str, Any]]], seeds: list[int]) -> dict[str, Any]:
    """Accuracies (%, the mean over splits) of averaged class probabilities (:func:`run_probabilities`):
    ``rows``, per seed, of all the rows' runs of that seed (late fusion, e.g. of one stream per row);
    ``seeds``, per row, of all its seeds' runs (one number each)."""
    probs, labels = {}, {}
    for (row, split, seed), run in results:
        probs[row, split, seed], labels[split], _, _ = run_probabilities(run)
    rows = list(dict.fromkeys(r for r, _, _ in probs))
    splits = list(labels)

    def accuracy(split: str, keys: list[tuple[str, str, int]]) -> float:
        mean = torch.stack([probs[k] for k in keys]).mean(0)
        return 100 * float((mean.argmax(1) == labels[split]).float().mean())

    by_seed = [statistics.mean(accuracy(sp, [(r, sp, seed) for r in rows]) for sp in splits) for seed in seeds]
    by_row = {r: statistics.mean(accuracy(sp, [(r, sp, seed) for seed in seeds]) for sp in splits) for r in rows}
    return {"rows": by_seed, "seeds": by_row}


def confusion_table(errors: dict[tuple[str, str], dict[str, Any]]) -> str:
    """Markdown: per row, the errors of all its runs (every split and seed) by true class, with
    the classes they were taken for (``true → predicted ×count``)."""
    lines = ["| setting | true class | wrong / tested | taken for |", "|---|---|---|---|"]
    rows: dict[str, tuple[Counter, Counter]] = {}
    for (row, _), e in errors.items():
        confused, tested = rows.setdefault(row, (Counter(), Counter()))
        confused.update(e["confused"])
        tested.update(e["tested"])
    for row, (confused, tested) in rows.items():
        wrong: Counter = Counter()
        for (true, _), n in confused.items():
            wrong[true] += n
        for true, n in wrong.most_common():
            taken = ", ".join(f"{p} ×{k}" for (t, p), k in confused.most_common() if t == true)
            lines.append(f"| {row} | {true} | {n} / {tested[true]} | {taken} |")
    return "\n".join(lines)


def errors_table(errors: dict[tuple[str, str], dict[str, Any]], seeds: list[int]) -> str:
    """Markdown: per row and split, the sequences wrong in every seed and the seeds' ensemble accuracy."""
    lines = [
        f"| setting | split | wrong in all {len(seeds)} seeds | wrong in some | seeds averaged |",
        "|---|---|---|---|---|",
    ]
    for (row, split), e in errors.items():
        always = "; ".join(e["always"]) or "–"
        lines.append(f"| {row} | {split} | {always} | {e['sometimes']} | {100 * e['ensemble']:.1f} |")
    return "\n".join(lines)


def ensembles_table(ens: dict[str, Any], seeds: list[int], command: str) -> str:
    """Markdown: the accuracies of :func:`ensembles`."""
    per_seed = ens["rows"]
    spread = statistics.stdev(per_seed) if len(per_seed) > 1 else 0.0
    names = " + ".join(ROWS[r][0] for r in ens["seeds"]) if len(ens["seeds"]) > 1 else None
    lines = ["| class probabilities averaged over | runs | **accuracy** |", "|---|---|---|"]
    if names:
        each = " / ".join(f"{a:.1f}" for a in per_seed)
        acc = f"**{statistics.mean(per_seed):.1f} ± {spread:.1f}** ({each})"
        lines.append(f"| the rows' runs of one seed: {names} | {len(ens['seeds'])} | {acc} |")
    for row, acc in ens["seeds"].items():
        lines.append(f"| the seeds' runs of one row: {ROWS[row][0]} | {len(seeds)} | **{acc:.1f}** |")
    return "\n".join(
        [
            f"`{command}` — {machine()}.",
            "Test accuracy (%) of the class probabilities averaged over several runs (an ensemble), the mean over",
            f"the splits; seeds {', '.join(map(str, seeds))}; rows: mean ± std over the seeds, each seed after.",
            "",
            *lines,
        ]
    )


def sign_flip_p(diffs: list[float], draws: int = 1 << 16) -> float:
    """Two-sided p-value of the paired sign-flip (permutation) test of ``diffs`` (one per seed): the
    share of sign assignments whose mean is at least as far from 0 as the observed one; every
    assignment up to 16 differences, else ``draws`` random ones (a fixed generator)."""
    d = torch.tensor(diffs, dtype=torch.float64)
    n = len(diffs)
    if n <= 16:
        signs = ((torch.arange(1 << n)[:, None] >> torch.arange(n)) & 1) * 2 - 1
    else:
        signs = torch.randint(0, 2, (draws, n), generator=torch.Generator().manual_seed(0)) * 2 - 1
    means = (signs.double() * d).mean(1).abs()
    return float((means >= d.mean().abs() - 1e-9).double().mean())


def _compare(diffs: list[float]) -> dict[str, Any]:
    """Differences (points) summarised: mean, std, how many are higher, level and lower, the p-value."""
    return {
        "diffs": diffs,
        "mean": statistics.mean(diffs),
        "std": statistics.stdev(diffs) if len(diffs) > 1 else 0.0,
        "higher": sum(x > 1e-9 for x in diffs),
        "level": sum(abs(x) <= 1e-9 for x in diffs),
        "lower": sum(x < -1e-9 for x in diffs),
        "p": sign_flip_p(diffs),
    }


def paired(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per row after the first: its per-seed differences (points) from the first row's per-seed
    values (the seeds pair the runs) summarised by :func:`_compare`; with several splits also
    ``runs``, the same of its per-run differences (each split and seed pairs two runs: more pairs
    than seeds, each coarser)."""
    (base, first), *others = summary.items()
    out = {}
    for row, s in others:
        out[row] = {"against": base, **_compare([a - b for a, b in zip(s["per_seed"], first["per_seed"], strict=True)])}
        if len(first.get("per_split", {})) > 1:
            out[row]["runs"] = _compare([a - b for a, b in zip(s["per_run"], first["per_run"], strict=True)])
    return out


def paired_table(pairs: dict[str, dict[str, Any]], seeds: list[int], command: str) -> str:
    """Markdown: the comparisons of :func:`paired` (one seed: only the run by run one)."""
    by_seed = len(seeds) > 1
    runs = by_seed and all("runs" in c for c in pairs.values())  # extra columns beside the seeds'
    head = f"| setting | minus | per {'seed' if by_seed else 'run'} | **mean ± std** | higher / level / lower | p |"
    head += " runs higher / level / lower | p (runs) |" if runs else ""
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row, c in pairs.items():
        first = c if by_seed else c["runs"]
        each = " / ".join(f"{x:+.1f}" for x in first["diffs"])
        cells = [ROWS[row][0], ROWS[c["against"]][0], each, f"**{first['mean']:+.2f} ± {first['std']:.2f}**"]
        cells += [f"{first['higher']} / {first['level']} / {first['lower']}", f"{first['p']:.2f}"]
        if runs:
            r = c["runs"]
            cells += [f"{r['higher']} / {r['level']} / {r['lower']}", f"{r['p']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    listed = ", ".join(map(str, seeds))
    if by_seed:
        legend = [f"Each row's per-seed accuracy minus the first row's on the same seed (points; seeds {listed});"]
    else:
        legend = [f"Each row's accuracy on each split minus the first row's on the same split (points; seed {listed});"]
    legend += [
        "`p`: two-sided p-value of the paired sign-flip test (the share of the 2^n sign assignments of the",
        "differences whose mean is at least as far from 0; 2^16 random ones when n > 16).",
    ]
    if runs:
        legend += [
            "`runs`: the same test on each run's accuracy minus the first row's run of the same split and",
            "seed (splits × seeds pairs; their mean is the seeds' mean).",
        ]
    return "\n".join([f"`{command}` — {machine()}.", *legend, "", *lines])


def summarise(results: list[tuple[tuple[Any, ...], dict[str, Any]]], seeds: list[int]) -> dict[str, Any]:
    """Per row: mean and std over seeds of the split-mean accuracy, per-split means, time per run."""
    out: dict[str, Any] = {}
    for row in dict.fromkeys(k[0] for k, _ in results):
        runs = {(k[1], k[2]): r for k, r in results if k[0] == row}
        splits = list(dict.fromkeys(s for s, _ in runs))
        acc = {k: 100 * r["test"] for k, r in runs.items()}
        per_seed = [statistics.mean(acc[(s, seed)] for s in splits) for seed in seeds]
        per_run = [acc[(s, seed)] for seed in seeds for s in splits]  # seed-major
        single = [statistics.mean(100 * runs[(s, seed)]["single"] for s in splits) for seed in seeds]
        out[row] = {
            "mean": statistics.mean(per_seed),
            "std": statistics.stdev(per_seed) if len(per_seed) > 1 else 0.0,
            "single_mean": statistics.mean(single),
            "single_std": statistics.stdev(single) if len(single) > 1 else 0.0,
            "per_seed": per_seed,
            "per_run": per_run,
            "per_split": {s: statistics.mean(acc[(s, seed)] for seed in seeds) for s in splits},
            "train_accuracy": statistics.mean(100 * r["metrics"]["train_accuracy"] for r in runs.values()),
            "seconds": statistics.mean(r["seconds"] for r in runs.values()),
        }
    return out


def table(dataset: str, summary: dict[str, Any], seeds: list[int], command: str) -> str:
    """The markdown table of one dataset."""
    splits = list(next(iter(summary.values()))["per_split"])
    head = "| setting | " + (" | ".join(splits) + " | " if len(splits) > 1 else "")
    head += "**mean ± std** | 1 pass | train | s/run |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row, s in summary.items():
        cells = [ROWS[row][0]]
        if len(splits) > 1:
            cells += [f"{s['per_split'][sp]:.1f}" for sp in splits]
        each = f" ({' / '.join(f'{a:.1f}' for a in s['per_seed'])})" if len(seeds) > 1 else ""
        cells += [f"**{s['mean']:.1f} ± {s['std']:.1f}**{each}", f"{s['single_mean']:.1f} ± {s['single_std']:.1f}"]
        cells += [f"{s['train_accuracy']:.1f}", f"{s['seconds']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    what = f"the {len(splits)}-fold mean" if len(splits) > 1 else f"the {splits[0]} accuracy"
    what = "the test accuracy" if splits == ["default"] else what
    listed = ", each seed's after it" if len(seeds) > 1 else ""
    return "\n".join(
        [
            f"`{command}` — {machine()}.",
            f"Mean ± std over seeds {', '.join(map(str, seeds))} of {what} (%){listed}; per-split columns average",
            "the seeds;",
            "`1 pass`: the same models evaluated on the whole sequence in one pass (`features.clips=1`) instead",
            "of the test-time clips; `train`: training accuracy of the last epoch (augmented inputs);",
            "`s/run`: wall time of one run.",
            "",
            *lines,
        ]
    )


def length_scan(
    results: list[tuple[tuple[Any, ...], dict[str, Any]]], lengths: list[float]
) -> dict[str, dict[float, dict[tuple[str, int], float]]]:
    """Per row and clip length L: each run's test accuracy (%) with its row's clips (``views``, as
    :func:`_train` gives them), all of length L (``features.clip_lengths=L``), by (split, seed)."""
    out: dict[str, dict[float, dict[tuple[str, int], float]]] = {}
    for (row, split, seed), run in results:
        v = run["views"]
        clips = [(v["clips"], (length,)) for length in lengths]
        acc = clip_accuracies(run["checkpoint"], clips, v["test_swap"], v["test_mirror"])
        for length, c in zip(lengths, clips, strict=True):
            out.setdefault(row, {}).setdefault(length, {})[split, seed] = 100 * acc[c]
    return out


def chosen_elsewhere(scan: dict[float, dict[tuple[str, int], float]]) -> dict[tuple[str, int], tuple[float, float]]:
    """Each run's (length, accuracy) at the clip length that the *other* splits favour (their mean
    over splits and seeds; ties to the shorter length): a choice of the length that never sees the
    split it is scored on.

    >>> scan = {0.5: {("a", 0): 90.0, ("b", 0): 80.0}, 0.8: {("a", 0): 70.0, ("b", 0): 95.0}}
    >>> chosen_elsewhere(scan)
    {('a', 0): (0.8, 70.0), ('b', 0): (0.5, 80.0)}
    """
    keys = next(iter(scan.values())).keys()
    out = {}
    for split, seed in keys:
        others = {
            length: statistics.mean(v for (sp, _), v in acc.items() if sp != split) for length, acc in scan.items()
        }
        best = max(sorted(others), key=lambda length: others[length])
        out[split, seed] = (best, scan[best][split, seed])
    return out


def lengths_table(scan: dict[str, dict[float, dict[tuple[str, int], float]]], seeds: list[int], command: str) -> str:
    """Markdown: per row, the accuracy with clips of each length, and with the length chosen on the other splits."""
    first = next(iter(next(iter(scan.values())).values()))
    splits = list(dict.fromkeys(sp for sp, _ in first))
    head = "| setting | clip length | " + " | ".join(splits) + " | **mean ± std** |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]

    def cells(acc: dict[tuple[str, int], float]) -> list[str]:
        per_seed = [statistics.mean(acc[sp, seed] for sp in splits) for seed in seeds]
        spread = statistics.stdev(per_seed) if len(per_seed) > 1 else 0.0
        per_split = [f"{statistics.mean(acc[sp, seed] for seed in seeds):.1f}" for sp in splits]
        return [*per_split, f"**{statistics.mean(per_seed):.2f} ± {spread:.2f}**"]

    for row, by_length in scan.items():
        names = [ROWS[row][0], *[""] * (len(by_length) - 1)]  # the setting on its first line only
        for name, (length, acc) in zip(names, by_length.items(), strict=True):
            lines.append("| " + " | ".join([name, f"{length:g}", *cells(acc)]) + " |")
        if len(splits) > 1:
            chosen = chosen_elsewhere(by_length)
            picks = "/".join(f"{chosen[sp, seeds[0]][0]:g}" for sp in splits)
            acc = {k: v for k, (_, v) in chosen.items()}
            lines.append("| " + " | ".join(["", f"chosen on the other splits ({picks})", *cells(acc)]) + " |")
    return "\n".join(
        [
            f"`{command}` — {machine()}.",
            "Test accuracy (%) of the same runs with their test clips all of one length (`features.clip_lengths`, a",
            f"fraction of the sequence); mean ± std over seeds {', '.join(map(str, seeds))}; per-split columns average",
            "the seeds"
            + (
                "; `chosen on the other splits`: each split scored at the length that the other splits favour."
                if len(splits) > 1
                else "."
            ),
            "",
            *lines,
        ]
    )


def section_problem(path: Path, key: str) -> str | None:
    """Why ``path`` cannot take section ``key`` (no such file, or not both of its markers), or None:
    the benchmarks check it before training, not after hours of it."""
    start, end = f"<!-- {key} -->", f"<!-- /{key} -->"
    if not path.is_file():
        return f"--results {path}: no such file"
    doc = path.read_text()
    missing = [m for m in (start, end) if m not in doc]
    return f"--results {path}: no {' and no '.join(missing)} marker" if missing else None


def replace_section(path: Path, key: str, text: str) -> None:
    """Put ``text`` between the ``<!-- KEY -->`` and ``<!-- /KEY -->`` markers of ``path`` (KEY e.g. ``dense:sbu``)."""
    if problem := section_problem(path, key):
        raise SystemExit(problem)
    start, end = f"<!-- {key} -->", f"<!-- /{key} -->"
    doc = path.read_text()
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    path.write_text(pattern.sub(lambda _: f"{start}\n{text}\n{end}", doc))


def _checked(
    p: argparse.ArgumentParser, args: argparse.Namespace
) -> tuple[list[str], list[int], list[str] | None, list[float]]:
    """The rows, seeds, splits (None: all) and clip lengths the arguments name, or ``p.error``."""
    rows = [r for r in args.rows.split(",") if r]
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        p.error(f"unknown rows {unknown}; choose among {', '.join(ROWS)}")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        p.error(f"--seeds: expected comma-separated integers, got {args.seeds!r}")
    splits = [s for s in (args.splits or "").split(",") if s] or None
    known = SPLITS[args.dataset]
    if splits and set(splits) - set(known):
        p.error(f"unknown splits {sorted(set(splits) - set(known))}; choose among {', '.join(known)}")
    if args.paired and (len(rows) < 2 or len(seeds) * len(splits or known) < 2):
        p.error(
            f"--paired compares rows seed by seed or run by run: it needs 2 rows and 2 seeds or 2 splits, "
            f"got rows {args.rows!r}, seeds {args.seeds!r}, {len(splits or known)} split(s) of {args.dataset}"
        )
    try:  # the field's own parser and bounds
        text = args.clip_lengths or ""
        lengths = list(FeatureConfig(clip_lengths=parse_field("features.clip_lengths", text)).clip_lengths)
    except (ValueError, ConfigError):
        p.error(f"--clip-lengths: expected comma-separated numbers in (0, 1], got {args.clip_lengths!r}")
    return rows, seeds, splits, lengths


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=["sbu", "fpha", "synthetic"], default="sbu")
    p.add_argument("--rows", default=",".join(ROWS), help=f"settings to run, among {', '.join(ROWS)}")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--splits", help="comma-separated subset of the splits, e.g. fold0,fold1 (default: all)")
    p.add_argument("--data", help="folder holding sbu/ and fpha/ (default $MRMP_DATA or ../shared/data)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/dense"))
    p.add_argument("--results", type=Path, help="markdown file whose dense:<dataset> section is replaced")
    p.add_argument("--section", help="marker name of the section to replace instead (e.g. dense:sbu-seed0)")
    p.add_argument(
        "--clip-lengths",
        help="comma-separated clip lengths (fractions of a sequence): also evaluate every run with its clips "
        "all of each length, a second table",
    )
    p.add_argument(
        "--errors",
        action="store_true",
        help="also list the test sequences every seed gets wrong, and all runs' errors by class",
    )
    p.add_argument(
        "--paired",
        action="store_true",
        help="also a table of each row against the first, seed by seed: differences, their mean ± std, "
        "the seeds higher / level / lower, and a sign-flip test's p-value (with several splits also run by "
        "run, which needs only one seed)",
    )
    p.add_argument(
        "--ensembles",
        action="store_true",
        help="also a table of ensembles: the rows' runs of each seed averaged, and each row's seeds averaged",
    )
    args = p.parse_args()
    rows, seeds, splits, lengths = _checked(p, args)
    section = args.section or f"dense:{args.dataset}"
    if args.results and (problem := section_problem(args.results, section)):
        p.error(problem)
    jobs = plan(args.dataset, rows, seeds, args.data, args.out, splits)
    teachers = list(dict.fromkeys(t for r in rows if (t := teacher_row(r))))
    first = plan(args.dataset, teachers, seeds, args.data, args.out, splits)  # trained before their students
    if problem := next(filter(None, (cache_mismatch(cfg, folder) for cfg, folder, _ in first + jobs)), None):
        p.error(problem)  # before any training, not after hours of it
    run_jobs(train_cached, [(cfg, folder) for cfg, folder, _ in first], args.jobs)
    results = run_jobs(_train, jobs, args.jobs)
    summary = summarise(results, seeds)
    command = f"python -m benchmarks.dense --dataset {args.dataset} --rows {','.join(rows)} --seeds {args.seeds}"
    command += f" --splits {args.splits}" if splits else ""
    text = table(args.dataset, summary, seeds, command)
    if lengths:
        text += "\n\n" + lengths_table(
            length_scan(results, lengths), seeds, f"{command} --clip-lengths {args.clip_lengths}"
        )
    if args.paired:
        text += "\n\n" + paired_table(paired(summary), seeds, f"{command} --paired")
    if args.ensembles:
        text += "\n\n" + ensembles_table(ensembles(results, seeds), seeds, f"{command} --ensembles")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.dataset}.json").write_text(json.dumps(summary, indent=1))
    (args.out / f"{args.dataset}.md").write_text(text + "\n")
    if args.results:
        replace_section(args.results, section, text)
    print(text)
    if args.errors:
        errors = seed_errors(results)
        print("\n" + errors_table(errors, seeds))
        print("\n" + confusion_table(errors))


if __name__ == "__main__":
    main()
