"""Links: the app's settings to and from a URL query, like tensorflow/playground's state.ts.

`parse_link("?lesson=capacity&lr=0.3&hide=dropout")` reads a query into the settings it
asks for; `make_link` writes settings back so that opening the link gives the same view.
A link never fails as a whole: each bad part is refused on its own, with one line that
names it (values cut to LIMIT characters), and the rest is used. Keys that belong to the
server (the access token) are skipped silently and never echoed. Pure: config and lessons.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode

from playground.config import HParams, HParamsError
from playground.lessons import LessonNotFound, get_lesson

LINK_KEYS = ("lesson", "hide")  # keys of a link that are not hyperparameters
# Keys the server reads, not the app: Jupyter's access token, Voilà's template and theme
# overrides and its tree view. Never refused, never echoed (the token is a secret).
SERVER_KEYS = ("token", "template", "theme", "classic-tree")
LIMIT = 80  # characters of a link's text echoed in a message
UNKNOWN_SHOWN = 5  # unknown keys named in the message; the rest are counted


class Link(NamedTuple):
    """What a link asks for, and a line for each part of it that was refused."""

    hp: HParams
    lesson: str | None  # a lesson's name, or None for free play
    hidden: tuple[str, ...]  # fields hidden by `hide=` (a lesson hides its own on top)
    refused: list[str]  # "depth: 999 is not allowed; allowed: a whole number 0 to 10"


def parse_link(query: str, *, free_play: HParams | None = None) -> Link:
    """The settings a URL query asks for; never raises. Duplicate keys: the last wins.

    Values apply over the lesson's first preset, or over `free_play` (default `HParams()`)."""
    values = dict(parse_qsl(query.lstrip("?"), keep_blank_values=True))
    refused: list[str] = []
    lesson = _lesson(values.get("lesson", ""), refused)
    if lesson is not None:
        base = get_lesson(lesson).configs()[0]
    else:
        base = free_play if free_play is not None else HParams()
    hidden = _hidden(values.get("hide", ""), refused)
    specs = HParams.specs()
    changes: dict[str, Any] = {}
    for name in specs:  # declaration order: a dataset comes before the loss it allows
        if name in values:
            try:
                changes[name] = specs[name].parse(name, values[name])
            except HParamsError as error:
                refused.append(_clipped(error))
    unknown = [key for key in values if key not in specs and key not in LINK_KEYS + SERVER_KEYS]
    if unknown:
        refused.append(_unknown_keys(unknown))
    return Link(_apply(base, changes, refused), lesson, hidden, refused)


def make_link(hp: HParams, lesson: str | None = None, hidden: Iterable[str] = (), *,
              base: str = "", free_play: HParams | None = None) -> str:
    """A link that opens `hp` (in `lesson`, with `hidden` fields hidden): `base?query`.

    Only the fields that differ from the lesson's first preset (or from `free_play`, default
    `HParams()`) are written, so the link stays short and reads as what was changed."""
    if lesson is not None:
        preset = get_lesson(lesson).configs()[0]
    else:
        preset = free_play if free_play is not None else HParams()
    values = dict(parse_qsl(hp.to_query(only_changed=False)))  # each value as the query has it
    pairs = [("lesson", lesson)] if lesson is not None else []
    pairs += [(name, values[name]) for name in hp.diff(preset)]
    hidden = tuple(dict.fromkeys(hidden))
    if hidden:
        pairs.append(("hide", ",".join(hidden)))
    query = urlencode(pairs, safe=",")
    return f"{base}?{query}" if query else base or "?"


def _lesson(name: str, refused: list[str]) -> str | None:
    """The lesson's name if there is one called that; None (free play) otherwise."""
    if not name:
        return None
    try:
        return get_lesson(name).name
    except LessonNotFound:
        refused.append(str(LessonNotFound(_clip(name))))
        return None


def _hidden(text: str, refused: list[str]) -> tuple[str, ...]:
    """Fields named in `hide=a,b`, in order, once each; names that are not fields refused."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    specs = HParams.specs()
    unknown = [name for name in names if name not in specs]
    if unknown:
        allowed = "names of HParams fields, separated by commas: " + ", ".join(specs)
        refused.append(str(HParamsError("hide", _clip(",".join(unknown)), allowed)))
    return tuple(dict.fromkeys(name for name in names if name in specs))


def _unknown_keys(keys: list[str]) -> str:
    """One line naming keys that are not settings. Their values are never shown: a key we do
    not know may carry a secret (an API key, a second token)."""
    shown = ", ".join(repr(_clip(key)) for key in keys[:UNKNOWN_SHOWN])
    more = f" and {len(keys) - UNKNOWN_SHOWN} more" if len(keys) > UNKNOWN_SHOWN else ""
    return (f"{shown}{more}: not a setting (value not shown); allowed: "
            + ", ".join(LINK_KEYS + tuple(HParams.specs())))


def _apply(base: HParams, changes: dict[str, Any], refused: list[str]) -> HParams:
    """`base` with as many of `changes` as make a valid whole; each one dropped is refused.

    A combination error names a field: if the link set it, that value goes. If not (the
    preset's momentum is 0 and the link asks for nesterov), the change that clashes with it
    goes: the last one whose removal clears that error."""
    changes = dict(changes)
    while True:
        try:
            return base.replace(**changes)
        except HParamsError as error:
            if error.field in changes:
                del changes[error.field]
                refused.append(_clipped(error))
                continue
            for name in reversed(changes):
                rest = {key: value for key, value in changes.items() if key != name}
                if _error_field(base, rest) != error.field:
                    refused.append(f"{name}: {_clip(changes[name])!r} was not used: "
                                   + _clipped(error))
                    del changes[name]
                    break
            else:  # no single change is to blame: use none of them
                refused += [f"{name}: {_clip(value)!r} was not used: " + _clipped(error)
                            for name, value in changes.items()]
                changes.clear()


def _error_field(base: HParams, changes: dict[str, Any]) -> str | None:
    try:
        base.replace(**changes)
    except HParamsError as error:
        return error.field
    return None


def _clip(value: Any) -> Any:
    """A text cut to LIMIT characters, so a message stays one readable line."""
    if isinstance(value, str) and len(value) > LIMIT:
        return value[:LIMIT - 1] + "…"
    return value


def _clipped(error: HParamsError) -> str:
    return str(HParamsError(error.field, _clip(error.value), error.allowed))
