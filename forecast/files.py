"""Writing files safely: atomic replacement and strict JSON. No heavy imports here."""
from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from pathlib import Path


def write_atomically(path: str | Path, write) -> Path:
    """Call `write(temporary_path)`, then move the file into place.

    The temporary file has a unique name in the same folder, so no reader ever sees half a file,
    two writers never share a temporary file, and an interrupted write leaves the old file as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # a file replaced keeps its permissions; a new one gets what open() would give it
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        try:
            write(Path(tmp))
        except OSError as e:  # named after the file being written, not the hidden temporary one
            raise OSError(e.errno, e.strerror or str(e), str(path)) from None
        except Exception as e:  # noqa: BLE001 - writers that wrap the OS error (safetensors, pyarrow)
            if "os error 28" in str(e) or "No space left" in str(e):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
            raise
        os.chmod(tmp, mode)  # mkstemp makes it private (0600): a colleague could not read the model
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def remove_stale_temporaries(folder: str | Path, older_than: float = 600.0) -> tuple[int, int]:
    """Remove the hidden temporary files (`.NAME.*.tmp`) that a process killed while writing left in
    `folder` and below it, once they are `older_than` seconds old (a write still going on touches
    its file); (files, bytes) removed."""
    import time

    removed, size = 0, 0
    now = time.time()
    for tmp in Path(folder).rglob(".*.tmp"):
        try:
            stat = tmp.stat()
            if tmp.is_file() and now - stat.st_mtime > older_than:
                tmp.unlink()
                removed, size = removed + 1, size + stat.st_size
        except OSError:  # gone already, or not ours to remove
            continue
    return removed, size


def _umask() -> int:
    """The process's umask: read from /proc where there is one (setting it to read it, elsewhere,
    would change it for other threads for a moment)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def jsonable(value):
    """Plain JSON values: numpy scalars and arrays unwrapped, NaN and infinities as null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy arrays and scalars
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(data: dict, path: str | Path) -> Path:
    """Strict JSON (NaN and infinities become null), written atomically."""
    text = json.dumps(jsonable(data), indent=2, allow_nan=False, default=str)
    return write_atomically(Path(path), lambda tmp: tmp.write_text(text))
