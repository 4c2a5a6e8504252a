//! `PluginInstance::push` and `reconcile` against real components (built
//! by `cargo xtask build` into `target/plugins/`): the `hostile` plugin's
//! push attacks (`tests/plugins/hostile/src/push.rs`) and the contract 0.1
//! plugin `legacy-v01`. Here only what the runtime decides: answers of the
//! wrong length are refused, a 0.1 plugin is refused before it is called;
//! what each answer means is the push engine's to check.

use std::path::PathBuf;
use std::sync::Arc;

use synchost::config::Limits;
use synchost::net::client::ClientOptions;
use synchost::net::{HostPolicy, HttpClient, RetryPolicy};
use synchost::runtime::bindings::types::{Change, ChangeOp, Error, PushOutcome, Reconciliation};
use synchost::runtime::{LoadedPlugin, PluginInstance, Runtime};

/// `<target>/plugins/NAME.wasm`.
fn plugin_path(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), |dir| root.join(dir));
    let path = target.join("plugins").join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: build it first: cargo xtask build",
        path.display()
    );
    path
}

fn load(runtime: &Runtime, name: &str) -> LoadedPlugin {
    runtime
        .load(&plugin_path(name), &Limits::default())
        .unwrap_or_else(|e| panic!("load {name}: {e:#}"))
}

/// An instance of `plugin` as source `source`, described and configured
/// with `settings`; it may reach no host.
async fn start(plugin: &LoadedPlugin, source: &str, settings: &[(&str, &str)]) -> PluginInstance {
    let limits = Limits::default();
    let http = Arc::new(
        HttpClient::new(ClientOptions {
            source: source.into(),
            policy: HostPolicy::new(&[]).expect("empty policy"),
            credential: None,
            concurrency: 1,
            requests_per_second: None,
            retry: RetryPolicy::default(),
            max_response_bytes: limits.max_response_bytes,
            request_timeout: limits.request_timeout,
            max_requests: 0,
            max_blob_bytes: 0,
            max_download_bytes: 0,
        })
        .expect("client"),
    );
    let mut instance = PluginInstance::new(plugin, source, http, &limits)
        .await
        .expect("instantiate");
    instance.describe().await.expect("describe");
    let settings: Vec<(String, String)> = settings
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    instance
        .configure(&settings)
        .await
        .expect("configure answers")
        .expect("configured");
    instance
}

fn changes(n: usize) -> Vec<Change> {
    (1..=n)
        .map(|i| Change {
            key: format!("key-{i}"),
            op: ChangeOp::Update,
            id: Some(format!("item-{i:06}")),
            base_version: Some("1".into()),
            parent_id: None,
            title: Some(format!("Item {i}")),
            content: Some(b"edited".to_vec()),
            metadata: "{}".into(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn push_and_reconcile_reach_a_0_2_plugin_and_wrong_counts_are_refused() {
    let runtime = Runtime::new(None).expect("runtime");
    let hostile = load(&runtime, "hostile");
    assert!(hostile.push_support().is_ok());

    let mut instance = start(&hostile, "h", &[("attack", "push-other-id")]).await;
    let outcomes = instance.push("items", changes(2)).await.expect("push");
    let ids: Vec<Option<&str>> = outcomes
        .iter()
        .map(|outcome| match outcome {
            PushOutcome::Applied(Some(record)) => Some(record.id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        ids,
        [Some("other-item-000001"), Some("item-000002")],
        "the answers as the plugin gave them"
    );
    let answers = instance
        .reconcile("items", changes(2))
        .await
        .expect("reconcile");
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Reconciliation::NotApplied)),
        "{answers:?}"
    );

    let mut instance = start(&hostile, "h", &[("attack", "push-fewer-outcomes")]).await;
    let error = instance.push("items", changes(3)).await.unwrap_err();
    assert_eq!(
        error.0,
        "plugin h answered push of 3 changes with 2 outcomes"
    );

    let mut instance = start(&hostile, "h", &[("attack", "reconcile-wrong-count")]).await;
    assert_eq!(
        instance
            .push("items", changes(2))
            .await
            .expect("push")
            .len(),
        2
    );
    let error = instance.reconcile("items", changes(2)).await.unwrap_err();
    assert_eq!(
        error.0,
        "plugin h answered reconcile of 2 changes with 3 answers"
    );

    // What an answer holds is the push engine's to judge: the runtime
    // passes it on, however large or hostile.
    let mut instance = start(&hostile, "h", &[("attack", "push-huge-record")]).await;
    let outcomes = instance.push("items", changes(1)).await.expect("push");
    assert!(
        matches!(&outcomes[..], [PushOutcome::Applied(Some(record))]
            if record.content.as_ref().map(Vec::len) == Some(64 << 20)),
        "a 64 MiB record"
    );
    let mut instance = start(&hostile, "h", &[("attack", "push-hostile-text")]).await;
    let outcomes = instance.push("items", changes(2)).await.expect("push");
    assert!(
        matches!(&outcomes[0], PushOutcome::Failed(Error::Fatal(text))
            if text.len() == 1_000_000 && text.contains('\x1b')),
        "a 1 MB message with escapes"
    );
    let mut instance = start(&hostile, "h", &[("attack", "push-conflict-other-id")]).await;
    let outcomes = instance.push("items", changes(1)).await.expect("push");
    assert!(
        matches!(&outcomes[..], [PushOutcome::Conflict(Some(record))] if record.id == "other-item-000001"),
        "{outcomes:?}"
    );

    // Another attack: the SDK's default answers, one per change.
    let mut instance = start(&hostile, "h", &[("attack", "read-env")]).await;
    let outcomes = instance.push("items", changes(2)).await.expect("push");
    assert_eq!(outcomes.len(), 2);
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, PushOutcome::Failed(Error::Unsupported(_)))),
        "{outcomes:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_0_1_plugin_is_never_asked_to_push_or_reconcile() {
    let runtime = Runtime::new(None).expect("runtime");
    let legacy = load(&runtime, "legacy-v01");
    assert_eq!(legacy.contract, semver_0_1());
    let why = legacy.push_support().unwrap_err();
    assert!(
        why.contains("legacy-v01.wasm implements synchost:source@0.1.0, which cannot push")
            && why.ends_with("rebuild it against synchost-sdk 0.2 to push; it still pulls"),
        "{why}"
    );

    let mut instance = start(&legacy, "old", &[("base_url", "http://127.0.0.1:9")]).await;
    let expected = "plugin legacy-v01 0.1.0 (source old) implements synchost:source@0.1.0, \
                    which cannot push (no idempotency keys or reconciliation): rebuild it \
                    against synchost-sdk 0.2 to push; it still pulls";
    assert_eq!(instance.push_support().unwrap_err(), expected);
    let error = instance.push("items", changes(1)).await.unwrap_err();
    assert_eq!(error.0, expected);
    let error = instance.reconcile("items", changes(1)).await.unwrap_err();
    assert_eq!(error.0, expected);
    // Refused, not failed: the instance still answers.
    let results = instance.fetch("nope", &["a".into()]).await.expect("fetch");
    assert!(
        matches!(&results[..], [Err(Error::Unsupported(why))] if why.contains("nope")),
        "{results:?}"
    );
}

fn semver_0_1() -> semver::Version {
    semver::Version::new(0, 1, 0)
}
