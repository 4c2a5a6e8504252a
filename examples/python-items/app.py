"""python-items: the items example plugin (examples/example-items) in Python.

It syncs the "items" REST API (docs/fake-items-api.md; served by
`synchost-fake items`). One stream, `items`, with delta syncs:
- `list` pages through `GET /items` and returns *partial* records (id,
  version, updated_at, no content); the host then calls `fetch` only for the
  items whose version it does not have yet.
- `fetch` gets `GET /items/{id}` for a batch of ids in one `send_batch`.

The plugin never loops over pages, retries, sleeps or sends credentials:
the host does all of that. Build: `cargo xtask build` (or the
componentize-py command in docs/plugin-guide-python.md).
"""

import synchost_sdk as sh
from synchost_sdk import http

STREAM = "items"


def item_record(item):
    """A complete record of a `GET /items/{id}` answer."""
    return sh.record(
        item["id"],
        item["version"],
        title=item["title"],
        text=item["content"],
        metadata={"tags": item["tags"]},
        updated_at=item.get("updated_at"),
    )


def check_stream(stream):
    if stream != STREAM:
        raise sh.unknown_stream(stream)


class Items(sh.Plugin):
    @classmethod
    def describe(cls):
        return sh.manifest(
            "python-items",
            "0.1.0",
            "Items from the items API (the Python example)",
            streams=[sh.stream(STREAM, "Every item, with delta syncs", delta=True)],
            settings=[
                sh.setting(
                    "base_url", "Root of the items API, e.g. http://127.0.0.1:8080", required=True
                )
            ],
            max_page_size=1000,
            auth=sh.bearer("ITEMS_TOKEN"),
        )

    def __init__(self, settings):
        # An http(s) URL, without its trailing slash; InvalidConfig otherwise.
        self.base_url = settings.url("base_url")

    def list(self, stream, req):
        check_stream(stream)
        listing = (
            http.Request.get(f"{self.base_url}/items")
            .query("limit", req.limit)
            .query("cursor", req.cursor)  # None: left out
            .query("since", req.since)
            .send()
            .error_for_status()  # 401 -> Auth, 429 -> RateLimited, 5xx -> Transient...
            .json()
        )
        try:
            # Partial records: no content, so the host fetches the changed ones.
            records = [
                sh.record(s["id"], s["version"], updated_at=s.get("updated_at"))
                for s in listing["items"]
            ]
        except (KeyError, TypeError) as e:
            raise sh.InvalidResponse(f"unexpected listing: missing {e}") from None
        return sh.page(
            records,
            deleted=listing.get("deleted", []),
            next_cursor=listing.get("next_cursor"),
            watermark=listing.get("watermark"),
            total_hint=listing.get("total"),
        )

    def fetch(self, stream, ids):
        check_stream(stream)
        # One request per id, all handed to the host at once; it runs them
        # concurrently within the source's limits. Answers come in order.
        answers = http.send_batch(
            http.Request.get(f"{self.base_url}/items/{http.encode(i)}") for i in ids
        )
        results = []
        for answer in answers:
            try:
                # A 404 becomes NotFound for this id only.
                results.append(item_record(http.checked(answer).json()))
            except sh.Error as e:
                results.append(e)
            except (KeyError, TypeError) as e:
                results.append(sh.InvalidResponse(f"unexpected item: missing {e}"))
        return results


Source = sh.export(Items)
