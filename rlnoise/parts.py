"""The loss parts whose noise scale rlnoise reports; torch-free, so summaries and reports can
name them without importing the trainer."""

from __future__ import annotations

REPORTED_PARTS: tuple[str, ...] = ("policy", "value", "total")
"""policy and value loss, and the total loss the optimiser sees (docs/design.md, "Noise measurement")."""
