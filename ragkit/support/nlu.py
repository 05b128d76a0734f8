"""Understanding one customer utterance: intent, slot values and dialogue acts.

Owns: the intent classifier (logistic regression over sentence embeddings of the domain
file's example utterances, English and Chinese; cached on disk by content hash), the
generator fallbacks (``choose()`` label scoring when the classifier is unsure,
``generate_json`` for a return reason with no synonym and for an address with no cue), and
:class:`Understanding`, which combines them with the deterministic rules of
:mod:`ragkit.support.slots` into a :class:`~ragkit.support.state.TurnInput`.

Does not own: dialogue state (``state.py``), the database, or replies.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragkit.config import ragkit_home
from ragkit.embedder import Embedder
from ragkit.errors import ConfigError, GenerationError
from ragkit.generation.base import Generator
from ragkit.support import slots as S
from ragkit.support.domain import Domain
from ragkit.support.spelling import speller_for
from ragkit.support.state import TurnInput
from ragkit.types import Message

log = logging.getLogger(__name__)
UNCLEAR = "unclear"
MAX_CHARS = 2000  # longer messages are classified on their first 2,000 characters
OFF_TOPIC_SURE = 0.9  # an off-topic reading this sure is not asked for a return reason
RESIDUAL_HANDOFF = 0.9  # what the words around bare values need to be read as "a person"
GENERAL_QUESTION = 0.2  # a question intent this likely wins over a lookup for an impersonal
# question with no order or return id in it
GENERAL_WORDED = 0.05  # the same when the question says "usually" / "一般" in words
RULE_QUESTION = 0.03  # a question intent this likely wins over a task or a lookup for a
# question about a rule ("how many days do I have to…", "期限") with no order or return id


def load_intent_model(domain: Domain, embedder: Any, *, root: Path | None = None,
                      retrain: bool = False, progress: Any = None) -> tuple[Any, Path]:
    """The trained intent model for ``domain`` on ``embedder``'s encoder: loaded from its
    content-addressed folder, or trained there first (minutes on 2 cores for the sample
    domain; ``progress(what, done, total)`` is called per step)."""
    from ragkit.support import intent_model as IM

    folder = intent_model_folder(domain, embedder, root=root)
    base = Path(embedder.path)
    if not retrain and IM.read_manifest(folder) is not None:
        return IM.IntentModel.load(folder, base), folder
    log.warning("training the intent model for domain %r (first use; stored in %s)",
                domain.spec.name, folder)
    return IM.train(domain, base, _base_id(embedder), folder, progress=progress), folder


def _base_id(embedder: Any) -> str:
    return str(getattr(embedder, "id", Path(embedder.path).name))


def intent_model_folder(domain: Domain, embedder: Any, *, root: Path | None = None) -> Path:
    """Where the trained intent model for ``domain`` on ``embedder``'s encoder lives (it may
    not exist yet); a clear error when the embedder has no local encoder to fine-tune."""
    from ragkit.support import intent_model as IM

    base = getattr(embedder, "path", None)
    if base is None or not Path(base).is_dir():
        raise ConfigError("the trained intent model needs a local sentence-transformers "
                          "encoder (the default multilingual-e5-small); set nlu.model: "
                          "embeddings in the domain file to use the embedding classifier")
    return IM.model_folder(root or ragkit_home() / "support", domain, _base_id(embedder))


class TrainedIntents:
    """The classifier interface over the trained intent model, loaded (or trained) on first
    use."""

    def __init__(self, domain: Domain, embedder: Any, root: Path | None = None,
                 progress: Any = None) -> None:
        self.domain = domain
        self.embedder = embedder
        self.root = root
        self.progress = progress
        self.folder: Path | None = None
        self._model: Any = None
        # the UI warms the model in a background thread while the first message may already
        # need it: one of them trains, the other waits (two trainings halve each other's speed)
        self._loading = threading.Lock()

    def load(self) -> TrainedIntents:
        if self._model is None:
            with self._loading:
                if self._model is None:
                    self._model, self.folder = load_intent_model(
                        self.domain, self.embedder, root=self.root, progress=self.progress)
        return self

    @property
    def labels(self) -> list[str]:
        return list(self.load()._model.labels)

    def predict(self, text: str) -> list[tuple[str, float]]:
        return self.load()._model.predict(text)


def intent_classifier(domain: Domain, embedder: Any, progress: Any = None) -> Any:
    """The classifier the domain asks for (``nlu.model``): the trained model by default, the
    embedding + logistic-regression classifier when the domain says ``embeddings`` or the
    embedder has no local encoder to fine-tune."""
    if domain.spec.nlu.model == "trained" and getattr(embedder, "path", None) is not None:
        return TrainedIntents(domain, embedder, progress=progress)
    return IntentClassifier(domain, embedder)


class IntentClassifier:
    """Multinomial logistic regression on normalised sentence embeddings."""

    def __init__(self, domain: Domain, embedder: Embedder, cache_dir: Path | None = None) -> None:
        self.domain = domain
        self.embedder = embedder
        self.cache_dir = cache_dir if cache_dir is not None else ragkit_home() / "support"
        self.labels: list[str] = []
        self._model: Any = None

    def _examples(self) -> tuple[list[str], list[str]]:
        texts, labels = [], []
        for name, spec in self.domain.spec.intents.items():
            for ex in spec.examples.all():
                texts.append(ex)
                labels.append(name)
        return texts, labels

    def _vectors(self, texts: list[str]) -> np.ndarray:
        key = hashlib.sha256(json.dumps([self.embedder.id, texts], ensure_ascii=False)
                             .encode()).hexdigest()[:16]
        path = self.cache_dir / f"intent-vectors-{key}.npy"
        if path.is_file():
            vecs = np.load(path)
            if vecs.shape[0] == len(texts):
                return vecs
        vecs = np.asarray(self.embedder.embed_queries(texts), dtype=np.float32)
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, vecs)
            tmp.replace(path)
        except OSError as e:  # a read-only cache is not fatal
            log.debug("intent vector cache not written: %s", e)
        return vecs

    def load(self) -> IntentClassifier:
        if self._model is not None:
            return self
        from sklearn.linear_model import LogisticRegression

        texts, labels = self._examples()
        x = self._vectors(texts)
        model = LogisticRegression(C=20.0, max_iter=2000)
        model.fit(x, labels)
        self._model = model
        self.labels = [str(c) for c in model.classes_]
        return self

    def predict(self, text: str) -> list[tuple[str, float]]:
        """Intents with probabilities, best first."""
        self.load()
        vec = np.asarray(self.embedder.embed_queries([text[:MAX_CHARS]]), dtype=np.float32)
        probs = self._model.predict_proba(vec)[0]
        order = np.argsort(-probs)
        return [(self.labels[i], float(probs[i])) for i in order]


def _describe(domain: Domain, names: Sequence[str]) -> str:
    lines = []
    for n in names:
        if n == UNCLEAR:
            lines.append(f"- {UNCLEAR}: the message is not understandable or fits none of these")
            continue
        ex = domain.spec.intents[n].examples
        sample = "; ".join([*ex.en[:2], *ex.zh[:1]])
        lines.append(f"- {n}: e.g. {sample}")
    return "\n".join(lines)


class Understanding:
    """Turns an utterance (plus what the assistant is waiting for) into a TurnInput."""

    def __init__(self, domain: Domain, classifier: IntentClassifier,
                 generator: Generator | None = None) -> None:
        self.domain = domain
        self.classifier = classifier
        self.generator = generator
        self.speller = speller_for(domain)

    def intent(self, text: str, active: str | None = None) -> tuple[str | None, float]:
        """The intent of ``text`` and its confidence; None when not understood (nothing
        fits, or what fits is out of the domain's scope)."""
        name, p = self._intent(text, active)
        if name is not None and self.domain.spec.intents[name].kind == "out_of_scope":
            return None, p
        return name, p

    def _intent(self, text: str, active: str | None = None) -> tuple[str | None, float]:
        ranked = self.classifier.predict(text)
        kinds = {n: s.kind for n, s in self.domain.spec.intents.items()}
        if kinds.get(ranked[0][0]) == "out_of_scope" and self._readable(text):
            # an order id, an email, a yes or a "never mind" is never off-topic, however
            # little else the message says: the next reading stands (or none, by confidence)
            ranked = [(n, q) for n, q in ranked if kinds.get(n) != "out_of_scope"]
        best, p = ranked[0]
        nlu = self.domain.spec.nlu
        # with a request open, a message that is (nearly) only values ("It's a@b.com",
        # "手机号码：136...") answers it, however sure the classifier is about the whole
        # message: only the words around the values can start something new ("订单BC-200740
        # 我想退掉"), and small talk around them ("it's ...") starts nothing
        rest = S.bare_residual(text, self.domain) if active is not None else None
        if rest is not None:
            if rest:
                r_best, r_p = self.classifier.predict(rest)[0]
                # "you can use my number, +44…" is no request for a person: a residual hands
                # over only when it says so plainly ("…，我要转人工")
                floor = RESIDUAL_HANDOFF if kinds.get(r_best) == "handoff" else 0.0
                if r_p >= max(nlu.intent_confidence, floor) and kinds.get(r_best) != "chitchat":
                    return r_best, r_p
            return None, p
        task = self._task_for_reported_problem(text, kinds, best)
        if task is not None:
            return task, max(dict(ranked).get(task, 0.0), nlu.intent_confidence)
        if kinds.get(best) == "out_of_scope" and S.is_question(text) and S.has_words(text):
            # the knowledge base, not the classifier, knows whether "who founded the company?"
            # is answerable: a question goes to it (a refusal offers a person)
            for name, prob in ranked:
                if kinds.get(name) == "question":
                    return name, max(prob, nlu.intent_confidence)
        if p >= nlu.intent_confidence and kinds.get(best) == "out_of_scope":
            return best, p  # "tell me a joke" in the middle of a return is no side question
        if S.is_question(text) and kinds.get(best) not in ("question", "handoff") and (
                active is not None and kinds.get(active) in ("task", "lookup")):
            # a question in the middle of a task is a side question unless clearly not
            for name, prob in ranked[:4]:
                if kinds.get(name) == "question" and prob >= 0.05:
                    return name, max(prob, self.domain.spec.nlu.intent_confidence)
        if kinds.get(best) == "lookup" and S.is_question(text) and not S.personal(text) and (
                not {"order_id", "return_id"} & set(S.extract(text, self.domain))):
            # "how long does a refund to PayPal take?" asks how things work, not about an
            # order of this customer's ("how long until MY refund arrives"): the knowledge base
            # ("退款一般多久到账" says so in words: then a question reading need not be likely)
            floor = GENERAL_WORDED if S.general(text) else GENERAL_QUESTION
            for name, prob in ranked[1:3]:
                if kinds.get(name) == "question" and prob >= floor:
                    return name, max(prob, nlu.intent_confidence)
        if kinds.get(best) in ("task", "lookup") and S.is_question(text) and S.asks_rule(
                text) and not {"order_id", "return_id"} & set(S.extract(text, self.domain)):
            # "How many days do I have to send back an item?" asks what the rule is: the
            # knowledge base says it; starting a return asked for an order number instead
            for name, prob in ranked[1:4]:
                if kinds.get(name) == "question" and prob >= RULE_QUESTION:
                    return name, max(prob, nlu.intent_confidence)
        margin = p - (ranked[1][1] if len(ranked) > 1 else 0.0)
        if p >= nlu.intent_confidence and margin >= nlu.intent_margin:
            return best, p
        # unsure: a handover is never a guess ("hi, order BC-…, phone …" is no request for a
        # person); it takes a classifier that is sure, or the customer asking again
        ranked = [(n, q) for n, q in ranked if kinds.get(n) != "handoff"]
        best, p = ranked[0]
        if self.generator is None:
            return (best, p) if p >= nlu.intent_confidence / 2 else (None, p)
        candidates = [name for name, _ in ranked[:3]] + [UNCLEAR]
        messages = [
            Message("system", "You sort customer-service messages of an online shop into "
                    "intents. Answer with the intent name only.\nIntents:\n"
                    + _describe(self.domain, candidates)),
            Message("user", text[:MAX_CHARS]),
        ]
        try:
            pick, _ = self.generator.choose(messages, candidates)
        except GenerationError as e:
            log.warning("intent fallback failed: %s", e)
            return (best, p) if p >= nlu.intent_confidence / 2 else (None, p)
        if pick == UNCLEAR:
            return None, p
        return pick, max(p, nlu.intent_confidence)

    def _task_for_reported_problem(self, text: str, kinds: dict[str, str],
                                   best: str) -> str | None:
        """"My grinder arrived with a cracked hopper, what can I do" reports a problem with
        something the customer has; it names the one task that needs such a value (a return
        needs its reason: damaged, faulty, wrong item...), which helps more than a product
        answer or an order lookup. A reading as another task or a request for a person stands,
        and a question about something else ("is water damage covered?") stays a question."""
        if kinds.get(best) not in ("question", "lookup", "chitchat", "out_of_scope"):
            return None
        if (S.is_question(text) and not S.asks_remedy(text)) or not S.about_own_item(text):
            return None
        values = S.extract(text, self.domain)
        slots = self.domain.spec.slots
        tasks = {name for name, intent in self.domain.spec.intents.items()
                 if intent.kind == "task" and any(
                     s in values and slots[s].scope == "intent"  # required slots are declared
                     for group in intent.required_groups() for s in group)}
        return tasks.pop() if len(tasks) == 1 else None

    def _readable(self, text: str) -> bool:
        """Whether the message carries a value or a dialogue act the rules understand."""
        d = self.domain
        return bool(S.extract(text, d)) or S.is_affirm(text, d) or S.is_deny(text, d) or (
            S.is_abort(text, d))

    def _reason_fallback(self, text: str) -> str | None:
        spec = self.domain.spec.slots.get("reason")
        if self.generator is None or spec is None or not spec.extract_with_generator:
            return None
        schema = {"type": "object", "properties": {"reason": {"enum": list(spec.values)}},
                  "required": ["reason"]}
        messages = [Message("system", "A customer explains why they return an item. Pick the "
                            "reason: " + ", ".join(spec.values)), Message("user", text[:500])]
        try:
            value = self.generator.generate_json(messages, schema)
        except GenerationError as e:
            log.warning("reason extraction failed: %s", e)
            return None
        return str(value.get("reason")) if isinstance(value, dict) else None

    def _address_fallback(self, text: str) -> str | None:
        spec = self.domain.spec.slots.get("address")
        if self.generator is None or spec is None or not spec.extract_with_generator:
            return None
        schema = {"type": "object", "properties": {"address": {"type": "string"}},
                  "required": ["address"]}
        messages = [Message("system", "Copy the postal address from the customer's message "
                            "exactly as written. If there is none, reply with an empty string."),
                    Message("user", text[:500])]
        try:
            value = self.generator.generate_json(messages, schema)
        except GenerationError as e:
            log.warning("address extraction failed: %s", e)
            return None
        raw = value.get("address", "") if isinstance(value, dict) else ""
        found = S.normalise_address(str(raw))
        # never accept an address the customer did not write
        if found and found.lower() in S.collapse(text).lower() and S.looks_like_address(found):
            return found
        return None

    def _values(self, raw: str, text: str, expected: str | None) -> dict[str, str]:
        """Slot values: ids, emails and phones as the customer wrote them (``raw``); a reason
        or a product also from the typo-repaired ``text``; an address from ``text`` when the
        customer's own words hold it verbatim ("New adrdess is 8 Place ..." has its cue
        back, so the label is not taken for part of the address)."""
        values = S.extract(raw, self.domain, expected=expected)
        if text == raw:
            return values
        plain = S.collapse(unicodedata.normalize("NFKC", raw))
        for k, v in S.extract(text, self.domain, expected=expected).items():
            kind = self.domain.spec.slots[k].type
            if kind in ("enum", "catalogue") and k not in values or (
                    kind == "text" and v in plain and v != values.get(k)):
                values[k] = v
        return values

    def understand(self, raw: str, expected: str | None = None,
                   pending: bool = False, active: str | None = None) -> TurnInput:
        text = self.speller.correct(raw)  # "rteurn" -> "return": rules and classifier read this
        # an order id, an email or a phone number alone says nothing of the language: the
        # conversation's stays ("" keeps it)
        lang = S.language(raw) if S.has_words(S.residual(raw, self.domain)) else ""
        values = self._values(raw, text, expected)
        affirm = S.is_affirm(text, self.domain)
        deny = S.is_deny(text, self.domain)
        abort = S.is_abort(text, self.domain)
        correction = S.is_correction(text, self.domain)
        question = S.is_question(text)
        if pending and (affirm or deny) and not values and not (deny and question):
            return TurnInput(None, 1.0, {}, affirm, deny, abort, correction, lang, text=text)
        intent, conf = self._intent(text, active)
        off_topic = intent is not None and self.domain.spec.intents[intent].kind == "out_of_scope"
        if off_topic:  # not understood; and when surely off-topic, no value is read out of it
            intent, off_topic = None, conf >= OFF_TOPIC_SURE
        if deny and question and pending and intent is not None and (
                self.domain.spec.intents[intent].kind == "question"):
            # "hang on, how long does a refund take?": a question before deciding, not a no;
            # it is answered and the pending change is asked again afterwards
            deny = False
        plain = not (question or abort or off_topic)
        if expected == "reason" and not values and plain and intent in (
                "return_request", "complaint", "product_question", None):
            reason = self._reason_fallback(raw)
            if reason:
                values["reason"] = reason
        if expected == "address" and not values and not (abort or off_topic) and intent in (
                "change_address", None, "order_status"):
            address = self._address_fallback(raw)
            if address:
                values["address"] = address
        return TurnInput(intent, conf, values, affirm, deny, abort, correction, lang, question,
                         text=text)
