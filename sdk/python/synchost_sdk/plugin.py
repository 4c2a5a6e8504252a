"""The plugin class and its export as the component's `source` interface.

Subclass `Plugin`, then bind the adapter to the name componentize-py looks
for in the app module (the exported interface's, `Source`)::

    class Items(synchost_sdk.Plugin):
        ...

    Source = synchost_sdk.export(Items)

The adapter turns the SDK's conventions into the generated bindings':
raised `synchost_sdk.Error`s become `Err(error)`, `fetch` answers become
`Ok(record)` / `Err(error)`, push outcomes become the WIT variants. Any other
exception is a plugin bug: it propagates, the call traps, and the host shows
the traceback (the end of the plugin's stderr) in the error.
"""

from dataclasses import dataclass
from typing import Optional

from . import _wit
from .errors import Error, Fatal, Unsupported
from .settings import Settings
from .values import ListRequest

types = _wit.types


@dataclass
class Applied:
    """A push or reconciliation that took effect: the item now (None after a
    deletion)."""

    record: Optional[types.Record] = None


@dataclass
class Conflicted:
    """The remote moved on: its item now (None when it deleted it)."""

    record: Optional[types.Record] = None


@dataclass
class NotApplied:
    """A reconciled change that did not take effect and may be sent again."""


class Plugin:
    """A source plugin. The host calls `describe` at any time, then builds
    one instance per configuration (`__init__` is `configure`), then asks it
    one question per call. Never loop over pages, retry or sleep: the host
    owns those."""

    @classmethod
    def describe(cls):
        """The manifest (`synchost_sdk.manifest(...)`). Must not do I/O."""
        raise NotImplementedError("a plugin defines describe()")

    def __init__(self, settings):
        """Validates the `Settings`; raise `InvalidConfig` naming the setting
        when one is wrong (`settings.required`, `settings.url` do)."""
        self.settings = settings

    def streams(self):
        """The streams of this configuration: the manifest's by default."""
        return type(self).describe().streams

    def list(self, stream, req):
        """One page (`synchost_sdk.page(...)`) of `stream` for the
        `ListRequest`: at most `req.limit` records."""
        raise Unsupported(f"stream `{stream}` cannot be listed")

    def fetch(self, stream, ids):
        """Complete records for `ids`: one answer per id, in order, each a
        record or an `Error` (not raised: `NotFound(...)` for a missing
        item). Raising an `Error` fails every id with it."""
        raise Unsupported(f"stream `{stream}` does not support fetch")

    def push(self, stream, changes):
        """One outcome per change (`Applied`, `Conflicted` or an `Error`)."""
        raise Unsupported(f"stream `{stream}` does not support push")

    def reconcile(self, stream, changes):
        """One answer per change (`Applied`, `NotApplied`, `Conflicted` or an
        `Error`); reads only."""
        raise Unsupported(f"stream `{stream}` does not support push")


def _each(answers, n, what, convert, fail):
    """Exactly `n` converted answers, or `fail` of one error for all."""
    answers = list(answers)
    if len(answers) != n:
        message = f"plugin bug: {what} returned {len(answers)} answers for {n} inputs"
        return [fail(Fatal(message)) for _ in range(n)]
    return [fail(a) if isinstance(a, Error) else convert(a) for a in answers]


def _record_result(answer):
    if not isinstance(answer, types.Record):
        raise TypeError(f"fetch answered {answer!r}: expected a record or an Error")
    return _wit.Ok(answer)


def _outcome(variants):
    """The converter of push (or reconcile) answers to `variants`."""

    def convert(answer):
        variant = variants.get(type(answer))
        if variant is None:
            raise TypeError(f"unexpected outcome {answer!r}")
        return variant() if isinstance(answer, NotApplied) else variant(answer.record)

    return convert


_PUSH = {Applied: types.PushOutcome_Applied, Conflicted: types.PushOutcome_Conflict}
_RECONCILE = {
    Applied: types.Reconciliation_Applied,
    Conflicted: types.Reconciliation_Conflict,
    NotApplied: types.Reconciliation_NotApplied,
}


def export(plugin_class):
    """The `Source` class componentize-py instantiates, running
    `plugin_class` (a `Plugin` subclass)."""
    state = {}

    def configured():
        plugin = state.get("plugin")
        if plugin is None:
            raise Fatal("plugin is not configured: the host must call `configure` first")
        return plugin

    def answered(call, n, what, convert, fail):
        try:
            answers = call(configured())
        except Error as e:
            return [fail(e) for _ in range(n)]
        return _each(answers, n, what, convert, fail)

    class Source(_wit.exports.Source):
        def describe(self):
            return plugin_class.describe()

        def configure(self, settings):
            state.pop("plugin", None)
            try:
                state["plugin"] = plugin_class(Settings(settings))
            except Error as e:
                raise _wit.Err(e.to_wit()) from None

        def streams(self):
            try:
                return list(configured().streams())
            except Error as e:
                raise _wit.Err(e.to_wit()) from None

        def list(self, stream, cursor, since, limit, detail):
            try:
                return configured().list(stream, ListRequest(cursor, since, limit, detail))
            except Error as e:
                raise _wit.Err(e.to_wit()) from None

        def fetch(self, stream, ids):
            return answered(
                lambda p: p.fetch(stream, list(ids)),
                len(ids),
                "fetch",
                _record_result,
                lambda e: _wit.Err(e.to_wit()),
            )

        def push(self, stream, changes):
            return answered(
                lambda p: p.push(stream, list(changes)),
                len(changes),
                "push",
                _outcome(_PUSH),
                lambda e: types.PushOutcome_Failed(e.to_wit()),
            )

        def reconcile(self, stream, changes):
            return answered(
                lambda p: p.reconcile(stream, list(changes)),
                len(changes),
                "reconcile",
                _outcome(_RECONCILE),
                lambda e: types.Reconciliation_Failed(e.to_wit()),
            )

    Source.__qualname__ = f"Source[{plugin_class.__name__}]"
    return Source
