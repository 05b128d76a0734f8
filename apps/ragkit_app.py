"""Development launcher for the Gradio app.

The app itself is the package module :mod:`ragkit.ui` (it ships in the wheel, so
``ragkit ui`` works after a plain ``pip install``); this file only wires it for development:

    python apps/ragkit_app.py                 # same as `ragkit ui --no-preload`
    gradio apps/ragkit_app.py                 # Gradio's auto-reload mode (looks for `demo`)

Settings come from the environment: RAGKIT_KB (default .ragkit/kb, which `ragkit ui` fills
from the bundled sample store on first launch), RAGKIT_DOMAIN (default: the bundled sample
store's domain, :func:`ragkit.data.support_domain`).
"""

from __future__ import annotations

import os
from pathlib import Path

from ragkit.data import support_domain
from ragkit.ui import Backend, UiSettings, build_app

KB = Path(os.environ.get("RAGKIT_KB", ".ragkit/kb"))
DOMAIN = Path(os.environ.get("RAGKIT_DOMAIN", support_domain()))

backend = Backend(UiSettings(kb_dir=KB, domain_path=DOMAIN if DOMAIN.exists() else None))
demo = build_app(backend)

if __name__ == "__main__":
    from ragkit.ui import launch

    launch(backend, on_ready=lambda url: print(f"ragkit UI running at {url}", flush=True))
