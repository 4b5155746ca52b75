"""benchmarks.training.loss_cost on tiny settings, with random VGG weights (plumbing, not figures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.training import loss_cost


@pytest.mark.usefixtures("random_backbones")
def test_both_variants_are_timed_interleaved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cost.json"
    argv = ["--batch", "2", "--crop", "32", "--discriminator-features", "4", "--warmup", "1"]
    assert loss_cost.main([*argv, "--repeats", "2", "--out", str(out)]) == 0
    result = json.loads(out.read_text())["result"]
    assert result["layers"] == {"conv5_3": 1.0} and result["batch"] == 2
    assert [len(result["times_ms"][k]) for k in ("without", "with")] == [2, 2]
    assert result["seconds_with"] > 0 and result["seconds_without"] > 0
    assert result["ratio"] == pytest.approx(result["seconds_with"] / result["seconds_without"])
    assert result["fastest_with"] <= result["seconds_with"]
    printed = capsys.readouterr().out
    assert "without the perceptual loss" in printed and "with vgg16 (conv5_3)" in printed


def test_the_default_is_the_cpu_gan_recipe() -> None:
    import inspect

    import yaml

    path = Path(__file__).resolve().parents[1] / "configs/release/gan_fast_x4_cpu.yaml"
    config = yaml.safe_load(path.read_text())
    generator = loss_cost.GENERATORS["compact"]()
    assert config["model"]["generator"]["init_args"].items() <= generator.config.items()
    defaults = {
        name: p.default for name, p in inspect.signature(loss_cost.loss_cost).parameters.items()
    }
    assert defaults["batch"] == config["data"]["batch_size"]
    assert defaults["crop"] == config["data"]["crop_size"]
    discriminator = config["model"]["discriminator"]["init_args"]
    assert defaults["discriminator_features"] == discriminator["num_features"]


@pytest.mark.usefixtures("random_backbones")
def test_what_would_fail_is_refused_before_the_timing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a_file").write_text("")
    for argv, message in [
        (["--crop", "40"], "multiple of 32"),
        (["--repeats", "0"], "at least 1"),
        (["--out", str(tmp_path)], "is a folder"),
        # Checked before minutes of timing, not when the JSON is written after them.
        (["--out", str(tmp_path / "a_file" / "cost.json")], "is a file, not a folder"),
        # One value per channel at the VGG critic's last batch norm: refused, not a crash.
        (["--batch", "1", "--crop", "32"], "1 crop of 32 x 32 leaves one at its last stage"),
    ]:
        with pytest.raises(SystemExit) as stop:
            loss_cost.main(argv)
        assert stop.value.code == 2, argv
        err = capsys.readouterr().err
        assert message in err and "timing" not in err, argv


@pytest.mark.usefixtures("empty_caches")
def test_missing_vgg_weights_are_one_line_before_the_timing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stop:
        loss_cost.main(["--repeats", "1"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "srgan.assets fetch" in err and "timing" not in err
