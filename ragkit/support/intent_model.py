"""A trained intent model for the support assistant: a small encoder fine-tuned on the domain
file's examples, expanded by augmentation.

Owns: the augmentation of the domain's example utterances (carrier phrases, casing and
punctuation, typos, order ids and contact details inserted, product names swapped through the
catalogue; seeded, pure), the held-out slice and its per-intent precision/recall, fine-tuning
(the top layers of the catalogued multilingual-e5-small encoder with a linear head over the
mean-pooled tokens), the stored model (trainable weights + ``manifest.json`` with the domain
hash, the data hash, the base model, metrics and training time) and its loading and
prediction.

Does not own: when the model is trained or which classifier the assistant uses
(:mod:`ragkit.support.nlu`), nor the domain schema.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragkit._lazy import hf
from ragkit.errors import ConfigError, ModelError
from ragkit.support.domain import Domain

log = logging.getLogger(__name__)
FORMAT = 4  # bumped when the recipe changes: stored models of an older one are retrained
PREFIX = "query: "  # the e5 family's query prefix
Progress = Callable[[str, int, int], None]

_CARRIERS = {
    "en": (("hi, ", "hello, ", "hey, ", "excuse me, ", "quick question: ", "sorry, ",
            "good morning, ", "ok so ", "um, "),
           (" please", " thanks", " thank you", "!!", " asap", " pls", "?")),
    "zh": (("你好，", "您好，", "请问", "麻烦问一下，", "在吗，", "亲，", "客服，", "那个，"),
           ("，谢谢", "，麻烦了", "？", "啊", "呢", "。", "，急")),
}
_ORDER_MENTION = {"en": (" order {o}", " ({o})", " for {o}", ", order number {o}"),
                  "zh": ("订单{o}", "，订单号{o}", "（{o}）", "，单号 {o}")}
_CONTACT = {"en": (", my email is {e}", " - email {e}", ", phone {p}"),
            "zh": ("，邮箱{e}", "，手机号{p}", "，我的手机是{p}")}


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    lang: str
    source: int  # index of the domain example it was made from (held-out split by source)


def domain_hash(domain: Domain) -> str:
    """What the model depends on in the domain: its intents and their examples, its catalogue
    aliases (used by the augmentation) and the training recipe version."""
    spec = domain.spec
    payload = {"format": FORMAT,
               "intents": {n: [i.kind, list(i.examples.en), list(i.examples.zh)]
                           for n, i in sorted(spec.intents.items())},
               "aliases": _aliases(domain)}
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True)
                          .encode()).hexdigest()


def _aliases(domain: Domain) -> dict[str, list[str]]:
    cat = domain.spec.catalogue
    return {k: list(v) for k, v in sorted((cat.aliases if cat is not None else {}).items())}


def _lang(text: str) -> str:
    return "zh" if re.search(r"[\u4e00-\u9fff]", text) else "en"


def _typo(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    long = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not long:
        return text
    i = rng.choice(long)
    w = words[i]
    j = rng.randrange(1, len(w) - 1)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:] if rng.random() < 0.5 else w[:j] + w[j + 1:]
    return " ".join(words)


_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_MARKS = ("?", "!", ".", "？", "！", "。", "…", "~")
_EMOJI = ("😀", "😂", "👍", "🙏", "😡", "🤔", "❤️", "🎉")


def _made_up(rng: random.Random) -> str:
    onsets = ("b", "bl", "d", "f", "fl", "g", "gr", "k", "m", "n", "p", "pl", "sn", "st",
              "t", "tr", "v", "z", "zw")
    codas = ("", "", "b", "f", "g", "k", "m", "n", "p", "rp", "rf", "sh", "t", "x")
    return "".join(rng.choice(onsets) + rng.choice("aeiou") + rng.choice(codas)
                   for _ in range(rng.randint(1, 2)))


def noise(rng: random.Random, n: int) -> list[str]:
    """``n`` unreadable messages of the kinds people send by accident or to test a bot:
    keyboard mashing, one letter held down, runs of punctuation, emoji, made-up words
    (seeded)."""
    out: list[str] = []
    while len(out) < n:
        kind = rng.randrange(5)
        if kind == 0:  # mashing along a keyboard row, one to three "words"
            words = []
            for _ in range(rng.randint(1, 3)):
                row = rng.choice(_ROWS)
                i = rng.randrange(len(row) - 2)
                words.append("".join(rng.choice(row[max(0, i - 2):i + 4])
                                     for _ in range(rng.randint(3, 9))))
            t = " ".join(words)
        elif kind == 1:  # a held key
            t = rng.choice("abcdefghijklmnopqrstuvwxyz") * rng.randint(3, 10)
        elif kind == 2:
            t = "".join(rng.choice(_MARKS) for _ in range(rng.randint(1, 6)))
        elif kind == 3:
            t = "".join(rng.choice(_EMOJI) for _ in range(rng.randint(1, 4)))
        else:  # made-up words that could be pronounced ("blorp snorf"), perhaps a number
            t = " ".join(_made_up(rng) for _ in range(rng.randint(1, 3)))
            if rng.random() < 0.3:
                t += f" {rng.randrange(10, 9999)}"
        if t not in out:
            out.append(t)
    return out


def augment(domain: Domain, *, per_example: int = 5, seed: int = 0) -> list[Example]:
    """The domain's examples and ``per_example`` variations of each (seeded, deterministic)."""
    rng = random.Random(seed)
    spec = domain.spec
    aliases = [a for names in _aliases(domain).values() for a in names]
    by_lang = {"en": [a for a in aliases if _lang(a) == "en"],
               "zh": [a for a in aliases if _lang(a) == "zh"]}
    out: list[Example] = []
    source = 0
    for name, intent in sorted(spec.intents.items()):
        takes_order = "order_id" in intent.slots
        for text in intent.examples.all():
            lang = _lang(text)
            out.append(Example(text, name, lang, source))
            pre, post = _CARRIERS[lang]
            for _ in range(per_example):
                t = text
                if rng.random() < 0.5:
                    t = rng.choice(pre) + (t[0].lower() + t[1:] if lang == "en" else t)
                if rng.random() < 0.4:
                    t = t.rstrip("?？。.!") + rng.choice(post)
                if takes_order and rng.random() < 0.4 and not re.search(r"BC-?\d", t):
                    oid = f"BC-{rng.randrange(100000, 999999)}"
                    t = t.rstrip("?？。.!") + rng.choice(_ORDER_MENTION[lang]).format(o=oid)
                    if intent.kind in ("lookup", "task") and rng.random() < 0.4:
                        user = "".join(rng.choice("abcdefghij") for _ in range(6))
                        phone = f"+86 138 {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}"
                        t += rng.choice(_CONTACT[lang]).format(e=f"{user}@example.com", p=phone)
                if intent.kind == "question" and rng.random() < 0.35 and by_lang[lang]:
                    # products appear in questions too: a product name must not mean "a
                    # request about my order" ("what's the return policy for headphones?")
                    item = rng.choice(by_lang[lang])
                    t = (t.rstrip("?？。.!") + rng.choice((" for the {p}?", " for {p}",
                                                           " on the {p}?"))
                         if lang == "en" else rng.choice(("{p}的", "关于{p}，")) + t
                         ).format(p=item)
                swaps = [a for a in by_lang[lang] if a and a in t.lower()]
                if swaps and rng.random() < 0.5:
                    old = max(swaps, key=len)
                    t = re.sub(re.escape(old), rng.choice(by_lang[lang]), t, count=1,
                               flags=re.I)
                if lang == "en" and rng.random() < 0.3:
                    t = _typo(t, rng)
                if lang == "en" and rng.random() < 0.3:
                    t = t.lower().rstrip("?.!")
                if t != text:
                    out.append(Example(t, name, lang, source))
            source += 1
        if intent.kind == "out_of_scope":  # and what nobody would write down as an example
            for t in noise(rng, 12 * per_example):
                out.append(Example(t, name, _lang(t), source))
                source += 1
    return out


def split_held_out(examples: Sequence[Example], *, share: float = 0.1, seed: int = 0
                   ) -> tuple[list[Example], list[Example]]:
    """(train, held-out): a share of the domain examples of each intent and language, with all
    their variations, is held out (at least one per intent and language with 4 or more)."""
    rng = random.Random(seed)
    groups: dict[tuple[str, str], list[int]] = {}
    for e in examples:
        groups.setdefault((e.label, e.lang), [])
        if e.source not in groups[(e.label, e.lang)]:
            groups[(e.label, e.lang)].append(e.source)
    held: set[int] = set()
    for sources in groups.values():
        if len(sources) >= 4:
            held.update(rng.sample(sources, max(1, round(len(sources) * share))))
    return ([e for e in examples if e.source not in held],
            [e for e in examples if e.source in held])


def per_intent(gold: Sequence[str], pred: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision, recall and support per label, plus accuracy under "_all"."""
    out: dict[str, dict[str, float]] = {}
    for label in sorted(set(gold) | set(pred)):
        tp = sum(g == p == label for g, p in zip(gold, pred, strict=True))
        n_pred, n_gold = sum(p == label for p in pred), sum(g == label for g in gold)
        out[label] = {"precision": round(tp / n_pred, 4) if n_pred else 0.0,
                      "recall": round(tp / n_gold, 4) if n_gold else 0.0, "support": n_gold}
    acc = sum(g == p for g, p in zip(gold, pred, strict=True)) / max(1, len(gold))
    out["_all"] = {"accuracy": round(acc, 4), "support": len(gold)}
    return out


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 4
    batch_size: int = 32
    lr: float = 1e-4
    head_lr: float = 2e-3
    trainable_layers: int = 4  # the top encoder layers that are fine-tuned; the rest is frozen
    max_tokens: int = 48
    per_example: int = 5
    held_out: float = 0.1
    seed: int = 0


def _data_hash(examples: Sequence[Example]) -> str:
    rows = [[e.text, e.label] for e in examples]
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()


class IntentModel:
    """The fine-tuned encoder + head; :meth:`predict` has the classifier interface of
    :class:`ragkit.support.nlu.IntentClassifier`."""

    def __init__(self, base: Path, labels: list[str], state: dict[str, Any] | None = None,
                 trainable_layers: int = 4) -> None:
        import torch

        transformers = hf()
        AutoModel, AutoTokenizer = transformers.AutoModel, transformers.AutoTokenizer  # noqa: N806

        self.base = Path(base)
        self.labels = list(labels)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.base))
            self.encoder = AutoModel.from_pretrained(str(self.base))
        except (OSError, ValueError) as e:
            raise ModelError(f"could not load the encoder at {self.base} for the intent "
                             f"model: {e}; pull it with `ragkit models pull "
                             "multilingual-e5-small`") from e
        hidden = int(self.encoder.config.hidden_size)
        self.head = torch.nn.Linear(hidden, len(self.labels))
        self.trainable_layers = trainable_layers
        if state is not None:
            self.encoder.load_state_dict(state["encoder"], strict=False)
            self.head.load_state_dict(state["head"])
        self.encoder.eval()
        self.head.eval()

    def _layers(self) -> list[Any]:
        layers = getattr(getattr(self.encoder, "encoder", None), "layer", None)
        if layers is None:
            raise ModelError(f"the encoder at {self.base} is not BERT-like (no encoder.layer); "
                             "the intent model needs multilingual-e5-small or a relative")
        return list(layers)

    def trainable(self) -> dict[str, Any]:
        """Names and tensors of the fine-tuned encoder weights (the top layers)."""
        top = {id(p) for layer in self._layers()[-self.trainable_layers:]
               for p in layer.parameters()}
        return {n: p for n, p in self.encoder.named_parameters() if id(p) in top}

    def _pooled(self, texts: Sequence[str], max_tokens: int) -> Any:
        batch = self.tokenizer([PREFIX + t for t in texts], padding=True, truncation=True,
                               max_length=max_tokens, return_tensors="pt")
        hidden = self.encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def logits(self, texts: Sequence[str], max_tokens: int = 48) -> Any:
        return self.head(self._pooled(texts, max_tokens))

    def predict(self, text: str) -> list[tuple[str, float]]:
        import torch

        with torch.inference_mode():
            probs = torch.softmax(self.logits([text[:2000]]), -1)[0].tolist()
        order = sorted(range(len(probs)), key=lambda i: -probs[i])
        return [(self.labels[i], float(probs[i])) for i in order]

    def predict_many(self, texts: Sequence[str], batch: int = 64) -> list[str]:
        import torch

        out: list[str] = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch):
                out += [self.labels[j] for j in
                        self.logits(list(texts[i:i + batch])).argmax(-1).tolist()]
        return out

    # -- training --------------------------------------------------------------------------
    def fit(self, examples: Sequence[Example], cfg: TrainConfig,
            progress: Progress | None = None) -> float:
        """Fine-tune on ``examples``; returns the last epoch's mean loss."""
        import torch

        torch.manual_seed(cfg.seed)
        rng = random.Random(cfg.seed)
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        top = list(self.trainable().values())
        for p in top:
            p.requires_grad_(True)
        index = {label: i for i, label in enumerate(self.labels)}
        opt = torch.optim.AdamW([{"params": top, "lr": cfg.lr},
                                 {"params": list(self.head.parameters()), "lr": cfg.head_lr}],
                                weight_decay=0.01)
        rows = list(examples)
        steps = cfg.epochs * ((len(rows) + cfg.batch_size - 1) // cfg.batch_size)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.05, 1 - s / steps))
        self.encoder.train()
        self.head.train()
        done, mean = 0, 0.0
        for epoch in range(cfg.epochs):
            rng.shuffle(rows)
            # batches of similar length pad less; their order is shuffled
            chunks = [rows[i:i + cfg.batch_size * 8] for i in range(0, len(rows),
                                                                   cfg.batch_size * 8)]
            batches = []
            for c in chunks:
                c = sorted(c, key=lambda e: len(e.text))
                batches += [c[i:i + cfg.batch_size] for i in range(0, len(c), cfg.batch_size)]
            rng.shuffle(batches)
            total = 0.0
            for b in batches:
                y = torch.tensor([index[e.label] for e in b])
                loss = torch.nn.functional.cross_entropy(
                    self.logits([e.text for e in b], cfg.max_tokens), y, label_smoothing=0.05)
                loss.backward()
                opt.step()
                sched.step()
                opt.zero_grad()
                total += loss.item()
                done += 1
                if progress is not None:
                    progress(f"training (epoch {epoch + 1}/{cfg.epochs})", done, steps)
            mean = total / max(1, len(batches))
        self.encoder.eval()
        self.head.eval()
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        return mean

    # -- storage ---------------------------------------------------------------------------
    def save(self, folder: Path, manifest: dict[str, Any]) -> None:
        """Weights then manifest, each written to a temporary name and renamed (a killed save
        leaves no manifest, so the folder is never taken for a finished model)."""
        import torch

        folder.mkdir(parents=True, exist_ok=True)
        state = {"encoder": {n: p.detach().clone() for n, p in self.trainable().items()},
                 "head": self.head.state_dict()}
        tmp = folder / "weights.pt.tmp"
        torch.save(state, tmp)
        tmp.replace(folder / "weights.pt")
        mtmp = folder / "manifest.json.tmp"
        mtmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n",
                        encoding="utf-8")
        mtmp.replace(folder / "manifest.json")

    @classmethod
    def load(cls, folder: Path, base: Path) -> IntentModel:
        import torch

        manifest = read_manifest(folder)
        if manifest is None:
            raise ModelError(f"no trained intent model in {folder}; train one with "
                             "`ragkit support train`")
        state = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
        return cls(base, manifest["labels"], state, int(manifest["trainable_layers"]))


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        m = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) and m.get("format") == FORMAT and (
        folder / "weights.pt").is_file() else None


def model_folder(root: Path, domain: Domain, base_id: str) -> Path:
    """Where the model for this domain and encoder lives (content-addressed)."""
    key = hashlib.sha256(f"{domain_hash(domain)}:{base_id}".encode()).hexdigest()[:16]
    return root / f"intent-{domain.spec.name}-{key}"


def train(domain: Domain, base: Path, base_id: str, folder: Path, *,
          cfg: TrainConfig | None = None, progress: Progress | None = None) -> IntentModel:
    """Augment, hold out, fine-tune, measure, store; returns the trained model."""
    cfg = cfg or TrainConfig()
    labels = sorted(domain.spec.intents)
    if len(labels) < 2:
        raise ConfigError("the domain declares fewer than two intents; nothing to classify")
    examples = augment(domain, per_example=cfg.per_example, seed=cfg.seed)
    train_set, held = split_held_out(examples, share=cfg.held_out, seed=cfg.seed)
    start = time.perf_counter()
    import torch

    torch.manual_seed(cfg.seed)  # the head's initial weights: one seed, one model
    model = IntentModel(base, labels, trainable_layers=cfg.trainable_layers)
    loss = model.fit(train_set, cfg, progress)
    seconds = time.perf_counter() - start
    metrics: dict[str, Any] = {"train_loss": round(loss, 4)}
    if held:
        metrics["held_out"] = per_intent([e.label for e in held],
                                         model.predict_many([e.text for e in held]))

    manifest = {
        "format": FORMAT, "domain": domain.spec.name, "domain_sha256": domain_hash(domain),
        "data_sha256": _data_hash(train_set), "base_model": base_id, "labels": labels,
        "trainable_layers": cfg.trainable_layers, "config": cfg.__dict__,
        "examples": {"domain": sum(1 for e in examples if e.text in
                                   domain.spec.intents[e.label].examples.all()),
                     "augmented": len(examples), "train": len(train_set),
                     "held_out": len(held)},
        "train_seconds": round(seconds, 1), "threads": torch.get_num_threads(),
        "metrics": metrics, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    model.save(folder, manifest)
    log.info("intent model trained in %.0f s: %s", seconds, folder)
    return model
