"""Figures 2 and 6 (BPO on the double pendulum), 3c (one-bounce landscape), 4b (gradient-norm growth)
and 4c (double-pendulum landscape)."""

from .._cell import Cell
from .._claims import Claim
from ._pendulum_checks import (
    _S3,
    LEARNED,
    PENDULUM_METHODS,
    _fig2_best,
    _fig2_state_based_fail,
    _fig3c_accurate,
    _fig3c_optimisable,
    _fig4b_models,
    _fig4b_true,
    _fig4c_rough,
    _fig4c_smooth,
    _fig6_area,
    _fig6_rises,
    _plot_fig2,
    _plot_fig4b,
    _plot_fig6,
    _plot_landscape,
)
from ._spec import SMALL_SIZING, FigureSpec, cell_name, fmt_value

# --- budgets -----------------------------------------------------------------------------------------
# BPO on the double pendulum (Figures 2 and 6; Appendix E: 100 000 steps, the policy learning rate swept
# over 1e-2 ... 1e-5, 10 seeds, H = 5, 10, 20, 50, 100). Every budget keeps Table 1's schedule (one model
# update per 2 environment steps, one policy update per 16, after a 1 500-step warm-up) except smoke.
_BPO = {
    "smoke": {
        "horizons": (5,),
        "seeds": 1,
        "lrs": (1e-3,),
        "config": {"steps": 60, "warmup_steps": 20, "eval_interval": 20},
    },
    "small": {
        "horizons": (10, 50),
        "seeds": 3,
        "lrs": (1e-3,),
        "config": {"steps": 3_000, "eval_interval": 300},
    },
    "paper": {
        "horizons": (5, 10, 20, 50, 100),
        "seeds": 10,
        "lrs": (1e-2, 1e-3, 1e-4, 1e-5),
        "config": {"steps": 100_000},
    },
}
# Offline world models (Figures 3c, 4b, 4c; Appendix D: 100 000 random transitions, 1 000 Adam steps of
# 64 episodes at rate 1e-3; Figure 4b: 50 random action sequences per horizon).
_OFFLINE = {
    "smoke": {
        "horizon": 5,
        "bounce_horizon": 5,
        "seeds": 1,
        "config": {"transitions": 200, "steps": 3, "samples": 2, "grid_points": 11},
        "horizons": [3, 4, 5],
    },
    "small": {
        "horizon": 100,
        "bounce_horizon": 50,
        "seeds": 1,
        "config": {"transitions": 10_000, "steps": 200, "samples": 10, "grid_points": 101},
        "horizons": [5, 10, 20, 50, 100],
    },
    "paper": {
        "horizon": 100,
        "bounce_horizon": 50,
        "seeds": 1,
        "config": {"transitions": 100_000, "steps": 1_000, "samples": 50, "grid_points": 201},
        "horizons": [5, 10, 20, 50, 100],
    },
}


def bpo_pendulum_cells(budget: str) -> list[Cell]:
    b = _BPO[budget]
    cells = []
    for h in b["horizons"]:
        for method in PENDULUM_METHODS:
            for lr in b["lrs"]:
                cells.append(
                    Cell(
                        name=cell_name("double_pendulum", h, method, f"lr{fmt_value(lr)}"),
                        kind="bpo",
                        env="double_pendulum",
                        horizon=h,
                        seeds=b["seeds"],
                        model=method,
                        method=method,
                        key=0,
                        config={**b["config"], "policy_lr": lr},
                    )
                )
    return cells


def offline_cells(env: str, budget: str, *, growth: bool) -> list[Cell]:
    """The ``offline_model`` cells of Figures 4b/4c (``double_pendulum``: growth and landscape in one cell,
    so both figures share them) or 3c (``one_bounce``: landscape only)."""
    b = _OFFLINE[budget]
    h = b["horizon"] if env == "double_pendulum" else b["bounce_horizon"]
    methods = PENDULUM_METHODS if growth else LEARNED
    config = {**b["config"], "horizons": list(b["horizons"]) if growth else []}
    return [
        Cell(
            name=cell_name(env, h, m),
            kind="offline_model",
            env=env,
            horizon=h,
            seeds=b["seeds"],
            model=m,
            method=m,
            key=0,
            config=config,
        )
        for m in methods
    ]


_BPO_NOTES = {
    "smoke": "H = 5, one seed, a 20-step warm-up and 40 training steps: proves the pipeline only.",
    "small": SMALL_SIZING
    + (
        "H = 10 and 50 (not 5, 10, 20, 50, 100), 3 seeds (not 10), 3 000 steps (not 100 000) with the "
        "paper's 1 500-step warm-up and update schedule, one policy learning rate (1e-3, one of the four "
        "the paper sweeps). The effect could still show because the double pendulum's difficulty is the "
        "chaos of its gradients, which is already large at H = 50 (Figure 4b) and does not need a long "
        "run to hurt: a state-based model's policy gradient is already unusable there."
    ),
    "paper": "Appendix E: H = 5, 10, 20, 50, 100, 10 seeds, 100 000 steps, policy learning rate swept over "
    "1e-2, 1e-3, 1e-4, 1e-5 with the best reported per method and horizon.",
}
_OFFLINE_NOTES = {
    "smoke": "Horizons 3-5, 200 transitions, 3 Adam steps: proves the pipeline only.",
    "small": SMALL_SIZING
    + (
        "10 000 random transitions and 200 Adam steps (not 100 000 and 1 000), 10 action samples per "
        "horizon (not 50), a 101-point action grid (not 201). The gradient growth of the simulator does "
        "not depend on training at all, and a briefly trained model already shows whether its gradient "
        "paths compound (state-based) or not (AWM)."
    ),
    "paper": "Appendix D: 100 000 random transitions, 1 000 Adam steps (batch 64, rate 1e-3); 50 random "
    "action sequences per horizon (Figure 4b); H = 100 (Figure 4c), H = 50 (Figure 3c).",
}

PENDULUM_FIGURES = (
    FigureSpec(
        name="figure2",
        title="BPO with different world models on the double pendulum: final performance per horizon",
        paper="Figure 2, Section 3 (setting: Appendix E)",
        caption="Transformer AWMs outperforms all BPO baselines in chaotic environments. Final performances "
        "of BPO with different world models on the double-pendulum environment (10 seeds ± std).",
        grid=bpo_pendulum_cells,
        budget_notes=_BPO_NOTES,
        claims=(
            Claim(
                "awm-best",
                "At the longest horizon the transformer AWM has the highest mean final return of "
                "all BPO world models, the simulator included.",
                "Transformer AWMs outperforms all BPO baselines in chaotic environments.",
                "Figure 2 caption",
                _fig2_best,
            ),
            Claim(
                "state-based-fail",
                "At the longest horizon the Markovian model's and the HWM's mean final "
                "returns lie below the transformer AWM's mean minus one standard deviation.",
                "The results in Figure 2 show that BPO does not lead to successful policies with both "
                "Markovian models and HWMs in this notoriously chaotic environment.",
                _S3,
                _fig2_state_based_fail,
            ),
        ),
        plot=_plot_fig2,
        score="return",
        selection=("policy_lr",),
        shares=("figure6",),
    ),
    FigureSpec(
        name="figure3c",
        title="Return against the initial action on the one-bounce task for offline-trained world models",
        paper="Figure 3c, Section 5.1 (setting: Appendix D)",
        caption="(c) Learning a Markovian model or a HWM causes catastrophic compounding errors, but an AWM "
        "can still accurately model the final reward when varying the initial action. Learned "
        "dynamics are trained offline on a dataset collected using random actions.",
        grid=lambda budget: offline_cells("one_bounce", budget, growth=False),
        budget_notes=_OFFLINE_NOTES,
        claims=(
            Claim(
                "awm-accurate",
                "The transformer AWM's return landscape is closer to the simulator's (RMSE "
                "over the action grid) than the Markovian model's and the HWM's.",
                "Learning a Markovian model or a HWM causes catastrophic compounding errors, but an AWM can "
                "still accurately model the final reward when varying the initial action.",
                "Figure 3 caption",
                _fig3c_accurate,
            ),
            Claim(
                "awm-optimisable",
                "Hill-climbing the AWM's landscape from every initial action ends, on "
                "average, within 10% of the true return range of the optimum.",
                "Notably, the resulting AWM thus allows to easily use backpropagation-based policy "
                "optimization even in the presence of an underlying non-differentiable environment dynamics.",
                "Section 5.1",
                _fig3c_optimisable,
            ),
        ),
        plot=_plot_landscape("figure3c", "Figure 3c: one-bounce return vs initial action"),
        score="return",
    ),
    FigureSpec(
        name="figure4b",
        title="Gradient norm of the final state with respect to the initial action against the horizon",
        paper="Figure 4b, Section 5.1 (setting: Appendix D)",
        caption="(b) The mean gradient norm of the final state with respect to the initial action for each "
        "model is computed over 50 different random actions for different horizons.",
        grid=lambda budget: offline_cells("double_pendulum", budget, growth=True),
        budget_notes=_OFFLINE_NOTES,
        claims=(
            Claim(
                "true-exponential",
                "The simulator's gradient norm grows exponentially in H (the exponential "
                "fit of awmkit.diagnostics.fit_growth wins, with a significant slope).",
                "We illustrate in Figure 4b and Figure 4c the chaotic nature of the task, showing "
                "respectively that the norm of the true gradient of the return with respect to the initial "
                "action grows exponentially with the episode length H",
                "Section 5.1",
                _fig4b_true,
            ),
            Claim(
                "hwm-explodes-awm-stable",
                "Simulator and HWM gradient norms grow exponentially in H, the "
                "transformer AWM's do not (fit_growth verdicts).",
                "Figure 4b shows that transformers provide stable gradients when used as AWMs, while the "
                "gradient provided by HWMs explodes similarly to the true gradients.",
                "Section 5.1",
                _fig4b_models,
            ),
        ),
        plot=_plot_fig4b,
        score="return",
        shares=("figure4c",),
    ),
    FigureSpec(
        name="figure4c",
        title="Return against the initial action on the double pendulum at H = 100",
        paper="Figure 4c, Section 5.1 (setting: Appendix D)",
        caption="(c) Final return according to different models with respect to different initial actions "
        "for H = 100.",
        grid=lambda budget: offline_cells("double_pendulum", budget, growth=True),
        budget_notes=_OFFLINE_NOTES,
        claims=(
            Claim(
                "true-rough",
                "The simulator's return landscape has at least 5 local maxima over the action grid.",
                "the true return landscape is extremely difficult to navigate for long horizons.",
                "Section 5.1",
                _fig4c_rough,
            ),
            Claim(
                "awm-smooth",
                "The transformer AWM's landscape has fewer local maxima than the simulator's, "
                "and hill-climbing it reaches a higher true return than hill-climbing the true landscape.",
                "AWMs generate a smooth and accurate approximation of the return landscape (Figure 4c), "
                "which gradient ascent can easily navigate",
                "Section 5.1",
                _fig4c_smooth,
            ),
        ),
        plot=_plot_landscape("figure4c", "Figure 4c: double-pendulum return vs initial action"),
        score="return",
        shares=("figure4b",),
    ),
    FigureSpec(
        name="figure6",
        title="BPO learning curves with different world models on the double pendulum, per horizon",
        paper="Figure 6, Appendix E",
        caption="Learning curves of different world models used for BPO on the double-pendulum environment "
        "for different horizons. The horizons presented are H = [5, 10, 20, 50, 100] in order "
        "(10 seeds ± std).",
        grid=bpo_pendulum_cells,
        budget_notes=_BPO_NOTES,
        claims=(
            Claim(
                "awm-learns",
                "At the longest horizon the transformer AWM's IQM learning curve ends above "
                "where it started.",
                "AWMs generate a smooth and accurate approximation of the return landscape (Figure 4c), "
                "which gradient ascent can easily navigate, leading to better policies when used for "
                "backpropagation-based policy optimization compared to all the other world models",
                "Section 5.1",
                _fig6_rises,
            ),
            Claim(
                "awm-highest-curve",
                "At the longest horizon the transformer AWM's learning curve has the "
                "highest mean IQM return over the whole run (area under the curve).",
                "The results in the double-pendulum experiments use the same hypeparameters as the Myriad "
                "experiments [...] The complete learning curves are shown in Figure 6.",
                "Appendix E",
                _fig6_area,
            ),
        ),
        plot=_plot_fig6,
        score="return",
        selection=("policy_lr",),
        shares=("figure2",),
    ),
)
