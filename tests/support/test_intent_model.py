"""The trained intent model (ragkit.support.intent_model) on a small domain with the tiny
locally built encoder: augmentation, held-out split, training in seconds, predictions on fixed
phrases, the stored folder and manifest, loading instead of retraining, and the classifier
the assistant picks."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragkit.support import intent_model as IM
from ragkit.support.domain import Domain, parse_domain
from ragkit.support.nlu import (
    IntentClassifier,
    TrainedIntents,
    intent_classifier,
    load_intent_model,
)

SMALL = {
    "version": 1, "name": "tiny", "languages": ["en", "zh"],
    "slots": {"order_id": {"type": "pattern", "scope": "conversation",
                           "pattern": r"(?i)BC-?(\d{6})", "normalise": "BC-{1}"},
              "email": {"type": "email", "scope": "conversation"}},
    "identity": {"slots": ["email"], "required_for_tools": ["lookup_order"]},
    "tools": {"lookup_order": {"changes_data": False}},
    "confirmation": {"affirm": {"en": ["yes"]}, "deny": {"en": ["no"]}},
    "intents": {
        "greeting": {"kind": "chitchat", "reply": {"en": "Hello!", "zh": "你好！"},
                     "examples": {"en": ["hi", "hello", "hello there", "hi friend"],
                                  "zh": ["你好", "您好"]}},
        "order_status": {"kind": "lookup", "slots": ["order_id", "email"],
                         "required": ["order_id"], "tool": "lookup_order",
                         "examples": {"en": ["where is my order", "track my order",
                                             "where is my parcel", "order status please"],
                                      "zh": ["我的订单到哪了", "查订单"]}},
        "policy_question": {"kind": "question",
                            "examples": {"en": ["what is your return policy",
                                                "what is the warranty policy",
                                                "policy on refunds", "shipping policy"],
                                         "zh": ["退货政策", "保修政策"]}},
    },
}
FAST = IM.TrainConfig(epochs=40, lr=3e-3, head_lr=3e-2, trainable_layers=2, per_example=3,
                      batch_size=16)


@pytest.fixture(scope="module")
def domain(tmp_path_factory: pytest.TempPathFactory) -> Domain:
    base = tmp_path_factory.mktemp("domain")
    return Domain(parse_domain(SMALL), base, base / "tiny.yaml")


def test_augmentation_is_seeded_and_keeps_labels(domain: Domain) -> None:
    a = IM.augment(domain, per_example=4, seed=1)
    assert a == IM.augment(domain, per_example=4, seed=1)
    assert {e.label for e in a} == set(SMALL["intents"])
    originals = {t for i in SMALL["intents"].values() for t in
                 i["examples"]["en"] + i["examples"]["zh"]}
    assert originals <= {e.text for e in a}
    assert len(a) > 2 * len(originals)  # variations were made
    # an order id is only ever inserted into intents that take one
    assert all(e.label == "order_status" for e in a if "BC-" in e.text)
    train, held = IM.split_held_out(a, share=0.25, seed=0)
    assert held and not {e.source for e in train} & {e.source for e in held}


def test_training_in_seconds_predicts_fixed_phrases_and_is_stored(
        domain: Domain, tiny_embedder_dir: Path, tmp_path: Path) -> None:
    folder = IM.model_folder(tmp_path, domain, "tiny")
    steps: list[int] = []
    model = IM.train(domain, tiny_embedder_dir, "tiny", folder, cfg=FAST,
                     progress=lambda what, done, total: steps.append(done))
    assert steps and steps[-1] == max(steps)
    phrases = {"hello": "greeting", "where is my order": "order_status",
               "what is your return policy": "policy_question", "我的订单到哪了": "order_status"}
    for text, label in phrases.items():
        assert model.predict(text)[0][0] == label, text
    manifest = IM.read_manifest(folder)
    assert manifest is not None and manifest["domain_sha256"] == IM.domain_hash(domain)
    assert manifest["labels"] == sorted(SMALL["intents"])
    assert manifest["examples"]["held_out"] > 0 and "held_out" in manifest["metrics"]
    assert manifest["train_seconds"] > 0
    again = IM.IntentModel.load(folder, tiny_embedder_dir)
    for text in phrases:
        assert again.predict(text)[0][0] == model.predict(text)[0][0]
        assert again.predict(text)[0][1] == pytest.approx(model.predict(text)[0][1], abs=1e-5)


def test_a_changed_domain_gets_its_own_model(domain: Domain) -> None:
    other = dict(SMALL, intents={**SMALL["intents"], "goodbye": {
        "kind": "chitchat", "reply": {"en": "Bye", "zh": "再见"},
        "examples": {"en": ["bye", "goodbye"], "zh": ["再见"]}}})
    changed = Domain(parse_domain(other), domain.base_dir, domain.path)
    assert IM.domain_hash(changed) != IM.domain_hash(domain)
    assert IM.model_folder(Path("/x"), changed, "e") != IM.model_folder(Path("/x"), domain, "e")


def test_a_half_written_model_is_not_loaded(domain: Domain, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "weights.pt.tmp").write_bytes(b"partial")
    assert IM.read_manifest(folder) is None


def test_the_assistant_loads_the_trained_model_without_retraining(
        domain: Domain, tiny_embedder, tiny_embedder_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGKIT_HOME", str(tmp_path / "home"))
    calls = []
    real_train = IM.train
    monkeypatch.setattr(IM, "train", lambda *a, **k: calls.append(1) or real_train(
        *a, **{**k, "cfg": FAST}))
    clf = intent_classifier(domain, tiny_embedder)
    assert isinstance(clf, TrainedIntents)
    assert clf.predict("hello there")[0][0] == "greeting"
    _, folder = load_intent_model(domain, tiny_embedder)  # second time: loaded from disk
    assert calls == [1] and folder.parent == tmp_path / "home" / "support"
    emb_only = Domain(parse_domain({**SMALL, "nlu": {"model": "embeddings"}}), domain.base_dir)
    assert isinstance(intent_classifier(emb_only, tiny_embedder), IntentClassifier)


def test_a_warm_up_and_a_first_message_at_once_train_the_model_once(
        domain: Domain, tiny_embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the UI warms the classifier in a background thread while the first message may already
    # ask it for a prediction: the second caller waits for the first training
    import threading

    monkeypatch.setenv("RAGKIT_HOME", str(tmp_path / "home"))
    calls = []
    real_train = IM.train
    monkeypatch.setattr(IM, "train", lambda *a, **k: calls.append(1) or real_train(
        *a, **{**k, "cfg": FAST}))
    clf = intent_classifier(domain, tiny_embedder)
    start = threading.Barrier(2)
    out: list[str] = []

    def first_message() -> None:
        start.wait()
        out.append(clf.predict("hello there")[0][0])

    t = threading.Thread(target=first_message)
    t.start()
    start.wait()
    clf.load()
    t.join()
    assert calls == [1] and out == ["greeting"]
