"""Tasks for contributors: ``nox -l`` lists them.

Each package is tested in its own environment with only its declared
dependencies, so a missing dependency declaration fails its session. The same
suites run on the newest versions the declarations allow (``tests``, and
``newest`` on the newest Python) and on the lowest ones they allow (``lowest``),
so a new release of JAX, TensorFlow, TFP or NumPy that breaks recosim, or a
lower bound that is too low, fails a session here.
"""

from __future__ import annotations

import glob
import json
import os
import shutil

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.tags = ["ci"]  # plain `nox` runs what CI runs
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"  # the oldest Python recosim supports
NEWEST_PYTHON = "3.13"  # the newest Python its frameworks publish wheels for
CORE = "packages/core"
LIBRARY = "packages/library"
TF = "packages/runtime-tf"
JAX = "packages/runtime-jax"
USECASES = "packages/usecases"
SWEEP = "packages/sweep"
INFERENCE = "packages/inference"
GYM = "packages/gym"
# Every package, in the order its dependencies need: what ``lint``, ``types`` and ``docs`` cover.
ALL_PACKAGES = [CORE, LIBRARY, TF, JAX, USECASES, INFERENCE, SWEEP, GYM]
TEST_DEPS = ["pytest>=8", "pytest-xdist>=3.5", "hypothesis>=6.100", "hatchling>=1.24", "pip"]

# Test files run in parallel on up to this many processes (one per core; RECOSIM_TEST_WORKERS
# overrides, 1 runs them in the session's own process). A file stays on one process, so its
# module-scoped fixtures and compiled functions are built once.
TEST_WORKERS = os.environ.get("RECOSIM_TEST_WORKERS") or str(min(os.cpu_count() or 1, 4))
PYTEST = ["pytest", "-q", "-p", "no:cacheprovider"]
if TEST_WORKERS != "1":
    PYTEST += ["-n", TEST_WORKERS, "--dist", "loadfile"]

# How an install picks versions: "newest", the newest every declaration allows (an
# environment kept from an earlier run is upgraded too); "lowest", the lowest version of
# each dependency that a package declares and the newest of everything else (uv's
# lowest-direct resolution).
RESOLUTIONS = {"newest": ["--upgrade"], "lowest": ["--resolution", "lowest-direct"]}

# A researcher's current JAX environment: installing the JAX runtime must keep these as they are.
JAX_ECOSYSTEM = ["jax", "jaxlib", "flax", "optax", "numpyro", "blackjax"]

# The packages whose suites CI also runs on the lowest versions (``nox -t ci``); every
# package has a lowest and a newest-Python session for running by hand. On the lowest
# versions a runtime session runs the runtime's own suite and the library's contract suites:
# every backend operation and distribution against NumPy, the runtime contract, the checked
# mode and the log-probability fuzzing. The library's blocks and the use cases reach a
# runtime only through those operations; ``lowest(library)`` and ``lowest(usecases)`` run
# their whole suites by hand.
LOWEST_IN_CI = ["tf", "jax"]
LIBRARY_CONTRACT = [
    f"{LIBRARY}/tests/{name}.py"
    for name in (
        "test_backend_conformance",
        "test_runtime_contract",
        "test_runtime_settings",
        "test_trustworthy",
        "test_log_prob_fuzz",
    )
]
LOWEST_TESTS = {"tf": [f"{TF}/tests", *LIBRARY_CONTRACT], "jax": [f"{JAX}/tests", *LIBRARY_CONTRACT]}

# Where a runtime session runs the use cases' suite it also installs the inference methods
# their trainers use (interest evolution on TF and JAX, learning scammers on JAX).
USECASE_TRAINERS = {"tf": ["packages/inference[tf]"], "jax": ["packages/inference[jax]"]}

# package -> (what to install, what to test, the runtimes the shared suites run on there).
# The runtime sessions also run the library's and the use cases' suites on their runtime.
PACKAGES = {
    "core": ([CORE], [f"{CORE}/tests"], None),
    "library": ([CORE, LIBRARY], [f"{LIBRARY}/tests"], "numpy"),
    "tf": ([CORE, LIBRARY, TF, USECASES], [f"{TF}/tests", f"{LIBRARY}/tests", f"{USECASES}/tests"], "tf"),
    "jax": ([CORE, LIBRARY, JAX, USECASES],
            [f"{JAX}/tests", f"{LIBRARY}/tests", f"{USECASES}/tests", f"{CORE}/tests/test_cli_devices.py"], "jax"),
    "usecases": ([CORE, LIBRARY, USECASES], [f"{USECASES}/tests"], None),
    # the gym session has the widest set of packages: it also runs the docs snippets that need them
    "gym": ([CORE, LIBRARY, JAX, USECASES, "packages/gym"],
            ["packages/gym/tests", f"{CORE}/tests/test_docs_snippets.py"], None),
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


def _python_search_path() -> None:
    """Let nox find every Python that pyenv holds, not only the ones its shims select."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(os.path.join(root, "versions", "*", "bin")))
    if found:
        os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), *found])


_python_search_path()

# The distributions whose versions every test session prints before it tests.
STACK = ["numpy", "scipy", "jax", "jaxlib", "tensorflow", "tensorflow-probability", "tfp-nightly", "tf-keras",
         "keras", "edward2", "flax", "optax", "numpyro", "blackjax"]
_PRINT_VERSIONS = (
    "import re, sys; from importlib import metadata as m; names = set(sys.argv[1:]); "
    "found = sorted((re.sub(r'[-_.]+', '-', d.metadata['Name']).lower(), d.version) for d in m.distributions()); "
    "found = [(n, v) for n, v in found if n in names]; "
    "print('versions: python', sys.version.split()[0] + ''.join(f', {n} {v}' for n, v in found))"
)
_INSTALLED = (
    "import json, re; from importlib import metadata as m; "
    "print(json.dumps({re.sub(r'[-_.]+', '-', d.metadata['Name']).lower(): d.version for d in m.distributions()}))"
)


def _fresh_compile_cache(session: nox.Session) -> str:
    """An empty compile-cache folder for this session's tests (``RECOSIM_COMPILE_CACHE``).

    The JAX runtime's persistent compilation cache is on in tests, as it is for users, but
    in a folder emptied when the session starts: within the session (and across its test
    processes) a program is compiled once and loaded after, as a resumed run or a test
    that builds the same model again does in practice; nothing compiled is carried from
    one session or run to the next. The cache's own tests, and the tests that start
    processes with several host devices, choose their own setting.
    """
    # beside the session's environment, not in it (and not through session.create_tmp, which points TMPDIR into
    # the environment, where Ray refuses to keep its session files)
    venv = os.path.abspath(session.virtualenv.location)
    folder = os.path.join(os.path.dirname(venv), "compile-cache", os.path.basename(venv))
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def _run_package_tests(session: nox.Session, package: str, resolution: str) -> None:
    """Install ``package`` as ``PACKAGES`` says, picking versions by ``resolution``, and run its suites."""
    installs, test_dirs, runtimes = PACKAGES[package]
    if resolution == "lowest":
        test_dirs = LOWEST_TESTS.get(package, test_dirs)
    targets = _existing(test_dirs)
    if not targets:
        session.error(f"package {package!r} has no tests")
    if f"{USECASES}/tests" in targets:
        installs = [*installs, *USECASE_TRAINERS.get(package, [])]
    if resolution == "lowest" and session.venv_backend != "uv":
        session.error("the lowest-version sessions need uv (pip has no lowest-direct resolution): pip install uv")
    session.install("--upgrade", *TEST_DEPS)
    args = []
    for path in installs:
        args += ["-e", path]
    session.install(*RESOLUTIONS[resolution], *args)
    session.log(str(session.run("python", "-c", _PRINT_VERSIONS, *STACK, silent=True, log=False)).strip())
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", "RECOSIM_COMPILE_CACHE": _fresh_compile_cache(session)}
    if runtimes:
        env["RECOSIM_TEST_RUNTIMES"] = runtimes
    # the tests that start processes with several host devices run once, in tests(jax)
    marks = ["-m", "not devices"] if resolution == "lowest" or session.python != PYTHON else []
    # one run for all the session's suites: each suite's conftest acts on its own folder's tests only
    # (recosim.core.testing.under), and the test processes start and import the frameworks once
    session.run(*PYTEST, *marks, *targets, *session.posargs, env=env)


@nox.session(python=PYTHON, tags=["ci"])
@nox.parametrize("package", list(PACKAGES))
def tests(session: nox.Session, package: str) -> None:
    """Run one package's tests in an environment holding only what it declares, at the newest versions."""
    _run_package_tests(session, package, "newest")


@nox.session(python=PYTHON, reuse_venv=False)  # uv keeps installed versions that satisfy: start afresh
@nox.parametrize("package", [nox.param(p, tags=["ci"] if p in LOWEST_IN_CI else []) for p in PACKAGES])
def lowest(session: nox.Session, package: str) -> None:
    """The same tests on the lowest version of each dependency the packages declare (uv's lowest-direct)."""
    _run_package_tests(session, package, "lowest")


@nox.session(python=NEWEST_PYTHON)
@nox.parametrize("package", list(PACKAGES))
def newest(session: nox.Session, package: str) -> None:
    """The same tests on the newest Python, which gets the newest releases of JAX and NumPy (not in CI)."""
    _run_package_tests(session, package, "newest")


def _installed(session: nox.Session) -> dict[str, str]:
    """``{normalised distribution name: version}`` of everything installed in the session's environment."""
    out = session.run("python", "-c", _INSTALLED, silent=True, log=False)
    return json.loads(str(out).strip().splitlines()[-1])


@nox.session(python=[PYTHON, NEWEST_PYTHON], reuse_venv=False, tags=["ci"])
def jax_ecosystem(session: nox.Session) -> None:
    """``pip install`` of the JAX runtime into a current JAX environment keeps every version there.

    A fresh environment first gets the newest jax, jaxlib, flax, optax, numpyro and
    blackjax; then recosim-core and recosim-runtime-jax are installed from this
    checkout with pip, as a user would install them. The session fails, naming each
    distribution whose version moved or that vanished, and otherwise runs a model
    on the JAX runtime there. On the newest Python, whose JAX is newer than the one
    the ``tests`` sessions get, it then runs the JAX runtime's whole test suite there.
    """
    session.install("--upgrade", "pip", *JAX_ECOSYSTEM)
    before = _installed(session)
    session.log("holding " + ", ".join(f"{n} {before[n]}" for n in JAX_ECOSYSTEM))
    session.run("python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"./{CORE}", f"./{JAX}")
    after = _installed(session)
    moved = sorted(n for n in before if after.get(n) != before[n])
    if moved:
        session.error(
            "installing recosim-runtime-jax changed the JAX environment it went into: "
            + "; ".join(f"{n} {before[n]} -> {after.get(n, 'removed')}" for n in moved)
        )
    added = ", ".join(sorted(set(after) - set(before)))
    session.log(f"all {len(before)} distributions there kept their versions; the install added {added}")
    session.run("python", "-c", _JAX_SMOKE, env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    if session.python == NEWEST_PYTHON:
        session.install("pytest>=8", "pytest-xdist>=3.5", "hypothesis>=6.100")
        env = {"RECOSIM_COMPILE_CACHE": _fresh_compile_cache(session)}
        session.run(*PYTEST, "-m", "not devices", f"{JAX}/tests", *session.posargs, env=env)


_JAX_SMOKE = (
    "import jax; from recosim.core import make_runtime; from recosim.core.examples import random_walk_variables; "
    "rt = make_runtime(random_walk_variables(3), 'jax', seed=0); log_p = float(rt.log_probability(rt.trajectory(5))); "
    "assert -1e4 < log_p < 0, log_p; "
    "print(f'jax {jax.__version__}: a 5-step random walk runs and is scored on the JAX runtime, log p = {log_p:.3f}')"
)


def _sources(path: str) -> tuple[str, list[str]]:
    """A package's source root and the ``recosim.*`` folders under it."""
    src = os.path.join(path, "src")
    return src, sorted(glob.glob(os.path.join(src, "recosim", "*", "")))


def _mypy(session: nox.Session) -> None:
    """mypy over every package's sources (pyproject.toml's [tool.mypy] holds the options).

    The packages go in with ``--no-deps`` and only NumPy beside mypy: the frameworks
    (TensorFlow, JAX, TFP, Gymnasium, Ray, ...) stay out, ``ignore_missing_imports``
    types them as ``Any``, and the session installs in seconds.
    """
    session.install("mypy>=1.10", "numpy>=2.0")
    args = []
    for path in ALL_PACKAGES:
        args += ["-e", path]
    session.install("--no-deps", *args)
    roots = [_sources(path) for path in ALL_PACKAGES]
    mypy_path = os.pathsep.join(src for src, _ in roots)  # `recosim.core`, not `packages.core.src...`
    session.run("mypy", *(d.rstrip(os.sep) for _, dirs in roots for d in dirs), env={"MYPYPATH": mypy_path})


@nox.session(python=PYTHON, tags=["ci"])
def lint(session: nox.Session) -> None:
    """ruff (style and common bugs), then mypy over every package (as ``types``)."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "packages", "examples", "noxfile.py", "benchmarks")
    _mypy(session)


@nox.session(python=PYTHON)
def types(session: nox.Session) -> None:
    """mypy over every package, without the frameworks (the check ``lint`` ends with)."""
    _mypy(session)


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
    session.install("-e", "packages/inference[jax,tf]")  # the trainers of the learning use cases


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Use cases at the reference sizes on NumPy, TF and JAX: compile and run time, peak memory.

    ``nox -s bench -- --size small`` proves the set-up in a minute; other options: benchmarks/bench.py --help.
    """
    _install_recosim_for_bench(session)
    session.run("pytest", "-q", "-p", "no:cacheprovider", "benchmarks/tests", env=BENCH_ENV)
    session.run("python", "benchmarks/bench.py", *session.posargs, env=BENCH_ENV)


@nox.session(python=PYTHON)
def bench_scaling(session: nox.Session) -> None:
    """Ecosystem step time and peak memory from 2k to 200k users on JAX and TF (benchmarks/scaling.py).

    ``nox -s bench_scaling -- --users 1000000`` adds the million-user point (run it alone on the machine).
    """
    _install_recosim_for_bench(session)
    session.run("python", "benchmarks/scaling.py", *session.posargs, env=BENCH_ENV)


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


# What pdoc imports to document every package: each package with its dependencies, the
# inference methods with both frameworks' extras and the sweeps with Ray.
DOCS_INSTALLS = [CORE, LIBRARY, TF, JAX, USECASES, f"{INFERENCE}[jax,tf]", f"{SWEEP}[ray]", GYM]


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """API documentation of every package (HTML under docs/_build) from the docstrings."""
    args = []
    for path in DOCS_INSTALLS:
        args += ["-e", path]
    session.install("pdoc>=14", *args)
    modules = [f"recosim.{os.path.basename(d.rstrip(os.sep))}" for path in ALL_PACKAGES for d in _sources(path)[1]]
    session.run("pdoc", "-o", "docs/_build", *modules, env={"TF_CPP_MIN_LOG_LEVEL": "2"})
