"""One line naming the machine a benchmark ran on; the closing lines of a benchmark's output."""

from __future__ import annotations

import os
import platform
from datetime import date
from pathlib import Path

from rlnoise.files import atomic_write_json
from rlnoise.hardware import cpu_flags


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line() -> str:
    flags = cpu_flags()
    isa = (
        "amx_bf16"
        if "amx_bf16" in flags
        else "avx512_bf16"
        if "avx512_bf16" in flags
        else ("avx512f" if "avx512f" in flags else "avx2" if "avx2" in flags else "?")
    )
    return (
        f"{date.today()} | {cpu_model()}, {os.cpu_count()} cores, best ISA {isa} | "
        f"{platform.system()} {platform.release()} | Python {platform.python_version()}"
    )


def close(result: dict, json_path: Path | None) -> None:
    """Print the machine line of `result` and write it to `json_path` (atomically), if given."""
    print(result["machine"])
    if json_path:
        atomic_write_json(json_path, result)
        print(f"wrote {json_path}")
