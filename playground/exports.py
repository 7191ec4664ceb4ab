"""A saved run as a file: its curves (csv), the whole record (json), its settings (config, for
`playground train --config`), its trained weights (weights, for `torch.load`) or a standalone
PyTorch script that trains it again (script). The CLI writes them; the app offers the same
bytes as downloads in the browser.
"""

from __future__ import annotations

import json
from pathlib import Path

from playground.script import script_text
from playground.status import LIVE, Status
from playground.store import EXPORT_FORMATS, RunInfo, RunStore

FORMATS = (*EXPORT_FORMATS, "config", "weights", "script")
SUFFIX = {"csv": ".csv", "json": ".json", "config": ".config.json", "weights": ".pt",
          "script": ".py"}
MIME = {"csv": "text/csv", "json": "application/json", "config": "application/json",
        "weights": "application/octet-stream", "script": "text/x-python"}


class ExportError(ValueError):
    """An export that cannot be made or written; the message is one line for the person."""


def export_bytes(store: RunStore, run_id: str, fmt: str) -> bytes:
    """The run as `fmt` (one of FORMATS), ready to write or download."""
    check_format(fmt)
    if fmt in EXPORT_FORMATS:
        return store.export_text(run_id, fmt).encode()
    info = store.get(run_id)
    if fmt == "config":
        return (json.dumps(info.config, indent=2, sort_keys=True) + "\n").encode()
    if fmt == "weights":
        return weights(store, info)
    return script_text(info, store.events(info.id)).encode()


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ExportError(f"format: {fmt!r} is not allowed; allowed: one of {', '.join(FORMATS)}")


def weights(store: RunStore, info: RunInfo) -> bytes:
    """The bytes of the run's weights file, or ExportError saying why there is none."""
    path = store.weights_path(info.id)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    if info.status in LIVE:
        why = f"it is still {info.status}: they are saved when it ends"
    elif info.status == Status.FAILED:
        why = "it failed, so none were kept"
    else:
        why = "none were kept for it (runs saved before weights were kept have none)"
    raise ExportError(f"weights: run {info.id} has no saved weights: {why}; allowed: "
                      f"one of config, script, csv, json")


def file_name(info: RunInfo, fmt: str) -> str:
    """A file name for a download: the run's name, made safe, with the format's suffix."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in info.name)[:60]
    return f"{safe.strip('.') or info.id}{SUFFIX[fmt]}"


def write(store: RunStore, run_id: str, fmt: str, out: str | None = None,
          force: bool = False) -> Path:
    """Write the export to `out`, or to the store's exports folder (named after the run's
    id) when out is None. An existing `out` is kept unless `force`; returns the path."""
    check_format(fmt)
    if out is None:
        if fmt in EXPORT_FORMATS:
            return store.export(run_id, fmt)
        path = store.path.parent / "exports" / f"{store.resolve(run_id)}{SUFFIX[fmt]}"
    else:
        path = checked_out(out, force)
    content = export_bytes(store, run_id, fmt)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():  # --force replaces the link itself, never the file it names
            path.unlink()
        path.write_bytes(content)
    except OSError as error:
        raise ExportError(f"out: cannot write {_shown(str(path))} ({error.strerror or error}); "
                          "allowed: a file in a folder you can write to") from None
    return path


def _shown(text: str, limit: int = 80) -> str:
    """A path as an error message echoes it: quoted, and cut to about 80 characters."""
    return repr(text) if len(text) <= limit else repr(text[:limit - 3] + "...")


def checked_out(out: str, force: bool) -> Path:
    """The path `--out` names, or ExportError for one that is empty, a folder, or a file
    that exists (without force)."""
    if not out.strip():
        raise ExportError(f"out: {out!r} is not allowed; allowed: a file path")
    path = Path(out).expanduser()
    try:
        folder, there = path.is_dir(), path.is_symlink() or path.exists()
    except OSError as error:  # a name too long for the file system, say
        raise ExportError(f"out: {_shown(out)} cannot be used ({error.strerror}); allowed: "
                          "a file path") from None
    if folder or out.endswith(("/", "\\")):
        raise ExportError(f"out: {_shown(out)} is a folder; allowed: a file path such as "
                          f"{_shown(str(path / 'run.py'))}")
    if there and not force:
        raise ExportError(f"out: {_shown(out)} exists; add --force to overwrite it")
    return path
