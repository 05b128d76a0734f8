"""Lazy imports: re-exports for package ``__init__`` modules, so importing a package stays
cheap, and the one thread-safe way to import the Hugging Face libraries.

Owns :func:`lazy_exports` (each package lists ``{name: module}`` and binds the returned
function as its module-level ``__getattr__``, PEP 562) and :func:`hf`.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

_HF_LOCK = threading.RLock()
# resolved on first import, so later threads find them already bound on the module
_TRANSFORMERS_NAMES = ("AutoConfig", "AutoTokenizer", "AutoModel", "AutoModelForCausalLM",
                       "PreTrainedModel", "PreTrainedTokenizerFast", "PretrainedConfig")


def hf(module: str = "transformers") -> ModuleType:
    """``transformers`` or a library built on it (``sentence_transformers``), imported under
    one process-wide lock. transformers 5's lazy top-level module is not thread-safe on first
    use: a warm-up thread loading a scorer while the main thread loads the generator failed
    with "cannot import name 'AutoConfig' from 'transformers'" (seen in a CLI test)."""
    with _HF_LOCK:
        mod = importlib.import_module(module)
        if module == "transformers":
            for name in _TRANSFORMERS_NAMES:
                getattr(mod, name)
    return mod


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` importing ``exports[name]`` on first access of ``name``."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__
