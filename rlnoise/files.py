"""Atomic file writes (temp file in the same directory, fsync, rename); torch-free."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rlnoise.numbers import finite


@contextmanager
def atomic_path(path: Path) -> Iterator[str]:
    """Yield a temp path in `path`'s directory; on success fsync it and rename it over `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give results the usual permissions
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj: Any) -> None:
    """`obj` as standard JSON: NaN and infinities (a B_simple whose |G|^2 estimate was <= 0, a
    mean over no games) are written as null, which every JSON reader accepts."""
    text = json.dumps(_finite_only(obj), indent=2, sort_keys=True, default=_json_default)
    atomic_write_text(path, text + "\n")


def _finite_only(o: Any) -> Any:
    if isinstance(o, float):
        return finite(o)
    if isinstance(o, dict):
        return {k: _finite_only(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite_only(v) for v in o]
    if hasattr(o, "item") and getattr(o, "shape", None) == ():  # numpy and torch scalars
        return _finite_only(o.item())
    return o


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON-serializable: {type(o).__name__}")
