"""Tiny real models for fast tests: built locally from a corpus in a couple of seconds.

Owns: a tiny sentence-transformers embedder (WordPiece tokenizer + 2-layer BERT + mean pooling +
normalize), a tiny causal LM (byte-level BPE tokenizer + 2-layer Qwen2/Llama with a ChatML
template), and a float32 GGUF file of the tiny Qwen2 (to test GGUF loading without real
weights). Weights are random but seeded, so two builds from the same corpus are identical.
They are real models in the sense that matters for tests: real tokenizers, real transformers
modules, real files on disk loaded by the same code paths as the catalogued models.
Does not own anything the catalogue does (no fetching, no checksums).

Typical use in a ``conftest.py``::

    @pytest.fixture(scope="session")
    def tiny_embedder_dir(tmp_path_factory):
        return build_tiny_embedder(tmp_path_factory.mktemp("emb"), CORPUS)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import torch

from ragkit.convert import write_sentence_transformers_files

EMBEDDER_PROMPTS = {"query": "query: ", "passage": "passage: "}
CHATML_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

# ChatML, as Qwen2.5 uses it (without the tool-call branches): a default system turn when the
# caller gives none, and "<|im_start|>assistant\n" as the generation prompt.
CHATML_TEMPLATE = (
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' -}}"
    "{%- set rest = messages[1:] -%}"
    "{%- else -%}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' -}}"
    "{%- set rest = messages -%}"
    "{%- endif -%}"
    "{%- for m in rest -%}"
    "{{- '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

DEFAULT_CORPUS = [
    "The knowledge base stores documents in SQLite and vectors in FAISS.",
    "Refunds are issued within 14 days of purchase if the item is unused.",
    "To reset your password, open Settings and choose Security.",
    "def add(a, b):\n    return a + b",
    "退款将在购买后十四天内处理。",
    "如何重置密码？请打开设置并选择安全。",
]


def _corpus_iter(corpus: list[str], repeat: int = 2) -> Iterator[str]:
    for _ in range(repeat):
        yield from corpus


def _wordpiece_vocab(
    texts: list[str], normalizer: object, pre_tokenizer: object, vocab_size: int
) -> dict[str, int]:
    """A deterministic WordPiece vocabulary: specials, every character seen (alone and as a
    ``##`` continuation), then whole words by descending count. (The ``tokenizers`` WordPiece
    trainer breaks ties in hash order, so two builds could differ.)"""
    counts: dict[str, int] = {}
    for text in texts:
        norm = normalizer.normalize_str(text)  # type: ignore[attr-defined]
        for word, _ in pre_tokenizer.pre_tokenize_str(norm):  # type: ignore[attr-defined]
            counts[word] = counts.get(word, 0) + 1
    chars = sorted({c for w in counts for c in w})
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars)]
    words = sorted((w for w in counts if len(w) > 1), key=lambda w: (-counts[w], w))
    pieces += words[: max(0, vocab_size - len(pieces))]
    return {p: i for i, p in enumerate(pieces)}


def build_tiny_embedder(
    out_dir: Path,
    corpus: list[str],
    dim: int = 32,
    max_tokens: int = 128,
    *,
    vocab_size: int = 1000,
    seed: int = 0,
) -> Path:
    """Build a tiny sentence-transformers folder in ``out_dir`` and return it.

    Tokenizer: BERT-style WordPiece (lowercase, CJK characters split into single tokens)
    trained on ``corpus``. Model: 2-layer ``BertModel`` with ``hidden_size=dim``, seeded.
    Pipeline: Transformer -> mean Pooling -> Normalize; prompts ``query: ``/``passage: ``;
    ``max_seq_length = max_tokens``.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    # The prompts are part of every input: make sure their words are in the vocabulary.
    texts = [*corpus, *EMBEDDER_PROMPTS.values()]
    vocab = _wordpiece_vocab(texts, normalizer, pre_tokenizer, vocab_size)
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.WordPiece(prefix="##")
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_tokens,
    )
    fast.save_pretrained(str(out_dir))

    heads = 4 if dim % 4 == 0 else 1
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=dim,
        num_hidden_layers=2,
        num_attention_heads=heads,
        intermediate_size=dim * 2,
        max_position_embeddings=max_tokens,
        type_vocab_size=2,
        pad_token_id=tok.token_to_id("[PAD]"),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(config)
    model.eval()
    model.save_pretrained(str(out_dir))
    write_sentence_transformers_files(
        out_dir, dim=dim, max_seq_length=max_tokens, prompts=EMBEDDER_PROMPTS
    )
    return out_dir


def build_tiny_causal_lm(
    out_dir: Path,
    corpus: list[str],
    arch: Literal["qwen2", "llama"] = "qwen2",
    *,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate: int = 128,
    vocab_size: int = 512,
    max_position_embeddings: int = 2048,
    init_std: float = 0.2,
    seed: int = 0,
) -> Path:
    """Build a tiny causal LM folder (model + tokenizer + ChatML template) and return it.

    Tokenizer: byte-level BPE trained on ``corpus`` (plus the ChatML template's own words) with
    special tokens ``<|endoftext|>`` (pad), ``<|im_start|>``, ``<|im_end|>`` (eos). Any text
    encodes, since byte-level BPE falls back to bytes. Model: ``Qwen2ForCausalLM`` or
    ``LlamaForCausalLM`` with random weights drawn under ``seed``. ``init_std`` is larger than
    transformers' default (0.02) so greedy decoding produces varied tokens rather than one
    repeated token, which keeps token-for-token comparisons (cache vs no cache) meaningful.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.trainers import BpeTrainer
    from transformers import GenerationConfig, PreTrainedTokenizerFast

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    texts = [*corpus, "system user assistant You are a helpful assistant."]
    trainer = BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(CHATML_SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus_iter(texts), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        model_max_length=max_position_embeddings,
    )
    fast.chat_template = CHATML_TEMPLATE
    fast.save_pretrained(str(out_dir))

    pad_id = tok.token_to_id("<|endoftext|>")
    eos_id = tok.token_to_id("<|im_end|>")
    common = dict(
        vocab_size=tok.get_vocab_size(),
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_position_embeddings,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        bos_token_id=None,
        tie_word_embeddings=True,
        initializer_range=init_std,
    )
    if arch == "qwen2":
        from transformers import Qwen2Config, Qwen2ForCausalLM

        config = Qwen2Config(**common)
        model_cls = Qwen2ForCausalLM
    elif arch == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        config = LlamaConfig(**common)
        model_cls = LlamaForCausalLM
    else:
        raise ValueError(f"arch must be 'qwen2' or 'llama', not {arch!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_cls(config)
    model.eval()
    model.generation_config = GenerationConfig(
        eos_token_id=eos_id, pad_token_id=pad_id, do_sample=False
    )
    model.save_pretrained(str(out_dir))
    return out_dir


def build_tiny_gguf(hf_dir: Path, out_path: Path) -> Path:
    """Write a float32 GGUF file from a tiny *qwen2* folder made by :func:`build_tiny_causal_lm`.

    The GGUF holds the same weights, the byte-level BPE vocabulary and merges, and the chat
    template, laid out as llama.cpp's converter writes a Qwen2 model; transformers and
    llama.cpp can both read it. Use it to test GGUF loading/conversion without real weights.
    """
    import json

    import gguf
    from safetensors.torch import load_file

    hf_dir, out_path = Path(hf_dir), Path(out_path)
    cfg = json.loads((hf_dir / "config.json").read_text())
    if cfg["model_type"] != "qwen2":
        raise ValueError("build_tiny_gguf supports the qwen2 tiny model only")
    tok = json.loads((hf_dir / "tokenizer.json").read_text())
    vocab = dict(tok["model"]["vocab"])
    specials = {a["content"]: a["id"] for a in tok["added_tokens"]}
    vocab.update(specials)
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    types = [gguf.TokenType.CONTROL if t in specials else gguf.TokenType.NORMAL for t in tokens]

    w = gguf.GGUFWriter(str(out_path), arch="qwen2")
    w.add_name("ragkit-tiny-qwen2")
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    rope = (cfg.get("rope_parameters") or {}).get("rope_theta") or cfg.get("rope_theta", 1e4)
    w.add_rope_freq_base(float(rope))
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_eos_token_id(specials["<|im_end|>"])
    w.add_pad_token_id(specials["<|endoftext|>"])
    w.add_bos_token_id(specials["<|endoftext|>"])
    w.add_add_bos_token(False)
    w.add_chat_template((hf_dir / "chat_template.jinja").read_text())

    names = {
        "self_attn.q_proj": "attn_q",
        "self_attn.k_proj": "attn_k",
        "self_attn.v_proj": "attn_v",
        "self_attn.o_proj": "attn_output",
        "mlp.gate_proj": "ffn_gate",
        "mlp.up_proj": "ffn_up",
        "mlp.down_proj": "ffn_down",
        "input_layernorm": "attn_norm",
        "post_attention_layernorm": "ffn_norm",
    }
    for key, t in load_file(str(hf_dir / "model.safetensors")).items():
        arr = t.float().numpy()
        if key == "model.embed_tokens.weight":
            name = "token_embd.weight"
        elif key == "model.norm.weight":
            name = "output_norm.weight"
        elif key == "lm_head.weight":
            name = "output.weight"
        else:
            _, _, layer, rest = key.split(".", 3)
            module, param = rest.rsplit(".", 1)
            name = f"blk.{layer}.{names[module]}.{param}"
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out_path
