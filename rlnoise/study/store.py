"""A study directory on disk: study.json (load, save, check), runs.csv, and the files a run
directory holds that the study reads back; torch-free.

study.json is rewritten atomically after every finished run. Its field names are public
(docs/design.md, "Public interface"): the headline fields of the top target, `runs` (one
`RunRecord` each) and `fits` (one `TargetFit` per target); a newer rlnoise may add fields, never
rename them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from rlnoise.files import atomic_write_json, atomic_write_text
from rlnoise.study.config import StudyConfig, StudyError
from rlnoise.study.records import RunRecord, StudyResult, TargetFit, target_key

STUDY_FILE = "study.json"
RUNS_CSV = "runs.csv"
FORMAT = "rlnoise-study/1"
LOCK_FILE = ".lock"
SUMMARY_FILE = "summary.json"  # written by the trainer when a run ends
WINDOW_FILE = "study_run.json"  # first update with a full episode window (written by the job)


@dataclass(frozen=True)
class Study:
    """study.json with its runs and fits as typed records; `doc` holds every field as read."""

    doc: dict
    cfg: StudyConfig
    runs: list[RunRecord]
    fits: list[TargetFit]

    @property
    def top(self) -> TargetFit | None:
        """The fit of the top target (the last), None before the first fit."""
        return self.fits[-1] if self.fits else None

    @property
    def fitted(self) -> bool:
        return "fits" in self.doc

    @classmethod
    def from_doc(cls, doc: dict, where: object = STUDY_FILE) -> Study:
        try:
            return cls(
                doc,
                StudyConfig.from_json(doc["config"]),
                [RunRecord.from_json(r) for r in doc["runs"]],
                [TargetFit.from_json(f) for f in doc.get("fits") or []],
            )
        except (KeyError, TypeError, ValueError) as e:
            raise StudyError(
                f"{where} is not a complete rlnoise study file ({type(e).__name__}: {e})"
            ) from None

    def with_result(self, result: StudyResult) -> Study:
        """This study with `result`'s fields (the analysis) in its document."""
        return Study(self.doc | result.to_json(), self.cfg, self.runs, result.fits)


# ----------------------------------------------------------------------------- study.json


def load_study(out: Path) -> Study:
    f = Path(out) / STUDY_FILE
    if not f.is_file():
        raise StudyError(f"no {STUDY_FILE} in {out}")
    try:
        doc = json.loads(f.read_text())
    except (OSError, ValueError) as e:
        raise StudyError(f"cannot read {f}: {type(e).__name__}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or "config" not in doc:
        raise StudyError(f"{f} is not an rlnoise study file")
    return Study.from_doc(doc, f)


def check_out_dir(out: Path, cfg: StudyConfig) -> Study | None:
    """The study already in `out` (same config, or the same with more seeds: `cfg` grows it),
    None for a new or empty directory. Raises StudyError, touching nothing, when `out` holds
    something else."""
    out = Path(out)
    if not out.exists():
        return None
    if not out.is_dir():
        raise StudyError(f"--out {out} exists and is not a directory")
    if not (out / STUDY_FILE).exists():
        if any(p.name != LOCK_FILE for p in out.iterdir()):
            raise StudyError(f"--out {out} is not empty and holds no {STUDY_FILE}")
        return None
    study = load_study(out)
    theirs, mine = study.cfg.to_json(), cfg.to_json()  # older files: fields filled as loaded
    diff = [k for k in sorted(set(theirs) | set(mine)) if theirs.get(k) != mine.get(k)]
    if diff == ["seeds"]:
        if cfg.seeds > study.cfg.seeds:
            return study  # grown: the runner keeps its runs and adds the new seeds'
        raise StudyError(
            f"{out} holds this study with {study.cfg.seeds} seeds; a study keeps its runs, so "
            f"--seeds can grow it but not shrink it to {cfg.seeds}: use another --out"
        )
    if diff:
        # a larger --seeds alone would grow the study: name only what else differs
        grows = "seeds" in diff and cfg.seeds > study.cfg.seeds
        named = [k for k in diff if not (grows and k == "seeds")]
        what = "; ".join(
            f"{k} {_short(theirs.get(k))} there, {_short(mine.get(k))} here" for k in named[:3]
        )
        raise StudyError(
            f"{out} holds a different study ({what}); use another --out or that study's flags"
            + (" (a larger --seeds with them grows it)" if grows else "")
        )
    return study


def _short(v: object) -> str:
    if isinstance(v, list):
        return ",".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v)
    return f"{v:g}" if isinstance(v, float) else str(v)


def new_doc(cfg: StudyConfig, command: str, machine: dict) -> dict:
    """The document of a study that has not finished a run yet."""
    return {
        "format": FORMAT,
        "status": "running",
        "env": cfg.env_id,
        "algo": cfg.algo,
        "target": cfg.top_target,
        "targets": list(cfg.targets),
        "config": cfg.to_json(),
        "command": command,
        "machine": machine,
        "started": now(),
        "finished": None,
        "wall_seconds": 0.0,
        "runs": [],
    }


def now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def sorted_runs(records: Iterable[RunRecord]) -> list[RunRecord]:
    return sorted(records, key=lambda r: (r.batch_size, r.k, r.seed))


def save_study(out: Path, doc: dict, records: Iterable[RunRecord], wall: float) -> None:
    """Write study.json atomically: `doc` with `records` as its runs and `wall` seconds."""
    doc["runs"] = [r.to_json() for r in sorted_runs(records)]
    doc["wall_seconds"] = wall
    atomic_write_json(Path(out) / STUDY_FILE, doc)


# ----------------------------------------------------------------------------- run directories


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def first_full_update(run_dir: Path) -> int | None:
    """The first update of the run with a full episode window, as its job noted it."""
    p = Path(run_dir) / WINDOW_FILE
    if not p.exists():
        return None
    return read_json(p).get("first_full_update")


# ----------------------------------------------------------------------------- runs.csv


_CSV_COLUMNS = [
    "name", "n_envs", "batch_size", "seed", "lr", "lr_multiplier", "stage", "max_updates",
    "capped", "status", "updates", "global_step", "wall_seconds", "final_return",
    "best_return", "steps_to_target", "samples_to_target", "b_simple", "b_simple_value",
    "b_simple_total", "b_simple_last10", "b_simple_median_raw", "b_noise", "on_front",
]  # fmt: skip


def write_runs_csv(out: Path, study: Study) -> None:
    atomic_write_text(Path(out) / RUNS_CSV, runs_csv(study))


def runs_csv(study: Study) -> str:
    """One row per run; empty cells where a value is missing."""
    cfg = study.cfg
    front = {f.name for fit in study.fits if fit.target == cfg.top_target for f in fit.front}
    lower = [t for t in cfg.targets if t != cfg.top_target]
    cols = list(_CSV_COLUMNS)
    for t in lower:
        k = target_key(t)
        cols += [f"steps_to_{k}", f"samples_to_{k}", f"b_simple_to_{k}"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in study.runs:
        row = _csv_row(r, lower) | {"on_front": r.name in front}
        w.writerow(["" if row.get(c) is None else row[c] for c in cols])
    return buf.getvalue()


def _csv_row(r: RunRecord, lower: list[float]) -> Mapping:
    top = r.targets[-1].noise if r.steps_to_target is not None else r.noise_whole_run
    row = vars(r) | {
        "b_simple_value": top["value"]["run_avg"],
        "b_simple_total": top["total"]["run_avg"],
        "b_simple_last10": top["policy"]["last10_avg"],
        "b_simple_median_raw": top["policy"]["median_raw"],
        "b_noise": top.get("b_noise"),
    }
    if r.steps_to_target is None:
        row["b_simple"] = top["policy"]["run_avg"]
    for t in lower:
        x = r.at(t)
        k = target_key(t)
        row |= {
            f"steps_to_{k}": x.steps,
            f"samples_to_{k}": x.samples,
            f"b_simple_to_{k}": x.noise["policy"]["run_avg"],
        }
    return row
