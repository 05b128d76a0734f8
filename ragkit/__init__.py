"""ragkit: local, fast, inspectable retrieval-augmented assistants and agents.

The SDK surface is re-exported here and imported lazily, so ``import ragkit`` stays cheap::

    import ragkit
    kb = ragkit.KnowledgeBase.open("my-kb", create=True)
    kb.add(["docs/"])
    hits = kb.search("how do refunds work?")
    answer = ragkit.ask(kb, "how long do refunds take?")   # grounded, with checked citations

Everything that builds models and assistants is in :mod:`ragkit.sdk` (the composition root);
``load_generator``, ``ask``, ``chat`` and ``open_kb`` here are that module's functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragkit._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "KnowledgeBase": "ragkit.kb",
    "SyncReport": "ragkit.kb",
    "KnowledgeBaseConfig": "ragkit.config",
    "IndexConfig": "ragkit.config",
    "ChunkingConfig": "ragkit.config",
    "Hit": "ragkit.types",
    "Chunk": "ragkit.types",
    "Message": "ragkit.types",
    "RagkitError": "ragkit.errors",
    "load_embedder": "ragkit.sdk",
    "load_generator": "ragkit.sdk",
    "open_kb": "ragkit.sdk",
    "ask": "ragkit.sdk",
    "chat": "ragkit.sdk",
    "RagPipeline": "ragkit.rag",
    "RagConfig": "ragkit.rag",
    "Answer": "ragkit.rag",
    "Citation": "ragkit.rag",
    "AnswerUsage": "ragkit.rag",
    "AnswerStream": "ragkit.rag",
    "Conversation": "ragkit.rag",
}

__all__ = [
    "Answer",
    "AnswerStream",
    "AnswerUsage",
    "Citation",
    "Conversation",
    "RagConfig",
    "RagPipeline",
    "ask",
    "chat",
    "load_generator",
    "open_kb",
    "ChunkingConfig",
    "Chunk",
    "Hit",
    "IndexConfig",
    "KnowledgeBase",
    "KnowledgeBaseConfig",
    "Message",
    "RagkitError",
    "SyncReport",
    "load_embedder",
]

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.config import ChunkingConfig, IndexConfig, KnowledgeBaseConfig
    from ragkit.errors import RagkitError
    from ragkit.kb import KnowledgeBase, SyncReport
    from ragkit.rag import (
        Answer,
        AnswerStream,
        AnswerUsage,
        Citation,
        Conversation,
        RagConfig,
        RagPipeline,
    )
    from ragkit.sdk import ask, chat, load_embedder, load_generator, open_kb
    from ragkit.types import Chunk, Hit, Message

__getattr__ = lazy_exports(__name__, _EXPORTS)
