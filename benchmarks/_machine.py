"""One line naming the machine a benchmark ran on."""

from __future__ import annotations

import os
import platform
from datetime import date

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
