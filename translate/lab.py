"""The 2-D theory lab (``translate lab``): gan, wgan and wgan_gp, and the GAN's stabilisers, trained
through the engine on the toy mixtures of ``translate.data.toy``, scored by mode coverage
(``translate.mode_coverage``) at a few points during training, and written as ``OUT/index.html`` with
matplotlib figures (PNG) beside it and a table of the mean and spread over seeds.

What the figures show:

- the plain GAN's D against the optimal discriminator D*(x) = p_data(x) / (p_data(x) + p_g(x)), with
  both densities Gaussian kernel density estimates of samples (``optimal_discriminator``), over the
  plane and along a 1-D slice through modes;
- the Jensen-Shannon estimate (V(G, D) + log 4) / 2 over training, with the mean D(x) and D(G(z)),
  which head to 0.5 when the game converges;
- the WGAN and WGAN-GP critics' Wasserstein estimate over training beside the sample quality (modes
  covered, high-quality fraction), and the plain GAN's D loss beside the same quality for contrast;
- the stabilisers (options of ``gan``) side by side by modes covered.
"""

from __future__ import annotations

import html
import io
import json
import math
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from translate.config import Config, TrainConfig
from translate.data.toy import TOYS, ToyDataset, get_toy
from translate.engine.trainer import Trainer
from translate.errors import ArgumentError
from translate.files import atomic_write_bytes, atomic_write_text
from translate.mode_coverage import SAMPLES, toy_coverage
from translate.pictures import draw_points
from translate.registry import create_model

MODELS = ("gan", "wgan", "wgan_gp")
# Each stabiliser is a set of options of the gan model; "none" is the plain GAN.
STABILISERS = {
    "none": {},
    "feature_matching": {"feature_matching": True},
    "minibatch": {"minibatch_kernels": 5},
    "label_smoothing": {"label_smoothing": 0.1},
    "instance_noise": {"instance_noise": 0.5},  # std 0.5 (a quarter of the ring's radius) down to 0 over the run
    "d_steps": {"d_steps": 5},
}
# The lab's settings on top of each model's paper defaults: the WGAN-GP authors' toy code (gan_toy.py: an
# MLP of 3 hidden ReLU layers, batch 256, Adam betas (0.5, 0.9), 5 critic steps, the data divided by its
# RMS, e.g. 2.828 for the grid), at a width and learning rate that move on a CPU budget of thousands of
# generator steps: Adam 1e-3 decayed linearly to 0 over the run, as the authors' CIFAR-10 code decays its
# learning rate, and the penalty weight LAMBDA_GP between the paper's 10 and the toy code's 0.1.
HIDDEN = 128
BATCH = 256
LAMBDA_GP = 1.0
# gan and wgan keep their papers' settings (Adam 2e-4, betas (0.5, 0.999); RMSProp 5e-5, clipping 0.01) and
# a constant learning rate.
LAB_OPTS = {"gan": {},
            "wgan": {},
            "wgan_gp": {"lambda_gp": LAMBDA_GP, "lr": 1e-3, "beta1": 0.5, "beta2": 0.9}}
LR_POLICY = {"gan": "constant", "wgan": "constant", "wgan_gp": "linear"}
DEFAULT_STEPS = 3000  # generator steps per run; the critics take their own steps between them
CHECKPOINTS = 10  # coverage is measured this many times during each run
KDE_SAMPLES = 2000


# -- the theory: kernel densities, D* and the Jensen-Shannon estimate ----------------------------------
def log_kde(samples: torch.Tensor, x: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """log p(x) of the Gaussian kernel density estimate of ``samples`` (N, d) at ``x`` (M, d)."""
    d = samples.shape[1]
    out = []
    for chunk in x.split(4096):
        sq = torch.cdist(chunk.double(), samples.double()).pow(2)
        out.append(torch.logsumexp(-sq / (2 * bandwidth**2), 1))
    norm = math.log(len(samples)) + d * math.log(bandwidth * math.sqrt(2 * math.pi))
    return torch.cat(out) - norm


def optimal_discriminator(real: torch.Tensor, fake: torch.Tensor, x: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Goodfellow et al., Proposition 1), with both densities
    Gaussian KDEs of the given samples; computed as sigmoid(log p_data - log p_g), so it stays defined
    far from both sample sets."""
    return torch.sigmoid(log_kde(real, x, bandwidth) - log_kde(fake, x, bandwidth))


def jensen_shannon(v: float) -> float:
    """JSD(p_data || p_g) estimated from the value V(G, D) = E log D(x) + E log(1 - D(G(z))): at the
    optimal D, V = -log 4 + 2 JSD (Goodfellow et al., Theorem 1), so (V + log 4) / 2."""
    return (v + math.log(4.0)) / 2.0


# -- training -------------------------------------------------------------------------------------------
@dataclass
class RunResult:
    toy: str
    model: str
    stabiliser: str
    seed: int
    steps: int  # generator steps
    iterations: int = 0  # batches: critic steps and generator steps, as the engine counts them
    seconds: float = 0.0
    modes: int = 0
    covered: int = 0
    high_quality: float = 0.0
    curve: list[dict] = field(default_factory=list)  # per checkpoint: iteration, generator step, coverage, mean logged values

    @property
    def label(self) -> str:
        return self.model if self.stabiliser == "none" else f"{self.model} + {self.stabiliser}"


def data_scale(toy: str) -> float:
    """The RMS of the toy's modes per coordinate: the networks see the data divided by it (gan_toy.py's
    2.828 for the 25 Gaussians, 1.414 for the 8), and samples are multiplied back before scoring."""
    return float(np.sqrt((get_toy(toy).anchors ** 2).mean()))


@dataclass
class Trained:
    """A trained model with the scale between the toy's units and what its networks see."""

    net: object
    scale: float

    def sample(self, n: int, seed: int) -> torch.Tensor:
        """``n`` samples in the toy's units, the same for the same seed."""
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            return self.net.sample(n).float() * self.scale

    def d_prob(self, x: torch.Tensor) -> torch.Tensor:
        """The discriminator's probability D(x) at points ``x`` in the toy's units."""
        with torch.no_grad():
            return torch.sigmoid(self.net.netD(x / self.scale))


def model_options(model: str, stabiliser: str, steps: int) -> dict:
    opts = {"hidden": HIDDEN, **LAB_OPTS[model], **STABILISERS[stabiliser]}
    if "instance_noise" in STABILISERS[stabiliser]:
        opts["instance_noise_steps"] = max(1, steps // 2)  # annealed to 0 by half of the run's generator steps
    return opts


def iterations_for(net, g_steps: int) -> int:
    """Iterations (batches) the engine takes for ``g_steps`` generator steps of ``net``'s critic schedule:
    k critic steps before a generator step take k batches, the last of them shared with the generator step."""
    return sum(max(1, net.critic_steps(g)) for g in range(g_steps))


def train(toy: str, model: str, stabiliser: str, seed: int, steps: int):
    """One run of ``steps`` generator steps through the engine's ``Trainer.run`` on batches drawn from the
    toy's table (the whole run one epoch of the learning-rate schedule); coverage of 2500 samples at
    ``CHECKPOINTS`` points. Returns the Trained model and a RunResult."""
    torch.manual_seed(seed)
    data = ToyDataset(toy, seed)
    data.points = data.points / data_scale(toy)
    torch.manual_seed(seed)  # the networks start the same whatever the toy's table drew
    net = create_model(model, data.info, model_options(model, stabiliser, steps))
    iterations = iterations_for(net, steps)
    # the engine's learning-rate schedule: LR_POLICY[model], linear decaying over all the iterations
    tc = TrainConfig(seed=seed, channels_last=False, batch_size=BATCH, lr_policy=LR_POLICY[model],
                     steps=iterations, steps_decay=iterations)
    trainer = Trainer.for_step(Config(model=model, train=tc), net, torch.device("cpu"), iters_per_epoch=iterations)
    result = RunResult(toy, model, stabiliser, seed, steps, iterations)
    trained = Trained(net, data_scale(toy))
    gen = torch.Generator().manual_seed(seed)
    every = max(1, iterations // CHECKPOINTS)
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}

    def batches():
        while True:
            yield {"image": data.points[torch.randint(0, len(data), (BATCH,), generator=gen)]}

    def on_step(step: int, g_step: int, losses: dict) -> None:
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + float(v)
            counts[k] = counts.get(k, 0) + 1
        if step % every == 0 or step == iterations:
            cov = toy_coverage(toy, trained.sample(SAMPLES, seed).numpy())
            row = {"step": step, "g_step": g_step, "covered": cov.covered, "high_quality": cov.high_quality}
            row.update({k: sums[k] / counts[k] for k in sums})
            result.curve.append(row)
            sums.clear()
            counts.clear()

    t0 = time.perf_counter()
    trainer.run(batches(), iterations, on_step)
    result.seconds = time.perf_counter() - t0
    last = result.curve[-1]
    result.modes, result.covered, result.high_quality = get_toy(toy).n_modes, last["covered"], last["high_quality"]
    return trained, result


# -- the report -----------------------------------------------------------------------------------------
def mean_spread(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summary(results: list[RunResult]) -> list[dict]:
    """One row per (toy, model, stabiliser), in the order first seen: mean and spread over seeds."""
    keys = list(dict.fromkeys((r.toy, r.model, r.stabiliser) for r in results))
    rows = []
    for toy, model, stab in keys:
        runs = [r for r in results if (r.toy, r.model, r.stabiliser) == (toy, model, stab)]
        cov, hq = mean_spread([r.covered for r in runs]), mean_spread([100 * r.high_quality for r in runs])
        rows.append({"toy": toy, "model": model, "stabiliser": stab, "seeds": len(runs), "steps": runs[0].steps,
                     "iterations": round(statistics.fmean(r.iterations for r in runs)),
                     "modes": runs[0].modes, "covered_mean": cov[0], "covered_spread": cov[1],
                     "high_quality_mean": hq[0], "high_quality_spread": hq[1],
                     "seconds": statistics.fmean(r.seconds for r in runs)})
    return rows


COLUMNS = ("toy", "model", "stabiliser", "generator steps (iterations)", "seeds", "modes covered", "high-quality samples (%)", "seconds per run")


def _cells(row: dict) -> list[str]:
    return [row["toy"], row["model"], row["stabiliser"], f"{row['steps']} ({row['iterations']})", str(row["seeds"]),
            f"{row['covered_mean']:.1f} ± {row['covered_spread']:.1f} / {row['modes']}",
            f"{row['high_quality_mean']:.1f} ± {row['high_quality_spread']:.1f}", f"{row['seconds']:.0f}"]


def markdown_table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return "\n".join(lines + ["| " + " | ".join(_cells(r)) + " |" for r in rows])


def html_table(rows: list[dict]) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in _cells(r)) + "</tr>\n" for r in rows)
    return f'<table border="1" cellpadding="4" style="border-collapse:collapse">\n<tr>{head}</tr>\n{body}</table>'


def write_page(out: Path, rows: list[dict], figures: list[tuple[str, str]], note: str) -> Path:
    """``out/index.html``: the table, then each figure (file name beside the page) under its caption."""
    esc = html.escape
    figs = "\n".join(f'<h2>{esc(caption)}</h2>\n<img src="{esc(name)}" style="max-width:100%">' for name, caption in figures)
    page = (f"<!doctype html><meta charset=utf-8><title>The 2-D lab</title>\n<h1>The 2-D lab</h1>\n<p>{esc(note)}</p>\n"
            f"{html_table(rows)}\n{figs}\n")
    path = out / "index.html"
    atomic_write_text(path, page)
    return path


# -- figures (matplotlib's Agg canvas, never pyplot) -----------------------------------------------------
def _save(fig: Figure, path: Path, dpi: int = 80) -> str:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
    return path.name


def extent(toy: str) -> float:
    t = get_toy(toy)
    return float(np.abs(t.anchors).max()) * 1.3 + 3 * t.std


def _real(toy: str, n: int, seed: int = 0) -> np.ndarray:
    return get_toy(toy).sample(n, np.random.default_rng(seed))


def _plane(ext: float, size: int) -> tuple[np.ndarray, torch.Tensor]:
    c = np.linspace(-ext, ext, size)
    xs, ys = np.meshgrid(c, c)
    return c, torch.from_numpy(np.stack([xs.ravel(), ys.ravel()], 1)).float()


def samples_figure(toy: str, nets: list[tuple[RunResult, Trained]], path: Path) -> str:
    cols = min(4, len(nets))
    rows = math.ceil(len(nets) / cols)
    fig = Figure(figsize=(2.2 * cols, 2.3 * rows))
    for i, (r, net) in enumerate(nets):
        ax = fig.add_subplot(rows, cols, i + 1)
        draw_points(ax, _real(toy, 2000), [net.sample(1000, r.seed).numpy()], extent(toy), f"{r.label}: {r.covered}/{r.modes}")
    return _save(fig, path)


SUPPORT = 12.0  # D* is drawn where p_data + p_g is at least e^-12 of its peak: elsewhere it is 0/0, undefined


def dstar_figure(toy: str, net: Trained, seed: int, path: Path, size: int = 90) -> str:
    """The GAN's D(x) and D*(x) over the plane, and both along the slice through a row of modes."""
    t = get_toy(toy)
    ext = extent(toy)
    real = torch.from_numpy(_real(toy, KDE_SAMPLES, seed + 2))
    fake = net.sample(KDE_SAMPLES, seed)
    bw = max(2 * t.std, 0.1)
    modes = t.centers if t.kind == "mixture" else t.anchors[::100]
    y0 = float(modes[np.argmin(np.abs(modes[:, 1]))][1])
    xs = torch.linspace(-ext, ext, 400)
    line = torch.stack([xs, torch.full_like(xs, y0)], 1)
    _, grid = _plane(ext, size)
    points = torch.cat([grid, line])
    log_data, log_g = log_kde(real, points, bw), log_kde(fake, points, bw)
    dstar = torch.sigmoid(log_data - log_g).numpy()
    support = torch.logaddexp(log_data, log_g)
    dstar[(support < support.max() - SUPPORT).numpy()] = np.nan
    d = net.d_prob(points).numpy()
    fig = Figure(figsize=(12, 3.4))
    fig.subplots_adjust(wspace=0.3)
    for i, (values, title) in enumerate(((d, "D(x) of the trained GAN"), (dstar, "D*(x) = p_data / (p_data + p_g), KDE"))):
        ax = fig.add_subplot(1, 3, i + 1)
        im = ax.imshow(values[: size * size].reshape(size, size), origin="lower", extent=(-ext, ext, -ext, ext),
                       vmin=0, vmax=1, cmap="coolwarm")
        ax.set_facecolor("0.9")  # where D* is undefined
        ax.scatter(fake[:500, 0], fake[:500, 1], s=1, c="k", linewidths=0)
        ax.scatter(modes[:, 0], modes[:, 1], s=12, facecolors="none", edgecolors="g", linewidths=0.8)
        ax.axhline(y0, color="0.3", lw=0.6, ls="--")
        ax.set_xlim(-ext, ext)
        ax.set_ylim(-ext, ext)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    ax = fig.add_subplot(1, 3, 3)
    ax.plot(xs, d[size * size:], label="D(x)")
    ax.plot(xs, dstar[size * size:], label="D*(x) (KDE; gaps: undefined)")
    ax.axhline(0.5, color="0.5", lw=0.6, ls=":")
    ax.set_ylim(-0.02, 1.25)
    ax.set_title(f"slice y = {y0:g}", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", ncol=2)
    return _save(fig, path)


def _curves(runs: list[RunResult], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps, mean and spread over seeds of a logged value at the checkpoints."""
    steps = np.array([row["g_step"] for row in runs[0].curve])
    values = np.array([[row.get(key, np.nan) for row in r.curve] for r in runs], dtype=np.float64)
    return steps, values.mean(0), values.std(0)


def _band(ax, steps, mean, spread, label, **kw) -> None:
    (ln,) = ax.plot(steps, mean, label=label, **kw)
    ax.fill_between(steps, mean - spread, mean + spread, color=ln.get_color(), alpha=0.2, linewidth=0)


def js_figure(toy: str, runs: list[RunResult], path: Path) -> str:
    fig = Figure(figsize=(9, 3))
    ax = fig.add_subplot(1, 2, 1)
    steps, v, dv = _curves(runs, "V")
    _band(ax, steps, (v + math.log(4.0)) / 2.0, dv / 2.0, "Jensen-Shannon (V + log 4) / 2")
    ax.axhline(math.log(2.0), color="0.5", lw=0.6, ls=":")
    ax.text(steps[0], math.log(2.0), " log 2", fontsize=7, va="bottom")
    ax.set_xlabel("generator step")
    ax.set_title(f"{toy}: Jensen-Shannon estimate (plain GAN)", fontsize=9)
    ax.legend(fontsize=7)
    ax = fig.add_subplot(1, 2, 2)
    for key, label in (("D_real_prob", "mean D(x)"), ("D_fake_prob", "mean D(G(z))")):
        _band(ax, *_curves(runs, key), label)
    ax.axhline(0.5, color="0.5", lw=0.6, ls=":")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("generator step")
    ax.set_title("D's outputs (0.5 at the equilibrium)", fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def wasserstein_figure(toy: str, groups: list[tuple[str, list[RunResult], str]], path: Path) -> str:
    """One panel per model: its loss estimate (left axis) beside the high-quality fraction and the
    modes covered (right axis), means over seeds with their spread."""
    fig = Figure(figsize=(4.4 * len(groups), 3))
    fig.subplots_adjust(wspace=0.55)
    for i, (label, runs, key) in enumerate(groups):
        ax = fig.add_subplot(1, len(groups), i + 1)
        name = {"W_dist": "Wasserstein estimate", "D": "D loss"}.get(key, key)
        _band(ax, *_curves(runs, key), name, color="tab:blue")
        ax.set_xlabel("generator step")
        ax.set_ylabel(name, color="tab:blue", fontsize=8)
        right = ax.twinx()
        steps, hq, dhq = _curves(runs, "high_quality")
        _band(right, steps, hq, dhq, "high-quality fraction", color="tab:red")
        steps, cov, dcov = _curves(runs, "covered")
        _band(right, steps, cov / runs[0].modes, dcov / runs[0].modes, "modes covered (fraction)", color="tab:green")
        right.set_ylim(-0.02, 1.02)
        right.legend(fontsize=7, loc="center right")
        ax.set_title(f"{toy}: {label}", fontsize=9)
    return _save(fig, path)


def stabiliser_figure(rows: list[dict], path: Path) -> str:
    toys = list(dict.fromkeys(r["toy"] for r in rows if r["model"] == "gan"))
    fig = Figure(figsize=(4.5 * len(toys), 3))
    for i, toy in enumerate(toys):
        ax = fig.add_subplot(1, len(toys), i + 1)
        mine = [r for r in rows if r["toy"] == toy and r["model"] == "gan"]
        ax.bar(range(len(mine)), [r["covered_mean"] for r in mine], yerr=[r["covered_spread"] for r in mine], capsize=3)
        ax.set_xticks(range(len(mine)), [r["stabiliser"] for r in mine], rotation=30, ha="right", fontsize=7)
        ax.set_ylim(0, mine[0]["modes"])
        ax.set_ylabel("modes covered", fontsize=8)
        ax.set_title(f"{toy}: gan stabilisers ({mine[0]['seeds']} seeds)", fontsize=9)
    return _save(fig, path)


# -- the command ----------------------------------------------------------------------------------------
def _check(names: list[str], allowed, arg: str) -> None:
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise ArgumentError(f"{{{arg}}} takes names from {', '.join(allowed)}, not '{','.join(bad)}'", arg)


def _train_in_worker(threads: int, *job):
    torch.set_num_threads(threads)
    return train(*job)


def _train_all(jobs: list[tuple], workers: int, threads: int, progress) -> dict[tuple, tuple]:
    """``train(*job)`` for every job: in this process, or in ``workers`` processes (spawned, each with
    ``threads`` torch threads). Every run seeds itself, so the results do not depend on where it ran."""
    def report(r):
        if progress:
            progress(f"{r.toy} {r.label} seed {r.seed}: {r.covered}/{r.modes} modes, "
                     f"{100 * r.high_quality:.1f}% high quality, {r.seconds:.0f} s")

    done: dict[tuple, tuple] = {}
    if workers <= 1:
        for job in jobs:
            done[job] = train(*job)
            report(done[job][1])
        return done
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_train_in_worker, threads, *job): job for job in jobs}
        for future in as_completed(futures):
            done[futures[future]] = future.result()
            report(done[futures[future]][1])
    return done


def run_lab(out: Path, toys=("ring8", "grid25"), models=MODELS, steps: int = DEFAULT_STEPS, seeds: int = 3,
            stabilisers=tuple(STABILISERS), progress=None, workers: int = 1, threads: int = 1) -> dict:
    """Train every (toy, model, stabiliser) for ``seeds`` seeds (stabilisers apply to gan, "none" is the
    plain GAN; the other models run plain), in ``workers`` processes of ``threads`` torch threads, and
    write ``out/index.html``, its PNGs, ``results.json`` and ``table.md``."""
    toys, models, stabilisers = list(toys), list(models), list(stabilisers)
    _check(toys, TOYS, "toys")
    _check(models, MODELS, "models")
    _check(stabilisers, STABILISERS, "stabilisers")
    if steps < 1 or seeds < 1:
        raise ArgumentError("{steps} and {seeds} must be at least 1", "steps")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    jobs = [(toy, model, stab, seed, steps) for toy in toys for model in models
            for stab in (stabilisers if model == "gan" else ["none"]) for seed in range(seeds)]
    trained = _train_all(jobs, workers, threads, progress)
    results: list[RunResult] = []
    figures: list[tuple[str, str]] = []
    for toy in toys:
        firsts = []
        for job in (j for j in jobs if j[0] == toy):
            net, r = trained[job]
            results.append(r)
            if r.seed == 0:
                firsts.append((r, net))
        figures.append((samples_figure(toy, firsts, out / f"{toy}_samples.png"), f"{toy}: samples (seed 0), modes covered"))
        gan = next((net for r, net in firsts if r.model == "gan" and r.stabiliser == "none"), None)
        plain = [r for r in results if r.toy == toy and r.model == "gan" and r.stabiliser == "none"]
        if gan is not None:
            figures.append((dstar_figure(toy, gan, 0, out / f"{toy}_dstar.png"),
                            f"{toy}: the GAN's D against the optimal D* (KDE of G's samples), over the plane and along a slice"))
            figures.append((js_figure(toy, plain, out / f"{toy}_js.png"),
                            f"{toy}: Jensen-Shannon estimate over training, and D's outputs"))
        groups = [(m, [r for r in results if r.toy == toy and r.model == m and r.stabiliser == "none"], "W_dist")
                  for m in models if m != "gan"]
        if groups:
            if plain:
                groups.append(("gan (its D loss)", plain, "D"))
            figures.append((wasserstein_figure(toy, groups, out / f"{toy}_wasserstein.png"),
                            f"{toy}: the critic's Wasserstein estimate beside sample quality (the GAN's D loss for contrast)"))
    rows = summary(results)
    if "gan" in models and len(stabilisers) > 1:
        figures.append((stabiliser_figure(rows, out / "stabilisers.png"), "the GAN's stabilisers: modes covered (mean and spread over seeds)"))
    seconds = time.perf_counter() - t0
    note = (f"{steps} generator steps per run (the critics' steps between them make the iterations; batch {BATCH}, "
            f"MLP width {HIDDEN}), {seeds} seed(s); mean ± spread "
            f"(sample standard deviation) over seeds; {SAMPLES} samples scored; {seconds:.0f} s in all.")
    atomic_write_text(out / "results.json", json.dumps([r.__dict__ for r in results], indent=1))
    atomic_write_text(out / "table.md", markdown_table(rows) + "\n")
    page = write_page(out, rows, figures, note)
    return {"index": page, "rows": rows, "results": results, "figures": [out / name for name, _ in figures], "seconds": seconds}
