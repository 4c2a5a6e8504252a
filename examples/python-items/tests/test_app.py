"""Unit tests of the Python example, run natively: `python3 -m unittest
discover -s tests` in examples/python-items, with the SDK on PYTHONPATH.
`synchost_sdk.testing` answers the requests the host would send."""

import json
import os
import unittest

import synchost_sdk as sh
from synchost_sdk import testing
from synchost_sdk.changes import CREATE, DELETE, UPDATE
from synchost_sdk.http import Response

import app

HERE = os.path.dirname(os.path.abspath(__file__))
#: What the items fake answered a `synchost pull --record` once (the Rust
#: example's cassette: the same API, so the same requests).
CASSETTE = os.path.join(HERE, "..", "..", "example-items", "tests", "cassettes", "first-pull")

ITEM = (
    '{"id":"item-1","version":"2","title":"T","content":"text",'
    '"updated_at":"2025-01-01T00:00:00Z","tags":["a"]}'
)


def change(op, id):
    return sh.types.Change(
        key="k1",
        op=op,
        id=id,
        base_version="3" if id else None,
        parent_id=None,
        title="T",
        content=b"text",
        metadata='{"tags":["a"]}',
    )


def configured(base_url):
    return app.Items(sh.Settings([("base_url", base_url)]))


class ItemsTest(unittest.TestCase):
    def test_describe(self):
        manifest = app.Items.describe()
        self.assertEqual(manifest.name, "python-items")
        self.assertEqual([s.name for s in manifest.streams], ["items"])
        self.assertTrue(manifest.streams[0].supports_delta and manifest.streams[0].supports_push)
        self.assertEqual([s.name for s in manifest.settings if s.required], ["base_url"])

    def test_configure_checks_the_base_url(self):
        self.assertEqual(configured("http://h:8080/").base_url, "http://h:8080")
        for bad in ([], [("base_url", "ftp://h")]):
            with self.assertRaises(sh.InvalidConfig):
                app.Items(sh.Settings(bad))

    def test_list_and_fetch_under_a_test_transport(self):
        def answer(req):
            return {
                "http://h/items?limit=2&since=7": Response(
                    200,
                    body='{"items":[{"id":"item-1","version":"2","updated_at":null}],'
                    '"deleted":["item-0"],"next_cursor":"c2","watermark":"9","total":5}',
                ),
                "http://h/items/item-1": Response(200, body=ITEM),
                "http://h/items/item-2": Response(500, body="boom"),
            }.get(req.url, Response(404, body='{"error":"not_found"}'))

        items = configured("http://h/")
        with testing.serve(answer) as served:
            page = items.list("items", sh.ListRequest(None, "7", 2))
            fetched = items.fetch("items", ["item-1", "item-2", "a b"])
            with self.assertRaises(sh.Unsupported):
                items.list("nope", sh.ListRequest(None, None, 2))
        self.assertEqual([(r.id, r.content) for r in page.records], [("item-1", None)])
        self.assertEqual(page.deleted, ["item-0"])
        self.assertEqual((page.next_cursor, page.watermark, page.total_hint), ("c2", "9", 5))
        record = fetched[0]
        self.assertEqual((record.id, record.version, record.content), ("item-1", "2", b"text"))
        self.assertEqual(record.metadata, '{"tags":["a"]}')
        self.assertIsInstance(fetched[1], sh.Transient)
        self.assertIsInstance(fetched[2], sh.NotFound)
        self.assertIn("/items/a%20b", fetched[2].message)
        self.assertEqual(
            served.sent(),
            [
                "GET http://h/items?limit=2&since=7",
                "GET http://h/items/item-1",
                "GET http://h/items/item-2",
                "GET http://h/items/a%20b",
            ],
            "an unknown stream sends nothing",
        )

    def test_a_first_pull_replays_from_a_cassette(self):
        items = configured("http://127.0.0.1:8080")
        ids, cursor = [], None
        with testing.replay(CASSETTE):
            while True:
                page = items.list("items", sh.ListRequest(cursor, None, 2))
                ids += [r.id for r in page.records]
                cursor = page.next_cursor
                if cursor is None:
                    break
            self.assertEqual(ids, ["item-000001", "item-000002", "item-000003"])
            fetched = items.fetch("items", ids + ["item-000404"])
        self.assertEqual(fetched[0].title, "Zephyr ember quartz raven")
        self.assertTrue(all(isinstance(r, sh.types.Record) for r in fetched[:3]))
        self.assertIsInstance(fetched[3], sh.NotFound)
        self.assertIn("no item item-000404", fetched[3].message)

    def test_writes_carry_the_key_and_the_base_version(self):
        items = configured("http://h")
        post = items.write(change(CREATE, None))
        self.assertEqual((post.method, post.url), ("POST", "http://h/items"))
        self.assertEqual(post.header_value("idempotency-key"), "k1")
        self.assertEqual(json.loads(post.body), {"title": "T", "content": "text", "tags": ["a"]})
        put = items.write(change(UPDATE, "item-1"))
        self.assertEqual((put.method, put.url), ("PUT", "http://h/items/item-1"))
        self.assertEqual(put.header_value("if-match"), '"3"')
        delete = items.write(change(DELETE, "item-1"))
        self.assertEqual((delete.method, delete.header_value("if-match")), ("DELETE", '"3"'))
        with self.assertRaises(sh.Unsupported):
            items.write(change(UPDATE, None))

    def test_push_answers_become_outcomes(self):
        theirs = (
            '{"id":"item-1","version":"4","title":"T","content":"theirs",'
            '"updated_at":null,"tags":[],"change_key":"k0"}'
        )
        answers = {
            "PUT http://h/items/item-1": Response(412, body=theirs),
            "POST http://h/items": Response(201, body=theirs),
            "PUT http://h/items/item-2": Response(404),
            "DELETE http://h/items/item-2": Response(404),
            "PUT http://h/items/item-3": Response(401),
        }
        batch = [
            change(UPDATE, "item-1"),
            change(CREATE, None),
            change(UPDATE, None),
            change(UPDATE, "item-2"),
            change(DELETE, "item-2"),
            change(UPDATE, "item-3"),
        ]
        with testing.serve(lambda req: answers[f"{req.method} {req.url}"]) as served:
            outcomes = configured("http://h").push("items", batch)
        self.assertEqual(len(served.sent()), 5, "the change without an id sends nothing")
        self.assertEqual(outcomes[0], sh.Conflicted(app.item_record(json.loads(theirs))))
        self.assertEqual(outcomes[1].record.id, "item-1")
        self.assertIsInstance(outcomes[1], sh.Applied)
        self.assertIsInstance(outcomes[2], sh.Unsupported)
        self.assertEqual(outcomes[3:5], [sh.Conflicted(None), sh.Applied(None)])
        self.assertIsInstance(outcomes[5], sh.Auth)

    def test_reconcile_reads_the_key_back(self):
        item = (
            '{"id":"item-9","version":"1","title":"T","content":"text",'
            '"updated_at":null,"tags":[],"change_key":"k1"}'
        )
        answers = {
            "http://h/items?change_key=k1": Response(
                200, body='{"items":[{"id":"item-9","version":"1"}],"next_cursor":null}'
            ),
            "http://h/items/item-9": Response(200, body=item),
            "http://h/items/item-8": Response(404),
        }
        batch = [change(CREATE, None), change(UPDATE, "item-9"), change(UPDATE, "item-8")]
        other = change(DELETE, "item-9")
        other.key, other.base_version = "k2", "1"
        with testing.serve(lambda req: answers[req.url]) as served:
            got = configured("http://h").reconcile("items", batch + [other])
        self.assertEqual(
            served.sent(),
            [
                "GET http://h/items?change_key=k1",
                "GET http://h/items/item-9",
                "GET http://h/items/item-8",
                "GET http://h/items/item-9",
                "GET http://h/items/item-9",
            ],
        )
        record = app.item_record(json.loads(item))
        self.assertEqual(
            got, [sh.Applied(record), sh.Applied(record), sh.Conflicted(None), sh.NotApplied()]
        )

    def test_the_exported_source_speaks_the_bindings(self):
        """What the host calls: errors as `Err`, fetch answers as Ok/Err."""
        source = app.Source()
        with self.assertRaises(testing.Err) as refused:
            source.configure([("base_url", "nope")])
        self.assertIsInstance(refused.exception.value, sh.types.Error_InvalidConfig)
        source.configure([("base_url", "http://h")])
        with testing.serve(lambda req: Response(404, body="gone")):
            results = source.fetch("items", ["x"])
            with self.assertRaises(testing.Err) as listed:
                source.list("items", None, None, 5, sh.FULL)
        self.assertIsInstance(results[0], testing.Err)
        self.assertIsInstance(results[0].value, sh.types.Error_NotFound)
        # A listing that 404s is the error of the whole call.
        self.assertIsInstance(listed.exception.value, sh.types.Error_NotFound)


if __name__ == "__main__":
    unittest.main()
