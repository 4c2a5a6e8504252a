//! Push and reconcile helpers: a plugin writes only its API mapping.
//!
//! Map each change to a [`Step`]: a finished answer, or one request and what
//! to do with its response (which may be another step: a 409 answered by a
//! read of the item). [`run`] sends the first request of every change in one
//! [`http::send_batch`], feeds each response to its change, sends the next
//! round of requests together, and so on. So a batch of changes costs as many
//! round trips as its longest chain of requests, not one per change, and the
//! answers come back exactly one per change, in order.
//!
//! ```
//! use synchost_sdk::prelude::*;
//! use synchost_sdk::push::{self, Step};
//!
//! fn delete(change: &Change) -> Result<Step<PushOutcome>, Error> {
//!     let url = format!("https://api.example.com/notes/{}", http::encode(change.require_id()?));
//!     let request = http::Request::delete(url)
//!         .header("if-match", format!("\"{}\"", change.require_base()?));
//!     Ok(Step::send(request, |response| match response {
//!         Ok(r) if r.is_success() || r.status == 404 => PushOutcome::Applied(None),
//!         Ok(r) => r.error_for_status().err().unwrap_or_else(|| Error::fatal("unexpected")).into(),
//!         Err(e) => e.into(),
//!     }))
//! }
//!
//! fn push(changes: Vec<Change>) -> Vec<PushOutcome> {
//!     push::run(changes.iter().map(|c| delete(c).unwrap_or_else(|e| Step::done(e.into()))).collect())
//! }
//! ```
//!
//! Also here: [`Change`] accessors that turn a change the plugin cannot push
//! into a clear error, and the convention for keeping a change's key with the
//! remote item ([`key_marker`], [`holds_key`]).

use crate::http::{self, Request, Response};
use crate::{Change, ChangeOp, Error, PushOutcome, Reconciliation};

/// What a request ended in: the final response (any status), or why there
/// was none.
pub type Answer = Result<Response, Error>;

/// What is left to do for one change: nothing (the answer is known), or one
/// request and what to make of its response.
pub struct Step<T>(Next<T>);

enum Next<T> {
    Done(T),
    Send(Request, Then<T>),
}

/// What makes a request's answer the next step.
type Then<T> = Box<dyn FnOnce(Answer) -> Step<T>>;

impl<T> Step<T> {
    /// The change's answer, known without (another) request.
    pub fn done(value: T) -> Self {
        Step(Next::Done(value))
    }

    /// Sends `request`, then `then` makes its answer an outcome (`T`) or the
    /// next step.
    pub fn send<S: Into<Step<T>>>(
        request: Request,
        then: impl FnOnce(Answer) -> S + 'static,
    ) -> Self {
        Step(Next::Send(request, Box::new(|answer| then(answer).into())))
    }

    /// The request this step sends; `None` when it is done. For tests.
    pub fn request(&self) -> Option<&Request> {
        match &self.0 {
            Next::Done(_) => None,
            Next::Send(request, _) => Some(request),
        }
    }

    /// Feeds the answer to this step's request and returns the next step (a
    /// done step stays as it is). [`run`] does this; tests do it by hand.
    pub fn answer(self, answer: Answer) -> Step<T> {
        match self.0 {
            Next::Done(value) => Step::done(value),
            Next::Send(_, then) => then(answer),
        }
    }

    /// This step with its answer made `f(answer)`: e.g. one change's
    /// outcome tagged with its place among a call's.
    pub fn map<U>(self, f: impl FnOnce(T) -> U + 'static) -> Step<U>
    where
        T: 'static,
    {
        match self.0 {
            Next::Done(value) => Step::done(f(value)),
            Next::Send(request, then) => {
                Step::send(request, move |answer: Answer| then(answer).map(f))
            }
        }
    }

    /// This step, then `f` of its answer: the next step (more requests, or
    /// done). E.g. a write, then what follows only when it applied.
    pub fn and_then<U>(self, f: impl FnOnce(T) -> Step<U> + 'static) -> Step<U>
    where
        T: 'static,
    {
        match self.0 {
            Next::Done(value) => f(value),
            Next::Send(request, then) => {
                Step::send(request, move |answer: Answer| then(answer).and_then(f))
            }
        }
    }

    /// The answer, when this step is done.
    pub fn into_done(self) -> Option<T> {
        match self.0 {
            Next::Done(value) => Some(value),
            Next::Send(..) => None,
        }
    }
}

impl<T> From<T> for Step<T> {
    fn from(value: T) -> Self {
        Step::done(value)
    }
}

/// Runs every step to its end through the host: each round's requests go
/// out together in one [`http::send_batch`]. One answer per step, in order.
pub fn run<T>(steps: Vec<Step<T>>) -> Vec<T> {
    run_with(steps, http::send_batch)
}

/// [`run`] with `send` in the host's place: a test's scripted server, which
/// also sees (and can count) every request. `send` answers one result per
/// request, in order; a missing answer is a fatal error for its step.
pub fn run_with<T>(
    steps: Vec<Step<T>>,
    mut send: impl FnMut(Vec<Request>) -> Vec<Answer>,
) -> Vec<T> {
    let mut results: Vec<Option<T>> = steps.iter().map(|_| None).collect();
    let mut round: Vec<(usize, Step<T>)> = steps.into_iter().enumerate().collect();
    loop {
        let mut requests = Vec::new();
        let mut waiting: Vec<(usize, Then<T>)> = Vec::new();
        for (index, step) in round {
            match step.0 {
                Next::Done(value) => results[index] = Some(value),
                Next::Send(request, then) => {
                    requests.push(request);
                    waiting.push((index, then));
                }
            }
        }
        if waiting.is_empty() {
            break;
        }
        let mut answers = send(requests).into_iter();
        round = waiting
            .into_iter()
            .map(|(index, then)| {
                let answer = answers.next().unwrap_or_else(|| {
                    Err(Error::fatal(
                        "the host returned fewer responses than requests",
                    ))
                });
                (index, then(answer))
            })
            .collect();
    }
    results
        .into_iter()
        .map(|result| result.expect("every step ran to its end"))
        .collect()
}

/// The text a plugin stores with a write (a version message, a commit
/// message, a property) so that a later read can tell the write was this
/// change's: `synchost change <key>`.
pub fn key_marker(key: &str) -> String {
    format!("synchost change {key}")
}

/// True when `text` holds [`key_marker`]`(key)` followed by its end or
/// whitespace (so key `k1` is not found in `synchost change k12`).
pub fn holds_key(text: &str, key: &str) -> bool {
    if key.is_empty() {
        return false;
    }
    let marker = key_marker(key);
    text.match_indices(&marker).any(|(at, _)| {
        text[at + marker.len()..]
            .chars()
            .next()
            .is_none_or(char::is_whitespace)
    })
}

/// Accessors that refuse a change the plugin cannot push, with a message
/// naming the change.
///
/// Their errors are `Unsupported`: the change cannot be pushed as it is, so
/// retrying it is useless (not `transient`), the rest of the run is fine (not
/// `fatal`), and neither the settings nor the remote are at fault (not
/// `invalid-config`, not `invalid-response`). Nothing was sent.
impl Change {
    /// The id of the item an update or deletion is about.
    pub fn require_id(&self) -> Result<&str, Error> {
        self.id
            .as_deref()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| self.refused("has no item id"))
    }

    /// The version the change was based on.
    pub fn require_base(&self) -> Result<&str, Error> {
        self.base_version
            .as_deref()
            .filter(|base| !base.is_empty())
            .ok_or_else(|| self.refused("has no base version"))
    }

    /// The title, for remotes whose items must have one.
    pub fn require_title(&self) -> Result<&str, Error> {
        self.title
            .as_deref()
            .filter(|title| !title.trim().is_empty())
            .ok_or_else(|| self.refused("has no title, and the remote needs one"))
    }

    /// The content as UTF-8 text, for remotes that store text.
    pub fn content_text(&self) -> Result<&str, Error> {
        let bytes = self
            .content
            .as_deref()
            .ok_or_else(|| self.refused("has no content"))?;
        std::str::from_utf8(bytes).map_err(|e| {
            self.refused(&format!(
                "has content that is not UTF-8 text (invalid byte at offset {}); \
                 the remote stores text only",
                e.valid_up_to()
            ))
        })
    }

    fn refused(&self, why: &str) -> Error {
        let op = match self.op {
            ChangeOp::Create => "create",
            ChangeOp::Update => "update",
            ChangeOp::Delete => "delete",
        };
        let item = match &self.id {
            Some(id) => format!(" of `{id}`"),
            None => String::new(),
        };
        Error::unsupported(format!("change `{}` ({op}{item}) {why}", self.key))
    }
}

/// A change that failed before or instead of taking effect.
impl From<Error> for PushOutcome {
    fn from(error: Error) -> Self {
        PushOutcome::Failed(error)
    }
}

/// A change whose fate cannot be told now (the host asks again later).
impl From<Error> for Reconciliation {
    fn from(error: Error) -> Self {
        Reconciliation::Failed(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Record;

    fn change(op: ChangeOp) -> Change {
        Change {
            key: "k1".into(),
            op,
            id: Some("7".into()),
            base_version: Some("3".into()),
            parent_id: None,
            title: Some("T".into()),
            content: Some(b"<p>x</p>".to_vec()),
            metadata: "{}".into(),
        }
    }

    #[test]
    fn markers() {
        assert_eq!(key_marker("k1"), "synchost change k1");
        assert!(holds_key("synchost change k1", "k1"));
        assert!(holds_key("edited; synchost change k1\nmore", "k1"));
        assert!(holds_key("synchost change k12 synchost change k1", "k1"));
        assert!(!holds_key("synchost change k12", "k1"));
        assert!(!holds_key("synchost change k1", "k12"));
        assert!(!holds_key("synchost change ", ""));
        assert!(!holds_key("", "k1"));
    }

    #[test]
    fn accessors_refuse_clearly() {
        let c = change(ChangeOp::Update);
        assert_eq!(
            (c.require_id(), c.require_base(), c.require_title()),
            (Ok("7"), Ok("3"), Ok("T"))
        );
        assert_eq!(c.content_text(), Ok("<p>x</p>"));

        let mut c = change(ChangeOp::Create);
        c.id = None;
        c.title = Some("  ".into());
        c.content = Some(vec![b'a', 0xff]);
        assert_eq!(
            c.require_id(),
            Err(Error::unsupported("change `k1` (create) has no item id"))
        );
        assert!(matches!(c.require_title(), Err(Error::Unsupported(m)) if m.contains("no title")));
        let Err(Error::Unsupported(m)) = c.content_text() else {
            panic!()
        };
        assert!(m.contains("not UTF-8") && m.contains("offset 1"), "{m}");

        let mut d = change(ChangeOp::Delete);
        d.base_version = Some(String::new());
        d.content = None;
        assert_eq!(
            d.require_base(),
            Err(Error::unsupported(
                "change `k1` (delete of `7`) has no base version"
            ))
        );
        assert!(matches!(d.content_text(), Err(Error::Unsupported(m)) if m.contains("no content")));
    }

    #[test]
    fn outcomes_from_errors() {
        let e = Error::transient("x");
        assert_eq!(PushOutcome::from(e.clone()), PushOutcome::Failed(e.clone()));
        assert_eq!(Reconciliation::from(e.clone()), Reconciliation::Failed(e));
    }

    fn ok(status: u16, body: &str) -> Answer {
        Ok(Response::new(status, vec![], body))
    }

    /// A two-request chain for "a", one request for "b", none for "c":
    /// two rounds, answers in order, every request seen once.
    #[test]
    fn run_batches_rounds_and_keeps_order() {
        let a = Step::send(Request::put("http://h/a"), |answer: Answer| {
            assert_eq!(answer.unwrap().status, 409);
            Step::send(Request::get("http://h/a"), |answer: Answer| {
                PushOutcome::Conflict(Some(Record::new("a", answer.unwrap().text().unwrap())))
            })
        });
        let b = Step::send(Request::delete("http://h/b"), |_| {
            PushOutcome::Applied(None)
        });
        let c = Step::done(PushOutcome::Failed(Error::unsupported("no")));
        let mut rounds: Vec<Vec<String>> = Vec::new();
        let outcomes = run_with(vec![a, b, c], |requests| {
            rounds.push(
                requests
                    .iter()
                    .map(|r| format!("{} {}", r.method(), r.url()))
                    .collect(),
            );
            requests
                .iter()
                .map(|r| match r.method() {
                    "PUT" => ok(409, ""),
                    "GET" => ok(200, "9"),
                    _ => ok(204, ""),
                })
                .collect()
        });
        assert_eq!(
            rounds,
            [
                vec!["PUT http://h/a", "DELETE http://h/b"],
                vec!["GET http://h/a"]
            ]
        );
        assert_eq!(
            outcomes,
            [
                PushOutcome::Conflict(Some(Record::new("a", "9"))),
                PushOutcome::Applied(None),
                PushOutcome::Failed(Error::unsupported("no")),
            ]
        );
    }

    #[test]
    fn missing_answers_fail_their_step_only() {
        let steps = vec![
            Step::send(Request::get("http://h/1"), |a: Answer| {
                a.map(|_| PushOutcome::Applied(None))
                    .unwrap_or_else(PushOutcome::from)
            }),
            Step::send(Request::get("http://h/2"), |a: Answer| {
                a.map(|_| PushOutcome::Applied(None))
                    .unwrap_or_else(PushOutcome::from)
            }),
        ];
        let outcomes = run_with(steps, |_| vec![ok(200, "")]);
        assert_eq!(outcomes[0], PushOutcome::Applied(None));
        assert!(
            matches!(&outcomes[1], PushOutcome::Failed(Error::Fatal(m)) if m.contains("fewer"))
        );
        // Nothing to send: no call at all.
        let none: Vec<PushOutcome> = run_with(Vec::new(), |_| panic!("no requests"));
        assert!(none.is_empty());
    }

    #[test]
    fn steps_by_hand() {
        let step: Step<u16> = Step::send(Request::get("http://h/x"), |a: Answer| a.unwrap().status);
        assert_eq!(step.request().map(Request::url), Some("http://h/x"));
        let done = step.answer(ok(201, ""));
        assert!(done.request().is_none());
        assert_eq!(done.into_done(), Some(201));
        assert_eq!(Step::done(1).answer(ok(500, "")).into_done(), Some(1));
        assert!(Step::send(Request::get("http://h/"), |_| 0)
            .into_done()
            .is_none());
        let mapped = Step::send(Request::get("http://h/m"), |a: Answer| a.unwrap().status)
            .map(|status| (7, status));
        assert_eq!(mapped.request().map(Request::url), Some("http://h/m"));
        assert_eq!(mapped.answer(ok(204, "")).into_done(), Some((7, 204)));
        assert_eq!(Step::done(2).map(|n| n * 3).into_done(), Some(6));
    }

    #[test]
    fn chained_steps_send_after_the_first() {
        let chained = Step::send(Request::get("http://h/a"), |a: Answer| a.unwrap().status)
            .and_then(|status| match status {
                200 => Step::send(Request::get("http://h/b"), move |a: Answer| {
                    (status, a.unwrap().status)
                }),
                other => Step::done((other, 0)),
            });
        let mut sent = Vec::new();
        let answers = run_with(vec![chained], |requests| {
            sent.extend(requests.iter().map(|r| r.url().to_owned()));
            requests.iter().map(|_| ok(200, "")).collect()
        });
        assert_eq!(answers, [(200, 200)]);
        assert_eq!(sent, ["http://h/a", "http://h/b"], "one round each");
        let stopped = Step::send(Request::get("http://h/a"), |a: Answer| a.unwrap().status)
            .and_then(|status| Step::done((status, 0)));
        assert_eq!(stopped.answer(ok(404, "")).into_done(), Some((404, 0)));
        assert_eq!(
            Step::done(3).and_then(|n| Step::done(n + 1)).into_done(),
            Some(4)
        );
    }
}
