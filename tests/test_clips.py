"""Test-time clips: evenly placed windows of the mean training crop, probabilities averaged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mrmp.config import FeatureConfig, RunConfig
from mrmp.data import dataset_recipe
from mrmp.data.augment import even_windows
from mrmp.data.features import InputPipeline
from mrmp.engine.evaluate import predict
from mrmp.errors import ConfigError


def _pipeline(clips: int, crop: float = 0.4, lengths: tuple[float, ...] = (), kind: str = "chunks") -> InputPipeline:
    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(t, 4, 3)).astype(np.float32) for t in (9, 17, 30)]
    cfg = FeatureConfig(centre="none", align="off", size="dataset", clips=clips, crop=crop, clip_lengths=lengths)
    return InputPipeline(seqs, cfg, kind, scale=1.0)


@pytest.mark.parametrize("clips", [2, 3, 5, 10])
def test_windows_have_the_kept_length_and_span_the_sequence(clips: int) -> None:
    w = even_windows(4, clips, 0.8)
    assert w.shape == (clips, 4, 2)
    assert torch.allclose(w[..., 1] - w[..., 0], torch.full((clips, 4), 0.8))
    assert w[0, :, 0].abs().max() < 1e-6 and (w[-1, :, 1] - 1).abs().max() < 1e-6
    assert (w[1:, :, 0] > w[:-1, :, 0]).all()


def test_one_clip_is_the_whole_sequence() -> None:
    pipe = _pipeline(1)
    idx = torch.arange(3)
    (view,) = pipe.views(idx)
    assert torch.equal(view, pipe.inputs(idx))


def test_clips_are_crops_at_the_mean_training_window() -> None:
    pipe = _pipeline(3, crop=0.4)
    idx = torch.arange(3)
    views = pipe.views(idx)
    assert len(views) == 3
    for view, w in zip(views, even_windows(3, 3, 0.8), strict=True):
        expected = pipe._encoder.encode(pipe._frames(idx, w), pipe.cfg, pipe.parents, pipe.persons)
        assert torch.equal(view, expected)
    assert not torch.equal(views[0], views[2])


@pytest.mark.parametrize("kind", ["chunks", "frames"])
def test_clip_lengths_give_clips_windows_of_each_length_and_one_whole_pass(kind: str) -> None:
    pipe = _pipeline(3, crop=0.4, lengths=(0.5, 0.7, 1.0), kind=kind)
    idx = torch.arange(3)
    views = pipe.views(idx)
    windows = [*even_windows(3, 3, 0.5), *even_windows(3, 3, 0.7)]
    assert len(views) == len(windows) + 1
    for view, w in zip(views, windows, strict=False):
        expected = pipe._encoder.encode(pipe._frames(idx, w), pipe.cfg, pipe.parents, pipe.persons)
        assert torch.equal(view, expected)
    assert torch.equal(views[-1], pipe.inputs(idx))


def test_one_clip_of_a_given_length_is_the_centred_window() -> None:
    pipe = _pipeline(1, lengths=(0.6,))
    idx = torch.arange(3)
    (view,) = pipe.views(idx)
    centred = even_windows(3, 1, 0.6)[0]
    assert torch.allclose(centred, torch.tensor([0.2, 0.8]).expand(3, 2))
    assert torch.equal(view, pipe._encoder.encode(pipe._frames(idx, centred), pipe.cfg, pipe.parents, pipe.persons))
    assert not torch.equal(view, pipe.inputs(idx))


@pytest.mark.parametrize("lengths", [(0.0,), (1.2,), (0.5, -0.1)])
def test_clip_lengths_outside_zero_to_one_are_refused(lengths: tuple[float, ...]) -> None:
    with pytest.raises(ConfigError, match=r"features\.clip_lengths"):
        FeatureConfig(clip_lengths=lengths)


class _Linear(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.fc = nn.Linear(features, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def test_prediction_averages_the_probabilities_of_the_clips() -> None:
    torch.manual_seed(0)
    pipe = _pipeline(4)
    model = _Linear(pipe.num_features * 4)
    idx = torch.arange(len(pipe))
    with torch.no_grad():
        probs = torch.stack([model(v).softmax(1) for v in pipe.views(idx)]).mean(0)
    assert torch.equal(predict(model, pipe), probs.argmax(1))


def test_clips_below_one_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"features\.clips"):
        FeatureConfig(clips=0)


def test_stored_configs_without_clips_keep_one_pass() -> None:
    stored = RunConfig().to_dict()
    del stored["features"]["clips"]
    assert RunConfig.from_stored(stored).features.clips == 1
    assert RunConfig().features.clips == 1 and dataset_recipe("fpha")["features"]["clips"] == 5
