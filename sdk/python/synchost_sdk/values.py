"""Builders for the values of the contract, with the Rust SDK's defaults.

The generated dataclasses (`wit_world.imports.types`) take every field,
in order; these functions take the required ones positionally and the rest
by keyword. WIT `option<T>` is `None` or the value; `list<u8>` is `bytes`;
`u32`/`u64` are `int`s, checked here to be in range (componentize-py would
otherwise fail the whole call with an `OverflowError`).
"""

import json as _json
from dataclasses import dataclass
from typing import Optional

from ._wit import types

U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1

#: `list` detail: complete records.
FULL = types.Detail.FULL
#: `list` detail: ids and versions suffice (deletion checks).
IDS_ONLY = types.Detail.IDS_ONLY


def to_json(value):
    """`value` as compact JSON text (UTF-8 kept as is), as the Rust SDK writes."""
    return _json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _in_range(name, value, high):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise ValueError(f"{name} must be an int in 0..={high}, got {value!r}")
    return value


def record(
    id,
    version,
    *,
    title=None,
    updated_at=None,
    parent_id=None,
    path=None,
    text=None,
    json=None,
    content=None,
    content_type=None,
    metadata=None,
    blobs=(),
):
    """A record of the stream.

    Without content it is partial: the host calls `fetch` for it when its
    version changed. Give at most one of `text` (a `str`, stored as
    `text/plain; charset=utf-8`), `json` (any JSON value, `application/json`)
    or `content` (`bytes`, with `content_type`). `metadata` is a dict (or
    JSON object text), `{}` by default; `blobs` are `blob(...)` values.
    """
    given = [v is not None for v in (text, json, content)]
    if sum(given) > 1:
        raise ValueError("give at most one of text=, json= and content=")
    if text is not None:
        content, content_type = text.encode("utf-8"), "text/plain; charset=utf-8"
    elif json is not None:
        content, content_type = to_json(json).encode("utf-8"), "application/json"
    elif content is not None:
        content = bytes(content)
        content_type = content_type or "application/octet-stream"
    if metadata is None:
        metadata = "{}"
    elif not isinstance(metadata, str):
        metadata = to_json(metadata)
    return types.Record(
        id=str(id),
        version=str(version),
        updated_at=updated_at,
        parent_id=parent_id,
        title=title,
        path=path,
        content_type=content_type or "",
        content=content,
        metadata=metadata,
        blobs=list(blobs),
    )


def blob(name, url, media_type, version, *, size=None, headers=(), member=None):
    """A binary at `url` the host downloads (again only when `version`
    changes); `member` names a file inside a tar.gz archive at `url`.
    `headers` never hold credentials (the host adds those)."""
    return types.BlobRef(
        name=name,
        url=url,
        headers=list(headers),
        media_type=media_type,
        size=_in_range("size", size, U64_MAX),
        version=str(version),
        member=member,
    )


def page(records, *, next_cursor=None, deleted=(), watermark=None, total_hint=None):
    """One page of a listing: `next_cursor` None on the last page; `deleted`
    the ids the remote reports deleted; `watermark` the `since` of the next
    delta once this enumeration completes."""
    return types.Page(
        records=list(records),
        deleted=list(deleted),
        next_cursor=next_cursor,
        watermark=watermark,
        total_hint=_in_range("total_hint", total_hint, U64_MAX),
    )


def stream(name, description, *, delta=False, push=False):
    """A stream; `delta` when `list` honours `since`, `push` when `push`
    accepts its changes."""
    return types.StreamInfo(
        name=name, description=description, supports_delta=delta, supports_push=push
    )


def setting(name, description, *, required=False, default=None):
    """A setting `configure` accepts; `default` documents the value used when
    it is absent."""
    return types.SettingInfo(
        name=name, description=description, required=required, default_value=default
    )


def bearer(token_env):
    """Credentials: `Authorization: Bearer`, the token in `token_env`."""
    return types.AuthInfo(types.AuthScheme.BEARER, [("token_env", token_env)], None)


def basic(username_env, password_env):
    """Credentials: `Authorization: Basic`."""
    env = [("username_env", username_env), ("password_env", password_env)]
    return types.AuthInfo(types.AuthScheme.BASIC, env, None)


def header_auth(name, value_env):
    """Credentials: one custom header `name`, its value in `value_env`."""
    return types.AuthInfo(types.AuthScheme.HEADER, [("value_env", value_env)], name)


def manifest(
    name,
    version,
    description,
    *,
    streams=(),
    settings=(),
    max_page_size=100,
    max_push_batch=50,
    auth=None,
    extra_hosts=(),
):
    """Who the plugin is: `name` is the source's name in synchost. The page
    and push-batch sizes are at least 1."""
    return types.Manifest(
        name=name,
        version=version,
        description=description,
        streams=list(streams),
        settings=list(settings),
        max_page_size=_in_range("max_page_size", max(1, max_page_size), U32_MAX),
        max_push_batch=_in_range("max_push_batch", max(1, max_push_batch), U32_MAX),
        auth=auth,
        extra_hosts=list(extra_hosts),
    )


@dataclass
class ListRequest:
    """The arguments of one `list` call."""

    #: Where to continue: the previous page's `next_cursor`; None at first.
    cursor: Optional[str]
    #: The stream's last complete watermark; None for a full listing.
    since: Optional[str]
    #: The most records the page may hold (never over `max_page_size`).
    limit: int
    #: `FULL` or `IDS_ONLY`.
    detail: types.Detail = FULL

    @property
    def ids_only(self):
        """True when ids and versions suffice (partial records welcome)."""
        return self.detail == IDS_ONLY
