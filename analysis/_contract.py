"""Checker for the algorithm pattern every analysis class follows (gaitmap/tpcp style).

* ``__init__`` only stores its parameters, under their own names, unchanged (the
  algorithms declare them once, as the fields of a ``@dataclass(eq=False)``: the generated
  ``__init__`` stores them and nothing else; ``eq=False`` keeps identity equality and
  hashing, so a fitted sub-algorithm is compared by its results below, not its parameters);
* before the action nothing public ends in ``_`` (unless the algorithm is stateful, e.g. a
  streaming one whose results are updated in place);
* the action method returns ``self`` and sets at least one result attribute ending in ``_``;
* result objects with ``to_dict`` give JSON-ready data (no NaN: None instead);
* running the action again on a fresh instance with the same data gives the same results.

Used by the tests (``tests/analysis/test_gait_contract.py``); raises ``AssertionError`` with a
message naming the algorithm and the broken rule. Only numpy and the standard library are
used, so other analysis modules' tests can use it too.
"""

from __future__ import annotations

import inspect
import json
import math
from collections import deque
from typing import Any

import numpy as np

__all__ = ["check_algorithm"]


def _public_results(obj: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(obj).items() if k.endswith("_") and not k.startswith("_")}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return False
        if a.dtype.kind in "fc":
            return bool(np.allclose(a, b, equal_nan=True))
        return bool(np.array_equal(a, b))
    if isinstance(a, deque):
        a = list(a)
    if isinstance(b, deque):
        b = list(b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if hasattr(a, "to_dict") and hasattr(b, "to_dict"):
        return _same(a.to_dict(), b.to_dict())
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    own_eq = any("__eq__" in vars(k) for k in type(a).__mro__[:-1])  # not object's
    if type(a) is type(b) and not own_eq and hasattr(a, "__dict__"):
        return _same(_public_results(a), _public_results(b))  # fitted sub-algorithms
    try:
        return bool(a == b)
    except Exception:  # pragma: no cover - exotic types
        return True


def _json_ready(x: Any, where: str) -> None:
    try:
        json.dumps(x, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{where}: to_dict() is not JSON-ready: {exc}") from exc


def check_algorithm(
    cls: type,
    action: str,
    args: tuple = (),
    kwargs: dict | None = None,
    init_kwargs: dict | None = None,
    stateful: bool = False,
) -> Any:
    """Check ``cls`` against the pattern; returns the instance after the action.

    Parameters
    ----------
    cls : type
        The algorithm class.
    action : str
        Name of its action method (``detect``, ``calculate``, ``analyze``, ``update``...).
    args, kwargs : tuple, dict
        Passed to the action.
    init_kwargs : dict
        Passed to ``__init__``.
    stateful : bool
        Results may exist before the first action (streaming algorithms).
    """
    name = cls.__name__
    init_kwargs = dict(init_kwargs or {})
    kwargs = dict(kwargs or {})
    obj = cls(**init_kwargs)
    sig = inspect.signature(cls)  # __init__'s parameters, without self
    for pname, p in sig.parameters.items():
        if pname == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        assert hasattr(obj, pname), f"{name}.__init__ does not store parameter {pname!r}"
        expected = init_kwargs.get(pname, p.default)
        assert _same(getattr(obj, pname), expected), f"{name}.__init__ changed parameter {pname!r}"
    if not stateful:
        pre = _public_results(obj)
        assert not pre, f"{name} has results before {action}(): {sorted(pre)}"
    out = getattr(obj, action)(*args, **kwargs)
    assert out is obj, f"{name}.{action}() must return self"
    res = _public_results(obj)
    assert res, f"{name}.{action}() set no result attribute ending in '_'"
    for k, v in res.items():
        items = v if isinstance(v, (list, tuple)) else [v]
        for it in items:
            if hasattr(it, "to_dict"):
                _json_ready(it.to_dict(), f"{name}.{k}")
    again = getattr(cls(**init_kwargs), action)(*args, **kwargs)
    for k, v in res.items():
        assert _same(v, getattr(again, k)), f"{name}.{k} differs between identical runs"
    return obj
