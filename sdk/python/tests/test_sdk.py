"""Unit tests of the Python SDK, run natively:
`python3 -m unittest discover -s sdk/python/tests -t sdk/python`."""

import json
import os
import shutil
import tempfile
import unittest

import synchost_sdk as sh
from synchost_sdk import http, testing
from synchost_sdk.http import Request, Response

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
#: The rate-limit vectors the host and the Rust SDK test too.
VECTORS = os.path.join(ROOT, "sdk", "conformance", "rate-limits.json")


class StatusErrors(unittest.TestCase):
    def test_the_rate_limit_vectors(self):
        with open(VECTORS, encoding="utf-8") as f:
            vectors = json.load(f)
        kinds = {
            "auth": sh.Auth,
            "transient": sh.Transient,
            "not-found": sh.NotFound,
            "fatal": sh.Fatal,
        }
        for case in vectors["cases"]:
            response = Response(
                case["status"], list(case["headers"].items()), case.get("body", "")
            )
            got = response.status_error(now=vectors["now"])
            expect = case["expect"]
            if "wait_s" in expect:
                self.assertIsInstance(got, sh.RateLimited, case["name"])
                self.assertEqual(got.seconds, max(1, min(expect["wait_s"], 2**32 - 1)), case["name"])
            else:
                self.assertIs(type(got), kinds[expect["error"]], case["name"])

    def test_statuses(self):
        for status, kind in [
            (401, sh.Auth),
            (403, sh.Auth),
            (404, sh.NotFound),
            (410, sh.NotFound),
            (409, sh.Conflict),
            (412, sh.Conflict),
            (408, sh.Transient),
            (502, sh.Transient),
            (400, sh.Fatal),
            (422, sh.Fatal),
        ]:
            self.assertIs(type(Response(status).status_error()), kind, status)
        self.assertIsNone(Response(304).status_error())
        self.assertEqual(Response(429).status_error().seconds, 1)
        limited = Response(503, [("Retry-After", "12")]).status_error()
        self.assertEqual((type(limited), limited.seconds), (sh.RateLimited, 12))
        self.assertIs(type(Response(503).status_error()), sh.Transient)

    def test_messages_name_the_request_and_quote_the_body(self):
        with testing.serve(lambda req: Response(404, body="no  such\n item " + "x" * 300)):
            with self.assertRaises(sh.NotFound) as caught:
                Request.get("http://h/items/1").send().error_for_status()
        message = caught.exception.message
        self.assertTrue(message.startswith("GET http://h/items/1: HTTP 404 Not Found: no such item x"))
        self.assertTrue(message.endswith("…"))
        self.assertEqual(Response(500, body=b"").status_error().message, "HTTP 500 Internal Server Error: (empty body)")

    def test_json_and_text(self):
        self.assertEqual(Response(200, body='{"a": [1]}').json(), {"a": [1]})
        with self.assertRaises(sh.InvalidResponse) as caught:
            Response(200, body="<html>").json()
        self.assertIn("body: <html>", caught.exception.message)
        with self.assertRaises(sh.InvalidResponse):
            Response(200, body=b"\xff").text()


class Requests(unittest.TestCase):
    def test_query_encoding_and_headers(self):
        req = (
            Request.get("http://h/items")
            .query("q", "a b/c&d=é")
            .query("cursor", None)
            .query("limit", 5)
            .query("flag", True)
            .header("Accept", "a")
            .replace_header("accept", "b")
            .json({"k": "é"})
        )
        self.assertEqual(req.url, "http://h/items?q=a%20b%2Fc%26d%3D%C3%A9&limit=5&flag=true")
        self.assertEqual(req.headers, [("accept", "b"), ("content-type", "application/json")])
        self.assertEqual(req.body, '{"k":"é"}'.encode())
        self.assertEqual(Request.get("http://h/?").query("a", 1).url, "http://h/?a=1")

    def test_url_helpers(self):
        self.assertEqual(http.encode("a~b_c.d-e"), "a~b_c.d-e")
        self.assertEqual(http.quote('a"b\\c,d'), '"a\\"b\\\\c,d"')
        self.assertEqual(http.join("http://h/v1/", "items"), "http://h/v1/items")
        self.assertEqual(http.join("http://h/v1", "/items"), "http://h/v1/items")
        self.assertEqual(http.join("http://h", "HTTPS://o/x"), "HTTPS://o/x")
        api = http.Api("http://h/", [("accept", "x")])
        self.assertEqual((api.get("/a").url, api.get("/a").headers), ("http://h/a", [("accept", "x")]))
        link = Response(200, [("Link", '<http://h/?p=2>; rel="next last", <http://h/?p=1>; rel=first')])
        self.assertEqual(http.link_rel(link, "last"), "http://h/?p=2")
        self.assertEqual(http.link_rel(link, "first"), "http://h/?p=1")
        self.assertIsNone(http.link_rel(link, "prev"))

    def test_no_response_errors(self):
        def answer(req):
            return {
                "http://h/t": testing.Timeout(),
                "http://h/c": testing.Connection("refused"),
                "http://h/d": testing.Denied("not allowed"),
                "http://h/l": testing.TooLarge(7),
            }.get(req.url, Response(200, body="ok"))

        with testing.serve(answer) as served:
            answers = http.send_batch(
                Request.get(f"http://h/{p}") for p in ["t", "c", "d", "l", "ok"]
            )
            with self.assertRaises(sh.Transient):
                Request.post("http://h/t").data("x").send()
        self.assertEqual(
            [type(a) for a in answers],
            [sh.Transient, sh.Transient, sh.Fatal, sh.InvalidResponse, Response],
        )
        self.assertEqual(answers[1].message, "GET http://h/c: connection failed: refused")
        self.assertEqual(answers[4].text(), "ok")
        self.assertEqual(served.sent()[-1], "POST http://h/t")
        self.assertEqual(served.requests[-1].body, b"x")
        with self.assertRaises(sh.Transient):
            http.checked(answers[0])
        self.assertIs(http.checked(answers[4]), answers[4])

    def test_sending_without_a_transport_says_so(self):
        with self.assertRaises(RuntimeError) as caught:
            Request.get("http://h/").send()
        self.assertIn("no test transport", str(caught.exception))
        with testing.serve(lambda req: Response(200)):
            with self.assertRaises(RuntimeError):
                testing.serve(lambda req: Response(200))


class Replay(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="synchost-py-cassette-")
        self.addCleanup(shutil.rmtree, self.dir)

    def write(self, name, value):
        with open(os.path.join(self.dir, name), "w", encoding="utf-8") as f:
            f.write(value if isinstance(value, str) else json.dumps(value))

    def test_answers_in_recorded_order(self):
        self.write(
            "0001.json",
            [
                {"method": "GET", "url": "http://h/a", "status": 200, "body": "first"},
                {
                    "method": "GET",
                    "url": "http://h/b",
                    "status": 201,
                    "headers": {"Content-Type": "application/json"},
                    "body": {"b": [1]},
                },
            ],
        )
        self.write("0002.json", {"method": "GET", "url": "http://h/a", "status": 200, "body_base64": "c2Vjb25k"})
        self.write("0003.json", {"method": "GET", "url": "http://h/c", "error": "connection: refused"})
        self.write("notes.txt", "ignored")
        with testing.replay(self.dir) as served:
            b = Request.get("http://h/b").send()
            self.assertEqual((b.status, b.body, b.header("content-type")), (201, b'{"b":[1]}', "application/json"))
            self.assertEqual(Request.get("http://h/a").send().body, b"first")
            self.assertEqual(Request.get("http://h/a").send().body, b"second")
            with self.assertRaises(sh.Transient):
                Request.get("http://h/c").send()
            with self.assertRaises(AssertionError) as caught:
                Request.get("http://h/a").send()
        self.assertIn("unexpected request GET http://h/a; unused exchanges: []", str(caught.exception))
        self.assertEqual(len(served.sent()), 4)

    def test_a_malformed_cassette_names_the_file_and_the_field(self):
        self.write("0001.json", {"method": "GET", "url": "http://h/", "status": "ok"})
        with self.assertRaises(ValueError) as caught:
            testing.replay(self.dir)
        self.assertIn("0001.json: exchange 0: `status` must be an HTTP status code", str(caught.exception))
        self.write("0001.json", {"method": "GET", "url": "http://h/", "error": "lost"})
        with self.assertRaises(ValueError) as caught:
            testing.replay(self.dir)
        self.assertIn("`error` must be", str(caught.exception))
        self.write("0001.json", {"method": "GET", "url": "http://h/", "status": 200, "body_base64": "a-b"})
        with self.assertRaises(ValueError) as caught:
            testing.replay(os.path.join(self.dir, "0001.json"))
        self.assertIn("not base64", str(caught.exception))


class Values(unittest.TestCase):
    def test_record_defaults_and_content(self):
        r = sh.record("a", 3)
        self.assertEqual((r.version, r.content, r.content_type, r.metadata, r.blobs), ("3", None, "", "{}", []))
        t = sh.record("a", "1", text="héllo", metadata={"tags": ["x"]}, title="T")
        self.assertEqual((t.content, t.content_type), ("héllo".encode(), "text/plain; charset=utf-8"))
        self.assertEqual(t.metadata, '{"tags":["x"]}')
        j = sh.record("c", "1", json={"k": 1})
        self.assertEqual((j.content, j.content_type), (b'{"k":1}', "application/json"))
        b = sh.record("d", "1", content=b"\x00", blobs=[sh.blob("f", "http://h/f", "image/png", "v1", size=3)])
        self.assertEqual((b.content_type, b.blobs[0].size), ("application/octet-stream", 3))
        with self.assertRaises(ValueError):
            sh.record("e", "1", text="x", json={})

    def test_page_and_manifest(self):
        p = sh.page([sh.record("a", "1")], next_cursor="c2", watermark="17", deleted=["z"], total_hint=9)
        self.assertEqual((p.next_cursor, p.watermark, p.deleted, p.total_hint), ("c2", "17", ["z"], 9))
        for bad in (-1, 2**64, 1.5):
            with self.assertRaises(ValueError):
                sh.page([], total_hint=bad)
        m = sh.manifest(
            "n",
            "1.0.0",
            "d",
            streams=[sh.stream("s", "d", delta=True)],
            settings=[sh.setting("x", "d", default="5")],
            max_page_size=0,
            auth=sh.bearer("TOKEN"),
        )
        self.assertEqual((m.max_page_size, m.max_push_batch), (1, 50))
        self.assertTrue(m.streams[0].supports_delta and not m.streams[0].supports_push)
        self.assertEqual((m.settings[0].required, m.settings[0].default_value), (False, "5"))
        self.assertEqual(m.auth.env, [("token_env", "TOKEN")])

    def test_errors_round_trip(self):
        for error in [sh.Auth("a"), sh.NotFound("n"), sh.Fatal("f"), sh.RateLimited(7)]:
            self.assertEqual(sh.errors.from_wit(error.to_wit()), error)
        self.assertEqual(sh.RateLimited(0).seconds, 1)
        self.assertEqual(sh.RateLimited(2**40).to_wit(), sh.types.Error_RateLimited(2**32 - 1))
        self.assertEqual(sh.unknown_stream("x"), sh.Unsupported("unknown stream `x`"))


class Changes(unittest.TestCase):
    def change(self, **fields):
        base = dict(
            key="k", op=sh.changes.UPDATE, id="i", base_version="3", parent_id=None,
            title=None, content="é".encode(), metadata='{"tags":["a"]}',
        )
        base.update(fields)
        return sh.types.Change(**base)

    def test_accessors_refuse_naming_the_change(self):
        c = self.change()
        self.assertEqual(
            (sh.changes.require_id(c), sh.changes.require_base(c), sh.changes.content_text(c)),
            ("i", "3", "é"),
        )
        self.assertEqual(sh.changes.metadata(c), {"tags": ["a"]})
        self.assertEqual(sh.changes.metadata(self.change(metadata="[1]")), {})
        for fields, why in [
            ({"id": None}, "change `k` (update) has no item id"),
            ({"base_version": ""}, "change `k` (update of `i`) has no base version"),
            ({"content": None}, "has no content"),
            ({"content": b"a\xff"}, "not UTF-8 text (invalid byte at offset 1)"),
        ]:
            c = self.change(**fields)
            with self.assertRaises(sh.Unsupported) as caught:
                sh.changes.require_id(c)
                sh.changes.require_base(c)
                sh.changes.content_text(c)
            self.assertIn(why, caught.exception.message)


class SettingsTest(unittest.TestCase):
    def test_get_required_parse(self):
        st = sh.Settings([("a", "1"), ("blank", "  "), ("a", "2"), ("n", " 25 "), ("f", "true")])
        self.assertEqual(st.get("a"), "2", "last wins")
        self.assertIsNone(st.get("blank"))
        self.assertEqual(st.get_or("missing", "d"), "d")
        with self.assertRaises(sh.InvalidConfig) as caught:
            st.required("blank")
        self.assertIn("`blank` is required", caught.exception.message)
        self.assertEqual(st.parse("n"), 25)
        self.assertEqual(st.parse("missing", int, 7), 7)
        self.assertIs(st.parse("f", sh.flag), True)
        with self.assertRaises(sh.InvalidConfig) as caught:
            st.parse("a", sh.flag)
        self.assertIn("setting `a`: invalid value `2`", caught.exception.message)

    def test_url(self):
        def url(value):
            return sh.Settings({"base_url": value}).url("base_url")

        self.assertEqual(url("https://api.example.com/v1/"), "https://api.example.com/v1")
        self.assertEqual(url(" HTTPS://x.io// "), "HTTPS://x.io")
        for bad in ["ftp://x", "x.io", "http://", "https:///path", "http://a b", "http://x?q=1"]:
            with self.assertRaises(sh.InvalidConfig) as caught:
                url(bad)
            self.assertIn("`base_url`", caught.exception.message)


class Export(unittest.TestCase):
    """The adapter between a `Plugin` and the generated bindings."""

    class Echo(sh.Plugin):
        @classmethod
        def describe(cls):
            return sh.manifest("echo", "0.1.0", "d", streams=[sh.stream("s", "d")])

        def __init__(self, settings):
            self.answers = settings.parse("answers", int, None)

        def fetch(self, stream, ids):
            if stream != "s":
                raise sh.unknown_stream(stream)
            if self.answers is not None:
                return [sh.record("x", "1")] * self.answers
            return [sh.record(i, "1") if i != "gone" else sh.NotFound(i) for i in ids]

        def push(self, stream, changes):
            return [sh.Applied(None), sh.Conflicted(sh.record("c", "2")), sh.Conflict("late")]

    def test_results_errors_and_outcomes(self):
        Err, types = testing.Err, sh.types
        source = sh.export(self.Echo)()
        with self.assertRaises(Err) as caught:
            source.list("s", None, None, 1, sh.FULL)
        self.assertIsInstance(caught.exception.value, types.Error_Fatal)
        self.assertIn("not configured", caught.exception.value.value)
        source.configure([])
        self.assertEqual([s.name for s in source.streams()], ["s"])
        got = source.fetch("s", ["a", "gone"])
        self.assertEqual(got[0], testing.Ok(sh.record("a", "1")))
        self.assertEqual(got[1], Err(types.Error_NotFound("gone")))
        self.assertEqual(source.fetch("t", ["a"]), [Err(types.Error_Unsupported("unknown stream `t`"))])
        with self.assertRaises(Err) as caught:
            source.list("s", None, None, 1, sh.FULL)
        self.assertIsInstance(caught.exception.value, types.Error_Unsupported)
        outcomes = source.push("s", [None, None, None])
        self.assertEqual(
            outcomes,
            [
                types.PushOutcome_Applied(None),
                types.PushOutcome_Conflict(sh.record("c", "2")),
                types.PushOutcome_Failed(types.Error_Conflict("late")),
            ],
        )
        self.assertIsInstance(source.reconcile("s", [None])[0], types.Reconciliation_Failed)
        source.configure([("answers", "3")])
        wrong = source.fetch("s", ["a"])
        self.assertEqual(wrong, [Err(types.Error_Fatal("plugin bug: fetch returned 3 answers for 1 inputs"))])


if __name__ == "__main__":
    unittest.main()
