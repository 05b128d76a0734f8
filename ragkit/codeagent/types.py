"""Settings and results of the code agent: AgentConfig, Round, SolveResult, AgentEvent.

Owns the plain data the agent takes and returns, validated at construction, and their
``to_dict()`` forms for JSON. No behaviour beyond small derived properties.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ragkit.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.codequality import QualityReport
    from ragkit.sandbox import SandboxLimits, SandboxResult

EventKind = Literal["plan", "code", "tests", "round", "done"]
TestSource = Literal["user", "self", "none"]
StopReason = Literal["passed", "max_rounds", "no_feedback", "no_tests", "time_budget"]
RoundKind = Literal["direct", "plan", "repair", "sampled"]
RepairStyle = Literal["fresh", "conversation"]
Verdict = Literal["passes_your_tests", "fails_your_tests", "passes_trusted_tests", "uncertain"]


@dataclass(frozen=True)
class AgentConfig:
    """How the agent works.

    ``plan``: write numbered pseudocode and code from it. ``plan_first``: plan before the first
    candidate; when False the first candidate comes straight from the task and the plan is
    written only if that candidate fails its tests (its code is the next round): small models
    often do better without a plan, and the plan then serves as a second, independent attempt
    (it never sees the tests, so its agreement with the first is evidence about them). False
    by default: a task the first candidate solves then takes one code call, not two.
    ``feedback``: run tests and repair from the failures, for at most ``max_rounds`` code
    rounds (published results show small models get worse with many rounds, hence 3).
    ``repair``: ``"fresh"`` shows the best candidate so far and its failures in a new
    conversation without the plan; ``"conversation"`` appends the failures to the last
    request. A repair that reproduces an earlier candidate (same code up to formatting) is
    replaced by a different one: a direct attempt if none was made yet, else one sampled at
    ``sample_temperature`` with a seed derived from ``seed`` (reproducible).
    ``self_tests``: how many asserts the agent writes for itself when the caller gives no
    tests (0: none). Token caps bound each model call.
    ``time_budget_s``: after a round, no further round starts when the time spent so far plus
    the slowest code round so far would pass this many seconds; the best candidate is
    returned with its status (``stopped="time_budget"``). None: no budget. 60 s is about what
    a person waits for; on 2 cores the 0.5B writes one candidate in 10-30 s.
    ``tidy``: remove demo calls, ``__main__`` blocks and debugging prints from the chosen
    code (:mod:`ragkit.codeagent.tidy`), kept only when its test results stay the same.
    ``format``: then lay it out with ``ruff format`` (kept on the same condition).
    """

    max_rounds: int = 3
    plan: bool = True
    plan_first: bool = False
    feedback: bool = True
    repair: RepairStyle = "fresh"
    sample_temperature: float = 0.8
    seed: int = 0
    self_tests: int = 4
    plan_tokens: int = 200
    code_tokens: int = 512
    test_tokens: int = 200
    quality: bool = True
    limits: SandboxLimits | None = None
    time_budget_s: float | None = 60.0
    tidy: bool = True
    format: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.max_rounds <= 10:
            raise ConfigError(
                f"AgentConfig.max_rounds={self.max_rounds} is out of range: use 1 to 10 "
                "(2-3 is best for small models)."
            )
        if not 0 <= self.self_tests <= 20:
            raise ConfigError(
                f"AgentConfig.self_tests={self.self_tests} is out of range: use 0 (off) to 20."
            )
        if self.repair not in ("fresh", "conversation"):
            raise ConfigError(f"AgentConfig.repair={self.repair!r} is unknown: use 'fresh' or "
                              "'conversation'.")
        if not 0 < self.sample_temperature <= 2:
            raise ConfigError("AgentConfig.sample_temperature must be in (0, 2]; 0.8 is usual.")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise ConfigError(f"AgentConfig.time_budget_s={self.time_budget_s} must be positive "
                              "seconds, or None for no budget.")
        for name in ("plan_tokens", "code_tokens", "test_tokens"):
            if getattr(self, name) < 16:
                raise ConfigError(f"AgentConfig.{name} must be at least 16 tokens.")


@dataclass
class Round:
    """One code attempt: the reply, the program run, its check and test outcome, the feedback."""

    index: int
    reply: str
    code: str
    kind: RoundKind = "direct"
    repeated: int | None = None  # the earlier round a discarded repair reproduced
    syntax_error: str | None = None
    tests: SandboxResult | None = None
    feedback: str | None = None
    best: bool = False  # whether this round was the best candidate when it finished
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        return self.tests.passed if self.tests is not None else 0

    @property
    def total(self) -> int:
        return self.tests.total if self.tests is not None else 0

    @property
    def status(self) -> str:
        if self.syntax_error is not None:
            return "syntax_error"
        return self.tests.status if self.tests is not None else "not_run"

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.index,
            "kind": self.kind,
            "repeated": self.repeated,
            "status": self.status,
            "passed": self.passed,
            "total": self.total,
            "code": self.code,
            "reply": self.reply,
            "syntax_error": self.syntax_error,
            "tests": self.tests.to_dict() if self.tests is not None else None,
            "feedback": self.feedback,
            "best": self.best,
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "cached_tokens": self.cached_tokens,
                "completion_tokens": self.completion_tokens,
                "seconds": round(self.seconds, 3),
            },
        }


@dataclass
class SolveResult:
    """What :meth:`CodeAgent.solve` returns.

    ``code`` is the chosen candidate (the best seen, never a later worse one); ``passed`` is
    True when it passed every test it was run against (the user's, else the agent's own; with
    no tests at all it is False). ``test_source`` says which tests those were.
    """

    task: str
    code: str
    passed: bool
    best_round: int
    rounds: list[Round]
    plan: str | None = None
    tests: str | None = None
    test_source: TestSource = "none"
    stopped: StopReason = "max_rounds"
    report: QualityReport | None = None
    seconds: float = 0.0
    entry_point: str | None = None
    removed: list[str] = field(default_factory=list)  # statements tidy() took out of the code
    verdict: Verdict = "uncertain"
    distrusted: dict[str, str] = field(default_factory=dict)  # self-written test -> why

    @property
    def vouched(self) -> bool:
        """The agent vouches for its code: it passes your tests, or every test it trusts."""
        return self.verdict in ("passes_your_tests", "passes_trusted_tests")

    @property
    def tests_passed(self) -> int:
        return self.rounds[self.best_round - 1].passed if self.rounds else 0

    @property
    def tests_total(self) -> int:
        return self.rounds[self.best_round - 1].total if self.rounds else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "passed": self.passed,
            "tests_passed": self.tests_passed,
            "tests_total": self.tests_total,
            "test_source": self.test_source,
            "best_round": self.best_round,
            "stopped": self.stopped,
            "entry_point": self.entry_point,
            "plan": self.plan,
            "tests": self.tests,
            "rounds": [r.to_dict() for r in self.rounds],
            "report": self.report.to_dict() if self.report is not None else None,
            "seconds": round(self.seconds, 3),
            "removed": self.removed,
            "verdict": self.verdict,
            "distrusted": self.distrusted,
        }


@dataclass(frozen=True)
class AgentEvent:
    """One step streamed by :meth:`CodeAgent.stream`.

    ``plan``: data {"plan"}. ``code``: {"code", "reply", "syntax_error"}. ``tests``: either
    {"phase": "written", "source", "tests"} when the test suite is fixed, or
    {"phase": "run", "result"} with the sandbox result of this round. ``round``: the round's
    summary (``Round.to_dict()`` plus "best_round"). ``done``: {"result": SolveResult}.
    """

    kind: EventKind
    round: int
    data: dict[str, Any] = field(default_factory=dict)
