"""Reading a `%%xenodia` line and cell: options (argparse through IPython's
`magic_arguments`), `{name}` fields filled from the user's namespace, and
`-i` references resolved to variables, paths, globs or URLs.
"""

from __future__ import annotations

import argparse
import glob
import keyword
import math
import re
import shlex
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

# {name}, {name.attr}, {name[0]}, {name['key']}: the only braces we replace.
_PATH = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[(?:-?\d+|'[^'\]]*'|\"[^\"\]]*\")\])*"
_FIELD = re.compile(r"\{\{(" + _PATH + r")\}\}|\{(" + _PATH + r")\}")
_STEP = re.compile(r"\.([A-Za-z_]\w*)|\[(-?\d+|'[^']*'|\"[^\"]*\")\]")
_WHOLE_PATH = re.compile(_PATH + r"\Z")
_SUBCOMMANDS = ("models", "history", "search", "recover", "panel", "jobs")


class _Missing(Exception):
    pass


def lookup(path: str, namespace: dict[str, Any]) -> Any:
    """Resolve `name.attr[0]['k']` in `namespace` without `eval`."""
    name = re.match(r"[A-Za-z_]\w*", path)
    assert name is not None
    if name.group() not in namespace:
        raise _Missing(name.group())
    value = namespace[name.group()]
    for attr, index in _STEP.findall(path[name.end() :]):
        if attr:
            value = getattr(value, attr)
        else:
            value = value[int(index)] if index.lstrip("-").isdigit() else value[index[1:-1]]
    return value


def interpolate(text: str, namespace: dict[str, Any]) -> str:
    """Replace `{name}` fields from `namespace`; every other brace stays as written.
    `{{name}}` is a literal `{name}`."""

    def replace(match: re.Match[str]) -> str:
        escaped, path = match.groups()
        if escaped:
            return "{" + escaped + "}"
        try:
            value = lookup(path, namespace)
        except _Missing as missing:
            raise UsageError(
                f"{{{path}}} in the prompt: no variable named {missing} (define it, or write {{{{{path}}}}} "
                "for literal braces)"
            ) from None
        except (AttributeError, LookupError, TypeError) as exc:
            raise UsageError(f"{{{path}}} in the prompt: {type(exc).__name__}: {exc}") from None
        if callable(value):
            raise UsageError(
                f"{{{path}}} in the prompt is a {type(value).__name__}, not a value: "
                "call it in a cell first and use the result's name"
            )
        return str(value)

    return _FIELD.sub(replace, text)


def resolve_reference(spec: str, namespace: dict[str, Any]) -> list[Any]:
    """A `-i` value: a variable or expression path from the namespace, else a URL,
    a glob or a path written literally."""
    if _WHOLE_PATH.match(spec):
        try:
            value = lookup(spec, namespace)
        except _Missing:
            pass
        except (AttributeError, LookupError, TypeError) as exc:
            if not Path(spec).expanduser().exists():  # `logo.png` beside a variable `logo` is the file
                raise UsageError(f"-i {spec}: {type(exc).__name__}: {exc}") from None
        else:
            return list(value) if isinstance(value, (list, tuple)) else [value]
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", spec) and not re.match(r"[A-Za-z]:[\\/]", spec):
        return [spec]  # a URL (its scheme is checked by the rules)
    if any(c in spec for c in "*?["):
        matches = sorted(glob.glob(str(Path(spec).expanduser())))
        if not matches:
            raise UsageError(f"-i {spec}: the pattern matches no file")
        return [Path(m) for m in matches]
    path = Path(spec).expanduser()
    if not path.exists():
        raise UsageError(f"-i {spec}: not a variable, a file or a URL")
    return [path]


class _Once(argparse.Action):
    """An option that may be given once: `-a 16:9 -a 1:1` is a mistake, not "last one wins"."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        given = namespace.__dict__.setdefault("_given", set())
        if self.dest in given:
            raise UsageError(f"{option_string} was given twice; give it once")
        given.add(self.dest)
        setattr(namespace, self.dest, values)


def parse_line(magic: Any, line: str) -> argparse.Namespace:
    """The options, split the way a shell user expects: `-i 'my logo.png'`,
    `-i "my logo.png"`, `-i my\\ logo.png` and `-i 'shots/*.png'` all work."""
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%%xenodia options: {exc} (a quote is not closed)") from None
    args = magic.parser.parse_args(argv)
    if args.n < 1:
        raise UsageError(f"-n must be at least 1, not {args.n}")
    if args.out is not None and (not args.out.isidentifier() or keyword.iskeyword(args.out)):
        raise UsageError(f"-o {args.out}: not a valid variable name")
    if args.timeout is not None and (not math.isfinite(args.timeout) or args.timeout <= 0):
        raise UsageError(f"--timeout {args.timeout:g}: give a number of seconds above 0")
    return args
