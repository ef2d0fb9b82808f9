"""ST-GCN backbone: shapes, gradients, batch independence, and an mrmp run end to end."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mrmp.cli import main
from mrmp.config import ModelConfig, RunConfig
from mrmp.deploy import example_input, export_onnx, export_pt, load_exported
from mrmp.engine import fit, load_bundle, load_data, rate_report
from mrmp.models import build_model, input_kind, skeleton_adjacency
from mrmp.models.graph import adjacency, centre_depths, hop_distances
from mrmp.models.stgcn import STGCN, MultiScaleTCN, distance_partitions, spatial_partitions
from mrmp.pruning import select_weights

SMALL = ModelConfig(name="stgcn", stgcn_channels=(8, 16, 16), dropout=0.0)


def _net(joints: int = 6, classes: int = 5) -> STGCN:
    torch.manual_seed(0)
    edges = [(i, i + 1) for i in range(joints - 1)]
    return STGCN(SMALL, skeleton_adjacency(edges, joints), in_channels=3, num_classes=classes)


def test_output_shape_finite_and_gradients_reach_every_parameter() -> None:
    net = _net()
    x = torch.randn(4, 3, 12, 6, 2)  # (N, C, T, V, M): two persons
    out = net(x)
    assert out.shape == (4, 5) and torch.isfinite(out).all()
    out.logsumexp(1).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("persons", ["apart", "graph"])
def test_two_persons_interact_only_in_one_graph(persons: str) -> None:
    """Apart, a sample's pooled features are the mean of each person's own: logits are additive
    over the pairing, l(a, b) + l(d, c) = l(a, c) + l(d, b). In one graph, each joint linked to the
    other person's same joint, the persons' motions combine and the identity breaks."""
    torch.manual_seed(0)
    cfg = ModelConfig(name="stgcn", stgcn_channels=(8, 16), dropout=0.0, stgcn_persons=persons)
    edges = [(0, 1), (1, 2), (3, 4), (4, 5)]  # two persons of 3 joints
    net = STGCN.for_skeleton(cfg, 3, 6, 4, edges, persons=2).eval()
    hop1 = net.partition_matrices[1]
    assert hop1.shape == ((6, 6) if persons == "graph" else (3, 3))
    if persons == "graph":
        assert all(hop1[j, j + 3] > 0 and hop1[j + 3, j] > 0 for j in range(3))  # the counterpart links
        assert hop1[0, 1] > 0 and hop1[3, 4] > 0 and hop1[0, 4] == 0
    a, b, c, d = torch.randn(4, 3, 8, 3)  # one person's (C, T, V)
    x = torch.stack([torch.stack(p, -1) for p in ((a, b), (d, c), (a, c), (d, b))])  # (4, C, T, V, M=2)
    with torch.no_grad():
        out = net(x)
    additive = torch.allclose(out[0] + out[1], out[2] + out[3], atol=1e-5)
    assert additive == (persons == "apart")


def test_centre_is_the_joint_of_least_eccentricity_of_each_component() -> None:
    hand = [(0, j) for j in range(1, 4)] + [(j, j + 3) for j in range(1, 4)]  # a wrist, 3 two-bone fingers
    two = [*hand, *((i + 7, j + 7) for i, j in hand)]  # two hands, no link
    depth = centre_depths(adjacency(two, 14))
    assert depth.tolist() == [0.0, 1, 1, 1, 2, 2, 2] * 2  # each hand's wrist is its centre
    dist = hop_distances(adjacency(two, 14))
    assert dist[4, 5] == 4 and dist[0, 7] == float("inf") and torch.equal(dist, dist.t())


def test_spatial_partitions_split_the_normalised_graph_by_depth() -> None:
    edges = [(0, 1), (1, 2), (2, 3), (1, 4)]  # centre 1 (eccentricity 2)
    a = adjacency(edges, 5)
    p = spatial_partitions(a)
    assert p.shape == (3, 5, 5)
    assert torch.allclose(p.sum(0), skeleton_adjacency(edges, 5))  # a split of the normalised graph
    assert (p.ne(0).sum(0) <= 1).all()  # each entry in one subset
    depth = centre_depths(a)
    assert depth.tolist() == [1.0, 0.0, 1.0, 2.0, 1.0]
    for v, w in (a > 0).nonzero().tolist():
        k = 0 if depth[v] == depth[w] else 1 if depth[v] < depth[w] else 2
        assert p[k, v, w] > 0, (v, w)  # v feeds w through the subset of their depths
    assert p[0].diagonal().gt(0).all()  # the joint itself: same depth
    assert p[1, 1, 2] > 0 and p[2, 2, 1] > 0  # 1 -> 2 centripetal input of 2; 2 -> 1 centrifugal of 1


def test_spatial_partitions_in_one_graph_take_each_persons_centre() -> None:
    cfg = ModelConfig(name="stgcn", stgcn_channels=(8,), stgcn_persons="graph", stgcn_partitions="spatial")
    edges = [(0, 1), (1, 2), (3, 4), (4, 5)]  # two persons of 3 joints, centres 1 and 4
    net = STGCN.for_skeleton(cfg, 3, 6, 4, edges, persons=2)
    p = net.partition_matrices
    assert p.shape == (3, 6, 6) and net.blocks[0].edge_importance.shape == (3, 6, 6)
    assert p[0, 0, 3] > 0 and p[0, 1, 4] > 0  # counterpart links join joints of the same depth
    assert p[1, 1, 0] > 0 and p[1, 4, 3] > 0 and p[2, 0, 1] > 0
    assert net(torch.randn(2, 3, 8, 3, 2)).shape == (2, 4)


def test_samples_are_independent_of_their_batch() -> None:
    """No batch statistics (GroupNorm): a sample's logits do not depend on the other samples,
    in training mode too, which keeps DDP's per-rank batches exact and every rate consistent."""
    net = _net().train()
    x = torch.randn(6, 3, 10, 6, 1)
    torch.testing.assert_close(net(x)[:2], net(x[:2]), rtol=1e-5, atol=1e-6)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())


def test_prunable_weights_are_conv_and_linear_matrices() -> None:
    net = _net()
    names = select_weights(net)
    assert "classifier.weight" in names and any(n.endswith("tcn.weight") for n in names)
    assert all(net.get_parameter(n).dim() >= 2 for n in names)
    assert not any("norm" in n or "edge_importance" in n for n in names)


def test_partitions_and_build_model_for_two_persons() -> None:
    p = distance_partitions(skeleton_adjacency([(0, 1), (1, 2)], 3))
    torch.testing.assert_close(p[0], torch.eye(3))
    assert p[1].diagonal().abs().sum() == 0 and p[1][0, 1] > 0 and p[1][0, 2] == 0
    model = build_model(
        SMALL, in_features=3, num_joints=8, num_classes=3, edges=[(0, 1), (1, 2), (4, 5), (5, 6)], persons=2
    )
    assert input_kind(SMALL) == "frames" and model.input_kind == "frames"
    assert model.partition_matrices.shape == (2, 4, 4)
    assert model(torch.randn(2, 3, 8, 4, 2)).shape == (2, 3)


@pytest.mark.slow
def test_mrmp_two_epochs_end_to_end(tmp_path: Path) -> None:
    cfg = RunConfig().replace(
        data={"dataset": "synthetic"},
        features={"frames": 16},
        model={"name": "stgcn", "stgcn_channels": (8, 16), "dropout": 0.0},
        prune={"method": "mrmp", "rates": (0.5, 0.7, 0.9), "rates_per_step": 2},
        train={"epochs": 2, "batch_size": 32},
    )
    data = load_data(cfg)
    assert data.train(torch.arange(3)).shape == (
        3,
        6,
        16,
        data.meta.num_joints,
        1,
    )  # joint + bone streams, 3 channels each
    res = fit(cfg, tmp_path / "st", data=data, progress=False)
    x_test = data.test(torch.arange(len(data.test)))
    with torch.no_grad(), res.bundle.pruner.at_rate(0.5, "exact"):  # MRMP reports its lowest seen rate, exactly
        correct = (res.bundle.model(x_test).argmax(1) == data.test_labels).sum()
    assert res.metrics["test_accuracy"] == pytest.approx(float(correct) / len(data.test))
    assert res.metrics["loss"] == pytest.approx(res.metrics["ce"] + cfg.prune.kl_weight * res.metrics["kl"], rel=1e-5)
    bundle, _ = load_bundle(res.checkpoint)
    report = rate_report(bundle, data, 0.8)  # an unseen rate
    with torch.no_grad(), bundle.pruner.at_rate(0.8, "anchored"):  # the default evaluation threshold
        correct = (bundle.model(x_test).argmax(1) == data.test_labels).sum()
        weights = [getattr(bundle.model.get_submodule(n.rsplit(".", 1)[0]), n.rsplit(".", 1)[1]) for n in bundle.names]
    assert report["accuracy"] == pytest.approx(float(correct) / len(data.test))
    assert report["total"] == sum(w.numel() for w in weights)
    assert report["total"] - report["nonzero"] == sum(int((w == 0).sum()) for w in weights)
    # the command line on the same checkpoint
    assert main(["eval", str(res.checkpoint), "--rate", "0.8", "--json", "--device", "cpu"]) == 0
    assert json.loads((tmp_path / "st" / "metrics.json").read_text())["test_accuracy"] == res.metrics["test_accuracy"]


def test_adaptive_graph_starts_as_the_skeleton_and_learns_links_it_lacks() -> None:
    """``stgcn_adaptive``: a zero-initialised additive graph per block leaves the first forward
    unchanged, is never pruned, and receives gradient between joints the skeleton does not join."""
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    torch.manual_seed(0)
    plain = STGCN(SMALL, skeleton_adjacency(edges, 6), in_channels=3, num_classes=5)
    torch.manual_seed(0)
    cfg = ModelConfig(name="stgcn", stgcn_channels=(8, 16, 16), dropout=0.0, stgcn_adaptive=True)
    net = STGCN(cfg, skeleton_adjacency(edges, 6), in_channels=3, num_classes=5)
    missing = set(plain.state_dict()) ^ set(net.state_dict())
    assert missing == {f"blocks.{i}.adaptive_graph" for i in range(3)}
    net.load_state_dict(plain.state_dict(), strict=False)
    x = torch.randn(3, 3, 12, 6, 1)
    torch.testing.assert_close(net(x), plain(x))
    net(x).logsumexp(1).sum().backward()
    grad = net.blocks[1].adaptive_graph.grad
    assert grad.shape == (2, 6, 6) and grad[1, 0, 5].abs() > 0  # joints 0 and 5 share no bone
    assert not any("adaptive_graph" in n for n in select_weights(net))


def test_learned_graph_survives_export_to_pt_and_onnx(tmp_path: Path) -> None:
    """An MRMP ST-GCN with ``stgcn_adaptive``, ``stgcn_attention``, ``stgcn_input_norm``, the
    multi-scale temporal convolution and the graph convolutions' residuals exports at an unseen
    rate: the learned graphs and the input norm's statistics travel with the file (never pruned),
    and the reloaded ``.pt`` and onnxruntime give PyTorch's outputs."""
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'mrmp[export]')")
    pytest.importorskip("onnxscript", reason="onnxscript not installed (pip install 'mrmp[export]')")
    cfg = RunConfig().replace(
        data={"dataset": "synthetic"},
        features={"frames": 12},
        model={
            "name": "stgcn",
            "stgcn_channels": (8, 16),
            "dropout": 0.0,
            "stgcn_adaptive": True,
            "stgcn_attention": True,
            "stgcn_input_norm": True,
            "stgcn_temporal": "multiscale",
            "stgcn_gcn_residual": True,
        },
        prune={"method": "mrmp", "rates": (0.5, 0.9), "rates_per_step": 2},
        train={"epochs": 1, "batch_size": 32},
    )
    res = fit(cfg, tmp_path / "run", data=load_data(cfg), progress=False)
    bundle, _ = load_bundle(res.checkpoint)
    assert bundle.model.blocks[1].adaptive_graph.abs().sum() > 0  # trained away from zero
    assert bundle.model.input_norm.num_batches_tracked > 0  # running statistics estimated
    summary = export_onnx(bundle, 0.8, tmp_path / "m.onnx")
    assert summary["max_abs_diff"] is not None and summary["max_abs_diff"] <= 1e-4
    export_pt(bundle, 0.8, tmp_path / "m.pt")
    model = load_exported(tmp_path / "m.pt", sparse="never").module
    x = example_input(bundle.cfg, bundle.meta, 3, seed=0)
    with torch.no_grad(), bundle.pruner.at_rate(0.8, "anchored"):  # the default evaluation rule
        torch.testing.assert_close(model(x), bundle.model(x), atol=1e-5, rtol=0)


def test_sample_graph_is_a_per_sample_softmax_over_the_source_joints() -> None:
    """``stgcn_attention``: each block's own graph of a sample sums to one over the joints that
    feed a joint, depends on that sample only, and its embeddings are prunable convolutions."""
    cfg = ModelConfig(name="stgcn", stgcn_channels=(8, 16), dropout=0.0, stgcn_adaptive=True, stgcn_attention=True)
    torch.manual_seed(0)
    net = STGCN(cfg, skeleton_adjacency([(0, 1), (1, 2), (2, 3)], 4), in_channels=3, num_classes=3)
    x = torch.randn(5, 3, 10, 4, 1)
    h = x[..., 0]
    graph = net.blocks[0].sample_graph(h)
    assert graph.shape == (5, 2, 4, 4)
    torch.testing.assert_close(graph.sum(2), torch.ones(5, 2, 4))
    torch.testing.assert_close(net.blocks[0].sample_graph(h[2:3]), graph[2:3])
    assert not torch.allclose(graph[0], graph[1])  # two samples, two graphs
    torch.testing.assert_close(net(x)[:2], net(x[:2]), rtol=1e-5, atol=1e-6)
    net(x).logsumexp(1).sum().backward()
    assert net.blocks[1].theta.weight.grad.abs().sum() > 0 and net.blocks[1].phi.weight.grad.abs().sum() > 0
    assert {"blocks.0.theta.weight", "blocks.1.phi.weight"} <= set(select_weights(net))


@pytest.mark.parametrize("persons", ["apart", "graph"])
def test_input_norm_standardises_each_joints_channel(persons: str) -> None:
    """``stgcn_input_norm``: a batch norm over each (joint, channel) of the input, before every
    prunable weight, so that in training a per-(joint, channel) affine change of the coordinates
    (positive scale) leaves the logits unchanged; it is not pruned (export: the test above)."""
    cfg = ModelConfig(name="stgcn", stgcn_channels=(8, 16), dropout=0.0, stgcn_input_norm=True, stgcn_persons=persons)
    edges = [(0, 1), (1, 2), (3, 4), (4, 5)]
    torch.manual_seed(0)
    net = STGCN.for_skeleton(cfg, 4, 6, 3, edges, persons=2).train()
    x = torch.randn(8, 4, 10, 3, 2)
    scale = torch.rand(1, 4, 1, 3, 2) + 0.5  # (1, C, 1, V, M)
    shift = torch.randn_like(scale) * 10
    if persons == "apart":  # one norm shared by both persons' joints
        scale, shift = scale[..., :1].expand(1, 4, 1, 3, 2), shift[..., :1].expand(1, 4, 1, 3, 2)
    torch.testing.assert_close(net(x * scale + shift), net(x), rtol=1e-4, atol=1e-4)
    assert net.input_norm.num_features == 4 * (3 if persons == "apart" else 6)
    assert not any("input_norm" in n for n in select_weights(net))
    net.eval()
    assert not torch.allclose(net(x * scale + shift), net(x))  # running statistics in evaluation


def _branch_reference(tcn: MultiScaleTCN, x: Tensor) -> Tensor:
    """The multi-scale module computed branch by branch, as separate 1×1 convolutions and norms."""
    w, s = tcn.width, tcn.stride
    weight, bias = tcn.reduce.weight, tcn.reduce.bias
    norm = tcn.reduce_norm
    groups = norm.num_groups // (len(tcn.dilated) + 1)
    outs = []
    for b in range(len(tcn.dilated) + 2):
        rows = slice(b * w, (b + 1) * w)
        stride = s if b == len(tcn.dilated) + 1 else 1
        h = F.conv2d(x, weight[rows], bias[rows], stride=(stride, 1))
        if b <= len(tcn.dilated):  # normalised branches: GroupNorm of the branch alone, ReLU
            h = F.relu(F.group_norm(h, groups, norm.weight[rows], norm.bias[rows], norm.eps))
            h = tcn.dilated[b](h) if b < len(tcn.dilated) else tcn.pool(h)
        outs.append(h)
    return tcn.mix(torch.cat(outs, 1))


@pytest.mark.parametrize(("channels", "stride"), [(12, 1), (24, 2), (32, 2)])
def test_multiscale_tcn_is_its_branches_side_by_side(channels: int, stride: int) -> None:
    """``MultiScaleTCN``'s merged 1×1 convolution and norm compute exactly the six separate
    branches of ST-GCN++ (a strided 1×1 branch included), with norm parameters that differ per channel."""
    torch.manual_seed(0)
    tcn = MultiScaleTCN(channels, stride=stride)
    with torch.no_grad():
        tcn.reduce_norm.weight.uniform_(0.5, 1.5)
        tcn.reduce_norm.bias.uniform_(-0.5, 0.5)
    x = torch.randn(3, channels, 11, 4)
    y = tcn(x)
    assert y.shape == (3, channels, (11 - 1) // stride + 1, 4)
    torch.testing.assert_close(y, _branch_reference(tcn, x), rtol=1e-5, atol=1e-5)


def test_multiscale_tcn_sees_nine_frames_and_joints_apart() -> None:
    """Like the plain kernel of 9, an output frame depends on exactly the input frames within 4 of
    it (dilation 4 reaches them), and a joint's output on that joint only (the GroupNorms, whose
    statistics span all frames and joints, taken out)."""
    torch.manual_seed(0)
    tcn = MultiScaleTCN(12)
    tcn.reduce_norm, tcn.mix[0] = nn.Identity(), nn.Identity()
    x = torch.randn(1, 12, 15, 3)
    with torch.no_grad():
        y = tcn(x)
        frames, joints = [], []
        for f in range(15):
            moved = x.clone()
            moved[:, :, f] += 10 * torch.randn(12, 3)
            if not torch.equal(tcn(moved)[:, :, 7], y[:, :, 7]):
                frames.append(f)
        for v in range(3):
            moved = x.clone()
            moved[..., v] += 10 * torch.randn(12, 15)
            if not torch.equal(tcn(moved)[..., 1], y[..., 1]):
                joints.append(v)
    assert frames == list(range(3, 12)) and joints == [1]


def test_multiscale_stgcn_prunes_every_convolution_and_trains() -> None:
    """``stgcn_temporal=multiscale``: every block's temporal convolutions are prunable weights, the
    network's output has the plain network's shape, and gradients reach them."""
    cfg = ModelConfig(name="stgcn", stgcn_channels=(12, 24), dropout=0.0, stgcn_temporal="multiscale")
    net = STGCN(cfg, skeleton_adjacency([(0, 1), (1, 2)], 3), in_channels=3, num_classes=4)
    names = set(select_weights(net))
    expected = {"reduce.weight", "dilated.0.weight", "dilated.3.weight", "mix.2.weight"}
    assert {f"blocks.{b}.tcn.{n}" for b in (0, 1) for n in expected} <= names
    assert not any("norm" in n for n in names)
    out = net(torch.randn(2, 3, 10, 3, 1))
    assert out.shape == (2, 4)
    out.sum().backward()
    assert net.blocks[1].tcn.dilated[3].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("gcn_residual", [False, True])
def test_gcn_residual_carries_the_input_past_the_graph_convolution(gcn_residual: bool) -> None:
    """``stgcn_gcn_residual``: with the first block's graph convolution zeroed, its output is the
    same for every input without the residual (it has no block residual), and follows the input
    with it, through a prunable 1×1 projection (3 -> 8 channels)."""
    cfg = ModelConfig(name="stgcn", stgcn_channels=(8, 8), dropout=0.0, stgcn_gcn_residual=gcn_residual)
    torch.manual_seed(0)
    net = STGCN(cfg, skeleton_adjacency([(0, 1), (1, 2)], 3), in_channels=3, num_classes=4)
    block = net.blocks[0]
    with torch.no_grad():
        block.gcn.weight.zero_()
        block.gcn.bias.zero_()
        a, b = (block(torch.randn(2, 3, 10, 3), net.partition_matrices) for _ in range(2))
    assert torch.allclose(a, b) is not gcn_residual
    assert ("blocks.0.gcn_residual.0.weight" in select_weights(net)) is gcn_residual
    assert isinstance(net.blocks[1].gcn_residual, nn.Identity if gcn_residual else type(None))


def test_block_dropout_drops_in_every_block_but_the_first_and_only_in_training() -> None:
    """``stgcn_block_dropout``: the original's dropout after each temporal convolution but the
    first block's; training-mode outputs vary between passes, evaluation-mode outputs do not."""
    cfg = ModelConfig(name="stgcn", stgcn_channels=(8, 16, 16), dropout=0.0, stgcn_block_dropout=0.5)
    graph = skeleton_adjacency([(0, 1), (1, 2)], 3)
    torch.manual_seed(0)
    net = STGCN(cfg, graph, in_channels=3, num_classes=4)
    assert [block.dropout.p for block in net.blocks] == [0.0, 0.5, 0.5]
    x = torch.randn(2, 3, 12, 3, 1)
    net.train()
    assert not torch.allclose(net(x), net(x))
    net.eval()
    assert torch.equal(net(x), net(x))
    plain = STGCN(ModelConfig(name="stgcn", stgcn_channels=(8, 16, 16), dropout=0.0), graph, 3, 4)
    assert all(block.dropout.p == 0.0 for block in plain.blocks)


@pytest.mark.parametrize("persons", ["apart", "graph"])
def test_joint_head_reads_each_joint_and_reduces_to_the_pooled_head(persons: str) -> None:
    """``stgcn_head=joints``: the classifier reads C·V' features (V' = all persons' joints in one
    graph); given the pooled head's weights divided by V' on every joint, it computes the same logits."""
    edges = [(0, 1), (1, 2), (3, 4), (4, 5)]  # two persons of 3 joints
    pooled_cfg = ModelConfig(name="stgcn", stgcn_channels=(8, 16), dropout=0.0, stgcn_persons=persons)
    joint_cfg = dataclasses.replace(pooled_cfg, stgcn_head="joints")
    torch.manual_seed(0)
    pooled = STGCN.for_skeleton(pooled_cfg, 3, 6, 4, edges, persons=2)
    joints = STGCN.for_skeleton(joint_cfg, 3, 6, 4, edges, persons=2)
    v = 6 if persons == "graph" else 3
    assert joints.classifier.in_features == 16 * v and pooled.classifier.in_features == 16
    state = dict(pooled.state_dict())
    state["classifier.weight"] = pooled.classifier.weight.repeat_interleave(v, dim=1) / v  # (K, C·V'), c-major
    joints.load_state_dict(state)
    x = torch.randn(3, 3, 10, 3, 2)
    assert torch.allclose(joints(x), pooled(x), atol=1e-5)
    with torch.no_grad():
        joints.classifier.weight[:, 1::v] = 0  # the second joint unread: the logits change
    assert not torch.allclose(joints(x), pooled(x), atol=1e-5)
