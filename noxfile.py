"""Tasks for contributors: ``nox -l`` lists them.

Each package is tested in its own environment with only its declared
dependencies, so a missing dependency declaration fails its session.
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
CORE = "packages/core"
LIBRARY = "packages/library"
TF = "packages/runtime-tf"
JAX = "packages/runtime-jax"
USECASES = "packages/usecases"
SWEEP = "packages/sweep"
TEST_DEPS = ["pytest>=8", "hypothesis>=6.100", "hatchling>=1.24", "pip"]

# package -> (what to install, what to test, the runtimes the shared suites run on there).
# The runtime sessions also run the library's and the use cases' suites on their runtime.
PACKAGES = {
    "core": ([CORE], [f"{CORE}/tests"], None),
    "library": ([CORE, LIBRARY], [f"{LIBRARY}/tests"], "numpy"),
    "tf": ([CORE, LIBRARY, TF, USECASES], [f"{TF}/tests", f"{LIBRARY}/tests", f"{USECASES}/tests"], "tf"),
    "jax": ([CORE, LIBRARY, JAX, USECASES], [f"{JAX}/tests", f"{LIBRARY}/tests", f"{USECASES}/tests"], "jax"),
    "usecases": ([CORE, LIBRARY, USECASES], [f"{USECASES}/tests"], None),
    "gym": ([CORE, LIBRARY, JAX, USECASES, "packages/gym"], ["packages/gym/tests"], None),
    # every runtime in one environment: NumPy, TF and JAX against each other
    "runtimes": ([CORE, LIBRARY, TF, JAX], [f"{LIBRARY}/tests/test_runtime_contract.py"], None),
    # sweeps without Ray (its tests skip), then the Ray backend on a local cluster
    "sweep": ([CORE, LIBRARY, USECASES, SWEEP], [f"{SWEEP}/tests"], None),
    "sweep-ray": ([CORE, LIBRARY, USECASES, f"{SWEEP}[ray]"], [f"{SWEEP}/tests/test_ray.py"], None),
    # inference methods, once per runtime with that runtime's extra
    "inference-jax": ([CORE, LIBRARY, JAX, "packages/inference[jax]"], ["packages/inference/tests"], "jax"),
    "inference-tf": ([CORE, LIBRARY, TF, "packages/inference[tf]"], ["packages/inference/tests"], "tf"),
}


def _existing(paths: list[str]) -> list[str]:
    def has_tests(p: str) -> bool:
        if os.path.isfile(p):
            return os.path.basename(p).startswith("test_")
        return os.path.isdir(p) and any(f.startswith("test_") for _, _, files in os.walk(p) for f in files)

    return [p for p in paths if has_tests(p)]


@nox.session(python=PYTHON)
@nox.parametrize("package", list(PACKAGES))
def tests(session: nox.Session, package: str) -> None:
    """Run one package's tests in an environment holding only what it declares."""
    installs, test_dirs, runtimes = PACKAGES[package]
    session.install(*TEST_DEPS)
    args = []
    for path in installs:
        args += ["-e", path]
    session.install(*args)
    env = {"TF_CPP_MIN_LOG_LEVEL": "2"}
    if runtimes:
        env["RECOSIM_TEST_RUNTIMES"] = runtimes
    targets = _existing(test_dirs)
    if not targets:
        session.error(f"package {package!r} has no tests")
    for target in targets:  # one run per package: each tests/ folder has its own conftest
        session.run("pytest", "-q", "-p", "no:cacheprovider", target, *session.posargs, env=env)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: style and common bugs."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "packages", "examples", "noxfile.py", "benchmarks")


@nox.session(python=PYTHON)
def types(session: nox.Session) -> None:
    """mypy over the framework-free packages (core and library)."""
    session.install("mypy>=1.10", "-e", CORE, "-e", LIBRARY)
    session.run("mypy", f"{CORE}/src/recosim/core", f"{LIBRARY}/src/recosim/library")


@nox.session(python=PYTHON)
def benchmarks(session: nox.Session) -> None:
    """Speed of every runtime on the same models (not part of the tests)."""
    session.install("-e", CORE, "-e", LIBRARY, "-e", TF, "-e", JAX)
    session.run("python", "benchmarks/runtimes.py", *session.posargs, env={"TF_CPP_MIN_LOG_LEVEL": "2"})


# The benchmark harness (benchmarks/*.py) checks itself before it measures.
BENCH_TOOLS = ["pytest>=8", "threadpoolctl>=3"]
BENCH_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}
# RecSim NG 0.1.2 goes in with --no-deps: its TensorFlow Probability, JAX and Edward2 are the
# ones recosim's runtimes bring; the rest of what it imports is listed here.
RECSIM_NG = "recsim-ng==0.1.2"
RECSIM_NG_DEPS = ["tensorflow==2.21.*", "tf-keras==2.21.*", "gym==0.26.2", "gin-config>=0.5", "absl-py", "matplotlib"]


def _install_recosim_for_bench(session: nox.Session) -> None:
    session.install(*BENCH_TOOLS, "-e", CORE, "-e", LIBRARY, "-e", TF, "-e", JAX, "-e", USECASES)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Use cases at the reference sizes on NumPy, TF and JAX: compile and run time, peak memory.

    ``nox -s bench -- --size small`` proves the set-up in a minute; other options: benchmarks/bench.py --help.
    """
    _install_recosim_for_bench(session)
    session.run("pytest", "-q", "-p", "no:cacheprovider", "benchmarks/tests", env=BENCH_ENV)
    session.run("python", "benchmarks/bench.py", *session.posargs, env=BENCH_ENV)


@nox.session(python=PYTHON)
def bench_reference(session: nox.Session) -> None:
    """RecSim NG 0.1.2 and recosim on the same workloads in one run; prints reference/recosim.

    ``nox -s bench_reference -- --size small`` for a quick check; options: benchmarks/compare.py --help.
    """
    _install_recosim_for_bench(session)
    session.install(*RECSIM_NG_DEPS)
    session.install("--no-deps", RECSIM_NG)
    session.run("pytest", "-q", "-p", "no:cacheprovider", "benchmarks/tests", env=BENCH_ENV)
    session.run("python", "benchmarks/compare.py", *session.posargs, env=BENCH_ENV)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """API documentation (HTML under docs/_build) from the docstrings."""
    session.install("pdoc>=14", "-e", CORE, "-e", LIBRARY)
    session.run("pdoc", "-o", "docs/_build", "recosim.core", "recosim.library")
