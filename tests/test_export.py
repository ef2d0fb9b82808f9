"""Deployment: compact export at any rate, plain reload, sparse execution, ONNX, CLI."""

from __future__ import annotations

import copy
import importlib.util
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

import mrmp
from mrmp.bench import ENGINES
from mrmp.cli import main
from mrmp.deploy import (
    EXPORT_FORMAT,
    ExportedModel,
    LayerChoice,
    SparseLinear,
    build_plain,
    example_input,
    export_onnx,
    export_pt,
    load_exported,
    read_exported,
)
from mrmp.engine import fit, load_bundle, load_data, predict, pruned_view, rate_report
from mrmp.errors import CheckpointError, ConfigError
from mrmp.meta import Meta
from tiny import TINY_MODEL, tiny_config

TINY = tiny_config(2, model={**TINY_MODEL, "norm": True})  # the layer norm `mrmp train` gives the GCN


@pytest.fixture(scope="module")
def data():
    return load_data(TINY)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, data) -> dict[str, Path]:
    """One tiny checkpoint per method (dense, mp from dense, srmp, mrmp)."""
    root = tmp_path_factory.mktemp("ckpt")
    out = {}
    for method, prune in [("dense", {}), ("srmp", {"rate": 0.8}), ("mrmp", {"rates_per_step": 2})]:
        cfg = TINY.replace(prune={"method": method, **prune})
        out[method] = fit(cfg, root / method, data=data, progress=False).checkpoint
    cfg = TINY.replace(prune={"method": "mp", "rate": 0.9, "source": str(out["dense"])}, train={"epochs": 2})
    out["mp"] = fit(cfg, root / "mp", data=data, progress=False).checkpoint
    return out


CASES = [("mrmp", 0.9), ("mrmp", 0.63), ("mrmp", 0.97), ("srmp", 0.8), ("dense", 0.7), ("mp", 0.9)]


@pytest.mark.parametrize(("method", "rate"), CASES)
@pytest.mark.parametrize("threshold", ["prior", "exact"])
def test_export_matches_eval_at_rate(
    tmp_path: Path, data, checkpoints, method: str, rate: float, threshold: str
) -> None:
    bundle, _ = load_bundle(checkpoints[method])
    path = tmp_path / "m.pt"
    summary = export_pt(bundle, rate, path, threshold)
    summary = export_pt(bundle, rate, path, threshold)  # repeated exports leave the bundle intact
    report = rate_report(bundle, data, rate, threshold)
    with pruned_view(load_bundle(checkpoints[method])[0], rate, threshold) as view:
        reference = predict(view, data.test)
    assert (summary["nonzero"], summary["total"]) == (report["nonzero"], report["total"])
    for sparse in ("never", "always", "auto"):
        model = load_exported(path, sparse=sparse, batch=4).module
        preds = predict(model, data.test)
        assert torch.equal(preds, reference), sparse
        assert float((preds == data.test_labels).float().mean()) == pytest.approx(report["accuracy"])
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # atomic write leaves no temporary


def test_exported_model_is_plain(tmp_path: Path, checkpoints) -> None:
    bundle, _ = load_bundle(checkpoints["mrmp"])
    before = bundle.model.fc.weight.detach().clone()
    export_pt(bundle, 0.9, tmp_path / "m.pt")
    assert torch.equal(bundle.model.fc.weight, before)  # exporting at a rate leaves the bundle as it was
    exported = mrmp.load_exported(tmp_path / "m.pt", sparse="always")
    assert isinstance(exported, ExportedModel)
    model = exported.module
    assert not model.training
    assert not any(parametrize.is_parametrized(m) for m in model.modules())
    assert not any(isinstance(m, nn.Dropout) for m in model.modules())
    assert not any(p.requires_grad for p in model.parameters())
    assert not any("original" in k or "mask" in k for k in model.state_dict())
    assert isinstance(model.fc, SparseLinear)
    payload = read_exported(tmp_path / "m.pt")
    assert payload["format"] == EXPORT_FORMAT and "fc.weight" in payload["sparse"]
    entry = payload["sparse"]["fc.weight"]
    assert entry["col_indices"].dtype == torch.int16  # 360 columns: smallest fitting dtype
    with pruned_view(bundle, 0.9) as view:
        assert entry["values"].numel() == int(view.fc.weight.count_nonzero())


def test_file_size_shrinks_with_rate(tmp_path: Path, checkpoints) -> None:
    bundle, _ = load_bundle(checkpoints["mrmp"])
    dense = export_pt(bundle, 0.0, tmp_path / "dense.pt", storage="dense")["bytes"]
    sizes = [export_pt(bundle, r, tmp_path / f"{r}.pt")["bytes"] for r in (0.0, 0.5, 0.9, 0.95, 0.98)]
    assert sizes[0] <= dense
    assert all(a > b for a, b in itertools.pairwise(sizes)), sizes
    assert sizes[3] < 0.4 * dense  # tiny model: zip records and dense biases weigh a lot


def test_sparse_linear_equals_linear() -> None:
    g = torch.Generator().manual_seed(0)
    for bias in (True, False):
        lin = nn.Linear(40, 24, bias=bias)
        with torch.no_grad():
            lin.weight.mul_((torch.rand(lin.weight.shape, generator=g) > 0.9).float())
        sparse = SparseLinear.from_linear(lin)
        for shape in [(1, 40), (7, 40), (2, 5, 40), (40,)]:
            x = torch.randn(shape, generator=g)
            with torch.no_grad():
                out = sparse(x)
                torch.testing.assert_close(out, lin(x), atol=1e-6, rtol=1e-5)
            assert out.is_contiguous()
    twin = copy.deepcopy(sparse)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), sparse(x))
    sparse.double()
    with torch.no_grad():
        assert sparse(torch.randn(3, 40, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.parametrize("batch", [1, 16])
def test_sparse_path_equals_dense_model(tmp_path: Path, checkpoints, batch: int) -> None:
    bundle, _ = load_bundle(checkpoints["mrmp"])
    export_pt(bundle, 0.95, tmp_path / "m.pt")
    dense = load_exported(tmp_path / "m.pt", sparse="never").module
    sparse = load_exported(tmp_path / "m.pt", sparse="always").module
    x = example_input(bundle.cfg, bundle.meta, batch, seed=3)
    with torch.no_grad():
        torch.testing.assert_close(sparse(x), dense(x), atol=1e-5, rtol=0)
        with pruned_view(bundle, 0.95) as view:
            torch.testing.assert_close(dense(x), view(x), atol=1e-6, rtol=0)


def test_auto_mode_times_only_sparse_enough_layers(tmp_path: Path, checkpoints) -> None:
    bundle, _ = load_bundle(checkpoints["mrmp"])
    export_pt(bundle, 0.0, tmp_path / "r0.pt")
    export_pt(bundle, 0.9, tmp_path / "r9.pt", threshold="exact", scope="layer")  # every layer at 0.9
    layers = load_exported(tmp_path / "r0.pt", sparse="auto").layers
    assert all(e.path == "dense" and e.sparse_us is None for e in layers.values())
    exported = load_exported(tmp_path / "r9.pt", sparse="auto", batch=8)
    layers = exported.layers
    assert set(layers) == {"embed", "query", "key", "gconv", "fc", "classifier"}
    for entry in layers.values():
        assert isinstance(entry, LayerChoice) and entry.density == pytest.approx(0.1, abs=0.01)
        assert entry.dense_us > 0 and entry.sparse_us > 0
        assert entry.path == ("sparse" if entry.sparse_us < 0.95 * entry.dense_us else "dense")
    assert exported.sparse_layers == [n for n, e in layers.items() if e.path == "sparse"]
    sparse_modules = {n for n, m in exported.module.named_modules() if isinstance(m, SparseLinear)}
    assert sparse_modules == set(exported.sparse_layers)


def _ort_session(path_or_bytes, optimized: Path | None = None):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'mrmp[export]')")
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    if optimized is not None:
        options.optimized_model_filepath = str(optimized)
    return ort.InferenceSession(path_or_bytes, options, providers=["CPUExecutionProvider"])


def test_onnx_small_and_in_parity_at_any_rate(tmp_path: Path, checkpoints) -> None:
    """The ONNX file shrinks with the rate (kept values only), passes the ONNX checker, and
    onnxruntime matches PyTorch within 1e-4, also at a rate MRMP never saw (0.93)."""
    onnx = pytest.importorskip("onnx", reason="onnx not installed (pip install 'mrmp[export]')")
    pytest.importorskip("onnxscript", reason="onnxscript not installed (pip install 'mrmp[export]')")
    bundle, _ = load_bundle(checkpoints["mrmp"])
    dense = export_onnx(bundle, 0.0, tmp_path / "dense.onnx", storage="dense")
    sizes = {}
    for rate in (0.0, 0.5, 0.93):
        summary = export_onnx(bundle, rate, tmp_path / f"{rate}.onnx")
        assert summary["max_abs_diff"] is not None and summary["max_abs_diff"] <= 1e-4
        sizes[rate] = summary["bytes"]
    assert dense["packed"] == [] and "fc.weight" in summary["packed"]
    assert sizes[0.0] <= dense["bytes"] and sizes[0.5] < sizes[0.0] and sizes[0.93] < sizes[0.5]
    # the prunable weights' 4 bytes each become ≤ 8 bytes per kept one (value + gap), plus the subgraphs
    bound = dense["bytes"] - 4 * summary["total"] + 8 * summary["nonzero"] + 600 * len(summary["packed"])
    assert sizes[0.93] < bound
    onnx.checker.check_model(onnx.load(tmp_path / "0.93.onnx"), full_check=True)

    export_pt(bundle, 0.93, tmp_path / "m.pt")
    model = load_exported(tmp_path / "m.pt", sparse="never").module
    session = _ort_session(str(tmp_path / "0.93.onnx"), optimized=tmp_path / "opt.onnx")
    assert [i.name for i in session.get_inputs()] == ["x"]
    for batch in (1, 7):  # dynamic batch axis
        x = example_input(bundle.cfg, bundle.meta, batch, seed=batch)
        out = session.run(None, {"x": x.numpy()})[0]
        with torch.no_grad():
            torch.testing.assert_close(torch.from_numpy(out), model(x), atol=1e-4, rtol=0)
    ops = {n.op_type for n in onnx.load(tmp_path / "opt.onnx").graph.node}
    assert "ScatterND" not in ops and "CumSum" not in ops  # rebuilt once, at session creation


def test_pack_initializers_round_trip(tmp_path: Path) -> None:
    """Packed initializers (a pruned one, an all-zero one, one with gaps beyond uint16) give the
    outputs of the unpacked graph; dense or tiny ones stay as they are."""
    onnx = pytest.importorskip("onnx", reason="onnx not installed (pip install 'mrmp[export]')")
    from onnx import TensorProto, helper, numpy_helper

    from mrmp.deploy.onnx_pack import pack_initializers

    g = np.random.default_rng(0)
    pruned = g.standard_normal((40, 300)).astype(np.float32) * (g.random((40, 300)) > 0.9)
    far = np.zeros((2, 70_000), np.float32)
    far[0, 3], far[1, 69_000] = 1.5, -2.0  # a gap of 138,997 positions: uint32
    weights = {"pruned": pruned, "zeros": np.zeros((40, 300), np.float32), "far": far}
    weights["dense"] = g.standard_normal((40, 300)).astype(np.float32)
    weights["tiny"] = np.zeros((2, 3), np.float32)
    nodes = [helper.make_node("Gemm", ["x", w], [f"y_{w}"], transB=1) for w in ("pruned", "zeros", "dense")]
    nodes += [helper.make_node("ReduceSum", [w], [f"y_{w}"], keepdims=0) for w in ("far", "tiny")]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 300])],
        [
            helper.make_tensor_value_info(n.output[0], TensorProto.FLOAT, [None, 40] if n.op_type == "Gemm" else [])
            for n in nodes
        ],
        [numpy_helper.from_array(w, name) for name, w in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    x = g.standard_normal((5, 300)).astype(np.float32)
    reference = _ort_session(model.SerializeToString()).run(None, {"x": x})
    before = model.ByteSize()
    assert sorted(pack_initializers(model)) == ["far", "pruned", "zeros"]
    onnx.checker.check_model(model, full_check=True)
    assert model.ByteSize() < before * 0.5
    gaps = {i.name: i.data_type for i in model.graph.initializer if i.name.endswith(".gaps")}
    assert gaps == {"pruned.gaps": TensorProto.UINT8, "far.gaps": TensorProto.UINT32}
    for out, ref in zip(_ort_session(model.SerializeToString()).run(None, {"x": x}), reference, strict=True):
        np.testing.assert_array_equal(out, ref)


def test_damaged_or_foreign_files_raise(tmp_path: Path, checkpoints) -> None:
    bundle, _ = load_bundle(checkpoints["mrmp"])
    good = tmp_path / "good.pt"
    export_pt(bundle, 0.9, good)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a model" * 50)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    for path, match in [
        (cut, "cut.pt: not a readable"),
        (garbage, "garbage.pt: not a readable"),
        (foreign, "foreign.pt: not an mrmp export"),
        (checkpoints["mrmp"], "training checkpoint"),
        (tmp_path / "none.pt", "no such"),
    ]:
        with pytest.raises(CheckpointError, match=match):
            load_exported(path)


def _tampered(good: Path, out: Path, change) -> Path:
    payload = torch.load(good, weights_only=True)
    change(payload)
    torch.save(payload, out)
    return out


def test_inconsistent_payload_raises(tmp_path: Path, checkpoints) -> None:
    bundle, _ = load_bundle(checkpoints["mrmp"])
    good = tmp_path / "good.pt"
    export_pt(bundle, 0.9, good)

    def bad_index(p):
        p["sparse"]["fc.weight"]["col_indices"][0] = 10_000

    changes = {
        "missing": lambda p: p["dense"].pop("embed.bias"),
        "index": bad_index,
        "shape": lambda p: p["sparse"]["fc.weight"].__setitem__("shape", [10**6, 10**6]),
        "rows": lambda p: p["sparse"]["fc.weight"].__setitem__("crow_indices", torch.zeros(3, dtype=torch.int16)),
        "unknown": lambda p: p["sparse"].__setitem__("nope.weight", p["sparse"]["fc.weight"]),
        "meta": lambda p: p["meta"].__setitem__("num_joints", 4),
        "section": lambda p: p.pop("sparse"),
    }
    for name, change in changes.items():
        with pytest.raises(CheckpointError, match="malformed mrmp export"):
            load_exported(_tampered(good, tmp_path / f"{name}.pt", change))


class _Evil:
    """Unpickling this would create a marker file (it must never happen)."""

    marker: Path

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


class _Custom:
    pass


def test_pickled_objects_are_refused_without_running(tmp_path: Path) -> None:
    evil = _Evil()
    evil.marker = tmp_path / "pwned"
    torch.save({"format": EXPORT_FORMAT, "config": {}, "payload": evil}, tmp_path / "evil.pt")
    torch.save({"format": EXPORT_FORMAT, "obj": _Custom()}, tmp_path / "custom.pt")
    for name in ("evil.pt", "custom.pt"):
        with pytest.raises(CheckpointError, match=f"{name}: not a readable mrmp export"):
            load_exported(tmp_path / name)
    assert not evil.marker.exists()


def test_cli_export_and_bench(tmp_path: Path, checkpoints, capsys) -> None:
    ckpt = str(checkpoints["mrmp"])
    out = tmp_path / "m.pt"
    assert main(["export", ckpt, "--rate", "0.9", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["format"] == "pt" and summary["bytes"] == out.stat().st_size
    exported = load_exported(out)
    # exported with the threshold whose observed rate is the requested one by default
    assert (exported.pruning.rate, exported.pruning.method, exported.pruning.threshold) == (0.9, "mrmp", "anchored")
    assert (exported.pruning.nonzero, exported.pruning.total) == (summary["nonzero"], summary["total"])

    args = ["bench", ckpt, "--rates", "0,0.9", "--batch", "1,4", "--repeats", "2", "--json"]
    assert main([*args, "--scope", "layer", "--threshold", "exact"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["machine"]["threads"] == 1 and report["machine"]["torch"] == torch.__version__
    rows = report["rows"]
    onnx = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnxscript") is not None
    engines = ENGINES if onnx else tuple(e for e in ENGINES if not e.startswith("ort"))
    assert [(r["rate"], r["batch"], r["engine"]) for r in rows] == [
        (rate, batch, e) for rate in (0.0, 0.9) for batch in (1, 4) for e in engines
    ]
    for r in rows:
        assert 0 < r["ms_p25"] <= r["ms"] <= r["ms_p75"] and r["max_abs_diff"] <= 1e-4 and r["threads"] == 1
        own = {"torch dense": "bytes_dense_pt", "ort dense": "bytes_dense_onnx", "ort export": "bytes_onnx"}
        assert r["bytes"] == r[own.get(r["engine"], "bytes_pt")]
        kept = r["macs_prunable"] / r["macs_prunable_dense"]
        assert kept == pytest.approx(1 - r["rate"], abs=0.01)  # exact: every layer at the rate
        assert r["macs_model_dense"] - r["macs_model"] == r["macs_prunable_dense"] - r["macs_prunable"]
        assert r["unprunable_ms"] > 0 and r["bound"] > 0
    at9 = [r for r in rows if r["rate"] == 0.9]
    assert all(r["bytes_pt"] < 0.5 * r["bytes_dense_pt"] for r in at9)
    if onnx:
        assert all(r["bytes_onnx"] < 0.5 * r["bytes_dense_onnx"] for r in at9)
        dense_ort = [r for r in rows if r["engine"] == "ort dense"]
        assert all(r["vs_ort_dense"] == 1.0 for r in dense_ort)
    assert main([*args[:-1], "--threads", "999"]) == 2
    assert "threads must be between 1 and" in capsys.readouterr().err

    assert main(["bench", ckpt, "--rates", "1.5"]) == 2
    assert main(["export", ckpt, "--rate", "0.9", "--out", str(tmp_path / "x.pt"), "--threshold", "exact"]) == 0
    assert main(["export", str(out), "--out", str(tmp_path / "y.pt")]) == 2
    err = capsys.readouterr().err
    assert "rate must be" in err and "m.pt" in err


def test_export_file_layout_is_the_documented_one(tmp_path: Path, checkpoints) -> None:
    """The on-disk layout of ``mrmp-export/1`` (module docstring of mrmp.deploy.format) is unchanged."""
    bundle, _ = load_bundle(checkpoints["mrmp"])
    summary = export_pt(bundle, None, tmp_path / "m.pt")  # None: the checkpoint's default rate
    assert summary["rate"] == min(bundle.cfg.prune.rates)
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    assert list(payload) == ["format", "config", "meta", "pruning", "prunable", "dense", "sparse"]
    assert payload["format"] == "mrmp-export/1" == EXPORT_FORMAT
    assert list(payload["pruning"]) == ["method", "rate", "threshold", "scope", "nonzero", "total"]
    assert payload["prunable"] == list(bundle.names) and set(payload["sparse"]) <= set(bundle.names)
    for entry in payload["sparse"].values():
        assert list(entry) == ["shape", "crow_indices", "col_indices", "values"]
        assert entry["crow_indices"].numel() == entry["shape"][0] + 1


def test_hand_written_v1_file_loads(tmp_path: Path, data) -> None:
    """A file written to the documented layout by other code (int32 / int64 CSR indices, a CSR
    weight beside dense ones) loads and computes what the plain model with those weights does."""
    g = torch.Generator().manual_seed(0)
    reference = build_plain(TINY, data.meta)
    state = {k: v.clone() for k, v in reference.state_dict().items()}
    state["fc.weight"] *= (torch.rand(state["fc.weight"].shape, generator=g) > 0.8).float()
    reference.load_state_dict(state)
    csr = state.pop("fc.weight").to_sparse_csr()
    payload = {
        "format": "mrmp-export/1",
        "config": TINY.to_dict(),
        "meta": data.meta.to_dict(),
        "pruning": {"method": "mp", "rate": 0.8, "threshold": "prior", "scope": "layer", "nonzero": 1, "total": 2},
        "prunable": ["fc.weight", "classifier.weight"],
        "dense": state,
        "sparse": {
            "fc.weight": {
                "shape": list(csr.shape),
                "crow_indices": csr.crow_indices().to(torch.int32),
                "col_indices": csr.col_indices().to(torch.int64),
                "values": csr.values(),
            }
        },
    }
    torch.save(payload, tmp_path / "v1.pt")
    exported = load_exported(tmp_path / "v1.pt", sparse="always")
    assert exported.pruning.scope == "layer" and exported.prunable == ("fc.weight", "classifier.weight")
    assert exported.meta == Meta.from_dict(data.meta.to_dict()) and exported.config == TINY
    assert set(exported.sparse_layers) == {"fc", "classifier"}
    x = example_input(TINY, data.meta, 5, seed=2)
    with torch.no_grad():
        torch.testing.assert_close(exported.module(x), reference(x), atol=1e-5, rtol=0)


_INFERENCE_ONLY = """
import importlib.util, sys, types
if {bare}:  # the package without its __init__: what the deploy modules themselves import
    pkg = types.ModuleType("mrmp")
    pkg.__path__ = list(importlib.util.find_spec("mrmp").submodule_search_locations)
    sys.modules["mrmp"] = pkg
import torch
from mrmp.deploy import example_input, load_exported
exported = load_exported(sys.argv[1], sparse="auto", batch=2, repeats=2)
with torch.no_grad():
    print(exported.module(example_input(exported.config, exported.meta, 2)).shape)
print(sorted(m for m in sys.modules if m.startswith(("mrmp.engine", "mrmp.data", "mrmp.cli"))))
"""


@pytest.mark.parametrize("bare", [True, False])
def test_inference_path_imports_no_trainer(tmp_path: Path, checkpoints, bare: bool) -> None:
    bundle, _ = load_bundle(checkpoints["mrmp"])
    export_pt(bundle, 0.9, tmp_path / "m.pt")
    out = subprocess.run(
        [sys.executable, "-c", _INFERENCE_ONLY.format(bare=bare), str(tmp_path / "m.pt")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out[0] == f"torch.Size([2, {bundle.meta.num_classes}])"
    assert out[1] == "[]"  # neither the engine (trainer, checkpoints) nor the data loaders nor the CLI


def _gcn_with_dead_units(att_dim: int, head_dim: int, norm: bool = False) -> nn.Module:
    """A plain attention GCN with pruned-looking weights and two hidden units the classifier no
    longer reads (drawn from its own seed; the global RNG is left as it was); ``norm``: with a
    layer norm of random gain and bias over the node embeddings."""
    from mrmp.config import ModelConfig
    from mrmp.models import AttentionGCN

    with torch.random.fork_rng():
        torch.manual_seed(0)
        cfg = ModelConfig(embed=12, heads=3, att_dim=att_dim, head_dim=head_dim, hidden=10, norm=norm)
        model = AttentionGCN(cfg, torch.softmax(torch.randn(6, 6), 1), in_features=9, num_classes=4).eval()
        with torch.no_grad():
            if norm:
                model.norm.weight.uniform_(0.5, 1.5)
                model.norm.bias.normal_()
            for lin in (model.query, model.key, model.gconv, model.fc):
                lin.weight.mul_((torch.rand(lin.weight.shape) > 0.6).float())
            model.classifier.weight[:, [2, 7]] = 0
    return model.requires_grad_(False)


@pytest.mark.parametrize(("att_dim", "head_dim", "norm"), [(4, 4, False), (5, 3, False), (4, 4, True)])
def test_fused_gcn_equals_plain_model(att_dim: int, head_dim: int, norm: bool) -> None:
    from mrmp.deploy import FusedGCN
    from mrmp.deploy.fused import drop_dead_units

    model = _gcn_with_dead_units(att_dim, head_dim, norm)
    shrunk = drop_dead_units(model)
    assert (shrunk.fc.out_features, shrunk.classifier.in_features, model.fc.out_features) == (8, 8, 10)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 6, 9, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(shrunk(x), model(x), atol=1e-6, rtol=0)
    for sparse_fc in (False, True):
        fused = FusedGCN(model, sparse_fc=sparse_fc).eval()
        assert fused.hidden == 8  # the two units the classifier does not read are gone
        params = list(fused.parameters())  # weights are parameters (device / dtype queries), frozen
        assert len(params) == 8 + 2 * norm and not any(p.requires_grad for p in params)
        for batch in (1, 7):
            x = torch.randn(batch, 6, 9, generator=g)
            with torch.inference_mode():
                out = fused(x)
                torch.testing.assert_close(out, model(x), atol=1e-5, rtol=0)
            assert out.shape == (batch, 4)
        twin = copy.deepcopy(fused)
        with torch.inference_mode():
            torch.testing.assert_close(twin(x), fused(x))


def test_load_exported_fused(tmp_path: Path, checkpoints) -> None:
    from mrmp.deploy import FusedGCN

    bundle, _ = load_bundle(checkpoints["mrmp"])
    export_pt(bundle, 0.95, tmp_path / "m.pt")
    plain = load_exported(tmp_path / "m.pt", sparse="never").module
    for sparse in ("never", "always", "auto"):
        exported = load_exported(tmp_path / "m.pt", sparse=sparse, batch=8, fused=True)
        assert isinstance(exported.module, FusedGCN) and list(exported.layers) == ["fc"]
        assert exported.module.sparse_fc == (exported.layers["fc"].path == "sparse")
        assert sparse == "auto" or exported.layers["fc"].path == ("sparse" if sparse == "always" else "dense")
        x = example_input(bundle.cfg, bundle.meta, 8, seed=5)
        with torch.inference_mode():
            torch.testing.assert_close(exported.module(x), plain(x), atol=1e-5, rtol=0)
    with pytest.raises(ConfigError, match="unknown sparse mode"):
        load_exported(tmp_path / "m.pt", sparse="sometimes", fused=True)


@pytest.mark.parametrize("fmt", ["pt", pytest.param("onnx", marks=pytest.mark.slow)])
def test_budget_export_picks_the_lowest_fitting_rate(tmp_path: Path, checkpoints, capsys, fmt: str) -> None:
    """``--max-kb``: the chosen rate's file fits, the next lower rate's (0.01 below) does not."""
    if fmt == "onnx":
        pytest.importorskip("onnxscript", reason="onnxscript not installed (pip install 'mrmp[export]')")
    from mrmp.deploy import EXPORTERS

    bundle, _ = load_bundle(checkpoints["mrmp"])
    sizes = {r: EXPORTERS[fmt](bundle, r, tmp_path / f"{r}.{fmt}")["bytes"] / 1024 for r in (0.5, 0.9)}
    budget = (sizes[0.5] + sizes[0.9]) / 2
    out = tmp_path / f"budget.{fmt}"
    args = ["export", str(checkpoints["mrmp"]), "--max-kb", f"{budget:.3f}", "--out", str(out)]
    assert main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    rate = summary["rate"]
    assert 0.5 < rate <= 0.9 and summary["bytes"] == out.stat().st_size <= budget * 1024
    below = EXPORTERS[fmt](bundle, round(rate - 0.01, 2), tmp_path / f"below.{fmt}")["bytes"]
    assert below > budget * 1024
    assert summary["probes"][0]["rate"] == 0.99 and all(p["ms"] is None for p in summary["probes"])
    if fmt == "pt":
        assert load_exported(out).pruning.rate == rate
        assert main([*args, "--accuracy"]) == 0  # the accuracy at that rate (the checkpoint's dataset)
        text = capsys.readouterr().out
        assert f"lowest rate fitting {float(f'{budget:.3f}'):g} KB: {rate:g}" in text and "test accuracy" in text
        assert main([*args, "--rate", "0.5"]) == 2
        assert main([*args[:3], "0.001", *args[4:]]) == 2
        assert "no rate up to 0.99 fits" in capsys.readouterr().err
