"""The study's figures, drawn from study.json alone (matplotlib, Agg backend); torch-free.

pareto.png   steps S vs samples E per target, the fitted hyperbola (eq. 2.11), B_crit marked
noise.png    B_simple (smoothed) vs env steps of each batch size's fastest run
speedup.png  steps to the target vs batch size, with the fit, B_crit and B_simple marked
predictors.png  every noise-scale predictor with its 90% interval beside B_crit's
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from rlnoise.files import atomic_write_bytes  # noqa: E402
from rlnoise.study.config import mult_str  # noqa: E402
from rlnoise.study.records import TargetFit  # noqa: E402
from rlnoise.study.store import Study  # noqa: E402

PLOTS = ("pareto.png", "noise.png", "speedup.png", "predictors.png")
_DPI = 110


def draw_all(out: Path, study: Study) -> list[str]:
    """Write every figure into `out`; returns the file names."""
    with plt.rc_context({"font.size": 9, "svg.hashsalt": "rlnoise"}):
        for name, fn in zip(PLOTS, (pareto, noise, speedup, predictors)):
            fig = fn(study)
            _save(fig, Path(out) / name)
    return list(PLOTS)


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _plain_log(ax, axis: str = "both") -> None:
    """Log axes labelled 256, 1,024, ... instead of 2^8 or 10^3."""
    fmt = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    for name in ("x", "y") if axis == "both" else (axis,):
        a = ax.xaxis if name == "x" else ax.yaxis
        a.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        a.set_major_formatter(fmt)
        a.set_minor_formatter(NullFormatter())


def _colors(n: int):
    cmap = plt.get_cmap("viridis")
    return [cmap(x) for x in np.linspace(0.05, 0.85, max(n, 1))]


def _finish(fig, ax, legend_loc: str):
    """Grid, legend (when anything is labelled) and layout of a one-axes figure."""
    ax.grid(True, which="both", alpha=0.25)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc=legend_loc)
    fig.tight_layout()
    return fig


def _title(study: Study, what: str) -> str:
    return f"{study.doc['env']} {study.doc['algo'].upper()}: {what}"


def pareto(study: Study):
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    colors = plt.get_cmap("tab10").colors
    for i, fit in enumerate(study.fits):
        c = colors[i % len(colors)]
        t = fit.target
        pts = [
            (x.samples, x.steps) for r in study.runs for x in r.targets if x.target == t and x.steps
        ]
        if pts:
            e, s = np.array(pts, dtype=float).T
            ax.scatter(e, s, s=10, color=c, alpha=0.25, linewidths=0)
        front = fit.front
        if front:
            ax.plot(
                [f.samples for f in front],
                [f.steps for f in front],
                "o",
                color=c,
                ms=5,
                label=f"target {t:g}: fastest run per B",
            )
        if fit.ok:
            _pareto_fit(ax, fit, c)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log(ax)
    ax.set_xlabel("samples to target E (observations)")
    ax.set_ylabel("steps to target S (updates)")
    ax.set_title(_title(study, "steps vs samples (star: B = B_crit)"))
    return _finish(fig, ax, "upper right")


def _pareto_fit(ax, fit: TargetFit, c) -> None:
    """The fitted hyperbola, S_min and E_min, and the point B = B_crit."""
    s_min, e_min, b_crit = fit.s_min, fit.e_min, fit.b_crit
    assert s_min is not None and e_min is not None and b_crit is not None  # fit.ok
    bs = np.array([f.batch_size for f in fit.front], dtype=float)
    b = np.geomspace(bs.min() / 4, bs.max() * 4, 200)
    s_fit = s_min * (1 + b_crit / b)
    ax.plot(b * s_fit, s_fit, "-", color=c, lw=1.2, label=_fit_label(fit))
    ax.axhline(s_min, color=c, ls=":", lw=0.8)
    ax.axvline(e_min, color=c, ls=":", lw=0.8)
    ax.plot(2 * e_min, 2 * s_min, "*", color=c, ms=12, mec="k", mew=0.5)


def _fit_label(fit: TargetFit) -> str:
    lab = f"fit: B_crit = {fit.b_crit:,.0f}"
    if fit.interval:
        lab += f" [{fit.interval.lo:,.0f}, {fit.interval.hi:,.0f}]"
    return lab


def noise(study: Study):
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharex=False)
    top = study.top
    by_name = {r.name: r for r in study.runs}
    front = top.front if top else []
    for f, c in zip(front, _colors(len(front))):
        tr = by_name[f.name].noise_trace
        cols, rows = tr["columns"], tr["rows"]
        if not rows:
            continue
        step = np.array([row[0] for row in rows], dtype=float)
        for ax, part in zip(axes, ("policy", "value")):
            j = cols.index(f"ema_b_simple_{part}")
            y = np.array([np.nan if row[j] is None else row[j] for row in rows], dtype=float)
            y[y <= 0] = np.nan
            ax.plot(step, y, color=c, lw=1, label=f"B={f.batch_size:,}, lr {f.lr:.2g}")
            if f.samples:
                ax.axvline(f.samples, color=c, ls=":", lw=0.6)
    for ax, part in zip(axes, ("policy", "value")):
        if top and top.b_crit:
            ax.axhline(top.b_crit, color="k", ls="--", lw=1, label="B_crit")
        if top and top.b_simple.get(part):
            ax.axhline(
                top.b_simple[part], color="tab:red", ls="-.", lw=1, label=f"B_simple ({part})"
            )
        ax.set_yscale("log")
        ax.set_xscale("log")
        ax.set_xlabel("env steps (observations)")
        ax.set_ylabel(f"B_simple, {part} loss (EMA, observations)")
        ax.set_title(f"{part} loss")
        ax.grid(True, which="both", alpha=0.25)
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=6, loc="best")
    fig.suptitle(
        "B_simple during the fastest run at each batch size (dotted: where it reached the target)",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def speedup(study: Study):
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    _speedup_runs(ax, study)
    top = study.top
    if top and top.front:
        _speedup_front(ax, top)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log(ax)
    ax.xaxis.set_major_locator(LogLocator(base=2))
    ax.set_xlabel("batch size B (observations per update)")
    ax.set_ylabel(f"steps to target {study.doc['target']:g} (updates)")
    ax.set_title(_title(study, "steps to target vs batch size"))
    return _finish(fig, ax, "best")


def _speedup_runs(ax, study: Study) -> None:
    """Every run: steps to the target (dots), or its updates where it did not reach (^)."""
    runs = study.runs
    ks = sorted({r.k for r in runs})
    colors = dict(zip(ks, plt.get_cmap("coolwarm")(np.linspace(0, 1, max(len(ks), 1)))))
    for k in ks:
        rs = [r for r in runs if r.k == k]
        hit = [(r.batch_size, r.steps_to_target) for r in rs if r.steps_to_target]
        miss = [(r.batch_size, r.updates) for r in rs if not r.steps_to_target]
        label = f"lr x{mult_str(study.cfg.grid_factor**k)}" if len(ks) > 1 else "runs"
        if hit:
            b, s = np.array(hit, dtype=float).T
            ax.scatter(b, s, s=14, color=colors[k], alpha=0.7, label=label, zorder=2)
        if miss:
            b, s = np.array(miss, dtype=float).T
            ax.scatter(b, s, s=16, marker="^", facecolors="none", edgecolors=colors[k], zorder=2,
                       label=None if hit else label)  # fmt: skip
    if any(not r.steps_to_target for r in runs):
        ax.scatter([], [], marker="^", facecolors="none", edgecolors="grey", label="not reached")


def _speedup_front(ax, top: TargetFit) -> None:
    """The front, perfect scaling from its first point, the fit, B_crit and B_simple."""
    fb = [f.batch_size for f in top.front]
    fs = [f.steps for f in top.front]
    ax.plot(fb, fs, "k-o", ms=4, lw=1, label="fastest run per B", zorder=3)
    ax.plot(fb, [fs[0] * fb[0] / b for b in fb], "k:", lw=0.8, label="perfect scaling")
    if top.ok:
        assert top.s_min is not None and top.b_crit is not None
        b = np.geomspace(min(fb) / 2, max(fb) * 2, 200)
        ax.plot(b, top.s_min * (1 + top.b_crit / b), "-", color="tab:blue", lw=1.2,
                label="fit S_min (1 + B_crit/B)")  # fmt: skip
        ax.axvline(top.b_crit, color="tab:blue", ls="--", lw=1,
                   label=f"B_crit = {top.b_crit:,.0f}")  # fmt: skip
        if top.interval:
            ax.axvspan(top.interval.lo, top.interval.hi, color="tab:blue", alpha=0.1)
    bs = top.b_simple.get("policy")
    if bs:
        ax.axvline(bs, color="tab:red", ls="-.", lw=1, label=f"B_simple = {bs:,.0f}")
        lo, hi = top.b_simple.get("policy_min"), top.b_simple.get("policy_max")
        if lo and hi:
            ax.axvspan(lo, hi, color="tab:red", alpha=0.07)


def predictors(study: Study):
    """Each predictor's value and 90% interval (log scale) against B_crit, its interval and
    the 2x band around it."""
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    top = study.top
    rows = [p for p in (top.predictors if top else []) if p["value"] is not None]
    if top and top.ok and top.b_crit:
        ax.axvline(top.b_crit, color="k", lw=1.2, label=f"B_crit = {top.b_crit:,.0f}")
        ax.axvspan(top.b_crit / 2, top.b_crit * 2, color="tab:green", alpha=0.08,
                   label="within 2x")  # fmt: skip
        if top.interval:
            ax.axvspan(top.interval.lo, top.interval.hi, color="k", alpha=0.12,
                       label="B_crit 90% interval")  # fmt: skip
    for i, p in enumerate(rows):
        # a Monte Carlo interval need not contain the point value: draw the bar to cover both
        lo = min(p["lo"] or p["value"], p["value"])
        hi = max(p["hi"] or p["value"], p["value"])
        ax.errorbar([p["value"]], [i], xerr=[[p["value"] - lo], [hi - p["value"]]], fmt="o",
                    color="tab:red" if not p["within_2x"] else "tab:blue", capsize=3)  # fmt: skip
    ax.set_yticks(range(len(rows)), [p["label"] for p in rows], fontsize=7)
    ax.set_ylim(-0.7, max(len(rows), 1) - 0.3)
    ax.set_xscale("log")
    _plain_log(ax, "x")
    ax.set_xlabel("observations")
    ax.set_title(_title(study, "noise-scale predictors vs B_crit (90% intervals)"), fontsize=8)
    return _finish(fig, ax, "best")
