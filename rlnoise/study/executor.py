"""Where study runs execute: a local process pool (spawn) or Ray; and the job each one runs.

A job trains one run in its own directory: it starts it, or resumes it from its checkpoint, or
(a directory with config.json but no checkpoint) restarts it from scratch; a directory that
already holds summary.json is returned as it is, never trained again.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from agents.ppo import NonFiniteLossError
from rlnoise.checkpoint import CHECKPOINT_NAME, CheckpointError
from rlnoise.config import TrainConfig
from rlnoise.files import atomic_write_json
from rlnoise.hardware import usable_cores
from rlnoise.study.config import StudyError
from rlnoise.study.store import SUMMARY_FILE, WINDOW_FILE, first_full_update, read_json
from rlnoise.train import LOG_FILE, TrainingInterrupted, resume, start

if TYPE_CHECKING:  # annotations only: the public names above are all this module relies on
    from rlnoise.train import Trainer


_STOP = None  # multiprocessing.Event shared with local workers
_PARENT = None  # the study process; a worker exits when it is gone


def default_workers(threads_per_run: int = 1) -> int:
    """As many runs as the usable cores hold at `threads_per_run` each (at least one)."""
    return max(1, usable_cores() // max(1, threads_per_run))


# ----------------------------------------------------------------------------- the job


def execute_run(job: dict) -> dict:
    """Train one run to its target or budget. `job`: {"run_dir", "config" (TrainConfig
    fields)}. Returns {"summary", "first_full_update", "how" (started/resumed/restarted/
    existing), "seconds"}. A run whose loss turns non-finite is finished as "diverged"."""
    run_dir = Path(job["run_dir"])
    t0 = time.time()
    if (run_dir / SUMMARY_FILE).exists():
        return {
            "summary": read_json(run_dir / SUMMARY_FILE),
            "first_full_update": first_full_update(run_dir),
            "how": "existing",
            "seconds": 0.0,
        }
    how = "started"
    if (run_dir / CHECKPOINT_NAME).exists():
        how = "resumed"
    elif (run_dir / "config.json").exists():
        how = "restarted"  # created but killed before its first checkpoint
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cb = _callback(
        run_dir, int(job["config"].get("episode_window", 20)), job.get("checkpoint_seconds")
    )
    with open(run_dir / LOG_FILE, "a") as log, contextlib.redirect_stdout(log):
        with contextlib.redirect_stderr(log):
            trainer = None
            if how == "resumed":
                try:
                    trainer = resume(run_dir, on_update=cb, progress=False)
                except CheckpointError:
                    how = "restarted"
                    shutil.rmtree(run_dir)
                    run_dir.mkdir(parents=True)
            if trainer is None:
                trainer = start(TrainConfig(**job["config"]), on_update=cb)
            start_update = trainer.update
            summary = _train(trainer, run_dir, t0)
    return {
        "summary": summary,
        "first_full_update": first_full_update(run_dir),
        "how": how,
        "resumed_at": start_update if how == "resumed" else None,
        "seconds": time.time() - t0,
    }


def _train(trainer: Trainer, run_dir: Path, t0: float) -> dict:
    """trainer.run(); a non-finite loss finishes the run as "diverged" with what is known."""
    try:
        return trainer.run()
    except NonFiniteLossError as e:
        wall = time.time() - t0
        try:
            summary = trainer.summary(wall, trainer.global_step)
        except Exception:  # noqa: BLE001 - keep what is known
            summary = {"updates": trainer.update, "global_step": trainer.global_step}
        summary |= {"status": "diverged", "error": str(e).splitlines()[0]}
        atomic_write_json(run_dir / SUMMARY_FILE, summary)
        return summary


def _callback(
    run_dir: Path, window: int, checkpoint_seconds: float | None = None
) -> Callable[[Trainer], None]:
    """on_update: note the first update with a full episode window (written before that
    update's checkpoint, so a resumed run always finds it); save a checkpoint once
    `checkpoint_seconds` have passed since the last one (the study's cadence: a killed study
    loses at most that much of each run in flight, plus one update); save a checkpoint and stop
    when the study asks; exit when the study process has died."""
    state = {"noted": (run_dir / WINDOW_FILE).exists(), "saved": time.monotonic()}

    def on_update(trainer: Trainer) -> None:
        if not state["noted"] and len(trainer.recent) >= window:
            atomic_write_json(run_dir / WINDOW_FILE, {"first_full_update": trainer.update})
            state["noted"] = True
        if _PARENT is not None and os.getppid() != _PARENT:
            os._exit(1)
        now = time.monotonic()
        if checkpoint_seconds is not None and now - state["saved"] >= checkpoint_seconds:
            trainer.save()
            state["saved"] = now
        if _STOP is not None and _STOP.is_set():
            trainer.save()  # this update is complete: resume continues from here
            raise TrainingInterrupted(f"stopped by the study at update {trainer.update}")

    return on_update


class _Timed(Exception):
    """Ends a calibration run once its timing window is full."""


def measure_sps(config: dict, seconds: float = 3.0, min_updates: int = 2) -> dict:
    """Calibrate one run: build the run of `config` (TrainConfig fields) in a throwaway
    directory, train one update to warm up, then time updates of the real training loop
    (noise measurements included as they fall due) until `seconds` have passed and at least
    `min_updates` are timed. Returns {"sps" (observations/s), "updates" (timed), "startup"
    (seconds to build the run: environments, network)}."""
    clock: dict = {}

    def on_update(trainer: Trainer) -> None:
        now = time.perf_counter()
        if "t0" not in clock:  # the warm-up update is done
            clock.update(t0=now, step0=trainer.global_step, update0=trainer.update)
        clock.update(t=now, step=trainer.global_step, update=trainer.update)
        if now - clock["t0"] >= seconds and trainer.update - clock["update0"] >= min_updates:
            raise _Timed

    with tempfile.TemporaryDirectory(prefix="rlnoise-calibration-") as tmp:
        cfg = config | {
            "run_dir": str(Path(tmp) / "run"),
            "target_return": None,
            "progress": False,
            "checkpoint_every": 10**9,
        }
        t0 = time.perf_counter()
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            trainer = start(TrainConfig(**cfg), on_update=on_update)
            startup = time.perf_counter() - t0
            with contextlib.suppress(_Timed):
                trainer.run()
    if clock.get("update", 0) <= clock.get("update0", 0):
        raise StudyError(
            f"calibration of {config.get('n_envs')} envs needs a step cap of at least 2 updates"
        )
    sps = (clock["step"] - clock["step0"]) / max(clock["t"] - clock["t0"], 1e-9)
    return {"sps": sps, "updates": clock["update"] - clock["update0"], "startup": startup}


def _init_worker(stop_event, parent_pid: int) -> None:
    global _STOP, _PARENT
    _STOP, _PARENT = stop_event, parent_pid
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the trainer installs its own while training
    os.environ.setdefault("RLNOISE_NO_PROGRESS", "1")
    if sys.platform.startswith("linux"):  # die with the study process, even on SIGKILL
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent_pid:
            os._exit(1)
    torch.set_num_threads(1)


# ----------------------------------------------------------------------------- backends


class LocalExecutor:
    """A spawn-context process pool; one run per worker process at a time."""

    name = "local"

    def __init__(self, workers: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.stop_event = ctx.Event()
        self.workers = workers
        self.pool = cf.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(self.stop_event, os.getpid()),
        )

    def submit(self, job: dict):
        return self.pool.submit(execute_run, job)

    def wait(self, handles: list, timeout: float | None = None) -> list:
        done, _ = cf.wait(handles, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return list(done)

    @staticmethod
    def result(handle) -> dict:
        return handle.result()

    def request_stop(self) -> None:
        self.stop_event.set()

    def shutdown(self, cancel: bool = False) -> None:
        self.pool.shutdown(wait=not cancel, cancel_futures=cancel)


class RayExecutor:
    """Ray tasks (one CPU each by default). Run directories are written by the workers: on a
    multi-node cluster the study directory must be on a filesystem every node sees."""

    name = "ray"

    def __init__(self, workers: int | None, address: str | None, threads_per_run: int) -> None:
        try:
            import ray  # optional (pip install 'rlnoise[ray]'): imported only for --backend ray
        except ImportError:
            raise StudyError(
                "--backend ray needs Ray, which is not installed: pip install 'rlnoise[ray]'"
            ) from None
        self.ray = ray
        if not ray.is_initialized():
            kw: dict = {"include_dashboard": False, "log_to_driver": False}
            if address:
                kw["address"] = address
            try:
                ray.init(**kw)
            except Exception as e:  # noqa: BLE001 - e.g. no cluster at --ray-address
                msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise StudyError(f"cannot connect to Ray at {address or 'local'}: {msg}") from None
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = workers or max(1, cpus // max(1, threads_per_run))
        self._task = ray.remote(num_cpus=threads_per_run, max_retries=0)(_ray_job)
        self._live: list = []

    def submit(self, job: dict):
        ref = self._task.remote(job)
        self._live.append(ref)
        return ref

    def wait(self, handles: list, timeout: float | None = None) -> list:
        done, _ = self.ray.wait(handles, num_returns=1, timeout=timeout)
        return list(done)

    def result(self, handle) -> dict:
        return self.ray.get(handle)

    def request_stop(self) -> None:
        """Interrupt the in-flight tasks; their runs resume from their last checkpoints."""
        for ref in self._live:
            with contextlib.suppress(Exception):
                self.ray.cancel(ref)

    def shutdown(self, cancel: bool = False) -> None:
        if cancel:
            return
        self.ray.shutdown()


def _ray_job(job: dict) -> dict:
    os.environ.setdefault("RLNOISE_NO_PROGRESS", "1")
    torch.set_num_threads(int(job["config"].get("torch_threads") or 1))
    return execute_run(job)


def make_executor(backend: str, workers: int | None, address: str | None, threads_per_run: int):
    if backend == "ray":
        return RayExecutor(workers, address, threads_per_run)
    return LocalExecutor(workers or default_workers(threads_per_run))
