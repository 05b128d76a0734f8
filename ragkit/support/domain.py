"""The support domain file: its typed schema and loader.

Owns: parsing and validating a domain YAML (intents, slots, tools, confirmation words,
handoff and retention settings) into frozen pydantic models, and loading the product
catalogue it points at. Knows nothing about understanding text, dialogue state or the
database; those read the parsed :class:`DomainSpec`.

A business writes its own domain file; every mistake is reported with the path of the bad
field (``intents.cancel_order.tool: unknown tool 'cancel'``) and what to do about it.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ragkit.data import support_domain
from ragkit.errors import ConfigError

DEFAULT_DOMAIN = support_domain()  # the sample store's, shipped as package data

Lang = Literal["en", "zh"]
SlotType = Literal["pattern", "email", "phone", "catalogue", "enum", "text"]
# out_of_scope: what the assistant is not for (off-topic requests, keyboard mashing); such a
# message is "not understood" (the fallback reply, and it counts towards a handoff), whatever
# the words in it resemble
IntentKind = Literal["chitchat", "lookup", "task", "question", "handoff", "out_of_scope"]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Phrases(_Spec):
    """Words or phrases per language."""

    en: tuple[str, ...] = ()
    zh: tuple[str, ...] = ()

    def all(self) -> tuple[str, ...]:
        return self.en + self.zh


class Texts(_Spec):
    """One message per language."""

    en: str
    zh: str

    def get(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


class SlotSpec(_Spec):
    type: SlotType
    scope: Literal["conversation", "intent"] = "intent"
    pattern: str | None = None
    normalise: str | None = Field(None, description="template with {0}/{1}.. capture groups")
    values: dict[str, Phrases] = Field(default_factory=dict, description="enum value -> synonyms")
    cues: Phrases = Phrases()
    pii: bool = False
    extract_with_generator: bool = False
    prompt: Texts | None = None
    near_miss: str | None = Field(
        None, description="regular expression for a mistyped value (e.g. BC and the wrong "
        "number of digits): when the slot is asked for again, the reply says it was not read")

    @model_validator(mode="after")
    def _check(self) -> SlotSpec:
        for name in ("pattern", "near_miss"):
            try:
                re.compile(getattr(self, name) or "")
            except re.error as e:
                raise ValueError(f"{name} is not a valid regular expression: {e}") from e
        if self.type == "pattern" and not self.pattern:
            raise ValueError("a 'pattern' slot needs a 'pattern' (a regular expression)")
        if self.type == "enum" and not self.values:
            raise ValueError("an 'enum' slot needs 'values' (value -> {en: [...], zh: [...]})")
        return self


class IntentSpec(_Spec):
    kind: IntentKind
    stack: Literal["push", "replace"] = "push"
    slots: tuple[str, ...] = ()
    required: tuple[str | tuple[str, ...], ...] = Field(
        (), description="slot names; an inner list means 'any one of these'")
    tool: str | None = None
    examples: Phrases
    reply: Texts | None = None

    @field_validator("examples")
    @classmethod
    def _enough(cls, v: Phrases) -> Phrases:
        if len(v.all()) < 2:
            raise ValueError("give at least two example utterances (en and/or zh)")
        return v

    def required_groups(self) -> list[tuple[str, ...]]:
        return [(r,) if isinstance(r, str) else tuple(r) for r in self.required]


class ToolSpec(_Spec):
    changes_data: bool = False
    confirm: bool | None = Field(None, description="default: confirm when changes_data")

    @property
    def needs_confirmation(self) -> bool:
        return self.changes_data if self.confirm is None else self.confirm


class CatalogueSpec(_Spec):
    path: str
    key: str = "products"
    id_field: str = "sku"
    name_fields: tuple[str, ...] = ("name",)
    aliases: dict[str, tuple[str, ...]] = Field(default_factory=dict)


class IdentitySpec(_Spec):
    slots: tuple[str, ...] = ()
    required_for_tools: tuple[str, ...] = ()


class ConfirmationSpec(_Spec):
    affirm: Phrases  # a yes when the message starts with one
    deny: Phrases  # a no when the message starts with one
    hold: Phrases = Phrases()  # a no anywhere in a short message ("hold on", "not yet", "先别")
    thanks: Phrases = Phrases()  # "ok thanks" closes; it is not a yes...
    strong_affirm: Phrases = Phrases()  # ...unless one of these says yes ("yes, thanks")


class HandoffSpec(_Spec):
    max_failed_turns: int = Field(2, ge=1)
    # knowledge questions in a row without an answer before the assistant hands over by
    # itself (before that it offers a person and waits for a yes)
    max_unanswered: int = Field(2, ge=1)
    min_retrieval_confidence: float = Field(0.35, ge=0, le=1)
    negative_sentiment_threshold: float = Field(2, gt=0)
    negative_lexicon: dict[Lang, dict[str, float]] = Field(default_factory=dict)
    ticket_priority: Literal["low", "normal", "high"] = "normal"


class RetentionSpec(_Spec):
    days: float = Field(30, gt=0)
    max_threads: int = Field(10000, ge=1)


class NluSpec(_Spec):
    # "trained": an encoder fine-tuned on the examples (ragkit support train; trained on first
    # use); "embeddings": logistic regression over the embedder's sentence vectors
    model: Literal["trained", "embeddings"] = "trained"
    intent_confidence: float = Field(0.55, ge=0, le=1)
    intent_margin: float = Field(0.08, ge=0, le=1)


class DomainSpec(_Spec):
    version: Literal[1] = 1
    name: str
    languages: tuple[Lang, ...] = ("en", "zh")
    facts: str | None = None
    catalogue: CatalogueSpec | None = None
    slots: dict[str, SlotSpec]
    identity: IdentitySpec = IdentitySpec()
    tools: dict[str, ToolSpec] = Field(default_factory=dict)
    confirmation: ConfirmationSpec
    abort: Phrases = Phrases()
    correction_cues: Phrases = Phrases()
    handoff: HandoffSpec = HandoffSpec()
    retention: RetentionSpec = RetentionSpec()
    nlu: NluSpec = NluSpec()
    intents: dict[str, IntentSpec]

    @model_validator(mode="after")
    def _cross_refs(self) -> DomainSpec:
        for name, intent in self.intents.items():
            for slot in intent.slots:
                if slot not in self.slots:
                    raise ValueError(f"intents.{name}.slots: unknown slot {slot!r} "
                                     f"(declare it under 'slots:')")
            for group in intent.required_groups():
                for slot in group:
                    if slot not in intent.slots:
                        raise ValueError(f"intents.{name}.required: {slot!r} is not in "
                                         f"intents.{name}.slots")
            if intent.tool is not None and intent.tool not in self.tools:
                raise ValueError(f"intents.{name}.tool: unknown tool {intent.tool!r} "
                                 f"(declare it under 'tools:')")
        for slot in self.identity.slots:
            if slot not in self.slots:
                raise ValueError(f"identity.slots: unknown slot {slot!r}")
        for tool in self.identity.required_for_tools:
            if tool not in self.tools:
                raise ValueError(f"identity.required_for_tools: unknown tool {tool!r}")
        if any(s.type == "catalogue" for s in self.slots.values()) and self.catalogue is None:
            raise ValueError("a 'catalogue' slot needs a top-level 'catalogue:' section")
        return self

    # -- convenience ---------------------------------------------------------------------
    def intent(self, name: str) -> IntentSpec:
        return self.intents[name]

    def needs_identity(self, tool: str | None) -> bool:
        return tool is not None and tool in self.identity.required_for_tools


class Product(_Spec):
    sku: str
    names: tuple[str, ...]
    data: dict[str, Any] = Field(default_factory=dict)


class Domain:
    """A parsed domain file plus the files it points at (catalogue, facts)."""

    def __init__(self, spec: DomainSpec, base_dir: Path, path: Path | None = None) -> None:
        self.spec = spec
        self.base_dir = base_dir
        self.path = path

    @cached_property
    def facts(self) -> dict[str, Any]:
        if self.spec.facts is None:
            return {}
        return _read_json(self.base_dir / self.spec.facts, "facts")

    @cached_property
    def products(self) -> list[Product]:
        cat = self.spec.catalogue
        if cat is None:
            return []
        data: Any = _read_json(self.base_dir / cat.path, "catalogue.path")
        for part in cat.key.split("."):
            if not isinstance(data, dict) or part not in data:
                raise ConfigError(f"catalogue.key: {cat.key!r} not found in {cat.path}; "
                                  "point it at the list of products")
            data = data[part]
        if not isinstance(data, list):
            raise ConfigError(f"catalogue.key: {cat.key!r} in {cat.path} is not a list")
        out = []
        for i, row in enumerate(data):
            if not isinstance(row, dict) or cat.id_field not in row:
                raise ConfigError(f"{cat.path}: product #{i} has no {cat.id_field!r} field")
            sku = str(row[cat.id_field])
            names = tuple(str(row[f]) for f in cat.name_fields if row.get(f))
            out.append(Product(sku=sku, names=names + tuple(cat.aliases.get(sku, ())),
                               data=row))
        unknown = set(cat.aliases) - {p.sku for p in out}
        if unknown:
            raise ConfigError(f"catalogue.aliases: unknown product ids {sorted(unknown)}; "
                              f"use ids from {cat.path}")
        return out

    def product(self, sku: str) -> Product | None:
        return next((p for p in self.products if p.sku == sku), None)


def _read_json(path: Path, field: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{field}: file {path} not found; fix the path (it is relative to "
                          "the domain file)") from None
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"{field}: cannot read {path}: {e}") from None


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if not str(p).startswith(("function-", "tagged-")))


def _yaml_lines(text: str) -> Any:
    """The YAML node tree (for line numbers); duplicate keys in any mapping are an error, since
    the YAML loader would silently keep only the last one (a second ``cancel_order:`` replaces
    the first)."""
    root = yaml.compose(text)

    def walk(node: Any, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for k, v in node.value:
                key = str(k.value)
                if key in seen:
                    raise ConfigError(f"line {k.start_mark.line + 1}: duplicate key "
                                      f"{(path + '.' if path else '') + key!r} (first at line "
                                      f"{seen[key]}); merge the two or rename one")
                seen[key] = k.start_mark.line + 1
                walk(v, f"{path}.{key}" if path else key)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, f"{path}.{i}")

    walk(root, "")
    return root


def _line(root: Any, loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest node on ``loc`` that exists in the YAML tree."""
    node, line = root, None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if str(k.value) == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and \
                part < len(node.value):
            nxt = node.value[part]
        else:
            nxt = None
        if nxt is None:
            break
        node, line = nxt, nxt.start_mark.line + 1
    return line


def parse_domain(data: Any, source: str = "domain", nodes: Any = None) -> DomainSpec:
    """Validate a parsed YAML mapping; errors name the bad field (and its line, given the
    YAML node tree)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the domain file must be a mapping (name:, slots:, "
                          "intents:, ...)")
    try:
        return DomainSpec.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors()[:8]:
            where = _loc(err["loc"]) or "(top level)"
            line = _line(nodes, tuple(err["loc"])) if nodes is not None else None
            if line is not None:
                where = f"line {line}: {where}"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = f"unknown field (check the spelling; see the sample {DEFAULT_DOMAIN})"
            elif err["type"] == "missing":
                msg = "required field is missing"
            lines.append(f"  {where}: {msg}")
        raise ConfigError(f"{source} is invalid:\n" + "\n".join(lines)) from None


def load_domain(path: str | Path | None = None) -> Domain:
    """Load and validate a domain YAML (default: the sample store's ``store_domain.yaml``)."""
    p = Path(path) if path is not None else DEFAULT_DOMAIN
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"domain file {p} not found; pass --domain PATH to a domain YAML "
                          f"(see the sample {DEFAULT_DOMAIN})") from None
    try:
        nodes = _yaml_lines(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {e}") from None
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None
    domain = Domain(parse_domain(data, str(p), nodes), p.resolve().parent, p)
    _ = domain.products  # surface catalogue errors now, not mid-conversation
    return domain
