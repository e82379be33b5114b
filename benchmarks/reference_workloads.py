"""The three workloads run on RecSim NG 0.1.2, the way its own applications run them.

Each function runs in a child process started by ``compare.py``, applies
``recsim_ng_patches`` before TensorFlow is imported, then drives RecSim NG's own
application modules with the sizes of ``workloads.SIZES``:

- ecosystem: ``ecosystem_simulation.run_simulation`` once per boost cap, the cap
  bound through gin as its demo configures it, on the provider means loaded from
  the same ``.npy`` file recosim reads. As in the reference, every run builds a
  fresh network and traces a fresh ``tf.function``, and all runs of the process
  draw from TensorFlow's one global random stream (runs are not seeded one by one).
  The reference's ``execute(num_steps=n)`` computes the initial step and ``n``
  transitions, so ``horizon - 1`` is passed to give the same number of steps as
  recosim's horizon.
- interest evolution: the network of ``create_interest_evolution_simulation_network``
  trained with the step that ``interest_evolution_simulation.make_train_step``
  builds (REINFORCE, SGD at lr 1e-4, ``cumulative_reward``, batch = users), one
  call per training step as its ``run_simulation`` loops.
- latent variable: Monte-Carlo EM as the reference demo does it: a trajectory is
  drawn at ``alpha = 0.8``, then each iteration samples the held-out intent with
  adaptive HMC (5 leapfrog steps) and takes an Adam step (lr 0.02) on ``alpha``
  over the second half of the samples. The demo fixes 100 iterations in its
  ``main``; here the count comes from the size.
"""

from __future__ import annotations

import time
from typing import Any

import recsim_ng_patches
from harness import Clock, split_compile

__all__ = ["ecosystem", "interest_evolution", "latent_variable"]


def _prepare(clock: Clock) -> None:
    with clock.phase("import"):
        recsim_ng_patches.apply()
        import tensorflow as tf  # noqa: F401  (imported here so its start-up is not timed as work)


def ecosystem(
    clock: Clock,
    *,
    num_users: int,
    num_docs: int,
    horizon: int,
    num_runs: int,
    boost_caps: list[float],
    provider_means: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """RecSim NG's ecosystem simulation: ``num_runs`` runs for each boost cap."""
    _prepare(clock)
    import gin
    import numpy as np
    from recsim_ng.applications.ecosystem_simulation import ecosystem_simulation
    from recsim_ng.lib.tensorflow import util
    from workloads import default_provider_means_path

    means = np.load(provider_means or default_provider_means_path(), allow_pickle=False)
    if num_docs != 5 * means.shape[0]:
        raise ValueError(
            f"RecSim NG's ecosystem offers 5 documents per provider ({5 * means.shape[0]} here); "
            f"the size asks for num_docs={num_docs}"
        )
    strategy, replicas = util.initialize_platform()
    utility = {}
    with clock.phase("run"):
        for cap in boost_caps:
            gin.bind_parameter("create_viable_provider_simulation_network.provider_boost_cap", float(cap))
            mean, stderr = ecosystem_simulation.run_simulation(
                strategy, replicas, num_runs, means, num_users, horizon - 1
            )
            utility[f"L={cap:g}"] = {"mean": float(mean), "stderr": float(stderr), "runs": num_runs}
    return {"utility": utility, "units": num_runs * len(boost_caps) * horizon, "unit": "run-step"}


def interest_evolution(
    clock: Clock,
    *,
    num_users: int,
    horizon: int,
    num_training_steps: int,
    learning_rate: float = 1e-4,
    **_: Any,
) -> dict[str, Any]:
    """RecSim NG's interest-evolution REINFORCE training."""
    _prepare(clock)
    from recsim_ng.applications.recsys_partially_observable_rl import interest_evolution_simulation as ies
    from recsim_ng.applications.recsys_partially_observable_rl import simulation_config

    with clock.phase("build"):
        variables, trainable = simulation_config.create_interest_evolution_simulation_network(num_users=num_users)
        recsim_ng_patches.check_keras(trainable, "interest evolution recommender")
        tf_runtime = ies.make_runtime(variables)
        train_step = ies.make_train_step(
            tf_runtime, horizon, num_users, trainable, "cumulative_reward", ies.reset_optimizer(learning_rate)
        )
    rewards, steps = [], []
    with clock.phase("run"):
        for _step in range(num_training_steps):
            t0 = time.perf_counter()
            _, _, reward = train_step()
            rewards.append(float(reward))
            steps.append(time.perf_counter() - t0)
    compile_s, step_s = split_compile(steps)
    return {
        "mean_cumulative_reward_first": rewards[0],
        "mean_cumulative_reward_last": rewards[-1],
        "compile_estimate_s": compile_s,
        "steady_step_s": step_s,
        "units": num_training_steps,
        "unit": "training step",
    }


def latent_variable(
    clock: Clock,
    *,
    num_users: int,
    num_topics: int,
    slate_size: int,
    horizon: int,
    num_iterations: int,
    num_results: int,
    num_burnin_steps: int,
    num_leapfrog_steps: int = 5,
    learning_rate: float = 0.02,
    **_: Any,
) -> dict[str, Any]:
    """RecSim NG's latent-variable model learnt by Monte-Carlo EM with HMC."""
    if num_results <= num_burnin_steps:
        raise ValueError(
            f"the reference fits alpha on HMC results after index num_burnin_steps={num_burnin_steps}; "
            f"num_results={num_results} leaves none"
        )
    _prepare(clock)
    import tensorflow as tf
    import tensorflow_probability as tfp
    from recsim_ng.applications.latent_variable_model_learning import simulation_config
    from recsim_ng.core import network as network_lib
    from recsim_ng.core import value as value_lib
    from recsim_ng.lib.tensorflow import entity, log_probability, runtime

    def network(sensitivity: Any = None) -> Any:
        return simulation_config.create_latent_variable_model_network(
            num_users=num_users, num_topics=num_topics, slate_size=slate_size, satisfaction_sensitivity=sensitivity
        )

    with clock.phase("build"):
        data = runtime.TFRuntime(network=network_lib.Network(variables=network()))
        observed = dict(data.trajectory(length=horizon))
        alpha = tf.Variable(
            tf.linspace(0.0, 1.0, num=num_users), dtype=tf.float32, constraint=lambda a: tf.clip_by_value(a, 0.0, 1.0)
        )
        trainable = entity.story_with_trainable_variables(lambda: network(alpha))[1]["ModelLearningDemoUser"]
        recsim_ng_patches.check_keras(trainable, "latent-variable user model")

        def log_joint(intent: Any) -> Any:
            completed = dict(observed)
            fields = dict(observed["user state"].as_dict)
            fields["intent"] = intent[None] + tf.zeros((horizon, num_users, num_topics))
            completed["user state"] = value_lib.Value(**fields)
            return log_probability.log_probability_from_value_trajectory(
                variables=network(alpha), value_trajectory=completed, num_steps=horizon - 1
            )

        kernel = tfp.mcmc.SimpleStepSizeAdaptation(
            tfp.mcmc.HamiltonianMonteCarlo(log_joint, num_leapfrog_steps=num_leapfrog_steps, step_size=1e-4),
            num_adaptation_steps=int(0.8 * num_burnin_steps),
        )

        @tf.function
        def e_step() -> tuple[Any, Any]:
            start = tfp.distributions.Normal(tf.ones((num_users, num_topics)) / num_users, 1.0).sample()
            samples, accepted = tfp.mcmc.sample_chain(
                num_results=num_results,
                num_burnin_steps=num_burnin_steps,
                current_state=start,
                kernel=kernel,
                trace_fn=lambda _, results: results.inner_results.is_accepted,
            )
            return samples, tf.reduce_mean(tf.cast(accepted, tf.float32))

        optimizer = tf.keras.optimizers.Adam(learning_rate=learning_rate)

    iterations, acceptance, objective = [], [], []
    with clock.phase("run"):
        for _it in range(num_iterations):
            t0 = time.perf_counter()
            samples, accepted = e_step()
            with tf.GradientTape() as tape:
                mean_log_joint = tf.reduce_mean(tf.vectorized_map(log_joint, samples[num_burnin_steps:]))
                loss = -mean_log_joint
            optimizer.apply_gradients(zip(tape.gradient(loss, trainable), trainable))
            acceptance.append(float(accepted))
            objective.append(float(mean_log_joint))
            iterations.append(time.perf_counter() - t0)
    compile_s, step_s = split_compile(iterations)
    return {
        "alpha": [round(float(a), 4) for a in trainable[0].numpy()],
        "mean_log_joint_first": objective[0],
        "mean_log_joint_last": objective[-1],
        "acceptance_mean": sum(acceptance) / len(acceptance),
        "compile_estimate_s": compile_s,
        "steady_step_s": step_s,
        "units": num_iterations,
        "unit": "EM iteration",
    }
