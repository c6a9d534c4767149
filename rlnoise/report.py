"""report.md and the plots of a study, from DIR/study.json alone (`rlnoise report DIR`)."""

from __future__ import annotations

from pathlib import Path

from rlnoise.checkpoint import atomic_write_text
from rlnoise.study import StudyConfig, describe_lr_rule
from rlnoise.study_analysis import BAND, CI, N_BOOT

REPORT_FILE = "report.md"


def write_report(out: Path, doc: dict) -> Path:
    from rlnoise.plots import draw_all

    out = Path(out)
    draw_all(out, doc)
    path = out / REPORT_FILE
    atomic_write_text(path, render(doc))
    return path


def rebuild(out: Path) -> Path:
    """Redraw report.md and the plots from out/study.json (no training, no refit)."""
    from rlnoise.study_runner import load_study

    doc = load_study(out)
    if "fits" not in doc:  # a study still running or stopped: report what has finished
        from rlnoise.study_analysis import analyse, notes

        cfg = StudyConfig.from_json(doc["config"])
        doc.update(analyse(cfg, doc["runs"]))
        for fit in doc["fits"]:
            fit["notes"] = notes(cfg, fit)
    return write_report(out, doc)


# ----------------------------------------------------------------------------- text


def _n(x, digits: int = 0) -> str:
    if x is None:
        return "n/a"
    return f"{x:,.{digits}f}"


def _lr(x) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def verdict_lines(doc: dict) -> list[str]:
    """The headline, as printed at the end of `rlnoise study` and atop report.md."""
    fits = doc.get("fits") or []
    if not fits:
        return ["no fit yet"]
    top = fits[-1]
    t = top["target"]
    if not top["ok"]:
        return [f"No B_crit for target {t:g}: {top['error']}."]
    iv = top.get("interval")
    if iv and iv.get("degenerate"):
        ivs = " (no bootstrap interval: one run per batch size, nothing to resample)"
    elif iv:
        ivs = f" ({int(iv['ci'] * 100)}% bootstrap interval {_n(iv['lo'])}–{_n(iv['hi'])})"
    else:
        ivs = " (no bootstrap interval: the resamples could not be fitted)"
    lines = [
        f"B_crit = {_n(top['b_crit'])} observations{ivs} for target {t:g}; "
        f"S_min = {_n(top['s_min'], 1)} updates, E_min = {_n(top['e_min'])} observations.",
    ]
    bs = top["b_simple"]
    if bs.get("policy") is None:
        lines.append("B_simple: not measured on the front runs.")
        return lines
    lines.append(
        f"B_simple = {_n(bs['policy'])} observations: median over the {len(top['front'])} "
        f"fastest runs (one per B) of the policy loss's run-averaged B_simple up to the target "
        f"(range {_n(bs['policy_min'])}–{_n(bs['policy_max'])}; value loss {_n(bs['value'])}, "
        f"total {_n(bs['total'])})."
    )
    r = top["ratio"]
    if top["verdict"] == "consistent":
        v = f"consistent with the paper's band ({BAND[0]:g}–{BAND[1]:g}x)"
    else:
        side = "above" if r > BAND[1] else "below"
        v = f"a MISS: {side} the paper's band ({BAND[0]:g}–{BAND[1]:g}x)"
    lines.append(f"B_simple / B_crit = {r:.2g}: {v}.")
    if top.get("b_noise_ratio") is not None:
        lines.append(
            f"B_noise = {_n(top['b_noise'])} (median over the front, where measured): "
            f"B_noise / B_crit = {top['b_noise_ratio']:.2g}."
        )
    return lines


def render(doc: dict) -> str:
    cfg = StudyConfig.from_json(doc["config"])
    m = doc.get("machine") or {}
    ex = doc.get("execution") or {}
    L: list[str] = []
    add = L.append
    add(f"# rlnoise study: {doc['env']} {doc['algo'].upper()}")
    add("")
    add(f"- Command: `{doc.get('command', '')}`")
    add(
        f"- Machine: {m.get('platform', '?')}; CPU {m.get('cpu') or '?'} ({m.get('cores', '?')} "
        f"cores); Python {m.get('python', '?')}, torch {m.get('torch', '?')}"
    )
    add(
        f"- Date: started {doc.get('started')}, finished {doc.get('finished') or 'not yet'}; "
        f"wall time {_n((doc.get('wall_seconds') or 0) / 60, 1)} min on {ex.get('workers') or '?'} "
        f"{ex.get('backend', 'local')} worker(s), {ex.get('threads_per_run', 1)} thread(s) each"
    )
    add(f"- Runs: {len(doc['runs'])}; status: {doc.get('status')}")
    add("")
    add("## Verdict")
    add("")
    L += [f"- {x}" for x in verdict_lines(doc)]
    add("")
    add("## Setup")
    add("")
    add(
        f"- Batch size B = n_envs x {cfg.n_steps} steps per env per update, in observations "
        f"(agent steps, not emulator frames): n_envs {', '.join(map(str, cfg.n_envs))} -> "
        f"B = {', '.join(f'{b:,}' for b in cfg.batch_sizes)}."
    )
    steps_def = (
        "PPO rollout iterations (updates of the serial loop; each has the same "
        "epochs x minibatches of optimizer steps at every B)"
        if cfg.algo == "ppo"
        else "A2C updates (one optimizer step each)"
    )
    add(f"- Steps S = {steps_def}; samples E = S x B observations.")
    add(
        f"- Target: mean return of the last {cfg.episode_window} whole episodes >= "
        f"{', '.join(f'{t:g}' for t in cfg.targets)}. Runs train to {cfg.top_target:g} and "
        f"stop there or at --max-steps {cfg.max_steps:,}; a lower target's crossing is read "
        "from the learning curve (first update with a full window at or above it)."
    )
    add(f"- Seeds: {cfg.seeds} (0..{cfg.seeds - 1}). Learning rate: {describe_lr_rule(cfg)}.")
    add(
        "- Learning rate constant during each run"
        + (" (annealed)" if cfg.anneal_lr else " (no annealing, which would tie it to max-steps)")
        + "."
    )
    add(
        "- The point per batch size for the fit is its fastest run: fewest steps to the target "
        "over all learning rates and seeds (min over seeds, the paper's 'best run'); the "
        "steps of every seed at that lr are listed beside it. "
        f"B_crit's {int(CI * 100)}% interval is a percentile bootstrap ({N_BOOT} resamples): "
        "the runs that reached the target at each B (all seeds and lrs) are resampled with "
        "replacement, the fastest kept, and the front refitted."
    )
    if cfg.lr_rule == "grid" and cfg.cap_by_fastest:
        add(
            "- Runs at the non-central lrs stop once they have used as many updates as the "
            "fastest finished run at their B (they can no longer be the fastest there): such a "
            "run that did not reach the target is shown as capped, and is absent from the "
            "bootstrap."
        )
    add(
        f"- Noise scale: measured every {cfg.noise_every} update(s) at the parameters that "
        f"collected the rollout, from K = min({cfg.noise_groups}, n_envs) env groups (contiguous "
        "time chunks at 1 env). A run's B_simple is the ratio of its run-averaged tr(Sigma) and "
        "|G|^2 estimates up to the target (the paper's convention); 'last 10%' averages the last "
        "tenth of the measurements (near the target); 'median raw' is the median of the "
        "per-update ratios; n/a where the averaged |G|^2 estimate was <= 0 (no signal). "
        "The study's B_simple is the median over the front (one fastest run "
        "per B) of the policy loss's run average."
        + (
            f" B_noise from Hessian-vector products every {cfg.b_noise_every} updates."
            if cfg.b_noise_every
            else ""
        )
    )
    add("")
    for fit in doc.get("fits") or []:
        L += _target_section(cfg, doc, fit)
    add("## Plots")
    add("")
    add("![](pareto.png)")
    add("")
    add("![](speedup.png)")
    add("")
    add("![](noise.png)")
    add("")
    L += _runs_section(doc)
    return "\n".join(L) + "\n"


def _target_section(cfg: StudyConfig, doc: dict, fit: dict) -> list[str]:
    t = fit["target"]
    L = [f"## Target {t:g}", ""]
    if fit["ok"]:
        iv = fit.get("interval")
        if iv and iv.get("degenerate"):
            ivs = "(no interval: one run per batch size)"
        elif iv:
            ivs = (
                f"[{_n(iv['lo'])}, {_n(iv['hi'])}] ({int(iv['ci'] * 100)}% bootstrap; "
                f"{iv['n_ok']} resamples fitted, {iv['n_failed']} not)"
            )
        else:
            ivs = "(no interval: no resample could be fitted)"
        L.append(
            f"Fit S = S_min (1 + B_crit/B): S_min = {_n(fit['s_min'], 1)} updates, "
            f"E_min = {_n(fit['e_min'])} observations, **B_crit = {_n(fit['b_crit'])}** "
            f"{ivs}; rms residual in log S {fit['rmse_log']:.3f}."
        )
    else:
        L.append(f"**No B_crit:** {fit['error']}.")
    bs = fit["b_simple"]
    if bs.get("policy") is not None:
        ratio = ""
        if fit.get("ratio") is not None:
            ratio = (
                f" **B_simple / B_crit = {fit['ratio']:.2g}** "
                f"({'consistent with' if fit['verdict'] == 'consistent' else 'a miss of'} the "
                f"paper's {BAND[0]:g}–{BAND[1]:g}x band)."
            )
        L += [
            "",
            f"B_simple on the front (median over B): policy {_n(bs['policy'])}, value "
            f"{_n(bs['value'])}, total {_n(bs['total'])}; near the target (last 10%): policy "
            f"{_n(bs['policy_last10_avg'])}; median of raw estimates: policy "
            f"{_n(bs['policy_median_raw'])}.{ratio}",
        ]
    if fit.get("b_noise") is not None:
        r = fit.get("b_noise_ratio")
        L += [
            "",
            f"B_noise (total loss, median over the front) {_n(fit['b_noise'])}"
            + (f": B_noise / B_crit = {r:.2g}." if r is not None else "."),
        ]
    L += ["", "Fastest run per batch size (the front):", ""]
    L.append(
        "| B | envs | groups | lr | seed | S | E | S by seed at this lr | "
        "B_simple policy: run avg / last 10% / median raw | value | total |"
    )
    L.append("|---:|---:|---|---:|---:|---:|---:|---|---|---:|---:|")
    front = {f["batch_size"]: f for f in fit["front"]}
    for row in fit["per_batch"]:
        f = front.get(row["batch_size"])
        if f is None:
            L.append(f"| {row['batch_size']:,} | {row['n_envs']} | | | | not reached | | | | | |")
            continue
        at = next(x for x in row["by_lr"] if x["k"] == f["k"])
        g = f["noise_groups"]
        nz = f["noise"]
        edge = f" ({row['edge']} edge)" if row.get("edge") else ""
        L.append(
            f"| {row['batch_size']:,} | {row['n_envs']} | K={g['k']} by {g['by']} | "
            f"{_lr(f['lr'])}{edge} | {f['seed']} | {f['steps']:,} | {f['samples']:,} | "
            f"{_seeds(at)} | {_n(nz['policy']['run_avg'])} / {_n(nz['policy']['last10_avg'])} / "
            f"{_n(nz['policy']['median_raw'])} | {_n(nz['value']['run_avg'])} | "
            f"{_n(nz['total']['run_avg'])} |"
        )
    if any(len(row["by_lr"]) > 1 for row in fit["per_batch"]):
        L += ["", "Every learning rate tried (B_simple: policy, median over seeds, up to the "
              "target or the run's end):", ""]  # fmt: skip
        L.append("| B | lr | x sqrt rule | S by seed | B_simple |")
        L.append("|---:|---:|---:|---|---:|")
        for row in fit["per_batch"]:
            for x in row["by_lr"]:
                mult = cfg.grid_factor ** x["k"] if cfg.lr_rule == "grid" else 1.0
                ms = f"1/{1 / mult:g}" if mult < 1 else f"{mult:g}"
                L.append(
                    f"| {row['batch_size']:,} | {_lr(x['lr'])} | {ms} | {_seeds(x)} | "
                    f"{_n(x['b_simple'])} |"
                )
    if fit.get("notes"):
        L += ["", "What to keep in mind:", ""]
        L += [f"- {n}" for n in fit["notes"]]
    L.append("")
    return L


def _seeds(x: dict) -> str:
    parts = []
    for s, capped, mx in zip(x["steps_by_seed"], x["capped"], x["max_updates"]):
        parts.append(f"{s:,}" if s is not None else (f">{mx:,}" + (" (cap)" if capped else "")))
    return ", ".join(parts)


def _runs_section(doc: dict) -> list[str]:
    L = ["## All runs", ""]
    L.append(
        "| run | B | lr | seed | status | S | E | updates | final return | B_simple | wall s |"
    )
    L.append("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in doc["runs"]:
        status = r["status"]
        if status == "finished":
            status = "reached" if r["steps_to_target"] is not None else "not reached"
            if r["steps_to_target"] is None and r["capped"]:
                status += " (cap)"
        L.append(
            f"| {r['name']} | {r['batch_size']:,} | {_lr(r['lr'])} | {r['seed']} | {status} | "
            f"{_n(r['steps_to_target'])} | {_n(r['samples_to_target'])} | {_n(r['updates'])} | "
            f"{_n(r['final_return'], 1)} | {_n(r['b_simple'])} | {_n(r['wall_seconds'])} |"
        )
    L += [
        "",
        "Each run's directory is runs/NAME (TensorBoard events, config.json, summary.json with "
        "the full learning curve and noise trace; study.json keeps them thinned to at most 200 "
        "points per run); runs.csv has one row per run.",
    ]
    return L
