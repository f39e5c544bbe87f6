"""Reasons for rows the model failed on, from real framework errors of tiny TorchScript models."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from auditkit.inference.failures import (
    NOTE_NO_SIZE,
    NOTE_WITHHELD,
    WITHHELD,
    FailureReasons,
    failure_reason,
    traceback_text,
)

# Teams still ship TorchScript; torch >= 2.9 deprecates writing it.
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning")

#: A voxel value that must never reach a reason or a log line.
CANARY_VALUE = 4711.8125


class Dense(torch.nn.Module):
    """Built for 8x8x8 inputs: a dense layer over the flattened volume."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(512, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


class Skip(torch.nn.Module):
    """A one-level U: sizes must be even for the skip connection to line up."""

    def __init__(self) -> None:
        super().__init__()
        self.down = torch.nn.Conv3d(1, 1, 3, stride=2, padding=1)
        self.up = torch.nn.ConvTranspose3d(1, 1, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.up(self.down(x))], 1).mean(dim=(1, 2, 3, 4)).unsqueeze(1)


class TwoChannels(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(2, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean(dim=(1, 2, 3, 4)).unsqueeze(1)


class Flat(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean(dim=(1, 2, 3)).unsqueeze(1)


class Quoting(torch.nn.Module):
    """A model whose own check prints a voxel value into its error message."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert bool(x.max() < 1000.0), f"intensity out of range: {x.max().item()}"
        return x.mean(dim=(1, 2, 3, 4)).unsqueeze(1)


def failure(module: torch.nn.Module, shape: tuple[int, ...], tmp_path: Path) -> BaseException:
    """The exception a TorchScript copy of ``module`` raises on a ``shape`` input."""
    path = tmp_path / "model.ts"
    torch.jit.save(torch.jit.script(module.eval()), str(path))
    loaded = torch.jit.load(str(path))  # type: ignore[no-untyped-call]
    with pytest.raises(Exception) as caught, torch.inference_mode():
        loaded(torch.full(shape, CANARY_VALUE))
    return caught.value


def test_dense_layer_names_the_expected_size(tmp_path: Path) -> None:
    exc = failure(Dense(), (1, 1, 9, 11, 9), tmp_path)
    reason = failure_reason(exc, input_shape=(1, 1, 9, 11, 9), spatial_size_given=False)
    assert reason.startswith(
        "model failed on this input (RuntimeError: mat1 and mat2 shapes cannot be multiplied "
        "(1x891 and 512x1)); input shape (1, 1, 9, 11, 9) does not fit the model: "
        "its dense layer expects 512 input features and this input gives 891"
    )
    assert reason.endswith(NOTE_NO_SIZE)
    sized = failure_reason(exc, input_shape=(1, 1, 9, 11, 9), spatial_size_given=True)
    assert NOTE_NO_SIZE not in sized and "TorchScript" not in sized


@pytest.mark.parametrize(
    ("module", "shape", "hint"),
    [
        (Skip(), (1, 1, 9, 11, 9), "its skip connections do not line up: each spatial size"),
        (TwoChannels(), (1, 1, 8, 8, 8), "it expects 2 input channel(s), this input has 1"),
        (Flat(), (1, 1, 8, 8, 8), "it expects 2D images, this input is 3D"),
    ],
    ids=["skip", "channels", "rank"],
)
def test_shape_errors_say_what_the_model_expects(
    tmp_path: Path, module: torch.nn.Module, shape: tuple[int, ...], hint: str
) -> None:
    exc = failure(module, shape, tmp_path)
    reason = failure_reason(exc, input_shape=shape, spatial_size_given=True)
    shape_text = "(" + ", ".join(map(str, shape)) + ")"
    assert f"input shape {shape_text} does not fit the model: {hint}" in reason


def test_a_message_quoting_a_value_is_withheld(tmp_path: Path) -> None:
    exc = failure(Quoting(), (1, 1, 4, 4, 4), tmp_path)
    assert "4711" in str(exc)  # the framework did quote it
    reason = failure_reason(exc, input_shape=(1, 1, 4, 4, 4), spatial_size_given=True)
    assert reason == (
        f"model failed on this input (torch.jit.Error: AssertionError; {NOTE_WITHHELD}); "
        "input shape (1, 1, 4, 4, 4)"
    )
    text = traceback_text(exc)
    assert "4711" not in text and WITHHELD in text
    assert text.startswith("Traceback (most recent call last)")


def test_paths_and_long_messages(tmp_path: Path) -> None:
    leaked = FileNotFoundError("/pacs/Doe_John/scan.nii missing")
    reason = failure_reason(leaked, input_shape=(1, 1, 2, 2), spatial_size_given=True)
    assert "Doe_John" not in reason and NOTE_WITHHELD in reason
    long = RuntimeError("shape mismatch " + "x" * 400)
    reason = failure_reason(long, input_shape=(1, 1, 2, 2), spatial_size_given=True)
    assert "x" * 200 not in reason and "x..." in reason
    plain = ValueError()
    assert "(ValueError)" in failure_reason(plain, input_shape=(1,), spatial_size_given=True)


def test_only_the_first_failure_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    exc = failure(Dense(), (1, 1, 4, 4, 4), tmp_path)
    reasons = FailureReasons(spatial_size_given=True)
    with caplog.at_level(logging.DEBUG, logger="auditkit.inference.failures"):
        first = reasons.reason(exc, input_shape=(1, 1, 4, 4, 4), row=0)
        second = reasons.reason(exc, input_shape=(1, 1, 4, 4, 4), row=1)
    assert first == second
    (record,) = caplog.records
    assert record.getMessage().startswith(f"first model failure (row 1): {first}\nTraceback")
    assert "4711" not in caplog.text
