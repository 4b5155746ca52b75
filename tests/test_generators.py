from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import torch

from srgan.discriminators import UNet, VGGStyle
from srgan.generators import (
    GENERATORS,
    VARIANTS,
    CompactNet,
    RRDBNet,
    build_generator,
    build_variant,
    grow_compact,
)
from tests.conftest import TINY_GENERATORS


@pytest.mark.parametrize("name", sorted(TINY_GENERATORS))
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_output_shape_every_generator_and_scale(name: str, scale: int) -> None:
    generator = TINY_GENERATORS[name](scale)
    out = generator(torch.rand(2, 3, 11, 7))
    assert out.shape == (2, 3, 11 * scale, 7 * scale)
    assert generator.scale == scale


@pytest.mark.parametrize("name", sorted(TINY_GENERATORS))
def test_state_dict_round_trip_gives_identical_outputs(name: str) -> None:
    generator = TINY_GENERATORS[name]().eval()
    rebuilt = build_generator(name, generator.config).eval()
    rebuilt.load_state_dict(generator.state_dict())
    x = torch.rand(1, 3, 16, 12)
    with torch.no_grad():
        assert torch.allclose(generator(x), rebuilt(x), atol=1e-6)


@pytest.mark.parametrize("cls", [*GENERATORS.values(), VGGStyle, UNet])
def test_config_records_every_constructor_argument(cls: type) -> None:
    """``config`` holds exactly the constructor's arguments, with the values given."""
    names = list(inspect.signature(cls.__init__).parameters)[1:]
    network = cls(in_channels=1, **({"out_channels": 1} if "out_channels" in names else {}))
    assert list(network.config) == names
    assert network.config["in_channels"] == 1


@pytest.mark.parametrize("cls", list(GENERATORS.values()))
def test_constructors_are_keyword_only(cls: type) -> None:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert params and all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params)


def test_rrdbnet_defaults_are_the_papers() -> None:
    model = RRDBNet()
    assert len(model.body) == 23
    # ESRGAN's generator has 16.7 M parameters.
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(16.70e6, rel=0.002)
    assert {
        "conv_first.weight",
        "body.0.rdb1.conv1.weight",
        "conv_body.weight",
        "conv_up2.conv.weight",
    } <= set(model.state_dict())


def test_compactnet_starts_from_nearest_neighbour_upsampling() -> None:
    model = CompactNet(num_convs=1, num_features=4, scale=2)
    for p in model.parameters():
        torch.nn.init.zeros_(p)
    x = torch.rand(1, 3, 5, 5)
    expected = x.repeat_interleave(2, -1).repeat_interleave(2, -2)
    assert torch.equal(model(x), expected)


def trained_like(model: CompactNet, seed: int) -> CompactNet:
    """``model`` with every weight random and non-zero (a trained net, not a fresh one)."""
    generator = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.data = torch.randn(p.shape, generator=generator) * 0.2
    return model


@pytest.mark.parametrize(("features", "convs"), [(6, 2), (9, 2), (6, 5), (10, 7)])
def test_grown_compactnet_computes_what_the_small_one_did_then_learns(
    features: int, convs: int
) -> None:
    small = trained_like(CompactNet(num_features=6, num_convs=2, scale=2), seed=0)
    big = CompactNet(num_features=features, num_convs=convs, scale=2)
    big.load_state_dict(grow_compact(small.state_dict(), big))
    x = torch.rand(2, 3, 7, 9)
    torch.testing.assert_close(big(x), small(x), rtol=0, atol=1e-6)
    # Every parameter gets a gradient signal: the added capacity is trainable.
    big(x).square().mean().backward()
    last = [m for m in big.body if isinstance(m, torch.nn.Conv2d)][-1]
    if features > 6:  # the weights out of the added channels, zero at first, move
        assert last.weight.grad[:, 6:].abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in big.parameters())


def test_growing_refuses_what_it_cannot_preserve() -> None:
    small = CompactNet(num_features=8, num_convs=3, scale=2).state_dict()
    with pytest.raises(ValueError, match="relu"):
        grow_compact(small, CompactNet(num_features=8, num_convs=4, scale=2, activation="prelu"))
    with pytest.raises(ValueError, match="smaller"):
        grow_compact(small, CompactNet(num_features=6, num_convs=4, scale=2))
    with pytest.raises(ValueError, match="smaller"):
        grow_compact(small, CompactNet(num_features=8, num_convs=2, scale=2))
    with pytest.raises(ValueError, match="not a ReLU CompactNet"):
        prelu = CompactNet(num_features=8, num_convs=3, scale=2, activation="prelu")
        grow_compact(prelu.state_dict(), CompactNet(num_features=8, num_convs=4, scale=2))
    with pytest.raises(ValueError, match="same channels and scale"):
        grow_compact(small, CompactNet(num_features=8, num_convs=4, scale=4))


def test_unknown_scale_and_architecture_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="scale"):
        RRDBNet(num_blocks=1, scale=5)
    with pytest.raises(ValueError, match="unknown generator"):
        build_generator("Nope", {})


def test_named_variants_build_and_are_reproducible() -> None:
    for name, (architecture, config) in VARIANTS.items():
        if not name.startswith("tiny-"):
            continue
        a, b = build_variant(name, seed=3), build_variant(name, seed=3)
        assert type(a).__name__ == architecture and a.scale == 4
        assert all(a.config[k] == v for k, v in config.items())
        assert all(
            torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values())
        )
    assert build_variant("tiny-compact", scale=2).scale == 2
    with pytest.raises(ValueError, match="unknown network variant"):
        build_variant("vit")


def test_release_recipes_and_shipped_models_are_named_variants() -> None:
    """The release configs' generators and the shipped files are the variants they claim."""
    import yaml

    from srgan.weights import RELEASE_MODELS, packaged_models, read_safetensors

    def matches(name: str, architecture: str, config: dict) -> bool:
        defaults = build_variant(name).config
        return VARIANTS[name][0] == architecture and all(
            config.get(k, v) == v for k, v in defaults.items()
        )

    configs = Path(__file__).resolve().parents[1] / "configs" / "release"
    # The GPU and CPU recipes of `fast` train the network shipped under that name.
    expected = {"fast_x4.yaml": "fast", "fast_x4_cpu.yaml": "fast", "quality_x4.yaml": "rrdb8"}
    for file, name in expected.items():
        generator = yaml.safe_load((configs / file).read_text())["model"]["generator"]
        assert matches(name, generator["class_path"].rsplit(".", 1)[1], generator["init_args"]), (
            file
        )
    for name, path in packaged_models().items():
        _, metadata = read_safetensors(path)
        variant = RELEASE_MODELS[name][0]  # a shipped model is a release model
        assert matches(variant, metadata["architecture"], json.loads(metadata["config"])), name


def test_scales_are_whole_numbers_and_the_message_says_which() -> None:
    assert RRDBNet(num_features=4, num_blocks=1, growth_channels=2, scale=16).scale == 16
    with pytest.raises(ValueError, match=r"scale must be 3 or a power of two .*got 5"):
        RRDBNet(num_features=4, num_blocks=1, growth_channels=2, scale=5)
    with pytest.raises(ValueError, match="got 2.0"):
        RRDBNet(num_features=4, num_blocks=1, growth_channels=2, scale=2.0)
    assert CompactNet(num_features=4, num_convs=1, scale=5).scale == 5
    with pytest.raises(ValueError, match="scale must be a whole number of at least 1, got 2.0"):
        CompactNet(num_features=4, num_convs=1, scale=2.0)
