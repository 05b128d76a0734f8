"""Where the data bundled with ragkit lives: the sample store's help centre, its support domain
and its orders data, read as package data through :mod:`importlib.resources`.

Owns: the names of the bundled files and folders (``store/``, ``store_domain.yaml``,
``store_facts.json``, ``support/*.json``, all in this package's folder) and turning them into
paths. Library code finds bundled data only through here, never through the source checkout,
so a wheel installed anywhere behaves like the checkout. Prompt templates are package data too
(``ragkit/prompts``), read by ``rag.prompts`` and ``codeagent.prompts``.

Does not own: parsing any of it (``support.domain``, ``support.dbbuild``, ``ingest``). The
labelled evaluation sets and the tools that regenerate this data are not shipped; they live in
the repository's ``knowledge/`` folder, whose ``store``, ``store_domain.yaml``,
``store_facts.json`` and ``support`` are links to the files here.

The paths are real files: ragkit is installed from a wheel or a checkout onto a file system,
never imported from a zip archive.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["bundled", "sample_store", "support_data", "support_domain"]


def bundled(*parts: str) -> Path:
    """The bundled file or folder ``ragkit/data/PARTS`` (it may not exist for a bad name)."""
    return Path(str(resources.files(__name__).joinpath(*parts)))


def sample_store() -> Path:
    """The sample knowledge base: the help centre of a fictional store, English and Chinese."""
    return bundled("store")


def support_domain() -> Path:
    """The sample store's support domain file (intents, slots, tools); it names its facts file."""
    return bundled("store_domain.yaml")


def support_data() -> Path:
    """The folder of the sample store's orders data (``meta.json``, ``customers.json``, ...)."""
    return bundled("support")
