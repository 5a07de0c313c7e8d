"""The compiled and pure-Python twins export one API: the same names, the same signatures.

Signatures are compared as (name, kind, default) per parameter. The pure twin's
come from inspect; the compiled module's from its .pyi stub, which mypy's
stubtest holds to the compiled module (.ci/typecheck.sh); where the compiled
module itself reports a signature (Cython functions do, builtins and slot
wrappers do not), that is compared too. Public attributes of instances are
compared as sets, so a property added to one twin only fails here.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
from typing import Any, Dict, List, Optional, Tuple

import pytest
from conftest import load_impl

from wsfast import _impl

COMPILED_ONLY = {"KERNEL", "DECODER", "ZLIB"}  # which kernels and zlib the build uses: the pure twin has none
STUBS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "wsfast")

Param = Tuple[str, str, Any]  # name, kind, default (inspect.Parameter.empty when none)


def _from_inspect(sig: inspect.Signature, drop_self: bool = False) -> List[Param]:
    params = list(sig.parameters.values())
    if drop_self and params and params[0].name == "self":
        params = params[1:]
    return [(p.name, p.kind.name, p.default) for p in params]


def _default(node: Optional[ast.expr]) -> Any:
    if node is None:
        return inspect.Parameter.empty
    return eval(compile(ast.Expression(node), "<stub default>", "eval"), {})  # literals and 2**20 only


def _from_stub(fn: ast.FunctionDef, drop_self: bool = False) -> List[Param]:
    a = fn.args
    positional = [(arg, "POSITIONAL_ONLY") for arg in a.posonlyargs] + [
        (arg, "POSITIONAL_OR_KEYWORD") for arg in a.args]
    defaults: List[Optional[ast.expr]] = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    params = [(arg.arg, kind, _default(d)) for (arg, kind), d in zip(positional, defaults)]
    if a.vararg:
        params.append((a.vararg.arg, "VAR_POSITIONAL", inspect.Parameter.empty))
    params += [(arg.arg, "KEYWORD_ONLY", _default(d)) for arg, d in zip(a.kwonlyargs, a.kw_defaults)]
    if a.kwarg:
        params.append((a.kwarg.arg, "VAR_KEYWORD", inspect.Parameter.empty))
    if drop_self and params and params[0][0] == "self":
        params = params[1:]
    return params


def _same(stub: List[Param], pure: List[Param]) -> bool:
    """Equal, where a stub's ``= ...`` (a default it does not spell out) stands for any default."""
    return len(stub) == len(pure) and all(
        s[:2] == p[:2] and (s[2] == p[2] or (s[2] is Ellipsis and p[2] is not inspect.Parameter.empty))
        for s, p in zip(stub, pure))


def _stub(part: str) -> Dict[str, Any]:
    """name -> FunctionDef, or for a class {method name -> FunctionDef}, from wsfast/_<part>_c.pyi."""
    with open(os.path.join(STUBS, f"_{part}_c.pyi")) as f:
        tree = ast.parse(f.read())
    found: Dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            found[node.name] = {n.name: n for n in node.body if isinstance(n, ast.FunctionDef)}
    return found


def _modules(part: str) -> Tuple[Any, Any]:
    load_impl("c")  # skips (or fails under CI) when the compiled twin is missing
    return importlib.import_module(f"wsfast._{part}_c"), importlib.import_module(f"wsfast._{part}_py")


@pytest.mark.parametrize("part", list(_impl.PARTS))
def test_same_names(part):
    compiled, pure = _modules(part)
    assert set(compiled.__all__) - COMPILED_ONLY == set(pure.__all__) == set(_impl.PARTS[part])
    stub = _stub(part)
    assert set(pure.__all__) <= set(stub), "every shared name is in the stub"


def _cases() -> List[Tuple[str, str, Optional[str]]]:
    cases = []
    for part in _impl.PARTS:
        pure = importlib.import_module(f"wsfast._{part}_py")
        for name in pure.__all__:
            obj = getattr(pure, name)
            if isinstance(obj, type):
                cases.append((part, name, "__init__"))
                cases += [(part, name, m) for m, v in vars(obj).items()
                          if not m.startswith("_") and inspect.isfunction(v)]
            else:
                cases.append((part, name, None))
    return cases


@pytest.mark.parametrize("part,name,method", _cases(), ids=lambda v: str(v))
def test_same_signature(part, name, method):
    compiled, pure = _modules(part)
    stub = _stub(part)
    if method is None:
        expected = _from_inspect(inspect.signature(getattr(pure, name)))
        assert _same(_from_stub(stub[name]), expected), (_from_stub(stub[name]), expected)
        runtime = getattr(compiled, name)
        drop = False
    else:
        expected = _from_inspect(inspect.signature(getattr(getattr(pure, name), method)), drop_self=True)
        assert method in stub[name], f"{name}.{method} is missing from the stub"
        stubbed = _from_stub(stub[name][method], drop_self=True)
        assert _same(stubbed, expected), (stubbed, expected)
        runtime = getattr(getattr(compiled, name), method)
        drop = True
    try:
        compiled_sig = inspect.signature(runtime)
    except (ValueError, TypeError):
        return  # a builtin without a signature: the stub (held to it by stubtest) speaks for it
    params = _from_inspect(compiled_sig, drop_self=drop)
    if [kind for _, kind, _ in params] == ["VAR_POSITIONAL", "VAR_KEYWORD"]:
        return  # a slot wrapper's (self, /, *args, **kwargs): no signature to compare
    assert params == expected


def _instances(impl) -> Dict[str, Any]:
    return {
        "FrameParser": impl.FrameParser(),
        "TextMessage": impl.TextMessage("t"),
        "BinaryMessage": impl.BinaryMessage(b"b"),
        "Ping": impl.Ping(b"p"),
        "Pong": impl.Pong(b"p"),
        "Close": impl.Close(1000, "bye"),
        "Utf8Validator": impl.Utf8Validator(),
    }


@pytest.mark.parametrize("name", ["FrameParser", "TextMessage", "BinaryMessage", "Ping", "Pong", "Close",
                                  "Utf8Validator"])
def test_same_public_attributes(name, c_impl, py_impl):
    def public(obj: Any) -> set:
        return {attr for attr in dir(obj) if not attr.startswith("_")}

    compiled, pure = _instances(c_impl)[name], _instances(py_impl)[name]
    assert public(compiled) == public(pure)
    for attr in public(pure):
        a, b = getattr(compiled, attr), getattr(pure, attr)
        if not callable(b):
            assert a == b, attr
