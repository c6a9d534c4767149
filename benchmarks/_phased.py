"""The skeleton of the GPU checks (gpu_check, minatar_gpu_check): phases run in order, each one
skipped once the time budget is spent, and one JSON rewritten after every phase."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from benchmarks._machine import machine_line


class PhasedCheck:
    """Subclasses set JSON_NAME and fill `self.r`; `due` before a phase, `write` after it."""

    JSON_NAME = "check.json"

    def __init__(self, a: argparse.Namespace) -> None:
        self.a, self.out, self.t0 = a, Path(a.out), time.perf_counter()
        self.r: dict = {}

    def device_info(self) -> dict:
        """The machine, torch and the device every check records first."""
        cuda = self.a.device == "cuda"
        return {
            "machine": machine_line(),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "device": self.a.device,
            "device_name": torch.cuda.get_device_name(0) if cuda else None,
        }

    def due(self, what: str) -> bool:
        """True while the budget lasts; else `what` is listed as skipped."""
        if time.perf_counter() - self.t0 < self.a.budget:
            return True
        self.r["skipped"].append(what)
        return False

    def before_write(self) -> None:
        """Fields derived from the rest, refreshed before every write (none by default)."""

    def write(self) -> None:
        self.r["elapsed_s"] = round(time.perf_counter() - self.t0, 1)
        self.before_write()
        (self.out / self.JSON_NAME).write_text(json.dumps(self.r, indent=2) + "\n")
