"""Run a study: plan, execute on the pool, record every finished run in DIR/study.json
(atomically, after each one), then fit and write runs.csv, the plots and report.md.

Rerunning the same study on the same directory skips finished runs (a run directory holding
summary.json is finished, recorded or not), resumes unfinished ones from their checkpoints, and
restarts the ones that never wrote a checkpoint. The directory is locked while a study runs.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import os
import platform
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from rlnoise.checkpoint import atomic_write_json, atomic_write_text
from rlnoise.study import (
    BACKENDS,
    RunSpec,
    StudyConfig,
    StudyError,
    plan,
    validate_study,
)
from rlnoise.study_analysis import (
    analyse,
    notes,
    plan_result,
    run_record,
    target_key,
)

STUDY_FILE = "study.json"
RUNS_CSV = "runs.csv"
FORMAT = "rlnoise-study/1"
CHECKPOINT_EVERY = 25  # updates; a killed study loses at most this much of each run


class StudyRunError(RuntimeError):
    """A run failed for a reason other than bad input (a worker died, a bug)."""


@dataclass(frozen=True)
class ExecOptions:
    """How a study executes; may differ between sessions of the same study."""

    backend: str = "local"
    workers: int | None = None  # default: cores // threads_per_run (local), cluster CPUs (ray)
    ray_address: str | None = None
    threads_per_run: int = 1
    device: str = "cpu"


# ----------------------------------------------------------------------------- the directory


def load_study(out: Path) -> dict:
    f = Path(out) / STUDY_FILE
    if not f.is_file():
        raise StudyError(f"no {STUDY_FILE} in {out}")
    try:
        doc = json.loads(f.read_text())
    except (OSError, ValueError) as e:
        raise StudyError(f"cannot read {f}: {type(e).__name__}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or "config" not in doc:
        raise StudyError(f"{f} is not an rlnoise study file")
    return doc


def check_out_dir(out: Path, cfg: StudyConfig) -> dict | None:
    """The study already in `out` (same config), None for a new or empty directory.
    Raises StudyError, touching nothing, when `out` holds something else."""
    out = Path(out)
    if not out.exists():
        return None
    if not out.is_dir():
        raise StudyError(f"--out {out} exists and is not a directory")
    if not (out / STUDY_FILE).exists():
        if any(p.name != ".lock" for p in out.iterdir()):
            raise StudyError(f"--out {out} is not empty and holds no {STUDY_FILE}")
        return None
    doc = load_study(out)
    theirs, mine = doc["config"], cfg.to_json()
    diff = [k for k in sorted(set(theirs) | set(mine)) if theirs.get(k) != mine.get(k)]
    if diff:
        what = "; ".join(
            f"{k} {_short(theirs.get(k))} there, {_short(mine.get(k))} here" for k in diff[:3]
        )
        raise StudyError(
            f"{out} holds a different study ({what}); use another --out or that study's flags"
        )
    return doc


def _short(v) -> str:
    if isinstance(v, list):
        return ",".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v)
    return f"{v:g}" if isinstance(v, float) else str(v)


@contextlib.contextmanager
def _locked(out: Path):
    import fcntl

    f = open(out / ".lock", "w")  # noqa: SIM115 - held for the whole study
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise StudyError(f"{out} is in use by another running study") from None
        yield
    finally:
        f.close()


def machine_info() -> dict:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        import torch

        tv = torch.__version__
    except ImportError:  # pragma: no cover
        tv = None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": tv,
    }


def train_config(cfg: StudyConfig, spec: RunSpec, ex: ExecOptions, run_dir: Path) -> dict:
    """TrainConfig fields of one run."""
    return {
        "env_id": cfg.env_id,
        "algo": cfg.algo,
        "n_envs": spec.n_envs,
        "total_steps": spec.total_steps,
        "seed": spec.seed,
        "run_dir": str(run_dir),
        "lr": spec.lr,
        "anneal_lr": cfg.anneal_lr,
        "n_steps": cfg.n_steps,
        "noise_every": cfg.noise_every,
        "noise_groups": cfg.noise_groups,
        "b_noise_every": cfg.b_noise_every,
        "episode_window": cfg.episode_window,
        "target_return": cfg.top_target,
        "progress": False,
        "torch_threads": ex.threads_per_run,
        "env_threads": ex.threads_per_run,
        "checkpoint_every": CHECKPOINT_EVERY,
        "device": ex.device,
        **cfg.train,
    }


def check_runnable(cfg: StudyConfig, ex: ExecOptions) -> None:
    """Validate every run's TrainConfig and the env id before anything is created."""
    from envs.catalog import env_kind
    from rlnoise.config import TrainConfig
    from rlnoise.train import validate

    if ex.backend not in BACKENDS:
        raise StudyError(f"unknown --backend {ex.backend!r}; choose one of {', '.join(BACKENDS)}")
    if ex.workers is not None and ex.workers < 1:
        raise StudyError(f"--workers must be at least 1 (got {ex.workers})")
    env_kind(cfg.env_id)  # EnvError (a ValueError) with suggestions
    for n in cfg.n_envs:
        spec = RunSpec(n, 0, 0, cfg.lr, n * cfg.n_steps, cfg.max_steps // (n * cfg.n_steps), 0)
        try:
            validate(TrainConfig(**train_config(cfg, spec, ex, Path("."))))
        except TypeError as e:
            raise StudyError(f"bad training option in the study: {e}") from None


# ----------------------------------------------------------------------------- running


def run_study(
    cfg: StudyConfig,
    ex: ExecOptions,
    out: Path,
    command: str,
    log: Callable[[str], None] = print,
    write_report: bool = True,
) -> dict:
    """Run (or continue) the study in `out`; returns the study document. Raises StudyError
    (after writing study.json, runs.csv and the report) when no B_crit could be fitted."""
    cfg = validate_study(cfg)
    out = Path(out)
    existing = check_out_dir(out, cfg)
    check_runnable(cfg, ex)
    out.mkdir(parents=True, exist_ok=True)
    with _locked(out):
        doc = existing or _new_doc(cfg, command)
        records: dict[str, dict] = {r["name"]: r for r in doc.get("runs", [])}
        session_t0 = time.time()
        wall0 = float(doc.get("wall_seconds") or 0.0)
        adopted = _adopt_finished(cfg, out, records)
        _save(out, doc, records, wall0 + time.time() - session_t0)
        if records:
            log(
                f"continuing the study in {out}: {len(records)} runs finished"
                + (f" ({adopted} found finished on disk)" if adopted else "")
            )
        trained = _execute(
            cfg, ex, out, doc, records, lambda: wall0 + time.time() - session_t0, log
        )
        doc["status"] = "complete"
        if trained or not doc.get("finished"):
            doc["finished"] = _now()
        return finish(out, doc, records, wall0 + time.time() - session_t0, write_report)


def _new_doc(cfg: StudyConfig, command: str) -> dict:
    return {
        "format": FORMAT,
        "status": "running",
        "env": cfg.env_id,
        "algo": cfg.algo,
        "target": cfg.top_target,
        "targets": list(cfg.targets),
        "config": cfg.to_json(),
        "command": command,
        "machine": machine_info(),
        "started": _now(),
        "finished": None,
        "wall_seconds": 0.0,
        "runs": [],
    }


def _now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def _results(records: dict[str, dict]) -> dict:
    return {name: plan_result(r) for name, r in records.items()}


def _adopt_finished(cfg: StudyConfig, out: Path, records: dict[str, dict]) -> int:
    """Record planned runs whose directories hold summary.json (finished after the last
    study.json write); repeat while that unlocks more of the plan."""
    from rlnoise.executor import _first_full

    n = 0
    while True:
        new = 0
        for spec in plan(cfg, _results(records)):
            d = out / "runs" / spec.name
            if spec.name in records or not (d / "summary.json").is_file():
                continue
            try:
                summary = json.loads((d / "summary.json").read_text())
            except (OSError, ValueError):
                continue  # unreadable: the run is trained again
            records[spec.name] = run_record(cfg, spec, summary, _first_full(d), f"runs/{spec.name}")
            new += 1
        n += new
        if not new:
            return n


def _execute(cfg, ex, out, doc, records, wall, log) -> int:
    """Train every planned run not yet finished; returns how many finished here."""
    from rlnoise.executor import make_executor
    from rlnoise.train import TrainingInterrupted

    specs = plan(cfg, _results(records))
    if all(s.name in records for s in specs):
        return 0
    n_before = len(records)
    executor = make_executor(ex.backend, ex.workers, ex.ray_address, ex.threads_per_run)
    doc["execution"] = dataclasses.asdict(ex) | {"workers": executor.workers}
    log(
        f"study: {cfg.algo.upper()} on {cfg.env_id}, B = "
        f"{', '.join(f'{b:,}' for b in cfg.batch_sizes)} observations, {cfg.seeds} seed(s), "
        f"targets {', '.join(f'{t:g}' for t in cfg.targets)}, lr rule {cfg.lr_rule}; "
        f"{len(specs)} runs planned so far, {len(records)} done; "
        f"{executor.workers} {executor.name} worker(s); out {out}"
    )
    inflight: dict = {}
    stop = {"n": 0}
    failure: list[BaseException] = []

    def on_signal(signum, frame):
        stop["n"] += 1
        if stop["n"] == 1:
            log("stopping: the runs in flight save a checkpoint (again to stop at once)")
            executor.request_stop()
        else:
            raise KeyboardInterrupt

    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):
            old[sig] = signal.signal(sig, on_signal)
    known = {s.name for s in specs}
    try:
        while True:
            specs = plan(cfg, _results(records))
            for s in specs:
                if s.name not in known and s.stage >= 2 and s.seed == 0:
                    log(_widening_line(cfg, s))
                known.add(s.name)
            busy = {s.name for s in inflight.values()}
            pending = [s for s in specs if s.name not in records and s.name not in busy]
            while pending and len(inflight) < executor.workers and not stop["n"] and not failure:
                s = pending.pop(0)
                d = out / "runs" / s.name
                job = {"run_dir": str(d), "config": train_config(cfg, s, ex, d)}
                inflight[executor.submit(job)] = s
            if not inflight:
                break
            for h in executor.wait(list(inflight), timeout=1.0):
                spec = inflight.pop(h)
                try:
                    res = executor.result(h)
                except TrainingInterrupted:
                    continue
                except Exception as e:  # noqa: BLE001 - stop the study, keep what finished
                    if stop["n"]:
                        continue  # cancelled by the stop (Ray)
                    if not failure:
                        failure.append(_wrap(e, spec))
                        executor.request_stop()
                    continue
                rec = run_record(
                    cfg, spec, res["summary"], res["first_full_update"], f"runs/{spec.name}"
                )
                rec["how"] = res["how"]
                rec["session_seconds"] = res["seconds"]
                records[spec.name] = rec
                _save(out, doc, records, wall())
                total = len(plan(cfg, _results(records)))
                log(_progress_line(cfg, rec, len(records), total))
    except KeyboardInterrupt:
        executor.shutdown(cancel=True)
        _save(out, doc, records, wall())
        raise TrainingInterrupted(
            f"study stopped; {len(records)} runs finished; continue with the same command "
            f"and --out {out}"
        ) from None
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
    executor.shutdown()
    _save(out, doc, records, wall())
    if failure:
        raise failure[0]
    if stop["n"]:
        raise TrainingInterrupted(
            f"study stopped; {len(records)} runs finished, the others resume from their "
            f"checkpoints: continue with the same command and --out {out}"
        )
    return len(records) - n_before


def _wrap(e: BaseException, spec: RunSpec) -> BaseException:
    if isinstance(e, ValueError):
        return e  # bad input (e.g. an env error): one line, exit 2
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return StudyRunError(
        f"run {spec.name} failed ({type(e).__name__}: {msg}); the finished runs are kept: "
        "rerun the same command with the same --out to continue"
    )


def _widening_line(cfg: StudyConfig, s: RunSpec) -> str:
    edge = "top" if s.k > 0 else "bottom"
    return (
        f"  B={s.batch_size:,}: the fastest run used the grid's {edge} lr; "
        f"widening to lr {s.lr:.3g} (x{cfg.grid_factor:g}^{s.k} of the sqrt rule)"
    )


def _envs(n: int) -> str:
    return f"{n} env" if n == 1 else f"{n} envs"


def _progress_line(cfg: StudyConfig, rec: dict, done: int, total: int) -> str:
    width = len(str(total))
    head = (
        f"[{done:>{width}}/{total}] B={rec['batch_size']:>6,} ({_envs(rec['n_envs'])}) "
        f"lr {rec['lr']:.2e} seed {rec['seed']}: "
    )
    if rec["status"] == "diverged":
        body = f"diverged (non-finite loss) at update {rec['updates']}"
    elif rec["steps_to_target"] is not None:
        bs = rec["b_simple"]
        body = (
            f"{cfg.top_target:g} reached at update {rec['steps_to_target']:,} "
            f"({rec['samples_to_target']:,} steps), B_simple {'n/a' if bs is None else f'{bs:,.0f}'}"
        )
    else:
        best = rec["best_return"]
        why = "capped at the fastest run so far" if rec["capped"] else "max-steps"
        body = (
            f"not reached in {rec['updates']:,} updates ({why}), best mean return "
            f"{'n/a' if best is None else f'{best:.1f}'}"
        )
    secs = rec.get("session_seconds")
    tail = f", {secs:.0f} s" if secs is not None else ""
    if rec.get("how") in ("resumed", "restarted"):
        tail += f" ({rec['how']})"
    return head + body + tail


# ----------------------------------------------------------------------------- outputs


def _sorted_runs(records: dict[str, dict]) -> list[dict]:
    return sorted(records.values(), key=lambda r: (r["batch_size"], r["k"], r["seed"]))


def _save(out: Path, doc: dict, records: dict[str, dict], wall: float) -> None:
    doc["runs"] = _sorted_runs(records)
    doc["wall_seconds"] = wall
    atomic_write_json(out / STUDY_FILE, doc)


def finish(
    out: Path, doc: dict, records: dict[str, dict], wall: float, write_report: bool = True
) -> dict:
    """Fit, then write study.json, runs.csv, the plots and report.md; raise StudyError if a
    target could not be fitted (everything is written first)."""
    cfg = StudyConfig.from_json(doc["config"])
    runs = _sorted_runs(records)
    result = analyse(cfg, runs)
    for fit in result["fits"]:
        fit["notes"] = notes(cfg, fit)
    doc.update(result)
    _save(out, doc, records, wall)
    atomic_write_text(out / RUNS_CSV, runs_csv(doc))
    if write_report:
        from rlnoise.report import write_report as _write

        _write(out, doc)
    if result["errors"]:
        more = f" (and {len(result['errors']) - 1} more)" if len(result["errors"]) > 1 else ""
        raise StudyError(
            f"{result['errors'][0]}{more}; the runs are in {out / STUDY_FILE} and "
            f"{out / 'report.md'}"
        )
    return doc


def runs_csv(doc: dict) -> str:
    """One row per run; empty cells where a value is missing."""
    cfg = StudyConfig.from_json(doc["config"])
    front = {
        f["name"]
        for fit in doc.get("fits", [])
        if fit["target"] == cfg.top_target
        for f in fit["front"]
    }
    cols = [
        "name", "n_envs", "batch_size", "seed", "lr", "lr_multiplier", "stage", "max_updates",
        "capped", "status", "updates", "global_step", "wall_seconds", "final_return",
        "best_return", "steps_to_target", "samples_to_target", "b_simple", "b_simple_value",
        "b_simple_total", "b_simple_last10", "b_simple_median_raw", "b_noise", "on_front",
    ]  # fmt: skip
    lower = [t for t in cfg.targets if t != cfg.top_target]
    for t in lower:
        k = target_key(t)
        cols += [f"steps_to_{k}", f"samples_to_{k}", f"b_simple_to_{k}"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in doc["runs"]:
        top = (
            r["targets"][-1]["noise"] if r["steps_to_target"] is not None else r["noise_whole_run"]
        )
        row = {k: r.get(k) for k in cols}
        row |= {
            "b_simple_value": top["value"]["run_avg"],
            "b_simple_total": top["total"]["run_avg"],
            "b_simple_last10": top["policy"]["last10_avg"],
            "b_simple_median_raw": top["policy"]["median_raw"],
            "b_noise": top.get("b_noise"),
            "on_front": r["name"] in front,
        }
        if r["steps_to_target"] is None:
            row["b_simple"] = top["policy"]["run_avg"]
        for t in lower:
            x = next(x for x in r["targets"] if x["target"] == t)
            k = target_key(t)
            row |= {
                f"steps_to_{k}": x["steps"],
                f"samples_to_{k}": x["samples"],
                f"b_simple_to_{k}": x["noise"]["policy"]["run_avg"],
            }
        w.writerow(["" if row[c] is None else row[c] for c in cols])
    return buf.getvalue()
