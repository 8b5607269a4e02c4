"""Where the project's inputs live, and the one YAML reader that turns their errors into InputError.

Notebooks find data through these functions, never through relative paths: papermill's
working directory is not the notebook's folder.
"""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path
from typing import Any

from gpucompare.core import yamlcache
from gpucompare.core.errors import InputError

#: The YAML loader, when not PyYAML's safe loader in C (libyaml, about ten times faster than the
#: Python one) or, without libyaml, in Python: a test sets the Python one here.
_SAFE_LOADER = None

#: Environment variable that points the library at another data folder (tests use it).
DATA_DIR_ENV = "GPUCOMPARE_DATA_DIR"
#: Environment variable that moves the build cache (default: ``reports/.gpucompare-cache/``).
CACHE_DIR_ENV = "GPUCOMPARE_CACHE_DIR"


#: The checkout's root, resolved once (catalog lookups ask for it thousands of times).
_ROOT = Path(__file__).resolve().parents[3]


def repo_root() -> Path:
    """The checkout's root: ``lib/gpucompare/core/paths.py``, four levels up."""
    return _ROOT


#: The project's folders, built once: a Path per call cost ~2 us, and data lookups ask for the data
#: folder hundreds of thousands of times in a build (Paths are immutable, so sharing one is safe).
_DATA, _PARAMS, _NOTEBOOKS = _ROOT / "data", _ROOT / "params", _ROOT / "notebooks"
_CACHE = _ROOT / "reports" / ".gpucompare-cache"


@functools.lru_cache(maxsize=64)
def _folder(override: str, default: Path) -> Path:
    """``Path(override)``, or ``default`` when the environment variable is unset or empty."""
    return Path(override) if override else default


def data_dir() -> Path:
    """The folder of sourced input data (``data/``), or ``$GPUCOMPARE_DATA_DIR``."""
    return _folder(os.environ.get(DATA_DIR_ENV, ""), _DATA)


def params_dir() -> Path:
    """The folder of parameter files (``params/``)."""
    return _PARAMS


def cache_dir() -> Path:
    """The one home of the build cache (executed sections, locks): ``$GPUCOMPARE_CACHE_DIR`` or the
    project's ``reports/.gpucompare-cache/``, whatever ``--out`` is."""
    return _folder(os.environ.get(CACHE_DIR_ENV, ""), _CACHE)


def trees_dir() -> Path:
    """Where the hashes of the data and library trees are kept between processes
    (:func:`gpucompare.core.filecache.hash_tree` with ``keep``): ``<cache_dir>/trees``."""
    return cache_dir() / "trees"


def notebooks_dir() -> Path:
    """The folder of section notebooks (``notebooks/``)."""
    return _NOTEBOOKS


#: The largest YAML file :func:`load_yaml` reads: 1 MB (10**6 bytes). The largest real input, data/gpus.yaml,
#: is about 60 kB; anything bigger is not a parameters or data file (or it is ``/dev/zero``).
MAX_YAML_BYTES = 1_000_000
#: The most nodes (scalars, lists, mappings, mapping keys) a YAML document may expand to, aliases
#: counted as often as they are used. The largest real file (data/gpus.yaml) has about 3,000; a "billion
#: laughs" alias bomb of 1 kB expands to billions and is refused here, in milliseconds, before anything
#: walks, copies, validates or prints it (and a 1 MB list of 500,000 items before pydantic lists
#: 500,000 errors).
MAX_YAML_NODES = 100_000
#: The most characters the strings of a YAML document may expand to (aliases counted as often as used):
#: ten times :data:`MAX_YAML_BYTES`, so one long string repeated by aliases cannot become gigabytes.
MAX_YAML_CHARS = 10 * MAX_YAML_BYTES
#: The deepest nesting of lists and mappings a YAML document may have. Real files nest at most 5 levels;
#: 32 keeps every recursive walk of the data (copy, validation, error messages) far below Python's
#: recursion limit, and an alias that refers to the collection containing it is infinitely deep.
MAX_YAML_DEPTH = 32


def clip(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters (a key or value quoted in an error message)."""
    return text if len(text) <= limit else text[: limit - 4] + " ..."


def _expansion(obj: Any, depth: int, memo: dict, on_path: set, where: str) -> tuple[int, int, int]:
    """(nodes, characters, height) of ``obj`` with every shared reference expanded, memoized by object
    so that an alias bomb costs a few steps per distinct node rather than its expanded size."""
    if isinstance(obj, (str, bytes)):
        return 1, len(obj), 0
    if not isinstance(obj, (list, tuple, dict, set, frozenset)):
        return 1, 0, 0
    key = id(obj)
    if key in memo:
        nodes, chars, height = memo[key]
    else:
        if key in on_path:
            raise InputError(
                f"{where}: an alias refers to a list or mapping that contains it "
                "(a structure without end); expected plain data"
            )
        if depth >= MAX_YAML_DEPTH:
            raise InputError(
                f"{where}: lists and mappings nested more than {MAX_YAML_DEPTH} levels deep "
                "(the limit); expected plain data"
            )
        on_path.add(key)
        nodes, chars, height = 1, 0, 0
        items = [x for kv in obj.items() for x in kv] if isinstance(obj, dict) else obj
        for item in items:
            n, c, h = _expansion(item, depth + 1, memo, on_path, where)
            nodes, chars, height = nodes + n, chars + c, max(height, h + 1)
            _check_budget(nodes, chars, where)
        on_path.discard(key)
        memo[key] = nodes, chars, height
    if depth + height > MAX_YAML_DEPTH:
        raise InputError(
            f"{where}: lists and mappings nested more than {MAX_YAML_DEPTH} levels deep "
            "(the limit); expected plain data"
        )
    _check_budget(nodes, chars, where)
    return nodes, chars, height


def _check_budget(nodes: int, chars: int, where: str) -> None:
    if nodes > MAX_YAML_NODES:
        raise InputError(
            f"{where}: holds more than {MAX_YAML_NODES:,} values once its aliases are expanded "
            "(an alias bomb, or not a parameters or data file); the limit keeps a small file from "
            "costing minutes and gigabytes"
        )
    if chars > MAX_YAML_CHARS:
        raise InputError(
            f"{where}: holds more than {MAX_YAML_CHARS:,} characters of text once its aliases are "
            "expanded (aliases repeat long strings); the limit keeps a small file from costing "
            "minutes and gigabytes"
        )


def check_bounded(obj: Any, where: str) -> Any:
    """``obj`` (loaded YAML) if it is plain data within :data:`MAX_YAML_NODES`, :data:`MAX_YAML_CHARS`
    and :data:`MAX_YAML_DEPTH` with its aliases expanded; else one InputError naming ``where``."""
    _expansion(obj, 0, {}, set(), where)
    return obj


def parse_yaml(text: str, where: str) -> Any:
    """Parse YAML text with the safe loader and :func:`check_bounded` it. Malformed YAML, values the
    loader cannot build (an integer of 5,000 digits, month 13), nesting too deep for the parser and
    memory exhaustion raise one InputError naming ``where``; nothing large is quoted. A text parsed
    before is read back from the cache folder (:mod:`gpucompare.core.yamlcache`)."""
    folder = cache_dir() / "yaml"
    found, data = yamlcache.get(folder, text)
    if found:
        return check_bounded(data, where)
    # PyYAML only for a text not parsed before: a command whose documents all come from the
    # cache never loads it (~10 ms).
    import yaml

    try:
        data = yaml.load(text, Loader=_SAFE_LOADER or getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"{where}:{at} malformed YAML: {clip(str(problem), 200)}") from None
    except RecursionError:
        raise InputError(
            f"{where}: malformed YAML: nested too deeply to parse (the limit is {MAX_YAML_DEPTH} levels)"
        ) from None
    except MemoryError:
        raise InputError(f"{where}: the YAML is too large to load") from None
    except (ValueError, TypeError, OverflowError) as exc:
        # e.g. "Exceeds the limit (4300 digits) for integer string conversion; use sys.set_..."
        problem = str(exc).split(";")[0]
        raise InputError(f"{where}: malformed YAML: {clip(problem, 200)}") from None
    check_bounded(data, where)
    yamlcache.put(folder, text, data)
    return data


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_text_bounded(path: Path, limit: int = MAX_YAML_BYTES) -> str:
    """The UTF-8 text of the regular file ``path`` of at most ``limit`` bytes, else one InputError.

    The file is ``stat``-ed before it is opened, so a FIFO, a device (``/dev/zero``), a socket or a
    directory is refused without being opened (opening a FIFO would block until a writer comes); at
    most ``limit + 1`` bytes are read even if the file grows meanwhile. Bytes that are not UTF-8, and
    NUL bytes (a binary file), are refused too."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(
            f"{path}: {_file_kind(st.st_mode)}, not a regular file; expected a YAML file"
        )
    if st.st_size > limit:
        raise InputError(
            f"{path}: {st.st_size:,} bytes, over the {limit:,}-byte limit of an input file "
            f"({limit / 1e6:g} MB)"
        )
    try:
        # O_NONBLOCK: should the path have become a FIFO since the stat, opening does not block.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise InputError(f"{path}: not a regular file; expected a YAML file")
            raw = f.read(limit + 1)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if len(raw) > limit:
        raise InputError(
            f"{path}: over the {limit:,}-byte limit of an input file ({limit / 1e6:g} MB)"
        )
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise InputError(f"{path}: a binary file (NUL byte at offset {nul}); expected a YAML file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "expected a UTF-8 YAML file"
        ) from None
    return text


def load_yaml(path: Path) -> Any:
    """Read a YAML file; every problem raises one InputError naming the file (and line, where known).

    Bounds, so that no input can hang the command or exhaust memory: the file must be a regular file
    (never opened otherwise: a FIFO would block) of at most :data:`MAX_YAML_BYTES` (1 MB) of UTF-8
    text (:func:`read_text_bounded`); its content, with aliases expanded, must stay within
    :data:`MAX_YAML_NODES` values, :data:`MAX_YAML_CHARS` characters and :data:`MAX_YAML_DEPTH`
    levels of nesting (:func:`check_bounded`: an alias bomb of 1 kB is refused in milliseconds)."""
    path = Path(path)
    return parse_yaml(read_text_bounded(path), str(path))
