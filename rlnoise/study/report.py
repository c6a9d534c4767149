"""report.md and the plots of a study, from DIR/study.json alone (`rlnoise report DIR`), and
the tables `rlnoise study` prints; torch-free."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from rlnoise.files import atomic_write_text
from rlnoise.study.analysis import BAND, CI, N_BOOT, analyse
from rlnoise.study.budget import budget_line
from rlnoise.study.config import StudyConfig, describe_lr_rule, lr_multiplier, mult_str
from rlnoise.study.plots import draw_all
from rlnoise.study.records import BatchRow, FrontPoint, LrCell, RunRecord, TargetFit
from rlnoise.study.store import Study

REPORT_FILE = "report.md"


def write_report(out: Path, study: Study) -> Path:
    """Draw the plots and write report.md into `out`; returns the report's path."""
    out = Path(out)
    draw_all(out, study)
    path = out / REPORT_FILE
    atomic_write_text(path, render(study))
    return path


def rebuild(out: Path, study: Study) -> Path:
    """Redraw report.md and the plots in `out` from `study` as loaded from its study.json (no
    training, no refit; a study still running or stopped has no fit yet: its finished runs are
    analysed for the report)."""
    if not study.fitted:
        study = study.with_result(analyse(study.cfg, study.runs))
    return write_report(out, study)


# ----------------------------------------------------------------------------- numbers


def _n(x: float | None, digits: int = 0) -> str:
    """`x` with `digits` decimals and thousands separators; a nonzero |x| < 0.5, which would
    print as 0 with no decimals, gets two significant digits instead (a B_noise of 0.013 is not
    0)."""
    if x is None:
        return "n/a"
    if digits == 0 and 0 < abs(x) < 0.5:
        return f"{x:.2g}"
    return f"{x:,.{digits}f}"


def _lr(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"


# ----------------------------------------------------------------------------- the verdict


# An interval reaching further than this factor from B_crit gets the hint to add seeds. A
# repeat lands outside a calibrated 90% interval ~25% of the time: two estimates differ by
# sqrt(2) of one's sd, P(|Z| > 1.645 / sqrt(2)) = 0.245 (benchmarks/RESULTS.md, the goal's ceiling).
LOOSE = 1.25


def verdict_lines(study: Study) -> list[str]:
    """The headline, as printed at the end of `rlnoise study` and atop report.md."""
    top = study.top
    if top is None:
        return ["no fit yet"]
    t = top.target
    if not top.ok:
        return [f"No B_crit for target {t:g}: {top.error}."]
    iv = top.interval
    if iv and iv.degenerate:
        ivs = " (no bootstrap interval: one run per batch size, nothing to resample)"
    elif iv:
        ivs = f" ({int(iv.ci * 100)}% bootstrap interval {_n(iv.lo)}–{_n(iv.hi)})"
    else:
        ivs = " (no bootstrap interval: the resamples could not be fitted)"
    lines = [
        f"B_crit = {_n(top.b_crit)} observations{ivs} for target {t:g}; "
        f"S_min = {_n(top.s_min, 1)} updates, E_min = {_n(top.e_min)} observations.",
    ]
    if iv and not iv.degenerate and iv.lo > 0:
        spread = max(iv.hi / top.b_crit, top.b_crit / iv.lo)
        if spread > LOOSE:
            lines.append(
                f"That interval reaches a factor {spread:.2g} from B_crit, and a repeat with "
                "other seeds lands outside it about one time in four. More seeds narrow it: the "
                "same command with a larger --seeds and this --out adds seeds to the study, "
                "keeping its runs."
            )
    bs = top.b_simple
    if bs.get("policy") is None:
        lines.append("B_simple: not measured on the front runs.")
        return lines
    lines.append(
        f"B_simple = {_n(bs['policy'])} observations: median over the {len(top.front)} "
        f"front points (the median run of the front's lr at each B) of the policy loss's "
        "run-averaged B_simple up to the target "
        f"(range {_n(bs['policy_min'])}–{_n(bs['policy_max'])}; value loss {_n(bs['value'])}, "
        f"total {_n(bs['total'])})."
    )
    r = top.ratio
    assert r is not None  # B_simple and a fit
    if top.verdict == "consistent":
        v = f"consistent with the paper's band ({BAND[0]:g}–{BAND[1]:g}x)"
    else:
        side = "above" if r > BAND[1] else "below"
        v = f"a MISS: {side} the paper's band ({BAND[0]:g}–{BAND[1]:g}x)"
    lines.append(f"B_simple / B_crit = {r:.2g}: {v}.")
    if top.b_noise_ratio is not None and not top.predictors:
        lines.append(
            f"B_noise = {_n(top.b_noise)} (median over the front, where measured): "
            f"B_noise / B_crit = {top.b_noise_ratio:.2g}."
        )
    lines += [predictor_line(p) for p in top.predictors]
    lines += top.predictor_verdict
    return lines


def _iv(lo: float | None, hi: float | None, digits: int = 0, ratio: bool = False) -> str:
    f = (lambda x: "n/a" if x is None else f"{x:.2g}") if ratio else (lambda x: _n(x, digits))
    return f"[{f(lo)}, {f(hi) if hi is not None else 'unbounded'}]"


def predictor_line(p: dict) -> str:
    """One predictor with its interval and its ratio to B_crit with its interval."""
    if p["value"] is None:
        return f"{p['label']}: not measured."
    r = p["ratio"]
    return (
        f"{p['label']} = {_n(p['value'])} {_iv(p['lo'], p['hi'])}; / B_crit = "
        f"{r:.2g} {_iv(p['ratio_lo'], p['ratio_hi'], ratio=True)}"
        f"{' (within 2x)' if p['within_2x'] else ''}.{_left_out(p)}"
    )


def _left_out(p: dict) -> str:
    """Says how many front runs read <= 0 (no noise scale) and were left out of the median."""
    k, n = p.get("n_nonpositive") or 0, p.get("n_runs") or 0
    if not k:
        return ""
    return (
        f" {k} of the front's {n} runs read <= 0 (no noise scale: a curvature-weighted or "
        "trace estimate below zero) and are left out of the median."
    )


def predictor_table(preds: list[dict]) -> list[str]:
    """Markdown table of the predictors (value, interval, ratio, interval, within 2x)."""
    L = ["| predictor | value | 90% interval | / B_crit | 90% interval | within 2x |",
         "|---|---:|---|---:|---|---|"]  # fmt: skip
    for p in preds:
        r = p["ratio"]
        L.append(
            f"| {p['label']} | {_n(p['value'])} | {_iv(p['lo'], p['hi'])} | "
            f"{'n/a' if r is None else f'{r:.2g}'} | "
            f"{_iv(p['ratio_lo'], p['ratio_hi'], ratio=True)} | "
            f"{'n/a' if p['within_2x'] is None else 'yes' if p['within_2x'] else 'no'} |"
        )
    widened = [p["label"] for p in preds if _widened(p)]
    if widened:
        L += [
            "",
            f"Widened to include the estimate: {'; '.join(widened)}. The 90% range of the "
            "Monte Carlo draws (each run drawn from its own interval) lay wholly above or below "
            "the point there, as it does where runs give only a lower bound (|G|^2 <= 0 over "
            "their window) or few measurements; an interval that starts or ends at its estimate "
            "is this widening, not a measured bound.",
        ]
    return L


def _widened(p: dict) -> bool:
    """Whether a predictor's interval was widened to reach its estimate (predictors.py sets an
    end to the value itself where the draws' 90% range excluded it)."""
    v = p.get("value")
    return v is not None and p.get("lo") is not None and v in (p["lo"], p["hi"])


# ----------------------------------------------------------------------------- the front table


class _Col(NamedTuple):
    header: str
    width: int  # text style: right-aligned in this many characters
    right: bool  # markdown style: right-aligned
    cell: Callable[[BatchRow, FrontPoint], str]


def _groups(row: BatchRow, f: FrontPoint) -> str:
    return f"K={f.noise_groups['k']} by {f.noise_groups['by']}"


def _lr_edge(row: BatchRow, f: FrontPoint) -> str:
    return _lr(f.lr) + (f" ({row.edge} edge)" if row.edge else "")


def _seeds_at_lr(row: BatchRow, f: FrontPoint) -> str:
    return _seeds(next(x for x in row.by_lr if x.k == f.k))


def _policy_stats(row: BatchRow, f: FrontPoint) -> str:
    p = f.noise["policy"]
    ge = ">=" if p.get("run_avg_bound") == "lower" else ""  # pooled |G|^2 <= 0: a lower bound
    return f"{ge}{_n(p['run_avg'])} / {_n(p['last10_avg'])} / {_n(p['median_raw'])}"


_B = _Col("B", 7, True, lambda row, f: f"{row.batch_size:,}")
_ENVS = _Col("envs", 5, True, lambda row, f: str(row.n_envs))
_SEED = _Col("seed", 4, True, lambda row, f: str(f.seed))
_S = _Col("S", 6, True, lambda row, f: _n(f.steps, 0 if float(f.steps).is_integer() else 1))
_E = _Col("E", 10, True, lambda row, f: _n(f.samples))
_TEXT_COLUMNS = (
    _B,
    _ENVS,
    _Col("lr", 9, True, lambda row, f: f"{f.lr:.2e}"),
    _SEED,
    _S,
    _E,
    _Col("B_simple", 9, True, lambda row, f: _n(f.noise["policy"]["run_avg"])),
)
_MARKDOWN_COLUMNS = (
    _B,
    _ENVS,
    _Col("groups", 0, False, _groups),
    _Col("lr", 0, True, _lr_edge),
    _SEED,
    _S,
    _E,
    _Col("S by seed at this lr", 0, False, _seeds_at_lr),
    _Col("B_simple policy: run avg / last 10% / median raw", 0, False, _policy_stats),
    _Col("value", 0, True, lambda row, f: _n(f.noise["value"]["run_avg"])),
    _Col("total", 0, True, lambda row, f: _n(f.noise["total"]["run_avg"])),
)


def front_table(fit: TargetFit, text: bool = False) -> list[str]:
    """The front point per batch size, one row per B ("not reached" in the S column where no
    run reached the target, "no run finished" where none has finished yet): a markdown table
    for report.md, or with `text` the fixed-width table `rlnoise study` prints."""
    cols = _TEXT_COLUMNS if text else _MARKDOWN_COLUMNS
    rows = [[c.header for c in cols]]
    for row in fit.per_batch:
        f = fit.front_at(row.batch_size)
        if f is not None:
            rows.append([c.cell(row, f) for c in cols])
        else:  # B and envs only
            rows.append([_not_reached(c, row) for c in cols])
    if text:
        return [" ".join(f"{x:>{c.width}}" for c, x in zip(cols, r)).rstrip() for r in rows]
    rule = "|" + "|".join("---:" if c.right else "---" for c in cols) + "|"
    return [_md_row(rows[0]), rule, *(_md_row(r) for r in rows[1:])]


def _not_reached(c: _Col, row: BatchRow) -> str:
    if c is _B or c is _ENVS:
        return c.cell(row, None)  # type: ignore[arg-type]  # these read the row only
    if c is not _S:
        return ""
    return "not reached" if row.by_lr else "no run finished"


def _md_row(cells) -> str:
    return "|" + "|".join(f" {c} " if c else " " for c in cells) + "|"


def _seeds(x: LrCell) -> str:
    parts = []
    for s, capped, mx in zip(x.steps_by_seed, x.capped, x.max_updates):
        parts.append(f"{s:,}" if s is not None else (f">{mx:,}" + (" (cap)" if capped else "")))
    return ", ".join(parts)


# ----------------------------------------------------------------------------- report.md


def render(study: Study) -> str:
    """report.md: header, verdict, setup, one section per target, plots, every run."""
    L = _header(study)
    L += ["## Verdict", "", *(f"- {x}" for x in verdict_lines(study)), ""]
    L += ["## Setup", "", *(f"- {x}" for x in _setup(study.cfg)), ""]
    for fit in study.fits:
        L += _target_section(study.cfg, fit)
    L += ["## Plots", ""]
    for name in ("pareto.png", "speedup.png", "noise.png", "predictors.png"):
        L += [f"![]({name})", ""]
    L += _runs_section(study.runs)
    return "\n".join(L) + "\n"


def _header(study: Study) -> list[str]:
    doc = study.doc
    m = doc.get("machine") or {}
    ex = doc.get("execution") or {}
    return [
        f"# rlnoise study: {doc['env']} {doc['algo'].upper()}",
        "",
        f"- Command: `{doc.get('command', '')}`",
        *[
            f"- Seeds grown from {g['seeds_from']} to {g['seeds_to']} on {g['at']}: `{g['command']}`"
            for g in doc.get("seeds_grown") or []
        ],
        f"- Machine: {m.get('platform', '?')}; CPU {m.get('cpu') or '?'} ({m.get('cores', '?')} "
        f"cores); Python {m.get('python', '?')}, torch {m.get('torch', '?')}",
        f"- Date: started {doc.get('started')}, finished {doc.get('finished') or 'not yet'}; "
        f"wall time {_n((doc.get('wall_seconds') or 0) / 60, 1)} min on {ex.get('workers') or '?'} "
        f"{ex.get('backend', 'local')} worker(s), {ex.get('threads_per_run', 1)} thread(s) each",
        f"- Runs: {len(study.runs)}; status: {doc.get('status')}",
        *([f"- Time budget: {budget_line(doc['budget'])}"] if doc.get("budget") else []),
        "",
    ]


FRONT_SETUP = (
    "The point per batch size for the fit comes from the robust front "
    "(rlnoise.study.front): per lr a robust mean of log S over its seeds (Huber, k = 1.345 "
    "times the study's seed-noise scale), or the median where a run did not reach the "
    "target, such a run counted as censored (slower than its budget), not dropped; the lr "
    "per batch size from a least-squares fit of those values in log lr within two grid steps "
    "of the best lr, a line per batch size plus one curvature shared by every batch size, S "
    "its minimum there (so S and lr need not be a tried value). The Pareto fit weights each "
    "point by 1/sd^2 of its bootstrap log S. "
    f"B_crit's {int(CI * 100)}% interval is a percentile bootstrap ({N_BOOT} resamples) that "
    "redraws every cell's seeds from the study's pooled seed residuals, re-censors them (the "
    "caps of the non-central lrs moving with the best lr's resampled median), re-selects the "
    "lr and refits."
)


def _setup(cfg: StudyConfig) -> list[str]:
    """The Setup section's items: units, target, learning rates, the fit, the noise scale."""
    steps_def = (
        "PPO rollout iterations (updates of the serial loop; each has the same "
        "epochs x minibatches of optimizer steps at every B)"
        if cfg.algo == "ppo"
        else "A2C updates (one optimizer step each)"
    )
    items = [
        f"Batch size B = n_envs x {cfg.n_steps} steps per env per update, in observations "
        f"(agent steps, not emulator frames): n_envs {', '.join(map(str, cfg.n_envs))} -> "
        f"B = {', '.join(f'{b:,}' for b in cfg.batch_sizes)}.",
        f"Steps S = {steps_def}; samples E = S x B observations.",
        f"Target: mean return of the last {cfg.episode_window} whole episodes >= "
        f"{', '.join(f'{t:g}' for t in cfg.targets)}. Runs train to {cfg.top_target:g} and "
        f"stop there or at --max-steps {cfg.max_steps:,}; a lower target's crossing is read "
        "from the learning curve (first update with a full window at or above it).",
        f"Seeds: {cfg.seeds} ({cfg.seed_start}..{cfg.seed_start + cfg.seeds - 1}). "
        f"Learning rate: {describe_lr_rule(cfg)}.",
        "Learning rate constant during each run"
        + (" (annealed)" if cfg.anneal_lr else " (no annealing, which would tie it to max-steps)")
        + ".",
        FRONT_SETUP,
    ]
    if cfg.lr_rule == "grid" and cfg.cap_by_fastest:
        items.append(
            f"Runs at the non-central lrs stop at {cfg.cap_factor:g}x the updates of the best "
            f"lr so far at their B (by its {'median over seeds' if cfg.cell_stat == 'median' else 'fastest run'}): "
            "such a run that did not reach the target is shown as capped and counts as censored "
            "at that budget."
        )
    items.append(
        (
            f"Noise scale: measured every {cfg.noise_every} update(s)"
            if cfg.noise_every
            else "Noise scale: measured on an adaptive cadence (every update unless that "
            "costs over 3% of wall time; decided from the first 3 updates' timings)"
        )
        + " at the parameters that "
        f"collected the rollout, from K = min({cfg.noise_groups}, n_envs) env groups (contiguous "
        "time chunks at 1 env). A run's B_simple is the ratio of its run-averaged tr(Sigma) and "
        "|G|^2 estimates up to the target (the paper's convention); 'last 10%' averages the last "
        "tenth of the measurements (near the target); 'median raw' is the median of the "
        "per-update ratios (n/a where more than half of the per-update |G|^2 estimates were "
        "<= 0, an infinite ratio: the signal per update is lost, not the run's). Each has a 90% block-bootstrap interval over the run's "
        "measurements; where the run-averaged |G|^2 estimate was <= 0 the value is a lower "
        "bound (marked >=). The study's B_simple is the median over the front (the median "
        "run of the front's lr at each B) of the policy loss's run average."
        + (
            f" B_noise from Hessian-vector products every {cfg.b_noise_every} updates."
            if cfg.b_noise_every
            else ""
        )
    )
    return items


def _fit_line(fit: TargetFit) -> str:
    if not fit.ok:
        return f"**No B_crit:** {fit.error}."
    iv = fit.interval
    if iv and iv.degenerate:
        ivs = "(no interval: one run per batch size)"
    elif iv:
        ivs = (
            f"[{_n(iv.lo)}, {_n(iv.hi)}] ({int(iv.ci * 100)}% bootstrap; "
            f"{iv.n_ok} resamples fitted, {iv.n_failed} not)"
        )
    else:
        ivs = "(no interval: no resample could be fitted)"
    return (
        f"Fit S = S_min (1 + B_crit/B): S_min = {_n(fit.s_min, 1)} updates, "
        f"E_min = {_n(fit.e_min)} observations, **B_crit = {_n(fit.b_crit)}** "
        f"{ivs}; rms residual in log S {fit.rmse_log:.3f}."
    )


def _noise_lines(fit: TargetFit) -> list[str]:
    """B_simple (and B_noise) on the front, and their ratio to B_crit."""
    L: list[str] = []
    bs = fit.b_simple
    if bs.get("policy") is not None:
        ratio = ""
        if fit.ratio is not None:
            ratio = (
                f" **B_simple / B_crit = {fit.ratio:.2g}** "
                f"({'consistent with' if fit.verdict == 'consistent' else 'a miss of'} the "
                f"paper's {BAND[0]:g}–{BAND[1]:g}x band)."
            )
        L += [
            "",
            f"B_simple on the front (median over B): policy {_n(bs['policy'])}, value "
            f"{_n(bs['value'])}, total {_n(bs['total'])}; near the target (last 10%): policy "
            f"{_n(bs['policy_last10_avg'])}; median of raw estimates: policy "
            f"{_n(bs['policy_median_raw'])}.{ratio}",
        ]
    if fit.b_noise is not None:
        r = fit.b_noise_ratio
        L += [
            "",
            f"B_noise (total loss, median over the front points' own runs, one per batch size) "
            f"{_n(fit.b_noise)}"
            + (f": B_noise / B_crit = {r:.2g}" if r is not None else "")
            + (
                "; the predictor below takes the median over the seeds of each front cell."
                if fit.predictors
                else "."
            ),
        ]
    return L


def _target_section(cfg: StudyConfig, fit: TargetFit) -> list[str]:
    L = [f"## Target {fit.target:g}", "", _fit_line(fit), *_noise_lines(fit)]
    if fit.predictors:
        t_star = next((p.get("temperature") for p in fit.predictors if p.get("temperature")), None)
        L += [
            "",
            "Every noise-scale predictor beside B_crit (rlnoise.study.predictors; "
            f"common temperature lr/B = {t_star:.3g}):"
            if t_star
            else "Every predictor:",
            "",
        ]
        L += predictor_table(fit.predictors)
    L += [
        "",
        "The front (per B: S and lr from the smooth fit of the robust (Huber) mean of log S over "
        "seeds, the median where a run did not reach; seed, "
        "B_simple and groups of the median run at the nearest lr tried):",
        "",
        *front_table(fit),
    ]
    if any(len(row.by_lr) > 1 for row in fit.per_batch):
        L += ["", "Every learning rate tried (B_simple: policy, median over seeds, up to the "
              "target or the run's end):", ""]  # fmt: skip
        L.append("| B | lr | x sqrt rule | S by seed | B_simple |")
        L.append("|---:|---:|---:|---|---:|")
        for row in fit.per_batch:
            for x in row.by_lr:
                L.append(
                    f"| {row.batch_size:,} | {_lr(x.lr)} | {mult_str(lr_multiplier(cfg, x.k))} "
                    f"| {_seeds(x)} | {_n(x.b_simple)} |"
                )
    if fit.notes:
        L += ["", "What to keep in mind:", ""]
        L += [f"- {n}" for n in fit.notes]
    L.append("")
    return L


def _runs_section(runs: list[RunRecord]) -> list[str]:
    L = ["## All runs", ""]
    L.append(
        "| run | B | lr | seed | status | S | E | updates | final return | B_simple | wall s |"
    )
    L.append("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        status = r.status
        if status == "finished":
            status = "reached" if r.steps_to_target is not None else "not reached"
            if r.steps_to_target is None and r.capped:
                status += " (cap)"
        L.append(
            f"| {r.name} | {r.batch_size:,} | {_lr(r.lr)} | {r.seed} | {status} | "
            f"{_n(r.steps_to_target)} | {_n(r.samples_to_target)} | {_n(r.updates)} | "
            f"{_n(r.final_return, 1)} | {_n(r.b_simple)} | {_n(r.wall_seconds)} |"
        )
    L += [
        "",
        "Each run's directory is runs/NAME (TensorBoard events, config.json, summary.json with "
        "the full learning curve and noise trace; study.json keeps them thinned to at most 200 "
        "points per run); runs.csv has one row per run.",
    ]
    return L


# ----------------------------------------------------------------------------- several studies


def compare(studies: list[tuple[str, Study]]) -> str:
    """`rlnoise report --compare DIR...`: B_crit and every predictor, with 90% intervals, one
    row per study (its top target), then the ratios to B_crit, then each study's command."""
    names = [p["label"] for _, st in studies for p in (st.top.predictors if st.top else [])]
    labels = list(dict.fromkeys(names))
    head = "| study | target | B_crit [90%] | " + " | ".join(labels) + " |"
    rule = "|---|---:|---|" + "---|" * len(labels)
    values, ratios, cmds = [head, rule], [head.replace("B_crit [90%]", "B_crit"), rule], []
    for d, st in studies:
        top = st.top
        name = f"{st.doc['env']} {st.doc['algo'].upper()} (`{d}`)"
        grown = "".join(f", then `{g['command']}`" for g in st.doc.get("seeds_grown") or [])
        cmds.append(f"- `{d}`: `{st.doc.get('command', '')}`{grown}; {_machine(st.doc)}")
        if top is None or not top.ok:
            t = st.doc.get("target")
            row = f"| {name} | {'' if t is None else f'{t:g}'} | no fit |" + " |" * len(labels)
            values.append(row)
            ratios.append(row)
            continue
        iv = top.interval
        no_iv = iv is None or iv.degenerate
        bc = f"{_n(top.b_crit)} " + ("(no interval)" if no_iv else _iv(iv.lo, iv.hi))
        by = {p["label"]: p for p in top.predictors}
        v = [f"{_n(by[x]['value'])} {_iv(by[x]['lo'], by[x]['hi'])}{_left_out_cell(by[x])}"
             if x in by and by[x]["value"] is not None else "n/a" for x in labels]  # fmt: skip
        r = [_ratio_cell(by.get(x)) for x in labels]
        values.append(f"| {name} | {top.target:g} | {bc} | " + " | ".join(v) + " |")
        ratios.append(f"| {name} | {top.target:g} | {_n(top.b_crit)} | " + " | ".join(r) + " |")
    return "\n".join(
        ["B_crit and every noise-scale predictor (observations; 90% intervals; 'k/n <= 0': k of"
         " the n front runs read <= 0, no noise scale, and are left out of the median):", "",
         *values,
         "", "Each predictor / B_crit (90% interval; * = within 2x):", "", *ratios, "",
         "Commands and machines:", "", *cmds, ""]
    )  # fmt: skip


def _left_out_cell(p: dict) -> str:
    k = p.get("n_nonpositive") or 0
    return f" ({k}/{p.get('n_runs')} <= 0)" if k else ""


def _ratio_cell(p: dict | None) -> str:
    if not p or p["ratio"] is None:
        return "n/a"
    star = " *" if p["within_2x"] else ""
    return f"{p['ratio']:.2g} {_iv(p['ratio_lo'], p['ratio_hi'], ratio=True)}{star}"


def _machine(doc: dict) -> str:
    m = doc.get("machine") or {}
    wall = (doc.get("wall_seconds") or 0) / 60
    return f"CPU {m.get('cpu') or '?'} ({m.get('cores', '?')} cores), {wall:.1f} min"
