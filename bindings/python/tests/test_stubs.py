"""The type stubs say what the native module takes: every method and every parameter of
`_libjwks.pyi`, with its kind and default, against the compiled module's own signatures."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import libjwks._libjwks as native

STUB = Path(native.__file__).with_name("_libjwks.pyi")


def stub_classes() -> dict[str, dict[str, ast.FunctionDef]]:
    tree = ast.parse(STUB.read_text())
    return {
        c.name: {f.name: f for f in c.body if isinstance(f, ast.FunctionDef)}
        for c in tree.body
        if isinstance(c, ast.ClassDef)
    }


def stub_parameters(f: ast.FunctionDef) -> list[tuple[str, str, str | None]]:
    """(name, kind, default as source text) of a stub function, without self."""
    a = f.args
    out = []
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    for arg, d in zip(positional, defaults):
        kind = "POSITIONAL_ONLY" if arg in a.posonlyargs else "POSITIONAL_OR_KEYWORD"
        out.append((arg.arg, kind, None if d is None else ast.unparse(d)))
    for arg, d in zip(a.kwonlyargs, a.kw_defaults):
        out.append((arg.arg, "KEYWORD_ONLY", None if d is None else ast.unparse(d)))
    return [p for p in out if p[0] != "self"]


def runtime_parameters(obj) -> list[tuple[str, str, str | None]]:
    out = []
    for p in inspect.signature(obj).parameters.values():
        default = None if p.default is inspect.Parameter.empty else repr(p.default)
        if p.name != "self":
            out.append((p.name, p.kind.name, default))
    return out


def test_every_native_method_and_parameter_is_in_the_stub():
    stubs = stub_classes()
    for cls in (native.Client, native.Pending):
        methods = {n for n in vars(cls) if not n.startswith("__")}
        stubbed = set(stubs[cls.__name__]) - {"__init__"}
        assert methods == stubbed, (cls.__name__, methods ^ stubbed)
        for name in methods:
            assert stub_parameters(stubs[cls.__name__][name]) == runtime_parameters(
                getattr(cls, name)
            ), f"{cls.__name__}.{name}"
    init = stub_parameters(stubs["Client"]["__init__"])
    assert init == runtime_parameters(native.Client), "Client.__init__"
    assert len(init) > 30
