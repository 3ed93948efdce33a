"""The CPU a speed was measured on: its model name and the vector instructions that decide which
runtime is fastest (AVX2 alone, AVX-512, VNNI for 8-bit products). Quoted beside every speed
figure (``make bench``) and recorded with the runtime chosen for it (``runtime``)."""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from pathlib import Path

VECTOR_FLAGS = frozenset(
    {
        "sse4_2",
        "avx",
        "avx2",
        "fma",
        "f16c",
        "avx512f",
        "avx512bw",
        "avx512vl",
        "avx512_vnni",
        "avx512_bf16",
        "avx_vnni",
        "amx_int8",
        "amx_bf16",
        "asimd",
        "asimddp",
        "sve",
    }
)


@lru_cache(maxsize=1)
def cpu() -> dict[str, str | int]:
    """{"model", "flags" (the vector ones, space-separated), "cores"} of this machine."""
    model, flags = "", ""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            if key in ("model name", "Model") and not model:
                model = value
            elif key in ("flags", "Features") and not flags:
                flags = " ".join(sorted(set(value.split()) & VECTOR_FLAGS))
    except OSError:
        pass
    return {
        "model": model or platform.processor() or platform.machine(),
        "flags": flags,
        "cores": os.cpu_count() or 1,
    }


def cpu_line() -> str:
    """One line for beside a speed figure: "AMD EPYC, 2 cores, avx2 fma …"."""
    c = cpu()
    return f"{c['model']}, {c['cores']} cores, {c['flags'] or 'no vector flags found'}"
