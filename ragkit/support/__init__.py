"""Customer-service assistant (issue 5): domain file, understanding, dialogue state, tools,
LangGraph graph with human handoff, PII redaction, SDK.

Modules: ``domain`` (domain YAML schema), ``slots`` (deterministic extraction), ``nlu``
(intent classifier + generator fallbacks), ``state`` (DialogueState and pure updates),
``tools`` (order tools with ownership checks), ``replies`` (wording), ``sentiment``,
``redact`` (PII), ``graph`` (LangGraph), ``assistant`` (SDK). ``db``/``records`` hold the
orders database (support-data).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragkit._lazy import lazy_exports

__all__ = ["DialogueState", "Reply", "ReplyStream", "SupportAssistant", "load_domain"]

_LAZY = {
    "DialogueState": "ragkit.support.state",
    "Reply": "ragkit.support.assistant",
    "ReplyStream": "ragkit.support.assistant",
    "SupportAssistant": "ragkit.support.assistant",
    "load_domain": "ragkit.support.domain",
}

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.support.assistant import Reply, ReplyStream, SupportAssistant
    from ragkit.support.domain import load_domain
    from ragkit.support.state import DialogueState

__getattr__ = lazy_exports(__name__, _LAZY)
