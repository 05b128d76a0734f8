"""``ragkit serve-model`` and ``ragkit generate``: the command-line face of the generators.

Owns: parsing generation options (model, quantization, ``TYPE:FACTOR`` RoPE scaling, sampling)
into a :class:`~ragkit.generation.config.GeneratorConfig` / :class:`SamplingParams` once, at
the edge, and printing: a message before the model loads, a streamed reply on stdout, usage on
stderr. Building the generator and serving it are :mod:`ragkit.sdk`'s (``load_generator``,
``serve_model``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer

from ragkit import sdk
from ragkit.cli.options import QuantOpt, words
from ragkit.config import DEFAULT_GENERATOR, Quantization, RopeType
from ragkit.errors import ConfigError
from ragkit.generation.base import SamplingParams
from ragkit.types import Message, Usage

if TYPE_CHECKING:
    from ragkit.generation.config import GeneratorConfig

ModelOpt = Annotated[str, typer.Option(
    "--model", "-m", help="Catalogue name (see `ragkit models list`), a local Hugging Face model "
    "folder, or a .gguf file.")]
GeneratorUrlOpt = Annotated[str | None, typer.Option(
    "--generator-url", envvar="RAGKIT_GENERATOR_URL",
    help="Use running OpenAI-compatible servers instead of loading the model here: "
    "http://HOST:PORT, or several separated by commas (a pool: least-loaded routing, "
    "conversations kept on one server, failover). --model is then the name they serve.")]
RopeOpt = Annotated[str | None, typer.Option(
    "--rope-scaling", metavar="TYPE:FACTOR",
    help="Extend the context by rescaling RoPE, e.g. yarn:4 (types: "
    f"{words(get_args(RopeType))}).")]


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)
    app.command("serve-model")(serve_model_cmd)
    app.command("generate")(generate_cmd)


def use_service(quiet: bool = False) -> str | None:
    """Take this command's models from a running ``ragkit serve`` when there is one (see
    ``RAGKIT_SERVER``); says on stderr which it does."""
    url, why = sdk.find_service()
    if url:
        sdk.attach_service(url)
    if not quiet:
        typer.echo(why, err=True)
    return url


def parse_rope(value: str | None) -> dict[str, Any] | None:
    """``"yarn:4"`` -> ``{"type": "yarn", "factor": 4.0}`` (pure)."""
    if not value:
        return None
    kind, sep, factor = value.partition(":")
    try:
        number = float(factor)
    except ValueError:
        number = 0.0
    if not sep or not kind or number <= 1.0:
        raise ConfigError(
            f"--rope-scaling {value!r} is not TYPE:FACTOR with FACTOR > 1; try --rope-scaling yarn:4")
    kind = kind.strip().lower()
    if kind not in get_args(RopeType):
        raise ConfigError(f"--rope-scaling type {kind!r} is unknown; use "
                          f"{words(get_args(RopeType))}, e.g. --rope-scaling yarn:4")
    return {"type": kind, "factor": number}


def generator_config(model: str | None, quantization: Quantization,
                     rope_scaling: str | None = None, threads: int | None = None,
                     **batching: int | None) -> GeneratorConfig:
    """The typed config of a local generator from command-line values (parsed once, here).

    ``batching`` holds ``max_batch``/``max_queue`` when the command offers them (None: default)."""
    from ragkit.generation.config import GeneratorConfig

    data: dict[str, Any] = {"quantization": quantization,
                            "rope_scaling": parse_rope(rope_scaling)}
    if model:
        data["model"] = model
    if threads is not None:
        data["threads"] = threads
    data.update({k: v for k, v in batching.items() if v is not None})
    return GeneratorConfig.parse(data)


def remote_or_local(url: str | None, model: str, quantization: Quantization, *,
                    quiet: bool = False) -> Any:
    """The generator a command uses: the servers at ``url`` (nothing loaded here), else the
    local model, loaded once per process; says which on stderr."""
    if url:
        from ragkit.config import parse
        from ragkit.generation.config import RemoteGeneratorConfig

        cfg = parse(RemoteGeneratorConfig, {"base_url": url, "model": model}, "--generator-url")
        if not quiet:
            typer.echo(f"using {model} served at {url}", err=True)
        return sdk.load_generator(cfg)
    return local_generator(generator_config(model, quantization), quiet=quiet)


def local_generator(config: GeneratorConfig, *, quiet: bool = False) -> Any:
    """Load the generator ``config`` names (once per process), or use the attached service's
    when it runs that one; says which on stderr."""
    if not quiet:
        where = ("in the ragkit service" if sdk.service_serves(config)
                 else "loading it in this process")
        typer.echo(f"generator {config.model} (quantization={config.quantization}): {where}",
                   err=True)
    return sdk.load_generator(config)


def usage_line(usage: Usage) -> str:
    """One line of figures for stderr (pure)."""
    return (f"{usage.prompt_tokens} prompt tokens ({usage.cached_tokens} cached), "
            f"{usage.completion_tokens} completion tokens, "
            f"TTFT {usage.time_to_first_token_s:.2f} s, {usage.tokens_per_second:.1f} tok/s")


def serve_cmd(
    model: ModelOpt = DEFAULT_GENERATOR,
    quantization: QuantOpt = "none",
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8765,
    max_batch: Annotated[int, typer.Option(
        min=1, max=256, help="Requests decoded together (continuous batching).")] = 8,
    max_queue: Annotated[int, typer.Option(
        min=0, max=4096, help="Requests that may wait for a free slot before HTTP 429.")] = 32,
    preload: Annotated[bool, typer.Option(
        help="Load the default embedder and the relevance models before listening.")] = True,
) -> None:
    """Keep the models loaded for every ragkit command on this machine (the model service).

    Holds the generator (continuous batching), the embedders and the relevance scorers in one process. `ragkit ask`, `search`, `chat`, `support`, `code` and `ui` find it through $RAGKIT_HOME/service.json (or RAGKIT_SERVER=http://HOST:PORT) and use it instead of loading models themselves; several UIs can share it. RAGKIT_SERVER=off makes a command load its own. Also serves the OpenAI-compatible API at /v1 (without the guard: for ragkit's own pipelines; use `ragkit serve-model` for other clients).
    """
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"warning: --host {host} exposes models without the guard to your network; "
                   "the service is meant for this machine (use `ragkit serve-model` for others)",
                   err=True)
    config = generator_config(model, quantization, max_batch=max_batch, max_queue=max_queue)
    sdk.serve_models(config, host, port, preload=preload,
                     log=lambda line: typer.echo(line, err=True))


def serve_model_cmd(
    model: ModelOpt = DEFAULT_GENERATOR,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 exposes it to your network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
    quantization: QuantOpt = "none",
    rope_scaling: RopeOpt = None,
    served_name: Annotated[str | None, typer.Option(
        help="Model id clients must send (default: the --model value).")] = None,
    max_body_mb: Annotated[float, typer.Option(
        min=0.01, help="Largest request body accepted, in MiB; larger ones get a 413.")] = 4.0,
    guard: Annotated[bool, typer.Option(
        "--guard/--no-guard", help="Guardrails on requests and answers: injection attempts "
        "and blocked terms get a safe reply (finish_reason content_filter), personal data is "
        "hidden from the model, answers are screened a sentence at a time; recorded in the "
        "audit trail (`ragkit guard audit --kb DIR` with --audit-dir DIR).")] = True,
    audit_dir: Annotated[Path | None, typer.Option(
        "--audit-dir", help="Folder of the guard's audit trail (default: ragkit's cache "
        "folder, server/).")] = None,
    max_batch: Annotated[int, typer.Option(
        min=1, max=256, help="Requests decoded together (continuous batching); 1 answers one "
        "at a time.")] = 8,
    max_queue: Annotated[int, typer.Option(
        min=0, max=4096, help="Requests that may wait for a free slot; past that a request gets "
        "HTTP 429 (retry later).")] = 32,
) -> None:
    """Serve a local model over an OpenAI-compatible API (/v1/chat/completions, /v1/models).

    The model is loaded before the server accepts requests. Concurrent requests are decoded together, up to --max-batch at a time. Point any OpenAI client at the printed URL, e.g. `ragkit generate "hi" --url http://127.0.0.1:8000/v1`.
    """
    generator = local_generator(generator_config(model, quantization, rope_scaling,
                                                 max_batch=max_batch, max_queue=max_queue))
    name = served_name or model
    typer.echo(f"serving {name} at http://{host}:{port}/v1 (OpenAI-compatible); Ctrl+C stops it",
               err=True)
    sdk.serve_model(generator, host, port, model_name=name,
                    max_body_bytes=int(max_body_mb * 2**20), guard=guard, audit_dir=audit_dir)


def generate_cmd(
    prompt: Annotated[str, typer.Argument(help="The user message.")],
    model: ModelOpt = DEFAULT_GENERATOR,
    system: Annotated[str | None, typer.Option(help="System prompt.")] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Most tokens to generate.")] = 512,
    temperature: Annotated[float, typer.Option(min=0.0, help="0 = greedy (deterministic).")] = 0.0,
    quantization: QuantOpt = "none",
    rope_scaling: RopeOpt = None,
    url: Annotated[str | None, typer.Option(
        envvar="RAGKIT_GENERATOR_URL",
        help="Use a running OpenAI-compatible server at this URL instead of loading the model "
        "(several separated by commas: a pool).")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object (text, finish_reason, usage) instead of streaming.")] = False,
) -> None:
    """Generate one reply, streamed to stdout; usage (tok/s, TTFT, cached tokens) goes to stderr."""
    if url:
        from ragkit.generation.config import RemoteGeneratorConfig

        generator: Any = sdk.load_generator(RemoteGeneratorConfig(base_url=url, model=model))
    else:
        generator = local_generator(generator_config(model, quantization, rope_scaling))
    messages = ([Message("system", system)] if system else []) + [Message("user", prompt)]
    params = SamplingParams(max_tokens=max_tokens, temperature=temperature)
    stream = generator.stream(messages, params)
    if as_json:
        result = stream.collect()
        print(json.dumps({"text": result.text, "finish_reason": result.finish_reason,
                          "usage": _usage_dict(result.usage)}, ensure_ascii=False, indent=2))
        return
    for delta in stream:
        sys.stdout.write(delta)
        sys.stdout.flush()
    sys.stdout.write("\n")
    if stream.result is not None:
        typer.echo(usage_line(stream.result.usage), err=True)


def _usage_dict(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "cached_tokens": usage.cached_tokens,
        "completion_tokens": usage.completion_tokens,
        "time_to_first_token_s": usage.time_to_first_token_s,
        "total_time_s": usage.total_time_s,
        "tokens_per_second": usage.tokens_per_second,
    }
