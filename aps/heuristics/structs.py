"""Records of arrays for the compiled kernels, passed to their helpers as one pointer.

A named tuple of arrays is what numba copies into every helper that takes it, raising
and lowering each array's reference count on the way in and out: on a record of forty
arrays that is about half a microsecond per helper call, which was most of the
decoder's time. A numba structure reference (:mod:`numba.experimental.structref`) is
one reference-counted pointer instead.

A record class subclasses :class:`KernelStruct` and lists its fields as annotations; a
type class subclasses :class:`KernelStructType`; :func:`define` binds the two. Python
code reads the fields as plain attributes (the same arrays the kernels see); compiled
code reads them as struct members. Each record needs a module-level cached builder
(``njit(cache=True)``, returning ``Record(*values)``), so that no process compiles it
again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from numba import types
from numba.experimental import structref

R = TypeVar("R", bound="KernelStruct")


class KernelStruct(structref.StructRefProxy):
    """A record of arrays (and integers) that kernels receive as one pointer."""

    FIELDS: ClassVar[tuple[str, ...]] = ()
    BUILD: ClassVar[Callable[..., Any]]

    def __new__(cls: type[R], **fields: Any) -> R:
        if set(fields) != set(cls.FIELDS):
            wrong = sorted(set(fields) ^ set(cls.FIELDS))
            raise TypeError(f"{cls.__name__}: missing or unknown fields {wrong}")
        self: R = cls.BUILD(*(fields[name] for name in cls.FIELDS))
        self.__dict__.update(fields)
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), dict(self.__dict__)))


class KernelStructType(types.StructRef):
    """The numba type of a :class:`KernelStruct` (literal integers widened)."""

    def preprocess_fields(self, fields: Any) -> tuple[tuple[str, Any], ...]:
        return tuple((name, types.unliteral(typ)) for name, typ in fields)  # type: ignore[no-untyped-call]


def define(record: type[KernelStruct], numba_type: type[KernelStructType]) -> None:
    """Bind ``record`` (fields: its own annotations, in order) to ``numba_type``."""
    record.FIELDS = tuple(record.__annotations__)
    structref.define_constructor(record, numba_type, record.FIELDS)  # type: ignore[no-untyped-call]
    structref.define_boxing(numba_type, record)  # type: ignore[no-untyped-call]


def _rebuild(record: type[R], fields: dict[str, Any]) -> R:
    return record(**fields)
