"""PANDA and Mean-Shifted Contrastive: their losses are the authors', fine-tuning moves only the late
stages and pulls the normal class together; MoCo v2's augmentations keep images images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

pytest.importorskip("efficientnet_lite_pytorch")

from bench.contract.method import Env
from bench.data.dataset import TrainData
from bench.data.protocol import make_split
from bench.nets import augment, backbones
from bench.registry import METHODS


def authors_contrastive_loss(out_1: torch.Tensor, out_2: torch.Tensor, temp: float = 0.25) -> torch.Tensor:
    """The loss as written in the authors' main.py (exp of similarities, the diagonal masked out)."""
    out_1, out_2 = F.normalize(out_1, dim=-1), F.normalize(out_2, dim=-1)
    bs = out_1.size(0)
    out = torch.cat([out_1, out_2], dim=0)
    sim = torch.exp(out @ out.t() / temp)
    mask = (torch.ones_like(sim) - torch.eye(2 * bs)).bool()
    sim = sim.masked_select(mask).view(2 * bs, -1)
    pos = torch.exp((out_1 * out_2).sum(dim=-1) / temp)
    pos = torch.cat([pos, pos], dim=0)
    return (-torch.log(pos / sim.sum(dim=-1))).mean()


def test_msc_contrastive_loss_is_the_authors():
    from bench.methods.msc import nt_xent

    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(7, 16, generator=gen), torch.randn(7, 16, generator=gen)
    assert float(nt_xent(a, b)) == pytest.approx(float(authors_contrastive_loss(a, b)), rel=1e-5)
    assert float(nt_xent(a, a)) < float(nt_xent(a, b)), "identical views are the easy case"


def test_moco_views_are_images_drawn_from_the_seed(digits):
    x = torch.as_tensor(digits.x_train[:16], dtype=torch.float32) / 255
    view = lambda seed: augment.moco_v2(x, 32, torch.Generator().manual_seed(seed))  # noqa: E731
    one = view(0)
    assert one.shape == (16, 3, 32, 32) and one.min() >= 0 and one.max() <= 1
    torch.testing.assert_close(view(0), one)
    assert not torch.allclose(view(1), one)
    grey = x.expand(-1, 3, -1, -1)
    jittered = augment.colour_jitter(grey, torch.Generator().manual_seed(0))
    torch.testing.assert_close(jittered[:, 0], jittered[:, 2], atol=1e-5, rtol=0)  # grey stays grey
    flat = torch.full((2, 3, 20, 20), 0.3)
    torch.testing.assert_close(augment.gaussian_blur(flat, torch.tensor([0.5, 2.0])), flat)


@pytest.fixture(scope="module")
def panda_fit(digits_split):
    cls = METHODS.get("panda")[1]
    method = cls(resolution=32, epochs=3)
    before = {
        n: p.detach().clone() for n, p in backbones.build("efficientnet-lite0", 32, "cpu").named_parameters()
    }
    method.fit(TrainData(digits_split.train.x), Env(seed=0))
    return method, before


@pytest.fixture(scope="module")
def digits_split(digits):
    return make_split(digits, "one-class", 0, seed=0)


def test_panda_moves_only_the_late_stages(panda_fit):
    method, before = panda_fit
    after = dict(method.model_.net.features.named_parameters())  # EvalMode(Tail(the backbone))
    changed = {n for n, p in before.items() if not torch.equal(p, after[n].detach())}
    assert changed, "fine-tuning changed weights"
    assert not [n for n in changed if n.startswith(("net._conv_stem", "net._bn0", "net._fc"))]
    assert not [n for n in changed if n.startswith(tuple(f"net._blocks.{i}." for i in range(5)))]
    assert any(n.startswith("net._conv_head") for n in changed)


def test_panda_pulls_the_normal_class_towards_its_centre(panda_fit, digits_split):
    method, _ = panda_fit
    pretrained = backbones.build("efficientnet-lite0", 32, "cpu")
    x = torch.as_tensor(digits_split.train.x)
    with torch.no_grad():
        spread_before = (pretrained(x) - method.centre_).pow(2).sum(dim=1).mean()
    spread_after = (method.train_features_ - method.centre_).pow(2).sum(dim=1).mean()
    assert spread_after < spread_before
    scores = method.score(digits_split.test.x)
    assert np.isfinite(scores).all() and len(scores) == len(digits_split.test.x)


def test_panda_follows_collapse_over_its_epochs(panda_fit, digits_split):
    """Its curves: the loss after each epoch; the probe's feature variance and effective rank before
    training (the pretrained features, a known answer) and after each epoch."""
    method, _ = panda_fit
    curves = method.fit_curves()
    assert list(curves["loss"]) == [1, 2, 3]
    assert list(curves["feature_variance"]) == list(curves["feature_rank"]) == [0, 1, 2, 3]
    pretrained = backbones.build("efficientnet-lite0", 32, "cpu")
    with torch.no_grad():
        features = pretrained(torch.as_tensor(digits_split.train.x[:1024])).double()
    eigen = torch.linalg.eigvalsh(torch.cov(features.T))
    assert curves["feature_variance"][0] == pytest.approx(float(features.var(dim=0).mean()), rel=1e-5)
    assert curves["feature_rank"][0] == pytest.approx(float(eigen.sum() ** 2 / (eigen**2).sum()), rel=1e-4)
    assert curves["feature_variance"][3] < curves["feature_variance"][0], "pulled towards the centre"


def test_panda_on_cached_stem_maps_scores_as_the_whole_network_does(digits, digits_split, tmp_path):
    """The frozen stages run once per image, from the harness's cache: bit for bit the scores of
    running the whole network in every step (and of a direct call with images)."""
    from bench.nets.features import FeatureCache, frozen_split

    cls = METHODS.get("panda")[1]
    whole = cls(resolution=32, epochs=1)
    whole.frozen_input = False  # the network as one piece, its stem run in every step
    whole.fit(TrainData(digits_split.train.x), Env(seed=0))
    assert whole.extractor() is None
    cached = cls(resolution=32, epochs=1)
    cache = FeatureCache(tmp_path)
    split = frozen_split(digits_split, digits, cached.extractor(), cache)
    assert split.train.x.ndim == 4 and split.train.x.shape[1] > 3, "stem maps, not images"
    cached.fit(TrainData(split.train.x), Env(seed=0))
    expected = whole.score(digits_split.test.x)
    np.testing.assert_array_equal(cached.score(split.test.x), expected)
    np.testing.assert_array_equal(cached.score(digits_split.test.x), expected)


@pytest.mark.parametrize("resolution", [64, 97])  # even sizes throughout; odd ones past stride 2
def test_padding_inside_the_convolutions_gives_the_packages_features(resolution):
    """``--fast-kernels``' even "same" padding moved into the convolutions: every level's features bit
    for bit those of the package's own padded network."""
    from bench.nets.kernels import even_padding

    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    package = backbones.build("efficientnet-lite0", resolution, "cpu")
    inside = backbones.build("efficientnet-lite0", resolution, "cpu")
    even_padding(inside.modules())
    padded = [m for m in inside.modules() if isinstance(m, torch.nn.Conv2d) and m.padding != (0, 0)]
    assert len(padded) > 10 and all(
        m.padding == (0, 0) for m in package.modules() if isinstance(m, torch.nn.Conv2d)
    ), "the padding is inside in one network and not in the other"
    with torch.no_grad():
        assert torch.equal(backbones.Levels(inside)(x), backbones.Levels(package)(x))
