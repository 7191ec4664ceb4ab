"""What the `playground` commands share: one-line usage errors, a flag per HParams field, and
JSON without NaN. `cli.py` and the command modules of each feature import it; it imports
nothing heavier than `config`, so `playground --help` stays quick."""

from __future__ import annotations

import argparse
import math
import re
from typing import Any, NoReturn

from playground.config import HParams, HParamsError, Spec

USAGE_ERROR = 2  # the exit code of bad input
CONFIG_MAX = 2**20  # bytes read of a --config file; a config is a few hundred


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit code 2."""


ECHO_CHARS = 80  # of a person's input repeated in an error message


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse prints usage on top; we want one line
        # argparse repeats what was typed ("invalid choice: '...'", "unrecognized arguments:
        # ..."): cut each quote, and the list of unrecognised words, to ECHO_CHARS
        message = re.sub(rf"'([^']{{{ECHO_CHARS + 1},}})'",
                         lambda quoted: repr(quoted.group(1)[:ECHO_CHARS - 3] + "..."), message)
        head, found, words = message.partition("unrecognized arguments: ")
        if found and len(words) > ECHO_CHARS:
            message = f"{head}{found}{words[:ECHO_CHARS - 3]}..."
        raise UsageError(message)


def add_hparam_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per HParams field, read as text and validated by HParams itself."""
    group = parser.add_argument_group("hyperparameters")
    defaults = HParams()
    for name, spec in HParams.specs().items():
        default = getattr(defaults, name)
        group.add_argument("--" + name.replace("_", "-"), dest=name, metavar=spec.kind.upper(),
                           help=f"{spec.help}; {headless_allowed(spec)} "
                           f"(default {default if default != '' else 'none'})")


def headless_allowed(spec: Spec) -> str:
    """What a flag allows: the Spec's range, less a 0 that means "until stopped" (nobody is
    there to press Stop on the command line)."""
    if spec.zero is None:
        return spec.allowed()
    return f"a whole number 1 to {spec.high:g} for a headless run (0, {spec.zero}, is the app's)"


def hparams_from_args(args: argparse.Namespace) -> HParams:
    """The HParams of `--config FILE` (if given) with every flag given on top."""
    values: dict[str, Any] = {}
    for flag in ("target", "features"):  # they choose columns of --data-file: alone, nothing
        given = getattr(args, flag, None)
        if given is not None and not getattr(args, "data_file", None):
            raise UsageError(f"{flag}: {given[:80]!r} is not allowed; allowed: only with "
                             "--data-file CSV (it names a column of that file)")
    if args.config:
        values = HParams.from_json(read_config(args.config)).to_dict()
    values.update({name: getattr(args, name) for name in HParams.specs()
                   if getattr(args, name) is not None})
    hp = HParams.from_dict(values)
    for name, spec in HParams.specs().items():  # a saved app config may say "until stopped"
        if spec.zero is not None and getattr(hp, name) == 0:
            raise HParamsError(name, 0, headless_allowed(spec))
    return hp


def read_config(path: str) -> str:
    """The text of a --config file, refused by name if it cannot be read, is not UTF-8 or is
    longer than CONFIG_MAX (reading stops there)."""
    shown = repr(path[:80])
    try:
        with open(path, "rb") as file:
            data = file.read(CONFIG_MAX + 1)
    except OSError as error:
        raise UsageError(f"config: cannot read {shown} ({error.strerror})") from None
    if len(data) > CONFIG_MAX:
        raise UsageError(f"config: {shown} is not allowed; allowed: a JSON object of at most "
                         f"{CONFIG_MAX // 2**20} MB")
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise UsageError(f"config: {shown} is not allowed; allowed: a JSON object in UTF-8 "
                         "text") from None


def finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite(item) for item in value]
    return value
