//! example-items: a complete synchost source plugin, the template to copy.
//!
//! It syncs the "items" REST API (`docs/fake-items-api.md`; served by
//! `synchost-fake items`). One stream, `items`, with delta syncs:
//! - `list` pages through `GET /items` and returns *partial* records (id,
//!   version, updated_at, no content); the host then calls `fetch` only for
//!   the items whose version it does not have yet.
//! - `fetch` gets `GET /items/{id}` for a batch of ids in one `send_batch`.
//! - `push` writes with the API's preconditions: `POST /items` with an
//!   `Idempotency-Key`, `PUT` and `DELETE /items/{id}` with
//!   `If-Match: "<base version>"`; a 412 answers with the current item (a
//!   conflict). Every write stores the change's key as the item's
//!   `change_key`, which `reconcile` reads back after a crash.
//!
//! The plugin never loops over pages, retries, sleeps or sends credentials:
//! the host does all of that.

use serde::Deserialize;
use serde_json::{json, Value};
use synchost_sdk::prelude::*;
use synchost_sdk::push::{Answer, Step};

const STREAM: &str = "items";

/// The configured plugin: just the API root, e.g. `http://127.0.0.1:8080`.
struct Items {
    base_url: String,
}

/// `GET /items` response.
#[derive(Deserialize)]
struct Listing {
    items: Vec<Summary>,
    #[serde(default)]
    deleted: Vec<String>,
    next_cursor: Option<String>,
    watermark: Option<String>,
    total: Option<u64>,
}

#[derive(Deserialize)]
struct Summary {
    id: String,
    version: String,
    updated_at: Option<String>,
}

/// `GET /items/{id}` response, also the answer to writes.
#[derive(Deserialize)]
struct Item {
    id: String,
    version: String,
    title: String,
    content: String,
    updated_at: Option<String>,
    tags: Vec<String>,
    /// The `Idempotency-Key` of the item's last write.
    #[serde(default)]
    change_key: Option<String>,
}

impl Item {
    fn into_record(self) -> Record {
        Record::new(self.id, self.version)
            .title(self.title)
            .content_text(self.content)
            .metadata_json(json!({ "tags": self.tags }))
            .updated_at(self.updated_at)
    }
}

impl Source for Items {
    fn describe() -> Manifest {
        Manifest::new(
            "example-items",
            env!("CARGO_PKG_VERSION"),
            "Items from the items API",
        )
        .stream(
            StreamInfo::new(STREAM, "Every item, with delta syncs and push")
                .delta()
                .push(),
        )
        .setting(SettingInfo::required(
            "base_url",
            "Root of the items API, e.g. http://127.0.0.1:8080",
        ))
        .max_page_size(1000)
        .auth(AuthInfo::bearer("ITEMS_TOKEN"))
    }

    fn configure(settings: Settings) -> Result<Self, Error> {
        // Checks that it is an http(s) URL and trims a trailing slash.
        Ok(Items {
            base_url: settings.url("base_url")?,
        })
    }

    fn list(&self, stream: &str, req: ListRequest) -> Result<Page, Error> {
        check_stream(stream)?;
        let listing: Listing = http::Request::get(format!("{}/items", self.base_url))
            .query("limit", req.limit)
            .query_opt("cursor", req.cursor.as_deref())
            .query_opt("since", req.since.as_deref())
            .send()?
            .error_for_status()? // 401 → auth, 429 → rate-limited, 5xx → transient, …
            .json()?;
        // Partial records: no content, so the host fetches the changed ones.
        let records = listing
            .items
            .into_iter()
            .map(|s| Record::new(s.id, s.version).updated_at(s.updated_at))
            .collect();
        Ok(Page::new(records)
            .deleted(listing.deleted)
            .next_cursor(listing.next_cursor)
            .watermark(listing.watermark)
            .total_hint(listing.total))
    }

    fn fetch(&self, stream: &str, ids: Vec<String>) -> Vec<Result<Record, Error>> {
        if let Err(e) = check_stream(stream) {
            return ids.iter().map(|_| Err(e.clone())).collect();
        }
        // One request per id, all handed to the host at once; it runs them
        // concurrently within the source's limits. Results come back in order.
        let requests = ids
            .iter()
            .map(|id| http::Request::get(format!("{}/items/{}", self.base_url, http::encode(id))))
            .collect();
        http::send_batch(requests)
            .into_iter()
            .map(|response| {
                // A 404 becomes not-found for this id only.
                let item: Item = response?.error_for_status()?.json()?;
                Ok(item.into_record())
            })
            .collect()
    }

    fn push(&self, stream: &str, changes: Vec<Change>) -> Vec<PushOutcome> {
        if let Err(e) = check_stream(stream) {
            return changes.iter().map(|_| e.clone().into()).collect();
        }
        // One request per change; `push::run` sends them all at once and
        // gives back one outcome per change, in order.
        let steps = changes
            .iter()
            .map(|change| match self.write(change) {
                Ok(request) => {
                    let op = change.op;
                    Step::send(request, move |answer| written(op, answer))
                }
                // A change that cannot be sent fails alone; nothing is sent.
                Err(e) => Step::done(e.into()),
            })
            .collect();
        push::run(steps)
    }

    fn reconcile(&self, stream: &str, changes: Vec<Change>) -> Vec<Reconciliation> {
        if let Err(e) = check_stream(stream) {
            return changes.iter().map(|_| e.clone().into()).collect();
        }
        let steps = changes
            .iter()
            .map(|change| self.recognise(change))
            .collect();
        push::run(steps)
    }
}

impl Items {
    fn item_url(&self, id: &str) -> String {
        format!("{}/items/{}", self.base_url, http::encode(id))
    }

    /// The write for one change. The key goes with every write (the fake
    /// keeps it as the item's `change_key`; a repeated `POST` with the same
    /// key returns the item it created instead of a duplicate), the base
    /// version is the precondition of updates and deletes.
    fn write(&self, change: &Change) -> Result<http::Request, Error> {
        let request = match change.op {
            ChangeOp::Create => {
                http::Request::post(format!("{}/items", self.base_url)).json(&item_body(change)?)
            }
            ChangeOp::Update => http::Request::put(self.item_url(change.require_id()?))
                .header("if-match", format!("\"{}\"", change.require_base()?))
                .json(&item_body(change)?),
            ChangeOp::Delete => http::Request::delete(self.item_url(change.require_id()?))
                .header("if-match", format!("\"{}\"", change.require_base()?)),
        };
        Ok(request.header("idempotency-key", &change.key))
    }

    /// Reads only. Updates and deletes: the item now. Creates: the item
    /// carrying the change's key, if any.
    fn recognise(&self, change: &Change) -> Step<Reconciliation> {
        let (op, key, base) = (change.op, change.key.clone(), change.base_version.clone());
        let id = match (op, change.id.as_deref()) {
            (ChangeOp::Create, _) => return self.created_with(&key),
            (_, Some(id)) => id,
            // `push` refuses it before sending anything: never applied.
            (_, None) => return Step::done(Reconciliation::NotApplied),
        };
        Step::send(http::Request::get(self.item_url(id)), move |answer| {
            let item = match item_of(answer) {
                Ok(item) => item,
                Err(e) => return e.into(), // cannot tell now: asked again later
            };
            match (item, op) {
                (None, ChangeOp::Delete) => Reconciliation::Applied(None),
                (None, _) => Reconciliation::Conflict(None),
                (Some(item), ChangeOp::Update) if item.change_key.as_deref() == Some(&key) => {
                    Reconciliation::Applied(Some(item.into_record()))
                }
                (Some(item), _) if Some(&item.version) == base.as_ref() => {
                    Reconciliation::NotApplied
                }
                (Some(item), _) => Reconciliation::Conflict(Some(item.into_record())),
            }
        })
    }

    /// `GET /items?change_key=K`, then the item found (two steps).
    fn created_with(&self, key: &str) -> Step<Reconciliation> {
        let request =
            http::Request::get(format!("{}/items", self.base_url)).query("change_key", key);
        let base_url = self.base_url.clone();
        Step::send(request, move |answer| {
            let found: Listing = match answer.and_then(|r| r.error_for_status()?.json()) {
                Ok(found) => found,
                Err(e) => return Step::done(e.into()),
            };
            let Some(item) = found.items.first() else {
                return Step::done(Reconciliation::NotApplied);
            };
            let url = format!("{base_url}/items/{}", http::encode(&item.id));
            Step::send(http::Request::get(url), |answer| match item_of(answer) {
                Ok(Some(item)) => Reconciliation::Applied(Some(item.into_record())),
                // Deleted since: the creation did take effect.
                Ok(None) => Reconciliation::Applied(None),
                Err(e) => e.into(),
            })
        })
    }
}

/// A write's answer as an outcome.
fn written(op: ChangeOp, answer: Answer) -> PushOutcome {
    let response = match answer {
        Ok(response) => response,
        Err(e) => return e.into(),
    };
    match (response.status, op) {
        (204 | 404, ChangeOp::Delete) => PushOutcome::Applied(None),
        // The item moved on since the base: the body is the current item.
        (412, _) => match response.json::<Item>() {
            Ok(item) => PushOutcome::Conflict(Some(item.into_record())),
            Err(e) => e.into(),
        },
        (404, _) => PushOutcome::Conflict(None),
        _ => match response.error_for_status().and_then(|r| r.json::<Item>()) {
            Ok(item) => PushOutcome::Applied(Some(item.into_record())),
            Err(e) => e.into(),
        },
    }
}

/// The item of a `GET /items/{id}` answer; `None` for a 404.
fn item_of(answer: Answer) -> Result<Option<Item>, Error> {
    let response = answer?;
    if response.status == 404 {
        return Ok(None);
    }
    Ok(Some(response.error_for_status()?.json()?))
}

/// The JSON body of a create or update: title, text content, and the tags
/// from the change's metadata when it has them.
fn item_body(change: &Change) -> Result<Value, Error> {
    let mut body = json!({
        "title": change.title.as_deref().unwrap_or_default(),
        "content": change.content_text()?,
    });
    let metadata: Value = serde_json::from_str(&change.metadata).unwrap_or_default();
    if let Some(tags) = metadata.get("tags") {
        body["tags"] = tags.clone();
    }
    Ok(body)
}

fn check_stream(stream: &str) -> Result<(), Error> {
    match stream {
        STREAM => Ok(()),
        other => Err(Error::unknown_stream(other)),
    }
}

synchost_sdk::export_source!(Items);

#[cfg(test)]
mod tests {
    use super::*;
    use synchost_sdk::testing;

    fn configured(base_url: &str) -> Items {
        Items::configure(Settings::new(vec![("base_url".into(), base_url.into())])).unwrap()
    }

    fn first_page(limit: u32, cursor: Option<&str>) -> ListRequest {
        ListRequest {
            cursor: cursor.map(str::to_owned),
            limit,
            ..ListRequest::default()
        }
    }

    /// `list` and `fetch` run natively: the test transport answers the
    /// requests the host would send.
    #[test]
    fn list_and_fetch_under_a_test_transport() {
        let item = r#"{"id":"item-1","version":"2","title":"T","content":"text","updated_at":"2025-01-01T00:00:00Z","tags":["a"]}"#;
        let served = testing::serve(move |req: &http::Request| match req.url() {
            "http://h/items?limit=2&since=7" => http::Response::new(
                200,
                vec![],
                r#"{"items":[{"id":"item-1","version":"2","updated_at":null}],"deleted":["item-0"],"next_cursor":"c2","watermark":"9","total":5}"#,
            ),
            "http://h/items/item-1" => http::Response::new(200, vec![], item),
            "http://h/items/item-2" => http::Response::new(500, vec![], "boom"),
            _ => http::Response::new(404, vec![], r#"{"error":"not_found"}"#),
        });
        let items = configured("http://h/");
        let page = items
            .list(
                "items",
                ListRequest {
                    since: Some("7".into()),
                    ..first_page(2, None)
                },
            )
            .unwrap();
        assert_eq!(page.records.len(), 1);
        assert!(!page.records[0].is_complete());
        assert_eq!(page.deleted, ["item-0"]);
        assert_eq!(page.next_cursor.as_deref(), Some("c2"));
        assert_eq!(page.watermark.as_deref(), Some("9"));

        let fetched = items.fetch(
            "items",
            vec!["item-1".into(), "item-2".into(), "a b".into()],
        );
        let record = fetched[0].as_ref().unwrap();
        assert_eq!(
            (record.id.as_str(), record.version.as_str()),
            ("item-1", "2")
        );
        assert_eq!(record.content.as_deref(), Some(&b"text"[..]));
        assert!(matches!(&fetched[1], Err(Error::Transient(_))));
        assert!(matches!(&fetched[2], Err(Error::NotFound(m)) if m.contains("/items/a%20b")));
        assert_eq!(
            served.sent(),
            [
                "GET http://h/items?limit=2&since=7",
                "GET http://h/items/item-1",
                "GET http://h/items/item-2",
                "GET http://h/items/a%20b",
            ]
        );
        assert!(matches!(
            items.list("nope", first_page(2, None)),
            Err(Error::Unsupported(_))
        ));
        assert_eq!(served.sent().len(), 4, "an unknown stream sends nothing");
    }

    /// A listing to its end and the fetches, answered from what the items
    /// fake answered a `synchost pull --record` once
    /// (`tests/cassettes/first-pull`, one file per exchange).
    #[test]
    fn a_first_pull_replays_from_a_cassette() {
        let _replayed = testing::replay(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/cassettes/first-pull"
        ));
        let items = configured("http://127.0.0.1:8080");
        let mut ids = Vec::new();
        let mut cursor = None;
        loop {
            let page = items
                .list("items", first_page(2, cursor.as_deref()))
                .unwrap();
            ids.extend(page.records.into_iter().map(|r| r.id));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(ids, ["item-000001", "item-000002", "item-000003"]);
        ids.push("item-000404".into());
        let fetched = items.fetch("items", ids);
        let titles: Vec<_> = fetched[..3]
            .iter()
            .map(|r| r.as_ref().unwrap().title.clone().unwrap())
            .collect();
        assert_eq!(titles[0], "Zephyr ember quartz raven");
        assert_eq!(titles.len(), 3);
        assert!(
            matches!(&fetched[3], Err(Error::NotFound(m)) if m.contains("no item item-000404"))
        );
    }

    fn change(op: ChangeOp, id: Option<&str>) -> Change {
        Change {
            key: "k1".into(),
            op,
            id: id.map(str::to_owned),
            base_version: id.map(|_| "3".to_owned()),
            parent_id: None,
            title: Some("T".into()),
            content: Some(b"text".to_vec()),
            metadata: r#"{"tags":["a"]}"#.into(),
        }
    }

    #[test]
    fn writes_carry_the_key_and_the_base_version() {
        let items = Items {
            base_url: "http://h".into(),
        };
        let post = items.write(&change(ChangeOp::Create, None)).unwrap();
        assert_eq!((post.method(), post.url()), ("POST", "http://h/items"));
        assert_eq!(post.header_value("idempotency-key"), Some("k1"));
        let body: Value = serde_json::from_slice(post.body_bytes().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"title": "T", "content": "text", "tags": ["a"]})
        );

        let put = items
            .write(&change(ChangeOp::Update, Some("item-1")))
            .unwrap();
        assert_eq!((put.method(), put.url()), ("PUT", "http://h/items/item-1"));
        assert_eq!(put.header_value("if-match"), Some("\"3\""));
        let delete = items
            .write(&change(ChangeOp::Delete, Some("item-1")))
            .unwrap();
        assert_eq!(delete.method(), "DELETE");
        assert_eq!(delete.header_value("if-match"), Some("\"3\""));
        assert!(items.write(&change(ChangeOp::Update, None)).is_err());
    }

    #[test]
    fn answers_become_outcomes() {
        let item = r#"{"id":"item-1","version":"4","title":"T","content":"theirs","updated_at":null,"tags":[],"change_key":"k0"}"#;
        let answer = |status, body: &str| Ok(http::Response::new(status, vec![], body));
        let conflict = written(ChangeOp::Update, answer(412, item));
        assert!(matches!(conflict, PushOutcome::Conflict(Some(r)) if r.version == "4"));
        let applied = written(ChangeOp::Create, answer(201, item));
        assert!(matches!(applied, PushOutcome::Applied(Some(r)) if r.id == "item-1"));
        assert_eq!(
            written(ChangeOp::Update, answer(404, "")),
            PushOutcome::Conflict(None)
        );
        assert_eq!(
            written(ChangeOp::Delete, answer(404, "")),
            PushOutcome::Applied(None)
        );
        assert!(matches!(
            written(ChangeOp::Update, answer(401, "")),
            PushOutcome::Failed(Error::Auth(_))
        ));
    }

    #[test]
    fn reconcile_reads_the_key_back() {
        let items = Items {
            base_url: "http://h".into(),
        };
        let item = r#"{"id":"item-9","version":"1","title":"T","content":"text","updated_at":null,"tags":[],"change_key":"k1"}"#;
        let changes = [
            change(ChangeOp::Create, None),
            change(ChangeOp::Update, Some("item-9")),
        ];
        let mut sent = Vec::new();
        let answers = synchost_sdk::push::run_with(
            changes.iter().map(|c| items.recognise(c)).collect(),
            |requests| {
                requests
                    .iter()
                    .map(|r| {
                        sent.push(format!("{} {}", r.method(), r.url()));
                        let body = match r.url() {
                            "http://h/items?change_key=k1" => r#"{"items":[{"id":"item-9","version":"1"}],"deleted":[],"next_cursor":null,"watermark":null,"total":1}"#,
                            _ => item,
                        };
                        Ok(http::Response::new(200, vec![], body))
                    })
                    .collect()
            },
        );
        assert_eq!(
            sent,
            [
                "GET http://h/items?change_key=k1",
                "GET http://h/items/item-9",
                "GET http://h/items/item-9",
            ]
        );
        assert!(matches!(&answers[0], Reconciliation::Applied(Some(r)) if r.id == "item-9"));
        assert!(matches!(&answers[1], Reconciliation::Applied(Some(r)) if r.version == "1"));
    }
}
