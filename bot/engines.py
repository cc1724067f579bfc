"""One way to choose and build engines (recognisers, voices, voice-activity detectors).

Each kind keeps a `Registry` of named `EngineSpec`s; an engine's module (and its heavy imports:
torch, onnxruntime, native libraries) loads only when that engine is built. Whatever stops an
engine from being built here — an unknown name, no model directory, a package not installed —
is one error, `EngineUnavailable` (each kind's own error subclasses it), so callers that build
engines in another place (a worker process, a test) handle one exception.
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class EngineUnavailable(Exception):
    """The engine cannot be built or used here (unknown name, model or package missing, ...)."""


class UnknownEngine(EngineUnavailable, ValueError):
    """A name no registry knows: a configuration mistake, so also a ValueError."""


@dataclass(frozen=True)
class EngineSpec:
    module: str
    cls: str
    what: str = ""  # what it is / what its model directory holds (for error messages and docs)
    options: Mapping[str, Any] = field(default_factory=dict)  # fixed constructor options
    needs_model_dir: bool = False
    packages: str = ""  # Python packages it imports, named when the import fails


class Registry(Generic[T]):
    def __init__(self, kind: str, specs: Mapping[str, EngineSpec],
                 error: type[EngineUnavailable] = EngineUnavailable, setting: str = "") -> None:
        self.kind = kind  # "ASR", "TTS", "VAD"
        self.specs = dict(specs)
        self.error = error
        self.setting = setting  # where the operator chooses it, for messages ("voice.tts_engine")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.specs)

    def __iter__(self):  # noqa: ANN204 - iterate over the names, as over a dict
        return iter(self.specs)

    def spec(self, name: str) -> EngineSpec:
        key = name.strip().lower()
        if key not in self.specs:
            unknown = type("Unknown", (UnknownEngine, self.error), {})
            raise unknown(f"unknown {self.kind} engine '{name}'; available: {', '.join(self.names)}")
        return self.specs[key]

    def engine_class(self, name: str) -> type[T]:
        spec = self.spec(name)
        try:
            module = importlib.import_module(spec.module)
        except ImportError as exc:
            needs = f" the Python packages {spec.packages}" if spec.packages else ""
            raise self.error(f"{self.kind} engine '{name}' cannot load{needs}: {exc}") from None
        return getattr(module, spec.cls)

    def make(self, name: str, model_dir: Path | str | None = None, **options: Any) -> T:
        """Build the engine `name`. `model_dir` goes to engines that take one; `options` to its
        constructor, after the spec's fixed options."""
        spec = self.spec(name)
        if spec.needs_model_dir and (model_dir is None or not str(model_dir).strip()):
            where = f": set {self.setting}" if self.setting else ""
            raise self.error(f"{self.kind} engine '{name}' ({spec.what}) needs a model directory{where}")
        engine_class = self.engine_class(name)
        kwargs = {**spec.options, **options}
        if model_dir is not None or spec.needs_model_dir:
            kwargs["model_dir"] = model_dir
        return engine_class(**kwargs)
