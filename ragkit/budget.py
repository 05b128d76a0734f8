"""How long embedding will take: the measured rate, estimates, and the per-file chunk cap.

Owns: the chunks-per-second rate the last run measured for each embedder (kept in the store's
``meta`` table, so the next run can estimate before embedding anything), turning chunk counts
into durations a person can read, and the messages for a long run and for a file over the
per-file cap. Does not embed or decide what to embed (``ragkit.kb`` does).

Why a cap: a 49 MB text file is within the default size limit but makes ~120,000 chunks, about
12 hours of embedding on a CPU; one file should not take a run hostage without saying so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ragkit.store import Store

MAX_CHUNKS_PER_FILE = 5000  # ~2 MB of prose at the default 256-token chunks
LONG_RUN_S = 600.0  # warn before embedding that will take longer than this
MIN_RATE_SAMPLE = 16  # chunks: fewer measure start-up more than embedding


def _key(embedder_id: str) -> str:
    return f"embed_rate:{embedder_id}"


def stored_rate(store: Store, embedder_id: str) -> float | None:
    """Chunks per second the last run measured for ``embedder_id``, if any."""
    raw = store.get_meta(_key(embedder_id))
    try:
        rate = float(raw) if raw else None
    except ValueError:
        return None
    return rate if rate and rate > 0 else None


def save_rate(store: Store, embedder_id: str, chunks: int, seconds: float) -> None:
    """Keep the rate of a run that embedded enough chunks for start-up costs to wash out."""
    if chunks >= MIN_RATE_SAMPLE and seconds > 0:
        store.set_meta(_key(embedder_id), f"{chunks / seconds:.6g}")


def estimate(chunks: int, rate: float | None) -> float | None:
    return chunks / rate if rate else None


def duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 20 min``, ``2 d 4 h``."""
    s = round(seconds)
    if s < 90:
        return f"{s} s"
    m = round(s / 60)
    if m < 90:
        return f"{m} min"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(h, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def long_run_notice(chunks: int, rate: float, measured_now: bool) -> str:
    how = "measured on the first batch" if measured_now else "as measured by the last run"
    return (
        f"about {chunks:,} chunks to embed, roughly {duration(chunks / rate)} at "
        f"{rate:.1f} chunks/s ({how}); stopping is safe (Ctrl-C): the next run keeps every "
        "embedding already made. To index less, see --max-chunks-per-file and --ignore"
    )


def over_cap_reason(chunks: int, cap: int, rate: float | None) -> str:
    eta = estimate(chunks, rate)
    took = f", about {duration(eta)} of embedding" if eta is not None else ""
    return (
        f"{chunks:,} chunks{took}: over the limit of {cap:,} chunks per file; split the file, "
        "or raise --max-chunks-per-file"
    )
