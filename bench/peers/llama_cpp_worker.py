"""llama.cpp peer for bench/generation_bench.py, run with bench/.peer-venv/bin/python.

Imports only the standard library and ``llama_cpp`` (never ragkit), reads a workload JSON
written by the benchmark, and writes its measurements as JSON. Prompts are rendered with the
Qwen2.5 ChatML layout (system turn given, no tools), identical to the model's own template for
these messages. Token-level timing comes from ``Llama.generate``, which yields one token id at
a time; its prompt cache is llama-cpp-python's reuse of the longest common prefix with the
previous call, switched off for the "no reuse" run with ``reset()``.

With LOOKUP_TOKENS > 0 the model gets llama-cpp-python's own prompt-lookup draft model
(``llama_cpp.llama_speculative.LlamaPromptLookupDecoding(num_pred_tokens=LOOKUP_TOKENS)``),
which ``Llama.generate`` uses to propose tokens it then checks in one pass; only the decode
prompts run then (no conversation). A build without that class fails with a clear message.

Usage: python llama_cpp_worker.py GGUF WORKLOAD_JSON OUT_JSON THREADS [LOOKUP_TOKENS]
"""

from __future__ import annotations

import json
import resource
import sys
import time


def render(messages: list[dict[str, str]]) -> str:
    out = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return out + "<|im_start|>assistant\n"


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run(llm, messages: list[dict[str, str]], max_tokens: int, reuse: bool) -> dict:  # noqa: ANN001
    stop_ids = {llm.token_eos(), *llm.tokenize(b"<|im_end|>", add_bos=False, special=True)}
    tokens = llm.tokenize(render(messages).encode("utf-8"), add_bos=False, special=True)
    if not reuse:
        llm.reset()
    cached = 0
    if reuse and llm.n_tokens:
        prev = list(llm.input_ids[: llm.n_tokens])
        while cached < min(len(prev), len(tokens)) and prev[cached] == tokens[cached]:
            cached += 1
    t0 = time.perf_counter()
    stamps: list[float] = []
    out: list[int] = []
    for tok in llm.generate(tokens, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, reset=True):
        stamps.append(time.perf_counter())
        if tok in stop_ids:
            break
        out.append(tok)
        if len(out) >= max_tokens:
            break
    text = llm.detokenize(out).decode("utf-8", "replace")
    n = len(out)
    decode = stamps[min(n, len(stamps)) - 1] - stamps[0] if n > 1 else 0.0
    return {
        "text": text,
        "prompt_tokens": len(tokens),
        "cached_tokens": cached,
        "completion_tokens": n,
        "ttft_s": stamps[0] - t0 if stamps else 0.0,
        "decode_tok_s": (n - 1) / decode if decode > 0 else 0.0,
    }


def main() -> None:
    gguf, workload_path, out_path, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    lookup = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    import llama_cpp

    draft: dict = {}
    if lookup > 0:
        try:
            from llama_cpp.llama_speculative import LlamaPromptLookupDecoding
        except ImportError:
            sys.exit(f"llama-cpp-python {llama_cpp.__version__} has no "
                     "llama_speculative.LlamaPromptLookupDecoding; rebuild the peer venv with a "
                     "newer LLAMA_CPP_PYTHON_VERSION or pass --llama-lookup-tokens 0")
        # a draft model makes Llama keep logits for every position, but it sizes that buffer
        # from the logits_all argument: pass it, or positions past n_batch have nowhere to go
        draft = {"draft_model": LlamaPromptLookupDecoding(num_pred_tokens=lookup),
                 "logits_all": True}
    with open(workload_path, encoding="utf-8") as fh:
        work = json.load(fh)
    t0 = time.perf_counter()
    llm = llama_cpp.Llama(model_path=gguf, n_ctx=work["n_ctx"], n_threads=threads,
                          n_threads_batch=threads, n_batch=512, seed=0, verbose=False, **draft)
    result: dict = {"version": llama_cpp.__version__, "load_s": time.perf_counter() - t0,
                    "rss_after_load_mb": rss_mb(), "prompt_lookup_tokens": lookup}
    run(llm, work["warmup"], 8, reuse=False)
    result["decode"] = {name: [run(llm, msgs, work["decode_tokens"], reuse=False)
                               for _ in range(work["repeats"])]
                        for name, msgs in work["decode"].items()}
    for mode, reuse in (() if lookup else (("conversation_reuse", True),
                                             ("conversation_no_reuse", False))):
        history = [{"role": "system", "content": work["system"]}]
        llm.reset()
        turns = []
        for i, user in enumerate(work["turns"]):
            history.append({"role": "user", "content": user})
            last = i == len(work["turns"]) - 1
            turn = run(llm, history, work["last_turn_tokens"] if last else work["reply_tokens"], reuse)
            turns.append(turn)
            history.append({"role": "assistant", "content": turn["text"]})
        result[mode] = turns
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
