//! Labels, content properties and restrictions of pages and blog posts.
//!
//! Generated per content id from the seed alone (their own generator, so
//! they never change the rest of the dataset): about two in three items
//! have labels (one to four, drawn skewed from [`LABELS`] so that label
//! queries match many), a bit under half have content properties (one to
//! three of [`PROPERTY_KEYS`], each with its own version), about 4% are
//! read-restricted (and so update-restricted) and 6% more only
//! update-restricted. Content created later (mutations, the API) starts
//! with none. Label writes (v1) change only the label set: no new content
//! version, as in Confluence.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rand::rngs::StdRng;
use rand::Rng as _;
use serde_json::{json, Value};

use super::content::{mix, rng_for, USERS};
use super::data::Ms;

/// The label vocabulary of generated content (most common first).
pub const LABELS: &[&str] = &[
    "howto",
    "team-a",
    "runbook",
    "team-b",
    "kb",
    "meeting-notes",
    "draft",
    "api",
    "security",
    "onboarding",
    "release-2.0",
    "archived",
];

/// Keys of generated content properties.
pub const PROPERTY_KEYS: &[&str] = &[
    "content-appearance-published",
    "editor",
    "team-owner",
    "review",
    "sync-test.flags",
];

const SALT_LABELS: u64 = 0x6c61_6265;
const SALT_PROPS: u64 = 0x7072_6f70;
const SALT_RESTRICT: u64 = 0x7265_7374;

/// A content property: key -> JSON value, with its own version.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    pub id: u64,
    pub key: String,
    pub value: Value,
    pub version: u32,
    /// When the current version was written (epoch ms) and by whom
    /// (index into `USERS`).
    pub modified: Ms,
    pub editor: usize,
}

/// Who an operation is restricted to (empty: not restricted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Who {
    /// Indexes into `USERS`.
    pub users: Vec<usize>,
    pub groups: Vec<&'static str>,
}

impl Who {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }

    /// `{"users": [accountId...], "groups": [name...]}`.
    pub fn to_json(&self) -> Value {
        let users: Vec<&str> = self.users.iter().map(|u| USERS[*u].0).collect();
        json!({"users": users, "groups": self.groups})
    }
}

/// The `read` and `update` restrictions of one item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restrictions {
    pub read: Who,
    pub update: Who,
}

/// The labels, properties and restrictions of every page and blog post.
#[derive(Debug, Clone)]
pub struct Annotations {
    seed: u64,
    pub labels: HashMap<u64, BTreeSet<String>>,
    /// Every label name ever used, with its id.
    label_ids: BTreeMap<String, u64>,
    /// Sorted by key.
    pub properties: HashMap<u64, Vec<Property>>,
    pub restrictions: HashMap<u64, Restrictions>,
    next_property: u64,
}

fn pick_skewed(rng: &mut StdRng, n: usize) -> usize {
    let r: f64 = rng.random();
    ((r * r) * n as f64) as usize % n
}

impl Annotations {
    pub fn new(seed: u64) -> Annotations {
        let mut a = Annotations {
            seed,
            labels: HashMap::new(),
            label_ids: BTreeMap::new(),
            properties: HashMap::new(),
            restrictions: HashMap::new(),
            next_property: 10_000_000 + mix(seed, 6, 0, 0) % 1_000_000,
        };
        for name in LABELS {
            a.label_id(name);
        }
        a
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The id of label `name`, given one if new.
    pub fn label_id(&mut self, name: &str) -> u64 {
        if let Some(id) = self.label_ids.get(name) {
            return *id;
        }
        let first = 1_900_000 + mix(self.seed, 7, self.label_ids.len() as u64, 0) % 100_000;
        let id = (first..)
            .find(|c| !self.label_ids.values().any(|v| v == c))
            .expect("a free id");
        self.label_ids.insert(name.to_owned(), id);
        id
    }

    /// The id of an existing label.
    pub fn known_label_id(&self, name: &str) -> Option<u64> {
        self.label_ids.get(name).copied()
    }

    /// The label with id `id`.
    pub fn label_name(&self, id: u64) -> Option<&str> {
        self.label_ids
            .iter()
            .find(|(_, v)| **v == id)
            .map(|(k, _)| k.as_str())
    }

    /// The labels of `id` (sorted).
    pub fn labels_of(&self, id: u64) -> impl Iterator<Item = &str> {
        self.labels
            .get(&id)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    pub fn properties_of(&self, id: u64) -> &[Property] {
        self.properties.get(&id).map_or(&[], Vec::as_slice)
    }

    pub fn restrictions_of(&self, id: u64) -> Restrictions {
        self.restrictions.get(&id).cloned().unwrap_or_default()
    }

    /// Adds label `name` to `id`; false when it was there.
    pub fn add_label(&mut self, id: u64, name: &str) -> bool {
        self.label_id(name);
        self.labels.entry(id).or_default().insert(name.to_owned())
    }

    /// Removes label `name` from `id`; false when it was not there.
    pub fn remove_label(&mut self, id: u64, name: &str) -> bool {
        let Some(set) = self.labels.get_mut(&id) else {
            return false;
        };
        let removed = set.remove(name);
        if set.is_empty() {
            self.labels.remove(&id);
        }
        removed
    }

    /// Adds a property to `id`, or gives one of its properties a new value
    /// and version, at `now` by `editor`.
    pub fn set_property(&mut self, id: u64, rng: &mut StdRng, now: Ms, editor: usize) {
        let props = self.properties.entry(id).or_default();
        let missing: Vec<usize> = (0..PROPERTY_KEYS.len())
            .filter(|k| !props.iter().any(|p| p.key == PROPERTY_KEYS[*k]))
            .collect();
        if !missing.is_empty() && (props.is_empty() || rng.random_bool(0.5)) {
            let key = missing[rng.random_range(0..missing.len())];
            props.push(Property {
                id: self.next_property,
                key: PROPERTY_KEYS[key].to_owned(),
                value: property_value(rng, key),
                version: 1,
                modified: now,
                editor,
            });
            self.next_property += 1;
            props.sort_by(|a, b| a.key.cmp(&b.key));
            return;
        }
        let i = rng.random_range(0..props.len());
        let p = &mut props[i];
        p.version += 1;
        p.modified = now;
        p.editor = editor;
        p.value = json!({"changed": p.version, "previous": p.value.clone()});
    }

    /// Restricts reading `id` to `user` (and updating), or lifts its read
    /// restriction.
    pub fn toggle_read_restriction(&mut self, id: u64, user: usize) {
        let r = self.restrictions.entry(id).or_default();
        if r.read.is_empty() {
            r.read = Who {
                users: vec![user],
                groups: Vec::new(),
            };
            if r.update.is_empty() {
                r.update = r.read.clone();
            }
        } else {
            r.read = Who::default();
        }
        if r.read.is_empty() && r.update.is_empty() {
            self.restrictions.remove(&id);
        }
    }

    /// Forgets everything of deleted content `id`.
    pub fn remove(&mut self, id: u64) {
        self.labels.remove(&id);
        self.properties.remove(&id);
        self.restrictions.remove(&id);
    }

    /// The initial labels, properties and restrictions of content `id`
    /// created at `created`.
    pub fn generate(&mut self, id: u64, created: Ms) {
        let mut rng = rng_for(self.seed, SALT_LABELS, id, 0);
        if rng.random_range(0..100) >= 35 {
            let n = rng.random_range(1..=4);
            let set: BTreeSet<String> = (0..n)
                .map(|_| LABELS[pick_skewed(&mut rng, LABELS.len())].to_owned())
                .collect();
            self.labels.insert(id, set);
        }
        let mut rng = rng_for(self.seed, SALT_PROPS, id, 0);
        if rng.random_range(0..100) < 45 {
            let n = rng.random_range(1..=3);
            let mut keys: Vec<usize> = (0..PROPERTY_KEYS.len()).collect();
            let mut props: Vec<Property> = (0..n)
                .map(|_| {
                    let key = keys.remove(rng.random_range(0..keys.len()));
                    let version = rng.random_range(1..=3);
                    let prop_id = self.next_property;
                    self.next_property += 1 + rng.random_range(0..3);
                    Property {
                        id: prop_id,
                        key: PROPERTY_KEYS[key].to_owned(),
                        value: property_value(&mut rng, key),
                        version,
                        modified: created + Ms::from(version) * 60_000,
                        editor: pick_skewed(&mut rng, USERS.len()),
                    }
                })
                .collect();
            props.sort_by(|a, b| a.key.cmp(&b.key));
            self.properties.insert(id, props);
        }
        let mut rng = rng_for(self.seed, SALT_RESTRICT, id, 0);
        let r = rng.random_range(0..100);
        if r < 10 {
            let owner = pick_skewed(&mut rng, USERS.len());
            let mut update = Who {
                users: vec![owner],
                groups: vec!["confluence-administrators"],
            };
            let read = if r < 4 {
                let other = (owner + 1 + rng.random_range(0..USERS.len() - 1)) % USERS.len();
                update.users = vec![owner.min(other), owner.max(other)];
                Who {
                    users: update.users.clone(),
                    groups: if r < 2 { vec!["team-a"] } else { Vec::new() },
                }
            } else {
                Who::default()
            };
            self.restrictions.insert(id, Restrictions { read, update });
        }
    }
}

fn property_value(rng: &mut StdRng, key: usize) -> Value {
    match PROPERTY_KEYS[key] {
        "content-appearance-published" => {
            json!((["full-width", "default", "fixed-width"])[rng.random_range(0..3)])
        }
        "editor" => json!("v2"),
        "team-owner" => json!({
            "team": (["team-a", "team-b", "platform"])[rng.random_range(0..3)],
            "since": format!("2025-{:02}-01", rng.random_range(1..=12)),
        }),
        "review" => json!({
            "status": (["approved", "pending", "rejected"])[rng.random_range(0..3)],
            "reviewer": USERS[rng.random_range(0..USERS.len())].0,
            "score": rng.random_range(0..=100),
        }),
        _ => json!({
            "nested": {"flags": [true, false, null], "ratio": 0.5},
            "text": "ünïcödé & <markup>",
            "count": rng.random_range(0..1000),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_annotations_are_deterministic_and_varied() {
        let mut a = Annotations::new(3);
        let mut b = Annotations::new(3);
        for id in 1000..3000 {
            a.generate(id, 0);
            b.generate(id, 0);
        }
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.properties, b.properties);
        assert_eq!(a.restrictions, b.restrictions);
        let labelled = a.labels.len();
        assert!((1100..1500).contains(&labelled), "{labelled}");
        assert!(a.labels.values().any(|s| s.len() >= 3));
        let howto = a.labels.values().filter(|s| s.contains("howto")).count();
        assert!(howto > 400, "{howto}");
        assert!((700..1100).contains(&a.properties.len()));
        let read = a
            .restrictions
            .values()
            .filter(|r| !r.read.is_empty())
            .count();
        let update = a.restrictions.len();
        assert!((40..130).contains(&read) && (120..280).contains(&update));
        let ids: BTreeSet<u64> = a.properties.values().flatten().map(|p| p.id).collect();
        assert_eq!(
            ids.len(),
            a.properties.values().map(Vec::len).sum::<usize>()
        );
    }

    #[test]
    fn label_writes() {
        let mut a = Annotations::new(1);
        assert!(a.add_label(5, "new-label"));
        assert!(!a.add_label(5, "new-label"));
        let id = a.known_label_id("new-label").unwrap();
        assert_eq!(a.label_name(id), Some("new-label"));
        assert_ne!(Some(id), a.known_label_id("howto"));
        assert_eq!(a.labels_of(5).collect::<Vec<_>>(), ["new-label"]);
        assert!(a.remove_label(5, "new-label"));
        assert!(!a.remove_label(5, "new-label"));
        assert!(a.labels.is_empty());
    }
}
