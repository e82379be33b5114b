"""``recosim run interest-evolution``: REINFORCE learning curves per history length (paper 4.1, figure 1).

For every history length ``H`` of ``--history-lengths`` the recommender of
`recosim.usecases.interest_evolution` (which sees only its last ``H`` consumed
documents and times) starts from the same seeded initial network and is trained
by `recosim.inference.train_reinforce` for ``--train-steps`` policy-gradient
steps. Each step simulates ``--num-users`` users for ``--horizon`` steps with
the current network and records the mean cumulative consumed time per user
(the learning curve) and the surrogate objective. ``--num-runs`` repeats the
training independently: run ``r`` uses seed ``seed + r`` for every history
length (paired runs), and the figure draws the mean over runs with a band of one
standard error. Under ``--out`` the job writes

* ``learning_curve.csv``: one row per history length, run and training step,
  rewritten atomically after every checkpoint;
* ``runs.csv``: per run and history length the initial and final consumed time;
* ``checkpoints/h<H>-<options hash>/``: the training state (network parameters,
  optimiser state, the baseline's running mean, the step reached and the curve
  so far) every `CHECKPOINT_EVERY` steps, written by `train_reinforce`. A rerun
  with the same ``--out`` and options continues from there; a rerun with more
  ``--train-steps`` continues the same training; other options train afresh in
  their own directory;
* ``summary.json``: per history length the mean cumulative consumed time of the
  untrained recommender (training step 0), its mean over the last `WINDOW`
  training steps, and the relative rise between the two (means over runs, with
  standard errors);
* ``figure1.png``: the learning curves of every history length.

Training needs gradients, so it runs on the ``jax`` and ``tf`` runtimes (with
``recosim-inference`` installed); ``numpy`` is refused before any work.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core.errors import RecosimError, UsageError
from recosim.core.plugins import DIFFERENTIABLE, get_plugins
from recosim.core.results import content_hash, prepare_out, write_bytes_atomic
from recosim.core.summary import summarize
from recosim.core.usecase import HORIZON, NUM_RUNS, NUM_USERS, Parameter, Progress, RunSetup, UseCase
from recosim.usecases.interest_evolution import POLICY, REWARD, InterestEvolutionConfig, init_params, make_model

__all__ = [
    "BASELINES",
    "CHECKPOINT_EVERY",
    "TRAINABLE_RUNTIMES",
    "WINDOW",
    "InterestEvolutionUseCase",
    "IntList",
    "plot_figure1",
    "read_checkpoint_records",
    "read_learning_curve",
]

TRAINABLE_RUNTIMES = tuple(get_plugins().runtimes_with(DIFFERENTIABLE))
"""Runtimes that differentiate the slate's log-probability."""
BASELINES = ("none", "mean", "group")
"""``--baseline`` choices, as `train_reinforce` names them (``none`` is its ``None``)."""
OPTIMIZERS = ("sgd", "adam")
CHECKPOINT_EVERY = 5
"""Training steps between checkpoints (and progress reports)."""
WINDOW = 5
"""Training steps averaged for the end of a learning curve in the summary."""
CURVE_FILE = "learning_curve.csv"
FIGURE_FILE = "figure1.png"
CURVE_COLUMNS = ("history_length", "run", "step", "mean_cumulative_consumed_time", "surrogate_objective", "grad_norm")
MEASURES = CURVE_COLUMNS[3:]
PAPER_SIZES = {"num_users": 1000, "num_docs": 100, "horizon": 100}
"""The sizes of the paper's figure 1 (the figure says "paper figure 1" only at them)."""
STATE_FORMAT = 1  # checkpoints of another format are not resumed


class IntList:
    """Parses ``"5,10,15"`` (or a sequence) into a tuple of distinct integers ``>= minimum``.

    >>> IntList()("15, 5,10")
    (15, 5, 10)
    >>> IntList()("5,2.5")
    Traceback (most recent call last):
    ...
    ValueError: '2.5' is not an integer
    """

    def __init__(self, minimum: int = 1) -> None:
        self.minimum = minimum

    def __call__(self, value: Any) -> tuple[int, ...]:
        items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
        if not items or any(v == "" for v in items):
            raise ValueError(f"give comma-separated integers, got {value!r}")
        numbers = []
        for item in items:
            if isinstance(item, bool):
                raise ValueError(f"{item!r} is not an integer")
            try:
                number = int(item) if isinstance(item, (int, np.integer)) else int(str(item))
            except ValueError:
                raise ValueError(f"{item!r} is not an integer") from None
            if number < self.minimum:
                raise ValueError(f"{item!r} is below {self.minimum}")
            numbers.append(number)
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"a value repeats in {value!r}")
        return tuple(numbers)


def _choice(name: str, choices: Sequence[str]) -> Any:
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError(f"choose one of {', '.join(choices)}, got {value!r}")
        return text

    parse.__name__ = name
    parse.choices = tuple(choices)  # type: ignore[attr-defined]  # listed by the command line's help
    return parse


class InterestEvolutionUseCase(UseCase):
    name = "interest-evolution"
    summary = "interest evolution (paper 4.1): REINFORCE learning curves of a history-based recommender"
    summary_metadata = ("training", "metric", "files", "window")
    needs = ("differentiable",)
    parameters = (
        NUM_USERS.with_default(1000, "users simulated in every training step"),
        Parameter("num_docs", int, 100, "documents in the frozen corpus (at least the slate size, 2)", minimum=1),
        HORIZON.with_default(100, "time steps of every simulated episode"),
        Parameter("history_lengths", IntList(), (5, 10, 15),
                  "comma-separated history lengths (documents the recommender remembers), one curve each"),
        Parameter("train_steps", int, 100, "REINFORCE steps per history length", minimum=1),
        Parameter("baseline", _choice("baseline", BASELINES), "mean",
                  "REINFORCE baseline: none (reward-to-go), mean (running mean per step) or group "
                  "(normalised within groups of --group-size episodes of the same users)"),
        Parameter("group_size", int, 4, "episodes per group for --baseline group (each step simulates that many)",
                  minimum=2),
        Parameter("learning_rate", float, 0.01, "optimiser step size (> 0)"),
        Parameter("optimizer", _choice("optimizer", OPTIMIZERS), "adam", "sgd or adam"),
        NUM_RUNS.with_default(1, "independent training runs per history length (run r: seed + r, the same for "
                                 "every length); the figure shows their mean and standard error"),
    )

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        slate = InterestEvolutionConfig.slate_size
        if params["num_docs"] < slate:
            raise UsageError(f"--num-docs must be at least the slate size {slate}, got {params['num_docs']}")
        if not params["learning_rate"] > 0:
            raise UsageError(f"--learning-rate must be > 0, got {params['learning_rate']}")
        params["history_lengths"] = tuple(sorted(params["history_lengths"]))
        return params

    def setup(
        self, *, runtime: str, seed: Any, out: Path | str | None, validate: bool = False, **params: Any
    ) -> RunSetup:
        """As `UseCase.setup`, refusing runtimes that cannot differentiate and a missing trainer first."""
        trainable = get_plugins().runtimes_with(DIFFERENTIABLE)
        if runtime in get_plugins().runtime_names() and runtime not in trainable:
            raise UsageError(
                f"--runtime {runtime}: interest-evolution trains the recommender by gradient, "
                "which needs a runtime that differentiates: "
                + (" or ".join(trainable) or "none is installed (pip install 'recosim[jax]' or 'recosim[tf]')")
            )
        setup = super().setup(runtime=runtime, seed=seed, out=None, validate=validate, **params)
        try:
            import recosim.inference  # noqa: F401
        except ImportError:
            raise UsageError(
                f"--runtime {runtime}: interest-evolution trains with recosim-inference, which is not installed "
                f"(pip install 'recosim-usecases[{runtime}]')"
            ) from None
        return setup if out is None else replace(setup, out=prepare_out(Path(out)))

    def simulate(self, setup: RunSetup, progress: Progress | None = None) -> Mapping[str, Any]:
        p = setup.params
        lengths, steps, runs = p["history_lengths"], p["train_steps"], p["num_runs"]
        total = len(lengths) * runs * steps
        if setup.validate:
            self._check_model(setup)
        curves: dict[int, dict[str, np.ndarray]] = {}
        for i, length in enumerate(lengths):
            trained: list[dict[str, np.ndarray]] = []
            for run in range(runs):
                finished = (i * runs + run) * steps

                def report(done: int, _record: Any, length: int = length, run: int = run, finished: int = finished,
                           trained: list[dict[str, np.ndarray]] = trained) -> None:
                    if setup.out is not None:
                        now = _partial(setup, length, run, done)
                        so_far = {**curves, length: _stack([*trained, now])} if now else dict(curves)
                        _write_curve(setup.out, so_far)
                    if progress is not None:
                        progress(finished + min(done, steps), total)

                trained.append(self._train(setup, length, run, report))
            curves[length] = _stack(trained)
        figures = _summarise(setup, curves)
        if setup.out is not None:
            _write_curve(setup.out, curves)
            plot_figure1({**setup.header(), **figures}, curves, setup.out / FIGURE_FILE)
        return figures

    def run_rows(self, setup: RunSetup, summary: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Per run and history length: the consumed time at training step 0 and over the last `WINDOW` steps."""
        for entry in summary["curves"].values():
            for run, (initial, final) in enumerate(zip(entry["initial_per_run"], entry["final_per_run"])):
                length = entry["history_length"]
                yield {"run": run, "history_length": length, "metric": "initial", "value": initial}
                yield {"run": run, "history_length": length, "metric": "final", "value": final}

    def headline(self, summary: Mapping[str, Any]) -> list[tuple[str, float, float | None]]:
        rows: list[tuple[str, float, float | None]] = []
        for entry in summary["curves"].values():
            h = entry["history_length"]
            rows.append((f"H={h} consumed time, untrained", entry["initial"], _se(entry["initial_se"])))
            rows.append((f"H={h} consumed time, last {summary['window']} steps", entry["final"],
                         _se(entry["final_se"])))
        return rows

    def _check_model(self, setup: RunSetup) -> None:
        """Checked mode: one episode per history length with the runtime's checks on, before training."""
        p = setup.params
        for length in p["history_lengths"]:
            cfg = _config(p, length)
            setup.make_runtime(make_model(init_params(setup.seed, cfg), cfg)).execute(p["horizon"] - 1)

    def _train(self, setup: RunSetup, length: int, run: int, report: Any) -> dict[str, np.ndarray]:
        from recosim.inference import train_reinforce

        p = setup.params
        cfg = _config(p, length)
        seed = setup.seed + run
        baseline = None if p["baseline"] == "none" else p["baseline"]
        directory = None if setup.out is None else _checkpoint_dir(setup, length, run)
        result = train_reinforce(
            lambda params: make_model(params, cfg),
            init_params(seed, cfg),
            policy=POLICY,
            reward=REWARD,
            horizon=p["horizon"],
            runtime=setup.runtime,
            num_steps=p["train_steps"],
            baseline=baseline,
            group_size=p["group_size"],
            num_rollouts=None if baseline == "group" else 1,
            learning_rate=p["learning_rate"],
            optimizer=p["optimizer"],
            seed=seed,
            checkpoint=directory,
            checkpoint_every=CHECKPOINT_EVERY,
            resume=directory is not None,
            quiet=True,
            callback=report,
        )
        history = {k: np.asarray(v, np.float64)[: p["train_steps"]] for k, v in result.history.items()}
        curve = {
            "mean_cumulative_consumed_time": history["mean_return"],
            "surrogate_objective": -history["loss"],
            "grad_norm": history["grad_norm"],
        }
        bad = np.flatnonzero(~np.isfinite(curve["mean_cumulative_consumed_time"]))
        if bad.size:
            raise RecosimError(
                f"interest-evolution with history length {length}, run {run}: the mean consumed time is not finite at "
                f"training step {int(bad[0])}; rerun with --validate to find the variable and step at fault"
            )
        return curve


def _config(p: Mapping[str, Any], length: int) -> InterestEvolutionConfig:
    return InterestEvolutionConfig(num_users=p["num_users"], num_docs=p["num_docs"], history_length=length)


def _se(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def _stack(runs: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-run curves as arrays ``[runs, steps]`` (cut to the shortest run, for a run still training)."""
    steps = min(len(r[MEASURES[0]]) for r in runs)
    return {k: np.stack([np.asarray(r[k], np.float64)[:steps] for r in runs]) for k in MEASURES}


def _checkpoint_dir(setup: RunSetup, length: int, run: int = 0) -> Path:
    """``checkpoints/h<H>-<hash>``: the hash covers everything a run's training depends on (its seed ``seed + run``)
    but its length."""
    p = setup.params
    key = {
        "format": STATE_FORMAT,
        "runtime": setup.runtime,
        "seed": setup.seed + run,
        "history_length": length,
        **{k: p[k] for k in ("num_users", "num_docs", "horizon", "baseline", "learning_rate", "optimizer")},
        "group_size": p["group_size"] if p["baseline"] == "group" else None,
    }
    assert setup.out is not None
    return setup.out / "checkpoints" / f"h{length}-{content_hash(key)[:12]}"


def _partial(setup: RunSetup, length: int, run: int, done: int) -> dict[str, np.ndarray]:
    """The curve of one run so far, read back from its latest checkpoint (written just before)."""
    assert setup.out is not None
    records = read_checkpoint_records(_checkpoint_dir(setup, length, run))
    if not records:
        return {}
    return {
        "mean_cumulative_consumed_time": records["mean_return"][:done],
        "surrogate_objective": -records["loss"][:done],
        "grad_norm": records["grad_norm"][:done],
    }


def read_checkpoint_records(directory: Path) -> dict[str, np.ndarray]:
    """The per-step records a training checkpoint holds (empty if there is none yet); no pickles."""
    meta_path = directory / "meta.json"
    if not meta_path.exists():
        return {}
    meta = json.loads(meta_path.read_text())
    with np.load(directory / meta["records"], allow_pickle=False) as data:
        return {k: np.asarray(data[k], np.float64) for k in data.files}


def _write_curve(out: Path, curves: Mapping[int, Mapping[str, np.ndarray]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CURVE_COLUMNS)
    for length in sorted(curves):
        c = curves[length]
        runs, steps = np.shape(c[MEASURES[0]])
        for run in range(runs):
            for step in range(steps):
                writer.writerow([length, run, step, *(repr(float(c[k][run][step])) for k in MEASURES)])
    write_bytes_atomic(out / CURVE_FILE, buf.getvalue().encode())


def read_learning_curve(path: Path | str) -> dict[int, dict[str, np.ndarray]]:
    """``learning_curve.csv`` back as ``{history_length: {column: array [runs, steps]}}`` (``step``: the steps)."""
    rows: dict[int, dict[int, dict[str, list[float]]]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            per_run = rows.setdefault(int(row["history_length"]), {})
            c = per_run.setdefault(int(row.get("run") or 0), {k: [] for k in ("step", *MEASURES)})
            for k in ("step", *MEASURES):
                c[k].append(float(row[k]))
    out: dict[int, dict[str, np.ndarray]] = {}
    for length, per_run in rows.items():
        steps = min(len(c["step"]) for c in per_run.values())
        first = per_run[min(per_run)]
        out[length] = {"step": np.asarray(first["step"][:steps])}
        out[length].update({k: np.asarray([per_run[r][k][:steps] for r in sorted(per_run)]) for k in MEASURES})
    return out


def _summarise(setup: RunSetup, curves: Mapping[int, Mapping[str, np.ndarray]]) -> dict[str, Any]:
    p = setup.params
    per_length = {}
    for length, c in curves.items():
        y = np.asarray(c["mean_cumulative_consumed_time"])  # [runs, steps]
        window = min(WINDOW, y.shape[1])
        initial_runs, final_runs = y[:, 0], y[:, -window:].mean(axis=1)
        stats = summarize({"initial": initial_runs, "final": final_runs})
        initial, final = float(stats.mean["initial"]), float(stats.mean["final"])
        per_length[f"H={length}"] = {
            "history_length": length,
            "steps": int(y.shape[1]),
            "runs": int(y.shape[0]),
            "initial": initial,
            "initial_se": float(stats.stderr["initial"]),
            "final": final,
            "final_se": float(stats.stderr["final"]),
            "relative_rise": final / initial - 1.0 if initial > 0 else math.nan,
            "best": float(np.max(y.mean(axis=0))),
            "final_surrogate_objective": float(np.mean(c["surrogate_objective"][:, -1])),
            "initial_per_run": initial_runs.tolist(),
            "final_per_run": final_runs.tolist(),
        }
    return {
        "history_lengths": list(p["history_lengths"]),
        "training": {
            "method": "REINFORCE (recosim.inference.train_reinforce), one episode of all users per step"
            if p["baseline"] != "group" else
            f"REINFORCE (recosim.inference.train_reinforce), {p['group_size']} episodes of the same users per step",
            "objective": "sum over users and steps of advantage x log p(slate) / (episodes x users); advantage: "
            "the reward-to-go" + {"none": "", "mean": " minus its running mean per step",
                                   "group": " normalised within the group"}[p["baseline"]],
            "baseline": p["baseline"],
            "optimizer": p["optimizer"],
            "learning_rate": p["learning_rate"],
        },
        "metric": "mean over users of the consumed time summed over the horizon, per training step",
        "window": WINDOW,
        "curves": per_length,
        "files": None if setup.out is None else {"learning_curve": CURVE_FILE, "figure": FIGURE_FILE,
                                                 "checkpoints": "checkpoints"},
    }


def plot_figure1(
    summary: Mapping[str, Any], curves: Mapping[int, Mapping[str, np.ndarray]], path: Path | str
) -> Path:
    """Figure 1: mean cumulative consumed time per training step, one curve per history length (atomic PNG).

    ``curves`` hold arrays ``[runs, steps]`` (or one run's ``[steps]``); with several
    runs each curve is their mean with a band of one standard error. Steps get
    integer ticks; the title says "paper figure 1" only at the paper's sizes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(8, 5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    runs = 1
    for i, length in enumerate(sorted(curves)):
        y = np.atleast_2d(np.asarray(curves[length]["mean_cumulative_consumed_time"], np.float64))
        runs = y.shape[0]
        steps = np.arange(y.shape[1])
        stats = summarize(y)
        ax.plot(steps, stats.mean, color=f"C{i}", linewidth=1.6, label=f"history length {length}")
        if runs > 1:
            ax.fill_between(steps, stats.mean - stats.stderr, stats.mean + stats.stderr, color=f"C{i}", alpha=0.2,
                            linewidth=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("REINFORCE training step")
    what = f"mean of {runs} runs, band: ± 1 standard error" if runs > 1 else "one run"
    ax.set_ylabel(f"mean cumulative consumed time per user ({summary['horizon']} steps)\n{what}")
    ax.grid(True, alpha=0.3)
    ax.legend(title="recommender memory", loc="lower right")
    t = summary["training"]
    paper = all(summary.get(k) == v for k, v in PAPER_SIZES.items())
    ax.set_title(
        f"Interest evolution{' (paper figure 1)' if paper else ''}: {summary['num_users']} users, "
        f"{summary['num_docs']} documents, {summary['horizon']} steps, on {summary['runtime']}\n"
        f"baseline {t['baseline']}, {t['optimizer']} learning rate {t['learning_rate']:g}",
        fontsize=10,
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return write_bytes_atomic(path, buf.getvalue())
