"""weft's code mode, in Python: runs source an agent submits at run time.

Input: ``{"language": "python", "code": "...", "input": ...}``. The code is
the body of a function of ``input``: ``return`` gives the run's output. In
scope with ``input`` is ``tools``:

- ``tools.call(server, tool, args=None, **kwargs)``: the tool's structured
  content, else its text parsed as JSON, else its text; a failed call
  raises ``CallError`` (``.kind``, ``.server``, ``.tool``, ``.message``);
- ``tools.call_all([(server, tool, args), ...])``: the calls at once, the
  results in order, each a value or a ``CallError`` (returned, not raised);
- ``tools.list(server=None)`` and ``tools.search(query, limit=10)``: the
  tools this run may call, as dicts;
- ``tools.SERVER.TOOL(**args)``: the same as ``tools.call``, with names
  spelt as ``weft bindings --lang python`` spells them (``get_sum`` for
  ``get-sum``, ``get_tiny_image`` for ``getTinyImage``).

``print`` goes to the run report's stdout. An exception fails the run with
its type, message and the line of the code it came from. The code gets no
file system, environment, sockets or processes: ``open`` and imports of
such modules fail saying so.
"""

import ast
import builtins
import gc
import json
import re
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

from weft_guest import CallError, list_tools
from weft_guest import _host

#: The file name the submitted code compiles under (tracebacks name it).
CODE = "<code>"

#: Modules that reach past the sandbox, refused with a message that says
#: what code mode offers instead.
BLOCKED = frozenset(
    "os posix nt socket _socket ssl subprocess multiprocessing threading _thread "
    "signal select selectors asyncio shutil pathlib tempfile io _io ctypes mmap "
    "urllib http ftplib smtplib importlib fcntl resource pty tty sys gc inspect".split()
)

NO_OUTSIDE = "code mode reaches the outside world only through `tools`"


class CodeError(Exception):
    """The submitted code is not a valid program."""


def _words(name: str) -> List[str]:
    """The ASCII words of a name, split as weft's bindings generator does."""
    out: List[str] = []
    cur = ""
    prev_lower = False
    for c in name:
        if c.isascii() and c.isalnum():
            if c.isupper() and prev_lower and cur:
                out.append(cur)
                cur = ""
            prev_lower = c.islower() or c.isdigit()
            cur += c
        else:
            if cur:
                out.append(cur)
                cur = ""
            prev_lower = False
            if not c.isascii() and not c.isspace():
                out.append("u%04x" % ord(c))
    if cur:
        out.append(cur)
    return out


#: Names whose words are already lower case, one separator apart
#: (``git_log``, ``get-sum``): their snake case is the name with ``_``.
_PLAIN = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")


def _snake(name: str) -> str:
    if _PLAIN.fullmatch(name):
        return name.replace("-", "_")
    return "_".join(w.lower() for w in _words(name))


class _Server:
    """``tools.SERVER``: one server's tools as functions."""

    def __init__(self, name: str, tools: List[str]) -> None:
        self._name = name
        self._names = tools
        self._by_alias: Optional[Dict[str, str]] = None

    def _tools(self) -> Dict[str, str]:
        """Each tool by its own name (when it is an identifier) and by its
        snake case, made when the code first uses this server."""
        if self._by_alias is None:
            self._by_alias = {}
            for name in sorted(self._names):
                snake = _snake(name)
                self._by_alias.setdefault(name if name.isidentifier() else snake, name)
                self._by_alias.setdefault(snake, name)
        return self._by_alias

    def __getattr__(self, attr: str) -> Callable[..., Any]:
        if attr.startswith("__"):
            raise AttributeError(attr)
        # A name this run may not call goes to the host as it is: the
        # router's answer (`denied`, `not-found`) is the answer.
        tool = self._tools().get(attr, attr)
        server = self._name

        def invoke(args: Optional[Dict[str, Any]] = None, **kwargs: Any) -> Any:
            return _call(server, tool, {**(args or {}), **kwargs})

        invoke.__name__ = attr
        # Kept on the instance: the next use of the name is a plain
        # attribute, not another trip through here.
        self.__dict__[attr] = invoke
        return invoke

    def __dir__(self) -> List[str]:
        return sorted(self._tools())


#: The characters a JSON text can start with (after white space).
_JSON_START = frozenset('{["-0123456789tfn')


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


#: Made once, when the component is built, rather than per call as
#: ``json.dumps``/``json.loads`` with options would: strict JSON both ways
#: (no NaN or Infinity), as the guest SDK sends and reads it.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_scan = _DECODER.scan_once


def _args_text(args: Any) -> str:
    return "" if args is None else _ENCODER.encode(args)


def _parse_result(text: str) -> Any:
    """A call's result as the host sends it: compact JSON, read with the
    decoder's scanner alone (anything else takes the whole decoder)."""
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        end = -1
    if end == len(text):
        return value
    return _DECODER.decode(text)


def _value(text: str) -> Any:
    """The value of a call's result (an MCP ``CallToolResult`` as JSON):
    its structured content, else its text parsed as JSON, else its text,
    as ``ToolResult.value()`` gives it. Text that cannot be JSON
    (``Echo: hi``) is not parsed: a failed parse raises, which costs more
    than the call's own work in the sandbox."""
    try:
        raw = _parse_result(text)
    except ValueError:
        return ""
    if not isinstance(raw, dict):
        return ""
    structured = raw.get("structuredContent")
    if structured is not None:
        return structured
    blocks = raw.get("content")
    texts = []
    if isinstance(blocks, list):
        for b in blocks:
            if isinstance(b, dict) and b.get("type") == "text":
                t = b.get("text")
                if isinstance(t, str):
                    texts.append(t)
    text = texts[0] if len(texts) == 1 else "\n".join(texts)
    if text.lstrip()[:1] not in _JSON_START:
        return text
    try:
        return _DECODER.decode(text)
    except ValueError:
        return text


def _call(server: str, tool: str, args: Dict[str, Any]) -> Any:
    """One call through the host: its value, or ``CallError`` raised."""
    try:
        text = _host.call_tool(server, tool, _ENCODER.encode(args))
    except _host.HostError as e:
        raise _host.call_error(e.value) from None
    return _value(text)


def _info(t: Any) -> Dict[str, Any]:
    return {
        "server": t.server,
        "name": t.name,
        "title": t.title,
        "description": t.description,
        "input_schema": t.input_schema,
        "output_schema": t.output_schema,
        "read_only": t.read_only,
    }


class Tools:
    """The ``tools`` object in the submitted code's scope."""

    def __init__(self) -> None:
        self._servers: Optional[Dict[str, _Server]] = None

    def call(self, server: str, tool: str, args: Optional[Dict[str, Any]] = None, **kwargs: Any) -> Any:
        """Calls one tool; returns its value, raises ``CallError``."""
        return _call(server, tool, {**(args or {}), **kwargs})

    def call_all(self, calls: List[Tuple[str, str, Any]]) -> List[Any]:
        """Calls at once; values or ``CallError`` in order."""
        batch = [(c[0], c[1], _args_text(c[2] if len(c) > 2 else None)) for c in calls]
        return [_value(payload) if ok else _host.call_error(payload) for ok, payload in _host.call_tools(batch)]

    def list(self, server: Optional[str] = None) -> List[Dict[str, Any]]:
        """The tools this run may call (on one server, if given)."""
        return [_info(t) for t in list_tools(server)]

    def search(self, query: str, limit: int = 10) -> List[Dict[str, Any]]:
        """The tools whose name or description share the most words with
        ``query``, best first."""
        wanted = {w.lower() for w in _words(str(query))}
        scored = []
        for t in list_tools(None):
            have = {w.lower() for w in _words(f"{t.server} {t.name} {t.title or ''} {t.description}")}
            score = len(wanted & have)
            if score:
                scored.append((-score, t.server, t.name, t))
        scored.sort(key=lambda s: s[:3])
        return [_info(s[3]) for s in scored[: max(0, int(limit))]]

    def _namespaces(self) -> Dict[str, _Server]:
        if self._servers is None:
            # The names only: the host's listing, its schemas left unparsed.
            by_server: Dict[str, List[str]] = {}
            for t in _host.list_tools(None):
                by_server.setdefault(t.server, []).append(t.name)
            self._servers = {}
            for server, names in sorted(by_server.items()):
                ns = _Server(server, names)
                self._servers.setdefault(server if server.isidentifier() else _snake(server), ns)
                self._servers.setdefault(_snake(server), ns)
        return self._servers

    def __getattr__(self, attr: str) -> _Server:
        if attr.startswith("_"):
            raise AttributeError(attr)
        found = self._namespaces().get(attr)
        # A server this run sees no tools of is asked by the name as given.
        ns = found if found is not None else _Server(attr, [])
        # Kept on the instance (this run's): the next `tools.NAME` is a
        # plain attribute.
        self.__dict__[attr] = ns
        return ns

    def __dir__(self) -> List[str]:
        return ["call", "call_all", "list", "search", *sorted(self._namespaces())]


def _refuse_open(*_args: Any, **_kwargs: Any) -> Any:
    raise PermissionError(f"open() is not available: {NO_OUTSIDE}")


_real_import = builtins.__import__


def _guarded_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
    top = name.split(".")[0]
    if top in BLOCKED:
        raise ImportError(f"import {name} is not available: {NO_OUTSIDE}")
    if top == "builtins":
        # The code's own builtins (guarded `open` and `__import__`), not
        # the interpreter's, so `builtins.open` says what `open` says.
        return _SAFE_BUILTINS
    return _real_import(name, globals, locals, fromlist, level)


def _make_builtins() -> Dict[str, Any]:
    scope = dict(vars(builtins))
    scope["open"] = _refuse_open
    scope["__import__"] = _guarded_import
    for name in ("exit", "quit", "input", "breakpoint", "help"):
        scope.pop(name, None)
    return scope


#: The code's builtins, made once when the component is built.
_BUILTINS = _make_builtins()

#: What `import builtins` gives the code: a module of those builtins.
_SAFE_BUILTINS = type(builtins)("builtins")
_SAFE_BUILTINS.__dict__.update(_BUILTINS)


def _builtins() -> Dict[str, Any]:
    return dict(_BUILTINS)


def _compile(code: str) -> Any:
    """The code as the body of ``def __code__(input, tools)``, with its own
    line numbers."""
    try:
        tree = ast.parse(code, CODE)
    except SyntaxError as e:
        raise CodeError(f"SyntaxError: {e.msg} (line {e.lineno})") from None
    # Only the nodes made here need a place (line 1); the parsed ones have
    # theirs. (`ast.fix_missing_locations` would walk the whole tree in
    # Python to find them: a third of a small submission's compile.)
    at = {"lineno": 1, "col_offset": 0, "end_lineno": 1, "end_col_offset": 0}
    args = ast.arguments(
        posonlyargs=[],
        args=[ast.arg(arg="input", **at), ast.arg(arg="tools", **at)],
        kwonlyargs=[],
        kw_defaults=[],
        defaults=[],
    )
    body = tree.body or [ast.Pass(**at)]
    func = ast.FunctionDef(name="__code__", args=args, body=body, decorator_list=[], type_params=[], **at)
    module = ast.Module(body=[func], type_ignores=[])
    try:
        return compile(module, CODE, "exec")
    except SyntaxError as e:
        raise CodeError(f"SyntaxError: {e.msg} (line {e.lineno})") from None


def _code_line(tb: Any) -> Optional[int]:
    """The line of the submitted code nearest the error."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == CODE:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def run(input: Any) -> Any:
    request: Dict[str, Any] = input if isinstance(input, dict) else {}
    language = request.get("language", "python")
    if language != "python":
        raise CodeError(f"this interpreter runs python, not {language!r}")
    code = request.get("code")
    if not isinstance(code, str):
        raise CodeError("`code` (the program's source, a string) is required")
    scope: Dict[str, Any] = {"__builtins__": _builtins(), "__name__": "__code__", "CallError": CallError}
    exec(_compile(code), scope)
    try:
        return scope["__code__"](request.get("input"), Tools())
    except CallError as e:
        raise CodeError(f"{e} (line {_code_line(sys.exc_info()[2])})") from None
    except RecursionError:
        raise CodeError(f"RecursionError: maximum recursion depth exceeded (line {_code_line(sys.exc_info()[2])})") from None
    except Exception as e:
        raise CodeError(f"{type(e).__name__}: {e} (line {_code_line(sys.exc_info()[2])})") from None


def _warm() -> None:
    """Runs the interpreter's own path once while the component is built
    (componentize-py keeps the state the module's import leaves), so that
    each run starts with the parser, the compiler and JSON already used,
    then moves every object alive by then out of the collector's sight: a
    run's collections do not walk, and so do not copy, the pages of the
    snapshot every run shares."""
    scope: Dict[str, Any] = {"__builtins__": _builtins(), "__name__": "__code__", "CallError": CallError}
    exec(_compile("x = [str(i) for i in range(3)]\nreturn {'x': x}\n"), scope)
    json.dumps(scope["__code__"](None, None), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    _args_text({"message": "1"})
    _value('{"content":[{"type":"text","text":"1"}]}')
    gc.collect()
    gc.freeze()


_warm()
