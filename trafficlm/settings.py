"""Checked TOML settings: every key declared with its type and range, anything else an error.

Recipes and the sensor's config share this: an unknown key, a value of the
wrong type or outside its declared range is reported with the key and the
file, before any work starts. A value that passes here must not break later
(a batch size of 0 after an hour of pretraining, a NaN timeout, a ring that
does not fit in memory), so each numeric field says its range where it is
declared (``bounded``) and ``check_ranges`` holds every field to it.
"""

from __future__ import annotations

import math
import tomllib
import typing
from dataclasses import MISSING, Field, field, fields
from pathlib import Path
from typing import Any

from trafficlm.errors import TrafficLMError


class ConfigError(TrafficLMError):
    """A config file that cannot be used as written."""


def bounded(default: Any = MISSING, low: float | None = None, high: float | None = None, *,
            above: bool = False, default_factory: Any = MISSING) -> Any:
    """A dataclass field whose value (each value, for a list) must lie in [low, high];
    ``above``: strictly greater than ``low``."""
    return field(default=default, default_factory=default_factory,
                 metadata={"range": (low, high, above)})


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None


def fill(path: Path, section: str, target: Any, values: dict[str, Any]) -> None:
    """Set ``target``'s dataclass fields from ``values``, checking names and types."""
    known = {f.name: f for f in fields(target)}
    hints = typing.get_type_hints(type(target))
    where = f" in [{section}]" if section else ""
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{path}: unknown key {key!r}{where} "
                              f"(known: {', '.join(known)})")
        name = f"{section}.{key}" if section else key
        setattr(target, key, typed(path, name, value, hints[key]))


def typed(path: Path | str, key: str, value: Any, kind: Any) -> Any:
    """``value`` as the declared ``kind`` (int, float, str, bool or list[...] of them)."""
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        if not isinstance(value, list):
            raise ConfigError(f"{path}: {key} must be list, not {value!r}")
        return [typed(path, f"{key}[{i}]", v, item) for i, v in enumerate(value)]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
        raise ConfigError(f"{path}: {key} must be {kind.__name__}, not {value!r}")
    return value


def same_as(cls: type, name: str) -> Any:
    """A field with the default and range of ``cls``'s field ``name``: a setting that
    feeds another (the sensor's flow-table keys, ``FlowConfig``) cannot drift from it."""
    spec = next(f for f in fields(cls) if f.name == name)
    return field(default=spec.default, metadata=spec.metadata)


def declared_range(cls: type, name: str) -> tuple[float | None, float | None, bool]:
    """(low, high, above) of a ``bounded`` field, for a flag that sets the same value."""
    spec = next(f for f in fields(cls) if f.name == name)
    return spec.metadata.get("range", (None, None, False))


def check_ranges(where: Path | str, target: Any, section: str = "") -> None:
    """Every float finite, every ``bounded`` field inside its range; else one ConfigError
    naming the key and ``where`` (a file, or "command line")."""
    for spec in fields(target):
        name = f"{section}.{spec.name}" if section else spec.name
        value = getattr(target, spec.name)
        for item in value if isinstance(value, list) else [value]:
            _check_one(where, name, item, spec)


def _check_one(where: Path | str, name: str, value: Any, spec: Field) -> None:
    if "range" not in spec.metadata and not isinstance(value, float):
        return
    problem = out_of_range(value, *spec.metadata.get("range", (None, None, False)))
    if problem:
        raise ConfigError(f"{where}: {name} must be {problem}, not {value!r}")


def out_of_range(value: Any, low: float | None, high: float | None, above: bool = False
                 ) -> str | None:
    """What ``value`` should be when it is NaN, infinite or outside [low, high]; else None."""
    if isinstance(value, bool | str):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "a finite number"
    too_low = low is not None and (value < low or (above and value == low))
    if too_low or (high is not None and value > high):
        return _describe(low, high, above)
    return None


def _describe(low: float | None, high: float | None, above: bool) -> str:
    if low is not None and high is not None:
        return (f"above {_number(low)} and at most {_number(high)}" if above
                else f"from {_number(low)} to {_number(high)}")
    if low is not None:
        return f"above {_number(low)}" if above else f"at least {_number(low)}"
    return f"at most {_number(high)}"


def _number(value: float | None) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"
