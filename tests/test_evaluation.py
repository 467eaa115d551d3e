"""Normalised returns, IQM, stratified bootstrap, references and run-directory tables."""

import json

import numpy as np
import pytest
import scipy.stats

import awmkit
from awmkit.cli import main
from awmkit.evaluation import (
    MYRIAD_ENVS,
    STANDARD_HORIZONS,
    MissingReferenceError,
    Reference,
    iqm,
    load_references,
    normalised_return,
    reference,
    results_summary,
    results_table,
    stratified_bootstrap_ci,
    write_references,
)
from awmkit.runs import RunDirectoryError, load_run, load_runs

# --- IQM and bootstrap ----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 10, 13, 100])
def test_iqm_is_scipy_trim_mean(n):
    x = np.random.default_rng(n).standard_normal(n) ** 3
    assert iqm(x) == pytest.approx(scipy.stats.trim_mean(x, 0.25), rel=1e-12, abs=1e-12)


def test_iqm_known_values_and_axes():
    assert iqm([1.0, 2.0, 3.0, 100.0]) == 2.5  # drops 1 and 100
    assert iqm(np.arange(8.0)) == 3.5
    x = np.random.default_rng(0).standard_normal((6, 9))
    np.testing.assert_allclose(iqm(x, axis=0), scipy.stats.trim_mean(x, 0.25, axis=0))
    np.testing.assert_allclose(iqm(x, axis=1), scipy.stats.trim_mean(x, 0.25, axis=1))
    assert iqm(x) == pytest.approx(scipy.stats.trim_mean(x.ravel(), 0.25))
    with pytest.raises(ValueError, match="empty"):
        iqm([])
    with pytest.raises(ValueError, match="NaN"):
        iqm([1.0, np.nan])


def _tasks():
    rng = np.random.default_rng(42)
    return [rng.normal(loc, 0.2, size=n) for loc, n in [(0.2, 5), (0.5, 8), (0.9, 6)]]


def test_stratified_bootstrap_matches_scipy_bootstrap():
    tasks = _tasks()
    ci = stratified_bootstrap_ci(tasks, n_resamples=3000, seed=3)

    def statistic(*samples, axis):
        return scipy.stats.trim_mean(np.concatenate(samples, axis=axis), 0.25, axis=axis)

    direct = scipy.stats.bootstrap(
        tuple(tasks), statistic, n_resamples=3000, method="percentile", rng=np.random.default_rng(3)
    )
    assert ci.estimate == pytest.approx(scipy.stats.trim_mean(np.concatenate(tasks), 0.25))
    assert ci.low == pytest.approx(direct.confidence_interval.low, rel=1e-12)
    assert ci.high == pytest.approx(direct.confidence_interval.high, rel=1e-12)
    assert ci.low < ci.estimate < ci.high
    assert (ci.tasks, ci.scores, ci.confidence) == (3, 19, 0.95)
    # Reproducible for a seed; another seed moves the interval a little.
    assert stratified_bootstrap_ci(tasks, n_resamples=3000, seed=3) == ci
    assert stratified_bootstrap_ci(tasks, n_resamples=3000, seed=4) != ci


def test_stratified_bootstrap_matches_numpy_resampling():
    # An independent NumPy implementation: resample seeds within each task, pool, IQM, percentiles.
    tasks = _tasks()
    rng = np.random.default_rng(0)
    pooled = np.concatenate([t[rng.integers(0, t.size, (20000, t.size))] for t in tasks], axis=1)
    low, high = np.percentile(scipy.stats.trim_mean(pooled, 0.25, axis=1), [2.5, 97.5])
    ci = stratified_bootstrap_ci(tasks, n_resamples=20000, seed=1)
    assert ci.low == pytest.approx(low, abs=0.01)
    assert ci.high == pytest.approx(high, abs=0.01)
    narrow = stratified_bootstrap_ci(tasks, confidence=0.5, n_resamples=20000, seed=1)
    assert ci.low < narrow.low < narrow.high < ci.high


def test_stratified_bootstrap_single_seed_tasks_and_bad_input():
    tasks = _tasks() + [np.array([0.7])]
    ci = stratified_bootstrap_ci({"a": tasks[0], "b": tasks[1], "c": tasks[2], "d": tasks[3]}, seed=0)
    assert ci.tasks == 4 and ci.scores == 20
    assert ci.low <= ci.estimate <= ci.high
    only_one = stratified_bootstrap_ci([[0.3], [0.5]])
    assert only_one.low == only_one.high == only_one.estimate == 0.4
    with pytest.raises(ValueError, match="1-D"):
        stratified_bootstrap_ci([np.zeros((2, 2))])
    with pytest.raises(ValueError, match="confidence"):
        stratified_bootstrap_ci(_tasks(), confidence=95.0)
    with pytest.raises(ValueError, match="method"):
        stratified_bootstrap_ci(_tasks(), method="nope")
    with pytest.raises(ValueError, match="empty"):
        stratified_bootstrap_ci([])


# --- references and normalisation ----------------------------------------------------------------


def test_shipped_references_cover_every_myriad_system_and_horizon():
    refs = load_references()
    for name in MYRIAD_ENVS:
        for horizon in STANDARD_HORIZONS:
            ref = refs[(name, horizon)]
            assert ref.optimal_return > ref.random_return
            assert ref.random_episodes >= 100 and isinstance(ref.random_key, int)
            assert ref.integrator == "Euler, 1 substep"
            for key in ("solver", "adam_steps", "lbfgs_steps", "restarts", "key"):
                assert key in ref.solver
            assert ref.awmkit_version and ref.date and ref.dtype == "float64"


def test_normalisation_maps_random_to_zero_and_optimal_to_one():
    for (name, horizon), ref in load_references().items():
        assert normalised_return(ref.random_return, name, horizon) == pytest.approx(0.0, abs=1e-12)
        assert normalised_return(ref.optimal_return, name, horizon) == pytest.approx(1.0, abs=1e-12)
    ref = reference("cancer_treatment", 100)
    mid = 0.5 * (ref.random_return + ref.optimal_return)
    out = normalised_return(np.full((2, 3), mid), "cancer_treatment", 100)
    assert out.shape == (2, 3) and np.allclose(out, 0.5)


def test_measured_random_return_normalises_to_about_zero(getkey):
    # An independent estimate of the random policy (other key, float32) lands near 0.
    env = awmkit.envs.make("harvest", 50)
    measured = float(awmkit.envs.random_return(env, getkey(), episodes=500))
    assert abs(normalised_return(measured, "harvest", 50)) < 0.05


def test_missing_reference_says_how_to_generate_it(tmp_path):
    with pytest.raises(MissingReferenceError, match="awmkit references --env bacteria --horizon 33 --write"):
        reference("bacteria", 33)
    with pytest.raises(
        KeyError, match="shipped horizons for 'bacteria': \\[20, 50, 100, 200, 500, 1000, 2000\\]"
    ):
        normalised_return(1.0, "bacteria", 33)
    with pytest.raises(ValueError, match="none shipped for 'one_bounce'"):
        reference("one_bounce", 20)
    # A user references file supplies the missing pair.
    extra = Reference(
        env="one_bounce",
        horizon=20,
        optimal_return=0.0,
        random_return=-2.0,
        random_episodes=10,
        random_key=0,
        integrator="Euler, 1 substep",
        solver={},
        dtype="float64",
        awmkit_version="test",
        date="today",
    )
    path = write_references([extra], tmp_path / "refs.json")
    assert reference("one_bounce", 20, references=path) == extra
    assert normalised_return(-1.0, "one_bounce", 20, references=path) == 0.5
    assert reference("bacteria", 20, references=path) == reference("bacteria", 20)


# --- run directories ------------------------------------------------------------------------------


def _write_run(
    root,
    name,
    *,
    algo="bpo",
    model="actions_transformer",
    env="cancer_treatment",
    horizon=100,
    finals=(0.0, 0.0, 0.0),
    finished=True,
    **overrides,
):
    run = root / name
    run.mkdir(parents=True)
    config = {
        "awmkit_version": "0.1.0",
        "algo": algo,
        "env": env,
        "model": model,
        "horizon": horizon,
        "seeds": len(finals),
        "steps": 1000,
        "key": 0,
        "learning_rate": 1e-3,
    }
    config.update(overrides)
    (run / "config.json").write_text(json.dumps(config))
    lines = [
        {"env_steps": step, "seed": s, "eval_return": float(f) * step / 1000, "policy_loss": 1.0}
        for step in (500, 1000)
        for s, f in enumerate(finals)
    ]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    if finished:
        result = {
            "algo": algo,
            "env": env,
            "model": model,
            "horizon": horizon,
            "seeds": len(finals),
            "env_steps": 1000,
            "final_return": [float(f) for f in finals],
            "wall_time_s": 1.0,
        }
        (run / "result.json").write_text(json.dumps(result))
    return run


def _returns_at(env, horizon, scores):
    ref = reference(env, horizon)
    return [ref.random_return + s * (ref.optimal_return - ref.random_return) for s in scores]


def test_results_table_aggregates_runs(tmp_path):
    a1 = _write_run(tmp_path, "a1", finals=_returns_at("cancer_treatment", 100, [0.9, 0.8, 1.0]))
    a2 = _write_run(tmp_path, "a2", finals=_returns_at("cancer_treatment", 100, [0.7, 0.95]))
    b = _write_run(
        tmp_path, "b", env="bacteria", horizon=50, finals=_returns_at("bacteria", 50, [0.2, 0.4, 0.6, 0.5])
    )
    c = _write_run(
        tmp_path, "c", algo="sac", model=None, finals=_returns_at("cancer_treatment", 100, [0.1, 0.3])
    )
    runs = load_runs([a1, a2, b, c])
    assert load_runs([tmp_path]) == runs  # a sweep directory is searched for runs
    summary = results_summary(runs, n_resamples=500)
    groups = {(g["algo"], g["model"], g["env"], g["horizon"]): g for g in summary["groups"]}
    cancer = groups[("bpo", "actions_transformer", "cancer_treatment", 100)]
    assert cancer["runs"] == 2 and cancer["seeds"] == 5
    np.testing.assert_allclose(sorted(cancer["scores"]), [0.7, 0.8, 0.9, 0.95, 1.0], atol=1e-9)
    assert cancer["iqm"]["estimate"] == pytest.approx(scipy.stats.trim_mean([0.7, 0.8, 0.9, 0.95, 1.0], 0.25))
    overall = {(o["algo"], o["model"]): o for o in summary["overall"]}
    pooled = [0.9, 0.8, 1.0, 0.7, 0.95, 0.2, 0.4, 0.6, 0.5]
    bpo = overall[("bpo", "actions_transformer")]
    assert bpo["tasks"] == 2 and bpo["seeds"] == 9
    assert bpo["iqm"]["estimate"] == pytest.approx(scipy.stats.trim_mean(pooled, 0.25))
    assert overall[("sac", None)]["iqm"]["estimate"] == pytest.approx(0.2)

    text = results_table(runs, n_resamples=500)
    assert "| bpo | actions_transformer | cancer_treatment | 100 | 2 | 5 |" in text
    assert "| sac | - | cancer_treatment | 100 | 1 | 2 |" in text
    assert "overall normalised IQM [95% stratified-bootstrap CI]" in text
    assert json.loads(results_table(runs, format="json", n_resamples=500)) == summary
    raw = results_summary(runs, normalise=False, n_resamples=500)
    assert raw["overall"] == [] and raw["groups"][0]["score"] == "return"
    with pytest.raises(ValueError, match="format"):
        results_table(runs, format="csv")


def test_unfinished_runs(tmp_path):
    run = load_run(_write_run(tmp_path, "u", finals=[1.0, 2.0], finished=False))
    assert not run.finished
    with pytest.raises(RunDirectoryError, match="missing result.json"):
        run.final_returns()
    np.testing.assert_allclose(run.final_returns(allow_unfinished=True), [1.0, 2.0])
    steps, returns = run.learning_curves()[1]
    np.testing.assert_allclose(steps, [500, 1000])
    np.testing.assert_allclose(returns, [1.0, 2.0])


def test_malformed_run_directories_name_path_and_what_is_missing(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RunDirectoryError, match=f"{empty}: missing config.json; missing metrics.jsonl"):
        load_run(empty)
    no_keys = _write_run(tmp_path, "no_keys")
    config = json.loads((no_keys / "config.json").read_text())
    del config["horizon"], config["key"]
    (no_keys / "config.json").write_text(json.dumps(config))
    with pytest.raises(RunDirectoryError, match=f"{no_keys}: config.json lacks 'horizon', 'key'"):
        load_run(no_keys)
    bad_metrics = _write_run(tmp_path, "bad_metrics")
    with open(bad_metrics / "metrics.jsonl", "a") as f:
        f.write('{"seed": 0, "eval_return": 1.0}\nnot json\n')
    with pytest.raises(
        RunDirectoryError, match="metrics.jsonl line 7 lacks 'env_steps'.*line 8 is not valid JSON"
    ):
        load_run(bad_metrics)
    short = _write_run(tmp_path, "short", finals=[1.0, 2.0])
    result = json.loads((short / "result.json").read_text())
    result["final_return"] = [1.0]
    result["env"] = "bacteria"
    (short / "result.json").write_text(json.dumps(result))
    with pytest.raises(RunDirectoryError, match="has 1 values for 2 seeds.*'env'\\] = 'bacteria' but config"):
        load_run(short)
    with pytest.raises(RunDirectoryError, match="does not exist"):
        load_run(tmp_path / "nowhere")
    good = _write_run(tmp_path, "good")
    # All malformed directories are reported at once, one line each.
    with pytest.raises(RunDirectoryError, match="3 malformed run directories") as info:
        load_runs([good, empty, no_keys, short])
    lines = str(info.value).splitlines()
    assert [line.split(":")[0] for line in lines[1:]] == [str(empty), str(no_keys), str(short)]


def test_cli_results_and_references(tmp_path, capsys):
    run = _write_run(tmp_path, "r", finals=_returns_at("cancer_treatment", 100, [0.5, 0.6]))
    assert main(["results", str(run), "--json", "--resamples", "200"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["groups"][0]["iqm"]["estimate"] == pytest.approx(0.55)
    finals = np.asarray(summary["groups"][0]["returns"])
    half = scipy.stats.t.ppf(0.975, 1) * scipy.stats.sem(finals)  # as `awmkit train` prints it
    assert summary["groups"][0]["return_ci_half_width"] == pytest.approx(half)
    assert main(["results", str(run)]) == 0
    table = capsys.readouterr().out
    assert "| bpo | actions_transformer | cancer_treatment | 100 | 1 | 2 |" in table
    assert "| return (mean ± 95% CI) | normalised IQM [95% bootstrap CI] |" in table
    assert f"± {half:.3f} |" in table
    assert main(["results", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = _write_run(tmp_path, "odd_h", horizon=33, finals=[0.0])
    assert main(["results", str(bad)]) == 2
    assert "awmkit references --env cancer_treatment --horizon 33 --write" in capsys.readouterr().err
    assert main(["references", "--shipped", "--env", "bacteria", "--horizon", "20", "50", "--json"]) == 0
    shipped = json.loads(capsys.readouterr().out)
    assert [(r["env"], r["horizon"]) for r in shipped] == [("bacteria", 20), ("bacteria", 50)]
    assert main(["references", "--env", "bacteria", "--output", "x.json"]) == 2
    assert "--write" in capsys.readouterr().err


def test_cli_references_recomputes_a_shipped_pair(tmp_path, capsys):
    # The shipped numbers are reproducible from the recorded settings and key.
    out = tmp_path / "refs.json"
    assert (
        main(
            ["references", "--env", "bacteria", "--horizon", "20", "--json", "--write", "--output", str(out)]
        )
        == 0
    )
    computed = json.loads(capsys.readouterr().out)[0]
    shipped = reference("bacteria", 20)
    assert computed["optimal_return"] == pytest.approx(shipped.optimal_return, rel=1e-9)
    assert computed["random_return"] == pytest.approx(shipped.random_return, rel=1e-9)
    assert computed["solver"] == shipped.solver
    assert load_references(out)[("bacteria", 20)].optimal_return == computed["optimal_return"]


def test_event_records_and_diverged_seeds(tmp_path):
    # BPO's NaN guard logs event lines without env_steps and writes NaN final returns.
    finals = _returns_at("cancer_treatment", 100, [0.5, 0.7, 0.9])
    path = _write_run(tmp_path, "nan", finals=finals + [0.0])
    with open(path / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"chunk": 1, "seed": 3, "nan": {"quantity": "model loss"}}) + "\n")
    result = json.loads((path / "result.json").read_text())
    result["final_return"][3] = float("nan")
    (path / "result.json").write_text(json.dumps(result))
    run = load_run(path)
    summary = results_summary([run], n_resamples=200)
    group = summary["groups"][0]
    assert group["seeds"] == 3 and group["diverged"] == 1
    assert group["iqm"]["estimate"] == pytest.approx(0.7)
    assert "| 3 (+1 NaN) |" in results_table([run], n_resamples=200)
    with pytest.raises(
        ValueError, match="1 seed\\(s\\) of bpo/actions_transformer on cancer_treatment H=100"
    ):
        results_summary([run], nan_policy="raise")
