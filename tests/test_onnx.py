"""ONNX export: round trip and parity at several sizes and batches, fp16, clamping, errors."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from srgan.generators import CompactNet, Generator
from srgan.onnx import (
    ExportError,
    check_parity,
    convert_fp16,
    export_onnx,
    onnx_session,
    parity_inputs,
    run_session,
)
from tests.conftest import TINY_GENERATORS


@pytest.mark.parametrize("name", sorted(TINY_GENERATORS))
def test_round_trip_parity_at_two_sizes_and_batches(name: str, tmp_path: Path, image_dir: Path):
    model = TINY_GENERATORS[name]().eval()
    path = export_onnx(model, tmp_path / f"{name}.onnx")
    onnx.checker.check_model(str(path), full_check=True)
    graph = onnx.load(str(path)).graph
    dims = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims[1] == 3 and all(isinstance(d, str) for d in (dims[0], dims[2], dims[3]))
    cases = parity_inputs(image_dir, model.scale)
    assert {lr.shape[0] for _, lr in cases} == {1, 2}  # dynamic batch
    assert len({tuple(lr.shape[-2:]) for _, lr in cases}) == 2  # dynamic height and width
    assert any(name.startswith("real") for name, _ in cases)
    diffs = check_parity(model, onnx_session(path), cases)
    assert max(diffs.values()) <= 1e-4, diffs


def test_parity_of_a_saturated_model_comes_with_a_warning(tmp_path: Path) -> None:
    import warnings

    model = CompactNet(num_features=4, num_convs=1).eval()
    cases = [("r", torch.rand(1, 3, 8, 8))]
    path = export_onnx(model, tmp_path / "ok.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a working model: no warning
        check_parity(model, onnx_session(path), cases)
    with torch.no_grad():
        model.body[-2].bias.fill_(-5.0)  # every output far below 0: all clamped
    path = export_onnx(model, tmp_path / "dark.onnx")
    with pytest.warns(UserWarning, match="^all of the model's outputs are clamped to 0 or 1"):
        diffs = check_parity(model, onnx_session(path), cases)
    assert max(diffs.values()) == 0.0


def test_output_is_clamped(compact_onnx):
    _, path = compact_onnx
    out = run_session(onnx_session(path), torch.rand(1, 3, 9, 7) * 3 - 1)
    assert out.shape == (1, 3, 36, 28)
    assert out.min() >= 0 and out.max() <= 1


def test_fp16_export_loads_and_runs(compact_onnx, tmp_path: Path):
    model, path = compact_onnx
    fp16 = convert_fp16(path, tmp_path / "compact.fp16.onnx")
    proto = onnx.load(str(fp16))
    onnx.checker.check_model(proto)
    initializers = {t.data_type for t in proto.graph.initializer if len(t.dims) == 4}
    assert initializers == {onnx.TensorProto.FLOAT16}
    diffs = check_parity(model, onnx_session(fp16), [("r", torch.rand(2, 3, 10, 12))])
    assert max(diffs.values()) < 1e-2


@torch.library.custom_op("srgan_tests::wobble", mutates_args=())
def wobble(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


@wobble.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


class Wobble(nn.Module):
    """A custom op with no ONNX translation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return wobble(x)


class WobblyNet(Generator):
    def __init__(self) -> None:
        super().__init__()
        self.scale = 2
        self.config = {"in_channels": 3}
        self.head = nn.Conv2d(3, 12, 3, padding=1)
        self.body = nn.Sequential(nn.ReLU(), Wobble())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.body(self.head(x)), 2)


def test_export_error_names_the_layer(tmp_path: Path):
    with pytest.raises(ExportError) as info:
        export_onnx(WobblyNet(), tmp_path / "bad.onnx")
    error = info.value
    assert error.module == "body.1" and error.module_type == "Wobble"
    assert "body.1" in str(error) and "wobble" in str(error).lower()


class Blocky(Generator):
    """A generator that needs inputs with sides multiple of 2 (pixel unshuffle)."""

    size_multiple = 2

    def __init__(self) -> None:
        super().__init__()
        self.scale = 2
        self.config = {"in_channels": 3}
        self.conv = nn.Conv2d(12, 48, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(F.pixel_unshuffle(x, 2)), 4)


def test_size_multiple_exports_with_constrained_dims(tmp_path: Path):
    model = Blocky().eval()
    path = export_onnx(model, tmp_path / "blocky.onnx")
    cases = parity_inputs(None, 2, size_multiple=2)
    assert all(lr.shape[-2] % 2 == 0 and lr.shape[-1] % 2 == 0 for _, lr in cases)
    assert max(check_parity(model, onnx_session(path), cases).values()) <= 1e-4


def test_opsets_outside_what_can_be_written_are_refused(tmp_path: Path, monkeypatch) -> None:
    from srgan import onnx as srgan_onnx

    newest = onnx.defs.onnx_opset_version()
    for opset in (13, newest + 1):
        with pytest.raises(ValueError, match=f"opset must be 17 to {newest}"):
            export_onnx(CompactNet(num_features=4, num_convs=1), tmp_path / "x.onnx", opset=opset)
    # An exporter that keeps its own opset instead of the one asked for: refused, no file.
    real = srgan_onnx._onnx_program
    monkeypatch.setattr(
        srgan_onnx,
        "_onnx_program",
        lambda model, sample, opset, shapes: real(model, sample, 18, shapes),
    )
    (tmp_path / "y.onnx").write_bytes(b"an earlier export")
    with pytest.raises(ExportError, match="the exporter wrote opset 18, not 19"):
        export_onnx(CompactNet(num_features=4, num_convs=1), tmp_path / "y.onnx", opset=19)
    assert [p.name for p in tmp_path.iterdir()] == ["y.onnx"]  # left as it was
    assert (tmp_path / "y.onnx").read_bytes() == b"an earlier export"


def test_a_module_without_a_scale_is_refused_before_the_export(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="Conv2d has no integer `scale` attribute"):
        export_onnx(torch.nn.Conv2d(3, 3, 3, padding=1), tmp_path / "plain.onnx")
    assert not list(tmp_path.iterdir())


def test_only_unused_operator_domains_are_dropped(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    from srgan.onnx import save_checked

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    plain = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "then", [], [y])
    # A node of another domain inside a branch: its domain stays declared.
    custom = helper.make_node("Gelu", ["x"], ["y"], domain="com.microsoft")
    branch = helper.make_graph([custom], "else", [], [y])
    cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
    node = helper.make_node("If", ["cond"], ["y"], then_branch=plain, else_branch=branch)
    graph = helper.make_graph([node], "g", [cond, x], [y])
    opsets = [
        helper.make_opsetid(d, v) for d, v in [("", 18), ("com.microsoft", 1), ("ai.onnx.ml", 3)]
    ]
    save_checked(helper.make_model(graph, opset_imports=opsets), tmp_path / "m.onnx")
    kept = [o.domain for o in onnx.load(str(tmp_path / "m.onnx")).opset_import]
    assert kept == ["", "com.microsoft"]


def test_a_ctrl_c_that_torch_wraps_during_the_export_is_a_ctrl_c(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch imports parts of itself lazily while exporting; a Ctrl-C then surfaces as its
    own export error (around an AttributeError): not "cannot export module body.0"."""
    import srgan.onnx as srgan_onnx

    def wrapped(*args: object) -> None:
        try:
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as stop:
                raise AttributeError("module 'torch._dynamo' has no attribute 'exc'") from stop
        except AttributeError as error:
            raise RuntimeError("Failed to export the model with torch.export") from error

    monkeypatch.setattr(srgan_onnx, "_onnx_program", wrapped)
    with pytest.raises(KeyboardInterrupt):
        export_onnx(CompactNet(num_features=4, num_convs=1), tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())
    # Or while the failing module is looked for, one module at a time, after an error.
    calls = []

    def fails_then_interrupted(*args: object) -> None:
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("an operator the exporter does not know")
        wrapped()

    monkeypatch.setattr(srgan_onnx, "_onnx_program", fails_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_onnx(CompactNet(num_features=4, num_convs=1), tmp_path / "m.onnx")
    assert len(calls) == 2
