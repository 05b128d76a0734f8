"""Guardrails: moderation word lists, prompt-injection detection, personal data in answers,
and the audit trail of what was stopped. :class:`Guard` is the one entry point."""

from ragkit.guard.guard import Finding, Guard, GuardConfig, Verdict

__all__ = ["Finding", "Guard", "GuardConfig", "Verdict"]
