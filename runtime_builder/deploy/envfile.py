r"""A project's `.env`, read with Docker Compose's rules as python-dotenv implements them: the
variables a local deployment gives its Airflow containers, as `astro dev start` would. Pure, but
for `read`.

    line in .env               value
    FOO=bar # x                bar              after a space, `#` starts a comment
    FOO=a#b                    a#b              ...not without one
    FOO="bar" # x              bar              quotes go, so does the comment after them
    FOO="a\nb"                 a, newline, b    double quotes: \n \t \" \\ ..., and lines up to the closing quote
    FOO='a\n${A}'              a\n${A}          single quotes: exactly as written
    B=${A}/x                   A's value, /x    unquoted and double-quoted values expand ${NAME}
    B=${A:-none}               A's value, or `none` when A is unset or empty
    export FOO=1               1                `export ` is allowed and means nothing

A `${NAME}` is looked up in the outside environment first (`environ`; none unless the caller
passes one), then in the lines above it; one set nowhere is empty. That is Compose's order
(compose-go: "project.env has precedence doing interpolation"), and python-dotenv's with
`override=False`; python-dotenv's `dotenv_values()` looks in the file first. Only references
are resolved this way: a line's own value is never replaced by the outside environment's.

Refused before anything starts, naming the file and the line (or the variable), where Compose
would refuse too, read something else, or start containers that cannot run:
- a line python-dotenv cannot parse (an unclosed quote, text after a closing quote, a space in
  a name), a line without `=` (Compose would take a lone NAME from the shell), a name that is
  not letters, digits and `_` (not starting with a digit, unquoted), a NUL in a value;
- a name set twice: Compose takes the last, but a secret written twice is a mistake waiting to
  be half-fixed;
- a `$` that Compose would expand and python-dotenv would keep as text (`$NAME`, `$$`,
  `${NAME-x}`, `${NAME:?x}`, a `$` in a default): the same file must not mean two things
  (single quotes keep a `$` as written);
- a `NAME=value` longer than Linux lets one environment variable be, or variables that together
  leave the containers too little of exec's room: Docker would start them all, and every exec in
  them would fail ("argument list too long").

No message ever shows a value, nor a name that is not a valid one: a `.env` holds passwords.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from dotenv.parser import Binding, parse_stream
from dotenv.variables import Literal, Variable, parse_variables

from ..errors import UsageError

# One argument or environment string, its terminating NUL included, may be at most 32 pages of
# 4 KiB (Linux's MAX_ARG_STRLEN); exec refuses a longer one.
MAX_ARG_STRLEN = 131072
MAX_VARIABLE_BYTES = MAX_ARG_STRLEN - 1
# All of exec's argv and envp strings (and their pointers) must fit in a quarter of the stack
# limit: 2 MiB with the default 8 MiB. The containers' own environment (the image's ENV, the
# deployment's Airflow settings and keys) and their command lines need some of it, so the file's
# `NAME=value\0` strings get half.
MAX_TOTAL_BYTES = 1024 * 1024

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# python-dotenv's line ends: it counts `\r\n` once.
_NEWLINE = re.compile(r"\r\n|\n|\r")
# A `$` Compose reads as a reference or an escape: `$NAME`, `${...`, `$$`.
_COMPOSE_DOLLAR = re.compile(r"\$[A-Za-z_{$]")
_BOM = "\ufeff"


def parse(text: str, source: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of a `.env` text, by the rules above; `source` names it in messages. Pure."""
    outside = environ or {}
    variables: dict[str, str] = {}
    first_line: dict[str, int] = {}
    # An editor's byte-order mark is not part of the first name.
    for binding in parse_stream(io.StringIO(text.removeprefix(_BOM))):
        line = _first_line(binding)
        where = f"{source} line {line}"
        if binding.error:
            raise UsageError(f"{where}: cannot be read as NAME=value (an unclosed quote, text after a closing "
                             "quote, a space in the name?)")
        if binding.key is None:
            continue  # blank lines and comments
        name, value = binding.key, binding.value
        if value is None:
            raise UsageError(f"{where}: no `=`: a line is NAME=value, a `#` comment or blank")
        head, _, rest = binding.original.string.partition("=")
        if not _NAME.fullmatch(name) or "'" in head:
            raise UsageError(f"{where}: the name is not a variable name (letters, digits and _, not starting with "
                             "a digit, unquoted)")
        if name in variables:
            raise UsageError(f"{where}: {name} is set again (first on line {first_line[name]}); Compose would "
                             "take the last value, this reader takes neither: remove one")
        # python-dotenv would expand a single-quoted value too; Compose keeps it as written.
        if not rest.lstrip().startswith("'"):
            value = _expand(value, lambda known: outside.get(known, variables.get(known)),
                            f"{where}: {name}'s value")
        if "\0" in value:
            raise UsageError(f"{where}: {name}'s value has a NUL character, which no environment variable can hold")
        variables[name], first_line[name] = value, line
    return variables


def check_sizes(variables: Mapping[str, str], source: str) -> None:
    """Refuse variables a container could not start with: one `NAME=value` over MAX_VARIABLE_BYTES,
    or all of them, each NUL-terminated, over MAX_TOTAL_BYTES. Pure."""
    sizes = {name: _size(name, value) for name, value in variables.items()}
    for name, size in sizes.items():
        if size > MAX_VARIABLE_BYTES:
            raise UsageError(f"{source}: {name} is {size} bytes as NAME=value; Linux starts no program with an "
                             f"environment variable over {MAX_VARIABLE_BYTES} bytes, so no container would "
                             "start: keep large data in a file of the project instead")
    total = sum(size + 1 for size in sizes.values())
    if total > MAX_TOTAL_BYTES:
        largest = ", ".join(f"{name} ({sizes[name]} bytes)" for name in sorted(sizes, key=sizes.get, reverse=True)[:3])
        raise UsageError(f"{source}: its variables take {total} bytes, over the {MAX_TOTAL_BYTES} the containers "
                         f"can give them beside their own environment; the largest: {largest}")


def read(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of the `.env` at `path` (none when there is no file), parsed and size-checked."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise UsageError(f"{path}: cannot be read ({error.strerror or error})") from None
    try:
        # Bytes, not read_text: newlines stay as written (\r\n too), as Compose reads them.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        # `from None`: the decode error carries the file's bytes.
        raise UsageError(f"{path} line {line}: not UTF-8 text; save the file as UTF-8") from None
    variables = parse(text, str(path), environ)
    check_sizes(variables, str(path))
    return variables


def _first_line(binding: Binding) -> int:
    """The line a statement starts on: python-dotenv's `original` starts with the blank lines before it."""
    text = binding.original.string
    return binding.original.line + len(_NEWLINE.findall(text, 0, len(text) - len(text.lstrip())))


def _expand(value: str, lookup: Callable[[str], str | None], what: str) -> str:
    """`value` with its `${NAME}` and `${NAME:-default}` replaced; `what` names it in messages."""
    parts = []
    for atom in parse_variables(value):
        if isinstance(atom, Variable) and _NAME.fullmatch(atom.name) and not _COMPOSE_DOLLAR.search(atom.default or ""):
            # `:-` as in Compose and the shell: the default also stands in for an empty value.
            parts.append(lookup(atom.name) or atom.default or "")
        elif isinstance(atom, Literal) and not _COMPOSE_DOLLAR.search(atom.value):
            parts.append(atom.value)
        else:
            raise UsageError(f"{what} has a `$` that Compose would read otherwise: only ${{NAME}} and "
                             "${NAME:-default} (a default without `$`) are expanded here; write $NAME as ${NAME}, "
                             "or put the value in single quotes to keep every `$` as written")
    return "".join(parts)


def _size(name: str, value: str) -> int:
    """The bytes of `NAME=value`; a value from the shell may hold undecodable bytes (as surrogates)."""
    return len(f"{name}={value}".encode(errors="surrogatepass"))
