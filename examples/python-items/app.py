"""python-items: the items example plugin (examples/example-items) in Python.

It syncs the "items" REST API (docs/fake-items-api.md; served by
`synchost-fake items`). One stream, `items`, with delta syncs:
- `list` pages through `GET /items` and returns *partial* records (id,
  version, updated_at, no content); the host then calls `fetch` only for the
  items whose version it does not have yet.
- `fetch` gets `GET /items/{id}` for a batch of ids in one `send_batch`.
- `push` writes with the API's preconditions: `POST /items` with an
  `Idempotency-Key`, `PUT` and `DELETE /items/{id}` with
  `If-Match: "<base version>"`; a 412 answers with the current item (a
  conflict). Every write stores the change's key as the item's
  `change_key`, which `reconcile` reads back after a crash.

The plugin never loops over pages, retries, sleeps or sends credentials:
the host does all of that. Build: `cargo xtask build` (or the
componentize-py command in docs/plugin-guide-python.md).
"""

import synchost_sdk as sh
from synchost_sdk import changes, http
from synchost_sdk.changes import CREATE, DELETE, UPDATE

STREAM = "items"


def item_record(item):
    """A complete record of a `GET /items/{id}` answer (also the answer to
    writes)."""
    try:
        return sh.record(
            item["id"],
            item["version"],
            title=item["title"],
            text=item["content"],
            metadata={"tags": item["tags"]},
            updated_at=item.get("updated_at"),
        )
    except (KeyError, TypeError) as e:
        raise sh.InvalidResponse(f"unexpected item: missing {e}") from None


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
            streams=[
                sh.stream(STREAM, "Every item, with delta syncs and push", delta=True, push=True)
            ],
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
        return results

    def push(self, stream, batch):
        check_stream(stream)
        # One write per change, all sent at once; a change that cannot be
        # sent fails alone (its error in its place) and sends nothing.
        writes = []
        for change in batch:
            try:
                writes.append(self.write(change))
            except sh.Error as e:
                writes.append(e)
        answers = iter(http.send_batch(w for w in writes if not isinstance(w, sh.Error)))
        return [
            w if isinstance(w, sh.Error) else written(c.op, next(answers))
            for c, w in zip(batch, writes)
        ]

    def reconcile(self, stream, batch):
        check_stream(stream)
        # Reads only. Updates and deletes: the item now. Creates: the item
        # carrying the change's key, if any (a search, then the item).
        first = [self.recognise(c) for c in batch]
        answers = iter(http.send_batch(r for r in first if isinstance(r, http.Request)))
        found = [next(answers) if isinstance(r, http.Request) else r for r in first]
        created = [self.created_with(a) if c.op == CREATE else a for c, a in zip(batch, found)]
        answers = iter(http.send_batch(r for r in created if isinstance(r, http.Request)))
        return [
            reconciled(c, next(answers) if isinstance(a, http.Request) else a)
            for c, a in zip(batch, created)
        ]

    def item_url(self, id):
        return f"{self.base_url}/items/{http.encode(id)}"

    def write(self, change):
        """The write of one change, with its key (the fake keeps it as the
        item's `change_key`; a repeated POST with the same key returns the
        item it created) and, for updates and deletes, the base version."""
        if change.op == CREATE:
            request = http.Request.post(f"{self.base_url}/items").json(item_body(change))
        elif change.op == UPDATE:
            request = (
                http.Request.put(self.item_url(changes.require_id(change)))
                .header("if-match", f'"{changes.require_base(change)}"')
                .json(item_body(change))
            )
        else:
            request = http.Request.delete(self.item_url(changes.require_id(change))).header(
                "if-match", f'"{changes.require_base(change)}"'
            )
        return request.header("idempotency-key", change.key)

    def recognise(self, change):
        """The first read of `reconcile`, or the answer when none is needed."""
        if change.op == CREATE:
            return http.Request.get(f"{self.base_url}/items").query("change_key", change.key)
        if not change.id:
            return sh.NotApplied()  # push refuses it before sending anything
        return http.Request.get(self.item_url(change.id))

    def created_with(self, answer):
        """After the search for a creation's key: the item found, to read."""
        try:
            items = http.checked(answer).json()["items"]
        except sh.Error as e:
            return e
        except (KeyError, TypeError):
            return sh.InvalidResponse("unexpected listing: no `items`")
        if not items:
            return sh.NotApplied()
        return http.Request.get(self.item_url(items[0]["id"]))


def item_body(change):
    """The JSON body of a create or update: title, text content, and the
    tags of the change's metadata when it has them."""
    body = {"title": change.title or "", "content": changes.content_text(change)}
    tags = changes.metadata(change).get("tags")
    if tags is not None:
        body["tags"] = tags
    return body


def item_of(answer):
    """The item of a `GET /items/{id}` answer; None for a 404."""
    if isinstance(answer, http.Response) and answer.status == 404:
        return None
    return http.checked(answer).json()


def written(op, answer):
    """A write's answer as an outcome."""
    try:
        if isinstance(answer, sh.Error):
            return answer
        if op == DELETE and answer.status in (204, 404):
            return sh.Applied(None)
        if answer.status == 412:
            # The item moved on since the base: the body is the current item.
            return sh.Conflicted(item_record(answer.json()))
        if answer.status == 404:
            return sh.Conflicted(None)
        return sh.Applied(item_record(http.checked(answer).json()))
    except sh.Error as e:
        return e


def reconciled(change, answer):
    """Whether `change` took effect, from the item as it is now."""
    if isinstance(answer, (sh.NotApplied, sh.Error)):
        return answer
    try:
        item = item_of(answer)
    except sh.Error as e:
        return e  # cannot tell now: asked again later
    if change.op == CREATE:
        # The item carrying the key; deleted since: it did take effect.
        return sh.Applied(None if item is None else item_record(item))
    if item is None:
        return sh.Applied(None) if change.op == DELETE else sh.Conflicted(None)
    if change.op == UPDATE and item.get("change_key") == change.key:
        return sh.Applied(item_record(item))
    if item["version"] == change.base_version:
        return sh.NotApplied()
    return sh.Conflicted(item_record(item))


Source = sh.export(Items)
