"""Model loaders behind one protocol, registered by kind (like pydicom's decoder plugins).

Kinds:

* ``torchscript``: a ``torch.jit.save`` file (``.pt``/``.ts``/``.pth``);
* ``bundle``: a MONAI bundle folder: ``configs/inference.json`` (or ``.yaml``) or
  ``configs/metadata.json`` names the network (``network_def``) through
  ``monai.bundle.ConfigParser``; weights from ``models/model.pt`` (state dict) or
  ``models/model.ts`` (TorchScript). Input expectations come from the bundle (see
  :func:`bundle_preprocess`);
* ``factory``: ``package.module:function`` returning an ``nn.Module``, plus a state-dict
  file (``weights``);
* ``onnx``: an ``.onnx`` file through onnxruntime, only when it is installed.

Each loader reports :meth:`is_available` so a missing optional package is a clear
:class:`~auditkit.errors.MissingDependencyError`, not an ImportError.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypedDict

from auditkit.errors import MissingDependencyError, ModelLoadError, UsageError
from auditkit.fingerprint import sha256_file, sha256_files
from auditkit.inputs import MSG_NOT_FOUND, check_file, read_json

BUNDLE_CONFIGS = ("inference.json", "inference.yaml", "inference.yml", "metadata.json")
BUNDLE_WEIGHTS = ("model.pt", "model.ts")
#: Suffixes that make a model spec a file path (so a missing one is "not found").
MODEL_SUFFIXES = (".pt", ".ts", ".pth", ".jit", ".onnx")


class ModelHints(TypedDict, total=False):
    """Input/output expectations a model declares (a MONAI bundle); flags override each."""

    spatial_size: tuple[int, ...]
    spatial_dims: int
    spacing: tuple[float, ...]
    intensity: str
    axcodes: str
    channels: int
    out_channels: int
    task: str
    class_names: list[str]


@dataclass
class LoadedModel:
    """A model ready to run.

    Attributes
    ----------
    network : callable
        ``network(batch) -> output`` on ``device`` (an ``nn.Module`` in eval mode or
        a wrapper with the same call signature).
    kind : str
        Registry kind that loaded it.
    sha256 : str
        Hash of the model file(s) (provenance).
    device : torch.device
        Where it runs.
    hints : ModelHints
        Input/output expectations declared by the model (bundle): any of
        ``spatial_size``, ``spacing``, ``intensity``, ``channels``, ``spatial_dims``,
        ``task``, ``class_names``, ``axcodes``. Flags override them.
    bundle_parser : monai.bundle.ConfigParser or None
        A bundle's parsed config: its ``preprocessing``, ``inferer`` and ``postprocessing``
        are instantiated by :func:`auditkit.inference.bundle.build_pipeline` once the run's
        flags are known.
    data_format : dict
        A bundle's ``metadata.json`` ``network_data_format`` (empty otherwise).
    pipeline : auditkit.inference.bundle.BundlePipeline or None
        Set by ``predict`` when the bundle declares its own sections: the network then runs
        through its inferer and postprocessing.
    """

    network: Any
    kind: str
    sha256: str
    device: Any
    hints: ModelHints = field(default_factory=lambda: ModelHints())
    bundle_parser: Any = None
    data_format: dict[str, Any] = field(default_factory=dict)
    pipeline: Any = None


class ModelLoader(Protocol):
    """What a loader provides."""

    kind: str
    requires: tuple[str, ...]

    def is_available(self) -> bool:
        """Whether the loader's dependencies are installed."""

    def accepts(self, spec: str) -> bool:
        """Whether ``spec`` looks like this loader's kind of model."""

    def load(self, spec: str, *, device: Any, weights: Path | None = None) -> LoadedModel:
        """Load the model onto ``device``."""


def _jit_load(path: str, map_location: Any) -> Any:
    import torch

    with warnings.catch_warnings():
        # torch >= 2.9 deprecates TorchScript, but it is still how many teams ship models.
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(path, map_location=map_location)  # type: ignore[no-untyped-call]


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _prepare(module: Any, device: Any) -> Any:
    module = module.to(device)
    module.eval()
    return module


class TorchScriptLoader:
    """TorchScript files (``torch.jit.save``)."""

    kind = "torchscript"
    requires: tuple[str, ...] = ("torch",)

    def is_available(self) -> bool:
        return _has("torch")

    def accepts(self, spec: str) -> bool:
        return Path(spec).is_file() and Path(spec).suffix.lower() in {".pt", ".ts", ".pth", ".jit"}

    def load(self, spec: str, *, device: Any, weights: Path | None = None) -> LoadedModel:

        path = check_file(spec, what="model file", error=ModelLoadError)
        try:
            network = _jit_load(str(path), map_location=device)
        except (RuntimeError, ValueError) as exc:
            raise ModelLoadError(
                f"model file {path.name} is not a TorchScript archive ({type(exc).__name__}); "
                "a state dict needs --model package.module:function --weights FILE"
            ) from None
        return LoadedModel(
            network=_prepare(network, device),
            kind=self.kind,
            sha256=sha256_file(path),
            device=device,
        )


def _int_list(values: Any) -> tuple[int, ...] | None:
    if not isinstance(values, list | tuple) or not values:
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None  # symbolic shapes such as "16*n" say nothing fixed
    return tuple(int(v) for v in values)


def bundle_preprocess(parser: Any, metadata: dict[str, Any]) -> ModelHints:
    """Input expectations declared by a bundle.

    Read from ``metadata.json`` ``network_data_format`` (``inputs.image.spatial_shape``,
    ``num_channels``; ``outputs.pred.num_channels``; ``format: "segmentation"``) and from
    optional top-level config keys ``spatial_size``/``roi_size``, ``pixdim``/``spacing``,
    ``intensity``, ``axcodes``, ``task``, ``class_names``.
    """
    hints = ModelHints()
    fmt = metadata.get("network_data_format", {}) if isinstance(metadata, dict) else {}
    image = fmt.get("inputs", {}).get("image", {})
    pred = fmt.get("outputs", {}).get("pred", {})
    shape = _int_list(image.get("spatial_shape"))
    if shape is not None:
        hints["spatial_size"] = shape
        hints["spatial_dims"] = len(shape)
    if isinstance(image.get("num_channels"), int):
        hints["channels"] = int(image["num_channels"])
    if str(pred.get("format", "")).lower() == "segmentation":
        hints["task"] = "segmentation"
    if isinstance(pred.get("num_channels"), int):
        hints["out_channels"] = int(pred["num_channels"])

    def get(name: str) -> Any:
        try:
            return parser.get_parsed_content(name) if name in parser else None
        except Exception:  # a config entry that fails to parse is simply not a hint
            return None

    size = _int_list(get("spatial_size") or get("roi_size"))
    if size is not None:
        hints["spatial_size"] = size
        hints["spatial_dims"] = len(size)
    spacing = get("pixdim") or get("spacing")
    if isinstance(spacing, list | tuple) and spacing:
        hints["spacing"] = tuple(float(v) for v in spacing)
    intensity, axcodes, task = get("intensity"), get("axcodes"), get("task")
    if isinstance(intensity, str):
        hints["intensity"] = intensity
    if isinstance(axcodes, str):
        hints["axcodes"] = axcodes
    if isinstance(task, str):
        hints["task"] = task
    names = get("class_names")
    if isinstance(names, list | tuple):
        hints["class_names"] = [str(v) for v in names]
    return hints


class BundleLoader:
    """MONAI bundle folders, parsed with ``monai.bundle.ConfigParser``."""

    kind = "bundle"
    requires: tuple[str, ...] = ("monai", "torch")

    def is_available(self) -> bool:
        return _has("monai") and _has("torch")

    def accepts(self, spec: str) -> bool:
        return (Path(spec) / "configs").is_dir()

    def load(self, spec: str, *, device: Any, weights: Path | None = None) -> LoadedModel:
        import torch
        from monai.bundle.config_parser import ConfigParser

        root = Path(spec)
        configs = [root / "configs" / n for n in BUNDLE_CONFIGS if (root / "configs" / n).is_file()]
        if not configs:
            raise ModelLoadError(
                f"bundle {root.name} has no configs/inference.json or metadata.json"
            )
        parser = ConfigParser()
        metadata: dict[str, Any] = {}
        meta_path = root / "configs" / "metadata.json"
        if meta_path.is_file():
            metadata = read_json(meta_path, what=f"bundle {root.name}:", error=ModelLoadError)
        try:
            parser.read_config(
                [str(p) for p in configs if p.name != "metadata.json"] or [str(meta_path)]
            )
            if meta_path.is_file():
                parser.read_meta(str(meta_path))
            parser.parse()
        except Exception as exc:  # json/yaml/monai raise many types
            raise ModelLoadError(
                f"bundle {root.name}: config unreadable ({type(exc).__name__})"
            ) from None
        weight_files = [
            root / "models" / n for n in BUNDLE_WEIGHTS if (root / "models" / n).is_file()
        ]
        if weights is not None:
            weight_files = [check_file(weights, what="weights file", error=ModelLoadError)]
        if not weight_files:
            raise ModelLoadError(f"bundle {root.name} has no models/model.pt or models/model.ts")
        weight = weight_files[0]
        if weight.suffix == ".ts":
            network = _jit_load(str(weight), map_location=device)
        else:
            if "network_def" not in parser:
                raise ModelLoadError(f"bundle {root.name}: config defines no 'network_def'")
            try:
                network = parser.get_parsed_content("network_def", instantiate=True)
                state = torch.load(str(weight), map_location="cpu", weights_only=True)
                if (
                    isinstance(state, dict)
                    and "model" in state
                    and isinstance(state["model"], dict)
                ):
                    state = state["model"]  # MONAI checkpoints saved by CheckpointSaver
                network.load_state_dict(state)
            except ModelLoadError:
                raise
            except Exception as exc:
                raise ModelLoadError(
                    f"bundle {root.name}: network or weights failed to load ({type(exc).__name__})"
                ) from None
        files = [
            p for p in root.rglob("*") if p.is_file() and p.parent.name in {"configs", "models"}
        ]
        if weights is not None:
            files.append(Path(weights))
        return LoadedModel(
            network=_prepare(network, device),
            kind=self.kind,
            sha256=sha256_files(files, root=root),
            device=device,
            hints=bundle_preprocess(parser, metadata),
            bundle_parser=parser,
            data_format=dict(metadata.get("network_data_format") or {}),
        )


class FactoryLoader:
    """``package.module:function`` building an ``nn.Module``, plus a state-dict file."""

    kind = "factory"
    requires: tuple[str, ...] = ("torch",)

    def is_available(self) -> bool:
        return _has("torch")

    def accepts(self, spec: str) -> bool:
        module, sep, func = spec.partition(":")
        return (
            bool(sep) and module.replace(".", "").replace("_", "").isalnum() and func.isidentifier()
        )

    def load(self, spec: str, *, device: Any, weights: Path | None = None) -> LoadedModel:
        import torch

        if not self.accepts(spec):
            raise UsageError(f"factory '{spec}' must look like package.module:function")
        if weights is None:
            raise UsageError("a factory model needs --weights STATE_DICT (an existing file)")
        check_file(weights, what="weights file", error=ModelLoadError)
        module_name, _, func_name = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), func_name)
        except (ImportError, AttributeError):
            raise ModelLoadError(f"factory '{spec}' could not be imported") from None
        try:
            network = factory()
            state = torch.load(str(weights), map_location="cpu", weights_only=True)
            network.load_state_dict(state)
        except Exception as exc:
            raise ModelLoadError(
                f"factory '{spec}' or its weights failed to load ({type(exc).__name__})"
            ) from None
        return LoadedModel(
            network=_prepare(network, device),
            kind=self.kind,
            sha256=sha256_file(Path(weights)),
            device=device,
        )


class _OnnxNetwork:
    """Call an onnxruntime session like a torch module (tensor in, tensor out)."""

    def __init__(self, session: Any, device: Any) -> None:
        self._session = session
        self._input = session.get_inputs()[0].name
        self._device = device

    def __call__(self, batch: Any) -> Any:
        import torch

        outputs = self._session.run(None, {self._input: batch.detach().float().cpu().numpy()})
        return torch.from_numpy(outputs[0]).to(self._device)


class OnnxLoader:
    """ONNX files through onnxruntime (optional)."""

    kind = "onnx"
    requires: tuple[str, ...] = ("onnxruntime",)

    def is_available(self) -> bool:
        return _has("onnxruntime")

    def accepts(self, spec: str) -> bool:
        return spec.lower().endswith(".onnx")

    def load(self, spec: str, *, device: Any, weights: Path | None = None) -> LoadedModel:
        if not self.is_available():
            raise MissingDependencyError(_missing_message(self))
        import onnxruntime

        path = check_file(spec, what="model file", error=ModelLoadError)
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda":
            providers.insert(0, "CUDAExecutionProvider")
        try:
            session = onnxruntime.InferenceSession(str(path), providers=providers)
        except Exception as exc:  # onnxruntime's errors are its own types (Fail, InvalidGraph)
            raise ModelLoadError(
                f"model file {path.name} is not a loadable ONNX model ({type(exc).__name__})"
            ) from None
        return LoadedModel(
            network=_OnnxNetwork(session, device),
            kind=self.kind,
            sha256=sha256_file(path),
            device=device,
        )


#: Registry, by kind; detection tries them in this order.
LOADERS: dict[str, ModelLoader] = {
    loader.kind: loader
    for loader in (BundleLoader(), OnnxLoader(), TorchScriptLoader(), FactoryLoader())
}


#: The extra that installs each kind's packages (pyproject.toml).
KIND_EXTRAS: dict[str, str] = {"onnx": "onnx"}


def _missing_message(loader: ModelLoader) -> str:
    extra = KIND_EXTRAS.get(loader.kind, "audit")
    return (
        f"model kind '{loader.kind}' needs the optional package(s) {', '.join(loader.requires)}: "
        f"pip install 'deidkit-auditkit[{extra}]'"
    )


def available_kinds() -> dict[str, bool]:
    """Each registered kind and whether it can run here."""
    return {kind: loader.is_available() for kind, loader in LOADERS.items()}


def detect_kind(spec: str) -> str:
    """Guess the loader kind of a model spec (folder, file suffix or ``module:function``)."""
    for kind, loader in LOADERS.items():
        if loader.accepts(spec):
            return kind
    if Path(spec).is_file():
        return "torchscript"
    if ":" not in spec and Path(spec).suffix.lower() in MODEL_SUFFIXES:
        raise ModelLoadError(MSG_NOT_FOUND.format(what="model file", name=Path(spec).name))
    raise UsageError(
        f"model '{Path(spec).name}' is not a bundle folder, model file or module:function factory"
    )


def load_model(
    spec: str | Path, *, device: Any, kind: str | None = None, weights: Path | None = None
) -> LoadedModel:
    """Load a model by spec with the loader of ``kind`` (detected when ``None``).

    Raises
    ------
    UsageError
        Unknown kind or spec.
    MissingDependencyError
        The kind's optional package is not installed.
    ModelLoadError
        The file exists but could not be loaded.
    """
    text = str(spec)
    chosen = kind or detect_kind(text)
    if chosen not in LOADERS:
        raise UsageError(f"unknown model kind '{chosen}': use one of {', '.join(LOADERS)}")
    loader = LOADERS[chosen]
    if not loader.is_available():
        raise MissingDependencyError(_missing_message(loader))
    return loader.load(text, device=device, weights=weights)
