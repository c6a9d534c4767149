"""Is B_simple ever n/a on a run that reached its target? Counted over finished studies.

    python -m benchmarks.study_bsimple_na DIR [DIR ...]

Per study: the runs that reached the top target, how many of them have no run-average policy
B_simple (n/a), how many give only a lower bound (the pooled |G|^2 was <= 0), and the same for
the front's representative runs after the analysis of this rlnoise (rlnoise.study.analysis);
and how many runs got fewer B_noise measurements than the multiples of --b-noise-every before
their target, only one, or a B_noise <= 0.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks._machine import machine_line
from rlnoise.study.analysis import analyse
from rlnoise.study.store import load_study


def count(d: Path) -> dict:
    s = load_study(d)
    t = s.cfg.top_target
    hit = [r.at(t) for r in s.runs if r.at(t).steps is not None]  # crossings of the target
    reached = [c.noise["policy"] for c in hit]
    m = s.cfg.b_noise_every
    # B_noise: measurements each run got up to the target against the multiples of
    # --b-noise-every before it (ceil(S / M)); before 2026-11-28's cadence fix they met only
    # where B_simple's adaptive cadence did, often at update 0 alone
    bn = [(c.noise.get("b_noise_n") or 0, -(-c.steps // m)) for c in hit] if m else []
    vals = [c.noise.get("b_noise") for c in hit]
    front = analyse(s.cfg, s.runs, n_boot=50).fits[-1].front
    fp = [f.noise["policy"] for f in front]
    return {
        "study": str(d),
        "reached": len(reached),
        "reached_na": sum(p["run_avg"] is None for p in reached),
        "reached_lower_bound": sum(p.get("run_avg_bound") == "lower" for p in reached),
        "front": len(fp),
        "front_na": sum(p["run_avg"] is None for p in fp),
        "front_lower_bound": sum(p.get("run_avg_bound") == "lower" for p in fp),
        "b_noise_every": m,
        "b_noise_runs_short": sum(n < due for n, due in bn),
        "b_noise_runs_one_measurement": sum(n == 1 for n, _ in bn),
        "b_noise_runs_nonpositive": sum(v is not None and v <= 0 for v in vals),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dirs", nargs="+", type=Path)
    for d in ap.parse_args().dirs:
        c = count(d)
        print(
            f"{c['study']}: {c['reached']} runs reached the target, B_simple n/a in"
            f" {c['reached_na']}, a lower bound in {c['reached_lower_bound']}; front:"
            f" {c['front']} points, n/a {c['front_na']}, lower bound {c['front_lower_bound']};"
            f" B_noise (every {c['b_noise_every']}): short in {c['b_noise_runs_short']} runs, one"
            f" measurement in {c['b_noise_runs_one_measurement']}, <= 0 in"
            f" {c['b_noise_runs_nonpositive']}"
        )
    print(machine_line())


if __name__ == "__main__":
    main()
