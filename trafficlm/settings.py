"""Checked TOML settings: every key declared with its type, anything else an error.

Recipes and the sensor's config share this: an unknown key or a value of
the wrong type is reported with the key and the file, before any work starts.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from trafficlm.errors import TrafficLMError


class ConfigError(TrafficLMError):
    """A config file that cannot be used as written."""


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None


def fill(path: Path, section: str, target: Any, values: dict[str, Any]) -> None:
    """Set ``target``'s dataclass fields from ``values``, checking names and types."""
    known = {f.name: f for f in fields(target)}
    where = f" in [{section}]" if section else ""
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{path}: unknown key {key!r}{where} "
                              f"(known: {', '.join(known)})")
        default = getattr(target, key)
        kind = type(default) if not isinstance(default, list) else list
        name = f"{section}.{key}" if section else key
        setattr(target, key, typed(path, name, value, kind))


def typed(path: Path, key: str, value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is list and isinstance(value, list) and all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in value):
        return value
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{path}: {key} must be {kind.__name__}, not {value!r}")
    return value
