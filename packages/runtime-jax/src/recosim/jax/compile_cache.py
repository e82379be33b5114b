"""The persistent compilation cache of the JAX runtime: compile once per machine.

JAX can keep compiled executables on disk and load them instead of compiling
again. recosim turns this on by default, before its first compilation (when the
first `JaxRuntime` or log-probability scorer is built), in the user's cache
folder::

    $XDG_CACHE_HOME/recosim/jax/<versions>/     (else ~/.cache/recosim/jax/<versions>/)

``<versions>`` names the jax, jaxlib and recosim-runtime-jax versions
(`versions_tag`), so a new release starts a fresh folder and never loads an
entry another release wrote. JAX's own key (the program, the compile options,
the backend and its version) chooses the entry inside it.

Controls, strongest first:

* JAX's own cache: when ``JAX_COMPILATION_CACHE_DIR`` or
  ``jax.config.update("jax_compilation_cache_dir", ...)`` names a folder,
  recosim leaves every cache setting as the user made it.
* ``configure(path)`` or ``JaxRuntime(..., compile_cache=path)``: a folder
  (the versioned subfolder is made under it), ``"default"``, or ``None`` /
  ``"off"`` to turn it off.
* The environment variable ``RECOSIM_COMPILE_CACHE``: ``off`` (or ``0``,
  ``false``, ``no``, ``none``) turns it off, a path moves it, unset or
  ``on`` keeps the default.

In a folder recosim chose, every executable is cached whatever its compile time
(``jax_persistent_cache_min_compile_time_secs`` is 0 unless the user set it) and
the folder is kept under `MAX_BYTES`, least recently used entries going first.
Setting that bound also makes JAX take a file lock (``.lockfile`` in the folder)
around every read and write of an entry, so processes compiling at the same time
never read an entry another is still writing; an entry that cannot be read is
compiled again with a warning, never used. The setting is process-wide: JAX
code of your own compiled in the same process is cached in the same folder.

>>> versions_tag("0.7.0", "0.7.0", "0.1.0")
'jax-0.7.0_jaxlib-0.7.0_recosim-runtime-jax-0.1.0'
"""

from __future__ import annotations

import os
import re
import threading
from importlib import metadata
from pathlib import Path

import jax
from jax.experimental.compilation_cache import compilation_cache as _jax_cache

from recosim.jax.backend import config_value

__all__ = [
    "ENV_VAR",
    "MAX_BYTES",
    "active_folder",
    "configure",
    "default_root",
    "ensure_configured",
    "folder_under",
    "versions_tag",
]

ENV_VAR = "RECOSIM_COMPILE_CACHE"
"""The environment variable that turns the cache off (``off``) or moves it (a path)."""

MAX_BYTES = 4 << 30
"""The size a cache folder recosim chose is kept under (least recently used entries are removed)."""

_OFF = frozenset({"off", "0", "false", "no", "none"})
_ON = frozenset({"", "on", "1", "true", "yes", "default"})

_lock = threading.Lock()
_applied = False
_ours: str | None = None  # the folder recosim gave JAX, None when JAX's setting is not recosim's


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def versions_tag(
    jax_version: str | None = None, jaxlib_version: str | None = None, recosim_version: str | None = None
) -> str:
    """The subfolder name that keys the cache by release: ``jax-X_jaxlib-Y_recosim-runtime-jax-Z``.

    Each argument defaults to the installed version.
    """
    parts = {
        "jax": jax_version or jax.__version__,
        "jaxlib": jaxlib_version or _version("jaxlib"),
        "recosim-runtime-jax": recosim_version or _version("recosim-runtime-jax"),
    }
    return "_".join(f"{name}-{re.sub(r'[^A-Za-z0-9.+-]', '-', v)}" for name, v in parts.items())


def default_root() -> Path:
    """``$XDG_CACHE_HOME/recosim/jax``, else ``~/.cache/recosim/jax``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "recosim" / "jax"


def folder_under(root: str | os.PathLike[str]) -> Path:
    """The versioned folder (`versions_tag`) recosim uses under ``root``."""
    return Path(root).expanduser().absolute() / versions_tag()


def active_folder() -> str | None:
    """The folder JAX's persistent cache reads and writes now (recosim's or the user's), or None when off."""
    value = config_value("jax_compilation_cache_dir")
    return str(value) if value else None


def _user_configured() -> bool:
    """Whether the user named JAX's cache folder themselves (a setting recosim must leave alone)."""
    current = active_folder()
    return current is not None and current != _ours


def _parse(setting: str | os.PathLike[str] | None, where: str) -> Path | None:
    """The cache root ``setting`` names (None: off)."""
    if setting is None:
        return None
    text = os.fspath(setting)
    if text.strip().lower() in _OFF:
        return None
    if text.strip().lower() in _ON:
        return default_root()
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{where}: {text!r} is a file, not a folder for the compilation cache (or say 'off')")
    return path


def _set_folder(folder: Path | None) -> None:
    global _ours
    previous = _ours
    if folder is None:
        if previous is not None:
            jax.config.update("jax_compilation_cache_dir", None)
            _jax_cache.reset_cache()
        _ours = None
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"compilation cache: cannot create the folder {str(folder)!r} ({err.strerror})") from None
    if config_value("jax_persistent_cache_min_compile_time_secs") == 1.0 and not os.environ.get(
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"
    ):
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    if config_value("jax_compilation_cache_max_size") == -1 and not os.environ.get("JAX_COMPILATION_CACHE_MAX_SIZE"):
        jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    if previous is not None and previous != str(folder):
        _jax_cache.reset_cache()  # JAX opens its folder once: let it open the new one
    jax.config.update("jax_compilation_cache_dir", str(folder))
    _ours = str(folder)


def configure(path: str | os.PathLike[str] | None = "default") -> str | None:
    """Put recosim's compilation cache under ``path`` (its versioned subfolder), or turn it off (None / ``"off"``).

    ``"default"`` is the user's cache folder (`default_root`). A folder the user
    gave JAX itself is left alone. Returns the folder JAX now caches in, or None.
    """
    global _applied
    with _lock:
        root = _parse(path, "compile_cache")
        _applied = True
        if _user_configured():
            return active_folder()
        _set_folder(None if root is None else folder_under(root))
        return active_folder()


def ensure_configured() -> str | None:
    """Apply ``RECOSIM_COMPILE_CACHE`` (default: on) once per process, unless `configure` came first.

    Called before recosim's first compilation; cheap after the first call.
    """
    global _applied
    if _applied:
        return active_folder()
    with _lock:
        if _applied:
            return active_folder()
        root = _parse(os.environ.get(ENV_VAR, ""), ENV_VAR)
        _applied = True
        if not _user_configured():
            _set_folder(None if root is None else folder_under(root))
        return active_folder()
