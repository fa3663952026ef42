"""Parsing of dataset names, ``NAME[@VERSION]`` references and ``key=value`` tags.

Names are an allow-list, not a deny-list: ASCII letters, digits, ``.``, ``_`` and ``-``,
starting with a letter or digit, at most 128 characters. So a name can never hold a path
separator, a control character, ``@`` (the version separator) or look like ``..``; it is safe
in a file name, a URL path segment, a log line and a shell word.
"""

from __future__ import annotations

import re

from mlwarden.errors import BadInput

__all__ = ["check_name", "check_tags", "parse_ref", "parse_tag"]

MAX_NAME = 128
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 1024
MAX_TAGS = 64
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_TAG_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _show(text: str) -> str:
    """``text`` quoted for an error line, control characters escaped, long text cut."""
    shown = text if len(text) <= 60 else text[:57] + "..."
    return ascii(shown) if _CONTROL.search(shown) or not shown.isascii() else repr(shown)


def check_name(name: str, kind: str = "dataset") -> str:
    """Return ``name`` if it is a valid dataset (or model) name, else raise :class:`BadInput` saying why."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        if isinstance(name, str) and name and "@" in name:
            raise BadInput(f"{kind} name {_show(name)} holds '@': a name cannot include a version")
        raise BadInput(
            f"{kind} name {_show(str(name))} is not allowed: use 1 to {MAX_NAME} ASCII letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    return name


def parse_ref(ref: str, kind: str = "dataset") -> tuple[str, int | None]:
    """``NAME``, ``NAME@latest`` -> ``(NAME, None)``; ``NAME@3`` -> ``(NAME, 3)``."""
    name, sep, version = ref.partition("@")
    check_name(name, kind)
    if not sep or version == "latest":
        return name, None
    if not version.isascii() or not version.isdigit() or version.startswith("0") or len(version) > 9:
        raise BadInput(f"version {_show(version)} in {_show(ref)} is not a version number: use NAME@1, NAME@2, ...")
    return name, int(version)


def parse_tag(text: str) -> tuple[str, str]:
    """``key=value`` -> ``(key, value)``; the value may be empty and may contain ``=``."""
    key, sep, value = text.partition("=")
    if not sep:
        raise BadInput(f"tag {_show(text)} is not key=value")
    return _check_tag(key, value)


def _check_tag(key: str, value: str) -> tuple[str, str]:
    if not isinstance(key, str) or not _TAG_KEY.fullmatch(key):
        raise BadInput(
            f"tag key {_show(str(key))} is not allowed: use 1 to {MAX_TAG_KEY} ASCII letters, digits, "
            "'.', '_', ':', '/' or '-', starting with a letter or digit"
        )
    if not isinstance(value, str):
        raise BadInput(f"tag {key} has a value that is not text")
    if len(value) > MAX_TAG_VALUE or _CONTROL.search(value):
        raise BadInput(f"tag {key} has a value over {MAX_TAG_VALUE} characters or with control characters")
    return key, value


def check_tags(tags: dict[str, str] | None) -> dict[str, str]:
    """Validate a tag mapping; returns a sorted copy."""
    if not tags:
        return {}
    if len(tags) > MAX_TAGS:
        raise BadInput(f"at most {MAX_TAGS} tags per version")
    return dict(sorted(_check_tag(k, v) for k, v in tags.items()))
