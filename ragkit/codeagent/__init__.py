"""The code agent: plan, write, test in the sandbox and repair Python code with a local model.

``CodeAgent(generator, config=AgentConfig()).solve(task, tests=None)`` returns a
:class:`SolveResult`; ``.stream(...)`` yields :class:`AgentEvent`s. Modules: ``types``
(settings and results), ``extract`` (code from replies, stubs, ``ast`` checks), ``testgen``
(examples and self-written asserts as tests), ``prompts``, ``selection`` (keep-best and CodeT
agreement), ``graph`` (the LangGraph graph) and ``agent`` (this facade).
"""

from __future__ import annotations

from ragkit.codeagent.agent import CodeAgent
from ragkit.codeagent.types import AgentConfig, AgentEvent, Round, SolveResult

__all__ = ["AgentConfig", "AgentEvent", "CodeAgent", "Round", "SolveResult"]
