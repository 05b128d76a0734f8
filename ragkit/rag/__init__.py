"""Grounded answers with checked citations over a knowledge base (issue 4).

``RagPipeline(kb, generator).ask(q)`` runs the LangGraph graph in :mod:`ragkit.rag.graph`;
``ragkit.sdk.ask`` / ``.chat`` build it (and the generator) for a knowledge base. Modules: ``types`` (results),
``config`` (settings), ``prompts`` (templates, message layout), ``context`` (retrieval and
token budget), ``verify`` (citation checks), ``cache`` (answer cache), ``memory``
(conversation checkpoints and retention), ``state`` (the graph's typed state), ``graph``
(nodes and routing), ``pipeline`` (SDK).
"""

from __future__ import annotations

from ragkit.rag.config import RagConfig
from ragkit.rag.pipeline import Conversation, RagPipeline
from ragkit.rag.types import Answer, AnswerStream, AnswerUsage, Citation

__all__ = [
    "Answer",
    "AnswerStream",
    "AnswerUsage",
    "Citation",
    "Conversation",
    "RagConfig",
    "RagPipeline",
]
