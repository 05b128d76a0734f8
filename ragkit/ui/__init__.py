"""The Gradio app behind ``ragkit ui``: support chat, knowledge base manager, code agent, system.

``backend.py`` does the work through the SDK, ``format.py``/``format_code.py`` turn results
into text (pure, unit-tested) in English or Chinese with the phrases of ``i18n.py``,
``stopping.py`` serves the Stop buttons, ``app.py`` lays out the page and wires events. Importing this package does not
import Gradio; :func:`build_app` and :func:`launch` do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ragkit.ui.backend import Backend, UiSettings

__all__ = ["Backend", "UiSettings", "build_app", "launch"]

if TYPE_CHECKING:  # pragma: no cover
    import gradio as gr


def build_app(backend: Backend) -> gr.Blocks:
    from ragkit.ui.app import build_app as build

    return build(backend)


def launch(backend: Backend, **kwargs: Any) -> None:
    from ragkit.ui.app import launch as run

    run(backend, **kwargs)
