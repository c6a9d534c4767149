"""Run a study: plan, execute on the pool, record every finished run in DIR/study.json
(atomically, after each one), then fit and write runs.csv, the plots and report.md.

With --budget-minutes M the study first calibrates (a few seconds of training per env count),
prints the plan and its estimate, and shrinks the plan to fit M (`rlnoise.study.budget`); the
estimate goes into study.json's `budget`, and the actual time beside it at the end. A budgeted
study continues with the plan it was shrunk to. Runs save a checkpoint every
`ExecOptions.checkpoint_seconds` (60 s) of training, so a killed study loses at most that much
of each run in flight; rerunning resumes those runs from their checkpoints.

Rerunning the same study on the same directory skips finished runs (a run directory holding
summary.json is finished, recorded or not), resumes unfinished ones from their checkpoints, and
restarts the ones that never wrote a checkpoint. The directory is locked while a study runs.
The first Ctrl-C or SIGTERM lets the runs in flight save a checkpoint and stops the study; a
second stops it at once (docs/design.md, "Stopping").
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import platform
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from envs.catalog import env_kind
from rlnoise.config import TrainConfig
from rlnoise.errors import USER_ERRORS
from rlnoise.graceful import GracefulStop
from rlnoise.hardware import usable_cores
from rlnoise.study.analysis import analyse, run_record
from rlnoise.study.budget import (
    Calibration,
    Workers,
    auto_workers,
    budget_doc,
    budget_line,
    close_budget,
    fit_budget,
    plan_lines,
)
from rlnoise.study.config import (
    ExecOptions,
    StudyConfig,
    StudyError,
    lr_for,
    validate_exec,
    validate_study,
)
from rlnoise.study.executor import default_workers, make_executor, measure_sps
from rlnoise.study.plan import PlanResult, RunSpec, plan
from rlnoise.study.records import RunRecord
from rlnoise.study.report import REPORT_FILE, write_report
from rlnoise.study.store import (
    LOCK_FILE,
    STUDY_FILE,
    SUMMARY_FILE,
    Study,
    check_out_dir,
    first_full_update,
    load_study,
    new_doc,
    now,
    read_json,
    save_study,
    sorted_runs,
    write_runs_csv,
)
from rlnoise.train import TrainingInterrupted, validate

__all__ = ["StudyRunError", "TrainingInterrupted", "check_runnable", "finish", "run_study"]

# A study run saves a checkpoint every ExecOptions.checkpoint_seconds of training (the job's
# callback) and, as a backstop, every CHECKPOINT_EVERY updates.
CHECKPOINT_EVERY = 1000
CALIBRATION_SECONDS = 3.0  # timed training per env count (after one warm-up update)


class StudyRunError(RuntimeError):
    """A run failed for a reason other than bad input (a worker died, a bug)."""


# ----------------------------------------------------------------------------- before running


def machine_info() -> dict:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def train_config(
    cfg: StudyConfig,
    spec: RunSpec,
    ex: ExecOptions,
    run_dir: Path,
    threads: tuple[int, int] | None = None,
) -> dict:
    """TrainConfig fields of one run; `threads` (env, torch) default to ex.threads_per_run."""
    env_threads, torch_threads = threads or (ex.threads_per_run, ex.threads_per_run)
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
        "torch_threads": torch_threads,
        "env_threads": env_threads,
        "checkpoint_every": CHECKPOINT_EVERY,
        "device": ex.device,
        **cfg.train,
    }


def check_runnable(cfg: StudyConfig, ex: ExecOptions) -> None:
    """Validate the execution options, the env id and every run's TrainConfig before anything
    is created. Raises StudyError, or the trainer's and the env catalog's user errors."""
    validate_exec(ex)
    env_kind(cfg.env_id)  # EnvError with suggestions
    for n in cfg.n_envs:
        spec = RunSpec(n, 0, 0, cfg.lr, n * cfg.n_steps, cfg.max_steps // (n * cfg.n_steps), 0)
        try:
            validate(TrainConfig(**train_config(cfg, spec, ex, Path("."))))
        except TypeError as e:
            raise StudyError(f"bad training option in the study: {e}") from None


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    f = open(out / LOCK_FILE, "w")  # noqa: SIM115 - held for the whole study
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise StudyError(f"{out} is in use by another running study") from None
        yield
    finally:
        f.close()


# ----------------------------------------------------------------------------- running


def run_study(
    cfg: StudyConfig,
    ex: ExecOptions,
    out: Path,
    command: str,
    log: Callable[[str], None] = print,
) -> Study:
    """Run (or continue) the study in `out`; returns it, fitted. Raises StudyError (after
    writing study.json, runs.csv and the report) when no B_crit could be fitted."""
    cfg = validate_study(cfg)
    validate_exec(ex)
    out = Path(out)
    cfg = _stored_plan(cfg, out)
    existing = check_out_dir(out, cfg)
    check_runnable(cfg, ex)
    out.mkdir(parents=True, exist_ok=True)
    with _locked(out):
        cfg, workers, budget = _prepare(cfg, ex, existing.doc if existing else None, log)
        doc = existing.doc if existing else new_doc(cfg, command, machine_info())
        doc["status"] = "running"  # also when a stopped or failed study continues
        if existing and existing.cfg.seeds < cfg.seeds:
            _grow_seeds(doc, existing.cfg, cfg, command, log)
        if budget is not None:
            doc["budget"] = budget
        records = {r.name: r for r in (existing.runs if existing else [])}
        t0 = time.time()
        wall0 = float(doc.get("wall_seconds") or 0.0)

        def wall() -> float:
            return wall0 + time.time() - t0

        adopted = _adopt_finished(cfg, out, records)
        save_study(out, doc, records.values(), wall())
        if records:
            log(
                f"continuing the study in {out}: {len(records)} runs finished"
                + (f" ({adopted} found finished on disk)" if adopted else "")
            )
        trained = _Session(cfg, ex, out, doc, records, wall, log, workers).execute()
        doc["status"] = "complete"
        if trained or not doc.get("finished"):
            doc["finished"] = now()
        if doc.get("budget"):
            if not doc["budget"].get("before_growing"):
                close_budget(doc["budget"], wall())
            log(budget_line(doc["budget"]))
        return finish(out, doc, records, wall())


def _grow_seeds(
    doc: dict, old: StudyConfig, cfg: StudyConfig, command: str, log: Callable[[str], None]
) -> None:
    """Record in `doc` that the study now has cfg.seeds seeds: its finished runs stay, the
    planner adds the new seeds' runs (each (B, lr) cell the old seeds ran, the grid's caps and
    widenings now judged on every seed) and the fit uses them all."""
    doc["config"] = cfg.to_json()
    if (doc.get("budget") or {}).get("actual_minutes") is not None:
        doc["budget"]["before_growing"] = True  # its estimate and time are the smaller plan's
    grown = {"seeds_from": old.seeds, "seeds_to": cfg.seeds, "at": now(), "command": command}
    doc.setdefault("seeds_grown", []).append(grown)
    new = cfg.seed_list[old.seeds :]
    log(
        f"adding seeds {new.start}..{new.stop - 1} to the study ({old.seeds} -> {cfg.seeds} "
        "seeds per cell); its finished runs are kept"
    )


# ----------------------------------------------------------------------------- budget, workers


def _stored_plan(cfg: StudyConfig, out: Path) -> StudyConfig:
    """The plan a budgeted study in `out` was shrunk to, when `cfg` is the study it was asked
    for; that plan with cfg's seeds when `cfg` asks for more seeds than the plan has (it grows
    the shrunk study); else `cfg`."""
    if not (out / STUDY_FILE).is_file():
        return cfg
    doc = load_study(out).doc
    asked = (doc.get("budget") or {}).get("requested")
    if asked is None:
        return cfg
    stored, requested = StudyConfig.from_json(doc["config"]), StudyConfig.from_json(asked)
    if requested.to_json() == cfg.to_json():
        return stored
    if dataclasses.replace(cfg, seeds=requested.seeds).to_json() == requested.to_json():
        if cfg.seeds > stored.seeds:
            return dataclasses.replace(stored, seeds=cfg.seeds)
    return cfg


def _device_type(ex: ExecOptions) -> str:
    if ex.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if ex.device.startswith("cuda") else "cpu"


def _prepare(
    cfg: StudyConfig, ex: ExecOptions, doc: dict | None, log: Callable[[str], None]
) -> tuple[StudyConfig, Workers | None, dict | None]:
    """(the plan, the workers, a new study's `budget` entry or None): calibrate where the
    budget or `--workers auto` on CUDA needs measured SPS, then fit the plan to the budget."""
    device = _device_type(ex)
    stored = (doc or {}).get("budget")
    cal = Calibration.from_json(stored["calibration"]) if stored else None
    new_budget = ex.budget_minutes is not None and doc is None
    if (new_budget or (ex.workers == "auto" and device == "cuda")) and not (
        cal and cal.covers(cfg.n_envs)
    ):
        cal = calibrate(cfg, ex, device, log)
    workers = _workers(ex, device, cal)
    if stored:
        log(f"continuing a budgeted study: {budget_line(stored)}")
    elif ex.budget_minutes is not None and doc is not None:
        log("this study was started without --budget-minutes: its plan is kept as it is")
    if not new_budget:
        return cfg, workers, None
    assert cal is not None
    if workers is None:
        raise StudyError("--budget-minutes with --backend ray needs --workers N")
    fit = fit_budget(cfg, cal, workers.count, ex.budget_minutes, cal.seconds)
    for line in plan_lines(fit.cfg, cal, workers, fit, ex.budget_minutes):
        log(line)
    return fit.cfg, workers, budget_doc(ex.budget_minutes, workers, fit, cal, cfg)


def _workers(ex: ExecOptions, device: str, cal: Calibration | None) -> Workers | None:
    """Workers and threads per run: `--workers auto` by `budget.auto_workers`, a number as
    given, else cores // threads per run (local); None for Ray without --workers."""
    t = ex.threads_per_run
    if ex.workers == "auto":
        return auto_workers(device, usable_cores(), t, cal)
    if ex.backend == "ray" and ex.workers is None:
        return None
    count = int(ex.workers or default_workers(t))
    why = "--workers" if ex.workers else "default: cores // threads per run"
    return Workers(count, (t,) * count, t, why)


def calibrate(
    cfg: StudyConfig, ex: ExecOptions, device: str, log: Callable[[str], None]
) -> Calibration:
    """SPS and startup seconds of one run per env count (`executor.measure_sps`), each with
    the threads a run gets: on CPU threads_per_run; on CUDA every core (one run alone: the
    fastest run's SPS then caps what concurrent runs share)."""
    cores = usable_cores()
    threads = (cores, 1) if device == "cuda" else (ex.threads_per_run, ex.threads_per_run)
    t0 = time.time()
    sps, startup, updates = {}, {}, {}
    log(f"calibration: {CALIBRATION_SECONDS:g} s of training per env count on {device}")
    for n in cfg.n_envs:
        b = n * cfg.n_steps
        spec = RunSpec(n, cfg.seed_list[0], 0, lr_for(cfg, n, 0), b, cfg.max_steps // b, 0)
        m = measure_sps(train_config(cfg, spec, ex, Path("."), threads), CALIBRATION_SECONDS)
        sps[n], startup[n], updates[n] = m["sps"], m["startup"], m["updates"]
        log(
            f"  {n:>5} envs: {m['sps']:>9,.0f} steps/s ({m['updates']} updates timed, "
            f"built in {m['startup']:.1f} s)"
        )
    cap = max(sps.values()) if device == "cuda" else None
    return Calibration(sps, startup, updates, cap, time.time() - t0, "measured")


def _results(records: dict[str, RunRecord]) -> dict[str, PlanResult]:
    return {name: r.plan_result() for name, r in records.items()}


def _adopt_finished(cfg: StudyConfig, out: Path, records: dict[str, RunRecord]) -> int:
    """Record planned runs whose directories hold summary.json (finished after the last
    study.json write); repeat while that unlocks more of the plan."""
    n = 0
    while True:
        new = 0
        for spec in plan(cfg, _results(records)):
            d = out / "runs" / spec.name
            if spec.name in records or not (d / SUMMARY_FILE).is_file():
                continue
            try:
                summary = read_json(d / SUMMARY_FILE)
            except (OSError, ValueError):
                continue  # unreadable: the run is trained again
            records[spec.name] = run_record(
                cfg, spec, summary, first_full_update(d), f"runs/{spec.name}"
            )
            new += 1
        n += new
        if not new:
            return n


class _Session:
    """One session's execution: keeps the executor's workers busy with the planned runs not
    yet finished, records each run as it finishes (study.json after every one), and stops
    submitting on a stop request or a failed run, then waits for the runs in flight."""

    def __init__(
        self,
        cfg: StudyConfig,
        ex: ExecOptions,
        out: Path,
        doc: dict,
        records: dict[str, RunRecord],
        wall: Callable[[], float],
        log: Callable[[str], None],
        workers: Workers | None = None,
    ) -> None:
        self.cfg, self.ex, self.out, self.doc = cfg, ex, out, doc
        self.records, self.wall, self.log = records, wall, log
        self.workers = workers  # None: the executor decides (Ray), threads_per_run each
        self.executor = None  # made by execute(), when there is something to train
        self.inflight: dict = {}  # executor handle -> RunSpec
        self.slots: dict = {}  # executor handle -> worker slot (its share of the cores)
        self.known: set[str] = set()  # names planned so far (a new stage >= 2 is a widening)
        self.failure: BaseException | None = None
        self.stop = GracefulStop(on_first=self._on_stop)

    def execute(self) -> int:
        """Train every planned run not yet finished; returns how many finished here."""
        cfg, ex, out, records = self.cfg, self.ex, self.out, self.records
        specs = self._plan()
        if all(s.name in records for s in specs):
            return 0
        n_before = len(records)
        self.known = {s.name for s in specs}
        count = self.workers.count if self.workers else None
        self.executor = make_executor(ex.backend, count, ex.ray_address, ex.threads_per_run)
        self.doc["execution"] = dataclasses.asdict(ex) | {"workers": self.executor.workers}
        if self.workers:
            self.doc["execution"] |= {
                "env_threads": list(self.workers.env_threads),
                "torch_threads": self.workers.torch_threads,
                "workers_why": self.workers.why,
            }
        self.log(
            f"study: {cfg.algo.upper()} on {cfg.env_id}, B = "
            f"{', '.join(f'{b:,}' for b in cfg.batch_sizes)} observations, {cfg.seeds} seed(s), "
            f"targets {', '.join(f'{t:g}' for t in cfg.targets)}, lr rule {cfg.lr_rule}; "
            f"{self._known_count()} runs planned so far, {len(records)} done; "
            f"{self.executor.workers} {self.executor.name} worker(s); out {out}"
        )
        with self.stop.installed():
            try:
                self._loop()
            except KeyboardInterrupt:  # the second signal: stop now
                self.executor.shutdown(cancel=True)
                self.doc["status"] = "stopped"
                self.save()
                raise TrainingInterrupted(
                    f"study stopped; {len(records)} runs finished; continue with the same "
                    f"command and --out {out}"
                ) from None
        self.executor.shutdown()
        if self.failure is not None or self.stop.requested:
            self.doc["status"] = "failed" if self.failure is not None else "stopped"
        self.save()
        if self.failure is not None:
            raise self.failure
        if self.stop.requested:
            raise TrainingInterrupted(
                f"study stopped; {len(records)} runs finished, the others resume from their "
                f"checkpoints: continue with the same command and --out {out}"
            )
        return len(records) - n_before

    def _on_stop(self) -> None:
        self.log("stopping: the runs in flight save a checkpoint (again to stop at once)")
        self.executor.request_stop()

    def _plan(self) -> list[RunSpec]:
        return plan(self.cfg, _results(self.records))

    def save(self) -> None:
        save_study(self.out, self.doc, self.records.values(), self.wall())

    def _loop(self) -> None:
        """Until no run is in flight and none can be submitted."""
        while True:
            specs = self._plan()
            for s in specs:
                if s.name not in self.known and s.stage >= 2 and s.seed == 0:
                    self.log(_widening_line(self.cfg, s))
                self.known.add(s.name)
            self._submit(specs)
            if not self.inflight:
                return
            for h in self.executor.wait(list(self.inflight), timeout=1.0):
                self._collect(h)

    def _submit(self, specs: list[RunSpec]) -> None:
        busy = {s.name for s in self.inflight.values()}
        pending = [s for s in specs if s.name not in self.records and s.name not in busy]
        while (
            pending
            and len(self.inflight) < self.executor.workers
            and not self.stop.requested
            and self.failure is None
        ):
            s = pending.pop(0)
            d = self.out / "runs" / s.name
            slot = min(set(range(self.executor.workers)) - set(self.slots.values()), default=0)
            job = {
                "run_dir": str(d),
                "config": train_config(self.cfg, s, self.ex, d, self._threads(slot)),
                "checkpoint_seconds": self.ex.checkpoint_seconds,
            }
            h = self.executor.submit(job)
            self.inflight[h], self.slots[h] = s, slot

    def _threads(self, slot: int) -> tuple[int, int] | None:
        """(env, torch) threads of the run in worker slot `slot`: the slots split the cores."""
        w = self.workers
        if w is None:
            return None
        return w.env_threads[slot % len(w.env_threads)], w.torch_threads

    def _collect(self, handle) -> None:
        spec = self.inflight.pop(handle)
        self.slots.pop(handle, None)
        try:
            res = self.executor.result(handle)
        except TrainingInterrupted:
            return
        except Exception as e:  # noqa: BLE001 - stop the study, keep what finished
            if self.stop.requested:
                return  # cancelled by the stop (Ray)
            if self.failure is None:
                self.failure = _wrap(e, spec)
                self.executor.request_stop()
            return
        rec = run_record(
            self.cfg, spec, res["summary"], res["first_full_update"], f"runs/{spec.name}"
        )
        rec.how, rec.session_seconds = res["how"], res["seconds"]
        rec.resumed_at = res.get("resumed_at")
        self.records[spec.name] = rec
        self.save()
        self.log(_progress_line(self.cfg, rec, len(self.records), self._known_count()))

    def _known_count(self) -> int:
        """Runs planned so far or finished: a grown study's later-stage runs of its old seeds
        are finished but not planned again until the new seeds' earlier stages are done."""
        return len({s.name for s in self._plan()} | set(self.records))


def _wrap(e: BaseException, spec: RunSpec) -> BaseException:
    if isinstance(e, USER_ERRORS):
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


def _progress_line(cfg: StudyConfig, rec: RunRecord, done: int, total: int) -> str:
    width = len(str(total))
    head = (
        f"[{done:>{width}}/{total}] B={rec.batch_size:>6,} ({_envs(rec.n_envs)}) "
        f"lr {rec.lr:.2e} seed {rec.seed}: "
    )
    if rec.status == "diverged":
        body = f"diverged (non-finite loss) at update {rec.updates}"
    elif rec.steps_to_target is not None:
        bs = rec.b_simple
        body = (
            f"{cfg.top_target:g} reached at update {rec.steps_to_target:,} "
            f"({rec.samples_to_target:,} steps), B_simple {'n/a' if bs is None else f'{bs:,.0f}'}"
        )
    else:
        best = rec.best_return
        why = "capped at the fastest run so far" if rec.capped else "max-steps"
        body = (
            f"not reached in {rec.updates:,} update{'' if rec.updates == 1 else 's'} ({why}), "
            f"best mean return "
            f"{'n/a' if best is None else f'{best:.1f}'}"
        )
    secs = rec.session_seconds
    tail = f", {secs:.0f} s" if secs is not None else ""
    if rec.how == "resumed" and rec.resumed_at is not None:
        tail += f" (resumed at update {rec.resumed_at:,})"
    elif rec.how in ("resumed", "restarted"):
        tail += f" ({rec.how})"
    return head + body + tail


# ----------------------------------------------------------------------------- outputs


def finish(out: Path, doc: dict, records: dict[str, RunRecord], wall: float) -> Study:
    """Fit, then write study.json, runs.csv, the plots and report.md; raise StudyError if a
    target could not be fitted (everything is written first)."""
    cfg = StudyConfig.from_json(doc["config"])
    runs = sorted_runs(records.values())
    result = analyse(cfg, runs)
    doc.update(result.to_json())
    save_study(out, doc, runs, wall)
    study = Study(doc, cfg, runs, result.fits)
    write_runs_csv(out, study)
    write_report(out, study)
    if result.errors:
        more = f" (and {len(result.errors) - 1} more)" if len(result.errors) > 1 else ""
        raise StudyError(
            f"{result.errors[0]}{more}; the runs are in {out / STUDY_FILE} and {out / REPORT_FILE}"
        )
    return study
