"""Write synchost source plugins in Python (componentize-py 0.25).

A source plugin is a WebAssembly component that talks to one remote system.
It answers one question per call (one page of a listing, one batch of
fetches); the host owns every loop around those calls (pagination, retries,
rate limits, checkpoints, storage, credentials). So a plugin never sleeps,
retries or paginates to the end, and never sees a secret.

A plugin::

    import synchost_sdk as sh
    from synchost_sdk import http

    class Notes(sh.Plugin):
        @classmethod
        def describe(cls):
            return sh.manifest(
                "notes", "0.1.0", "Notes from the notes API",
                streams=[sh.stream("notes", "Every note")],
                settings=[sh.setting("base_url", "API root", required=True)],
            )

        def __init__(self, settings):
            self.base_url = settings.url("base_url")  # InvalidConfig if bad

        def list(self, stream, req):
            if stream != "notes":
                raise sh.unknown_stream(stream)
            answer = (
                http.Request.get(f"{self.base_url}/notes")
                .query("limit", req.limit)
                .query("page", req.cursor)
                .send()
                .error_for_status()
                .json()
            )
            records = [sh.record(n["id"], n["rev"], title=n["title"], text=n["body"])
                       for n in answer["notes"]]
            return sh.page(records, next_cursor=answer["next"])

    Source = sh.export(Notes)  # the name componentize-py looks for

Build it with `componentize-py -d wit -w source-plugin componentize app -p .
-p PATH_TO_SDK -o notes.wasm`.

What is where:
- `Plugin`, `export`, `ListRequest`, and the push outcomes `Applied`,
  `Conflicted`, `NotApplied`: the plugin itself (plugin.py).
- `record`, `page`, `manifest`, `stream`, `setting`, `blob`, `bearer`...:
  the contract's values with defaults (values.py).
- `Error` and its kinds `Auth`, `RateLimited`, `Transient`, `NotFound`,
  `InvalidConfig`, `InvalidResponse`, `Conflict`, `Unsupported`, `Fatal`
  (errors.py).
- `Settings`: the values given to `configure` (settings.py).
- `changes`: reading a `Change` in `push` and `reconcile` (`require_id`,
  `require_base`, `content_text`, `metadata`; `CREATE`, `UPDATE`, `DELETE`).
- `http`: requests through the host, status -> error mapping, URL helpers.
- `log`: messages to the host's log.
- `testing`: native unit tests with canned answers or a recorded cassette.
- `types`: the generated dataclasses (`wit_world.imports.types`), for what
  the helpers do not cover.
"""

from . import changes, http, log
from ._wit import types
from .errors import (
    Auth,
    Conflict,
    Error,
    Fatal,
    InvalidConfig,
    InvalidResponse,
    NotFound,
    RateLimited,
    Transient,
    Unsupported,
    unknown_stream,
)
from .plugin import Applied, Conflicted, NotApplied, Plugin, export
from .settings import Settings, flag
from .values import (
    FULL,
    IDS_ONLY,
    ListRequest,
    basic,
    bearer,
    blob,
    header_auth,
    manifest,
    page,
    record,
    setting,
    stream,
    to_json,
)

#: The contract this SDK targets (its `_bindings` are generated from it).
CONTRACT = "synchost:source@0.2.0"

__all__ = [
    "CONTRACT",
    "FULL",
    "IDS_ONLY",
    "Applied",
    "Auth",
    "Conflict",
    "Conflicted",
    "Error",
    "Fatal",
    "InvalidConfig",
    "InvalidResponse",
    "ListRequest",
    "NotApplied",
    "NotFound",
    "Plugin",
    "RateLimited",
    "Settings",
    "Transient",
    "Unsupported",
    "basic",
    "bearer",
    "changes",
    "blob",
    "export",
    "flag",
    "header_auth",
    "http",
    "log",
    "manifest",
    "page",
    "record",
    "setting",
    "stream",
    "to_json",
    "types",
    "unknown_stream",
]
