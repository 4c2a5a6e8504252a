"""Reading a `Change` (`types.Change`: `key`, `op`, `id`, `base_version`,
`parent_id`, `title`, `content`, `metadata`) for `push` and `reconcile`.

Each helper raises `Unsupported` naming the change when what it needs is
missing, as the Rust SDK's `Change` accessors do: put that error in the
change's place in the answers, and the change fails alone.
"""

import json

from ._wit import types
from .errors import Unsupported

CREATE = types.ChangeOp.CREATE
UPDATE = types.ChangeOp.UPDATE
DELETE = types.ChangeOp.DELETE


def refused(change, why):
    """`Unsupported`: change `KEY` (op of `ID`) `why`."""
    item = f" of `{change.id}`" if change.id is not None else ""
    return Unsupported(f"change `{change.key}` ({change.op.name.lower()}{item}) {why}")


def require_id(change):
    """The item's id (updates, deletes)."""
    if not change.id:
        raise refused(change, "has no item id")
    return change.id


def require_base(change):
    """The version the change was based on (updates, deletes)."""
    if not change.base_version:
        raise refused(change, "has no base version")
    return change.base_version


def content_text(change):
    """The new content as text (creates, updates)."""
    if change.content is None:
        raise refused(change, "has no content")
    try:
        return bytes(change.content).decode("utf-8")
    except UnicodeDecodeError as e:
        raise refused(
            change,
            f"has content that is not UTF-8 text (invalid byte at offset {e.start}); "
            "the remote stores text only",
        ) from None


def metadata(change):
    """The change's metadata as a dict (`{}` when it is not a JSON object)."""
    try:
        value = json.loads(change.metadata or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
