//! The Confluence fake's dataset: one space of folders, pages, attachments
//! and footer comments, generated from the flags and changed by
//! `POST /_control/mutate`.
//!
//! Content ids are one numeric sequence for every kind (attachments show as
//! `att<number>`), increasing with creation time, so `created` order is id
//! order. Only metadata is stored: titles, parents, versions and times;
//! bodies and attachment bytes are derived from (seed, id, version), except
//! a page body written through the API (see [`super::write`]), stored for
//! its version.
//!
//! Indexes, kept up to date by every change: the four maps by id, one
//! `(lastmodified, id)` set per kind (CQL `lastmodified` and `sort=modified-date`),
//! `(title, id)` for pages, children `(position, id)` per parent, and
//! attachments and comments per page. Every request is O(log n + page).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

use super::annot::Annotations;
use super::content::{self, mix, MEDIA};

pub use super::cql::Ms;

/// 2025-01-06T09:00:00Z: the first content is created then.
pub const BASE_MS: Ms = 1_736_154_000_000;
/// Initial creation times stay before 2025-11-30T00:00:00Z ...
const CREATE_END_MS: Ms = 1_764_460_800_000;
/// ... and initial edits before 2025-12-20T00:00:00Z.
const EDIT_END_MS: Ms = 1_766_188_800_000;
/// Pages and folders deeper than this get a shallower parent at generation.
pub(super) const MAX_DEPTH: usize = 7;
const MINUTE: Ms = 60_000;
const DAY: Ms = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Page = 0,
    Folder = 1,
    Attachment = 2,
    /// Footer comments.
    Comment = 3,
    BlogPost = 4,
    InlineComment = 5,
}

/// How many kinds there are (the length of [`Data::modified`]).
pub const KINDS: usize = 6;

impl Kind {
    pub const ALL: [Kind; KINDS] = [
        Kind::Page,
        Kind::Folder,
        Kind::Attachment,
        Kind::Comment,
        Kind::BlogPost,
        Kind::InlineComment,
    ];

    /// The CQL / v1 `type`.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Page => "page",
            Kind::Folder => "folder",
            Kind::Attachment => "attachment",
            Kind::Comment | Kind::InlineComment => "comment",
            Kind::BlogPost => "blogpost",
        }
    }

    pub fn stream(self) -> &'static str {
        match self {
            Kind::Page => "pages",
            Kind::Folder => "folders",
            Kind::Attachment => "attachments",
            Kind::Comment => "comments",
            Kind::BlogPost => "blogposts",
            Kind::InlineComment => "inline-comments",
        }
    }

    /// The id as the API shows it (`att` prefix for attachments).
    pub fn id_string(self, id: u64) -> String {
        match self {
            Kind::Attachment => format!("att{id}"),
            _ => id.to_string(),
        }
    }
}

/// A page's or folder's parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Parent {
    Page(u64),
    Folder(u64),
}

impl Parent {
    pub fn id(self) -> u64 {
        match self {
            Parent::Page(id) | Parent::Folder(id) => id,
        }
    }

    /// `parentType`.
    pub fn type_name(self) -> &'static str {
        match self {
            Parent::Page(_) => "page",
            Parent::Folder(_) => "folder",
        }
    }
}

/// Children are indexed under `Some(parent)`, root content under `None`.
pub type ParentKey = Option<Parent>;

/// What every content has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub title: String,
    pub version: u32,
    /// Creation (version 1) and last change (current version), epoch ms.
    pub created: Ms,
    pub modified: Ms,
    /// Index into `content::USERS`: creator and author of the current version.
    pub author: usize,
    pub editor: usize,
    /// `version.message` of the current version (empty unless written
    /// through the API).
    pub message: String,
}

/// A page, folder or blog post (blog posts have no parent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub meta: Meta,
    pub parent: ParentKey,
    pub position: i64,
    /// The storage body of the current version when it was written through
    /// the API (`None`: derived from (seed, id, version) and `markers`).
    pub body: Option<Arc<str>>,
    /// Inline comments anchored in the generated body (their markers).
    pub markers: Vec<u64>,
    /// The attachment the generated body may show as an image (the first
    /// one the item was created with).
    pub image: Option<String>,
}

impl Node {
    pub fn new(meta: Meta, parent: ParentKey) -> Node {
        Node {
            meta,
            parent,
            position: 0,
            body: None,
            markers: Vec::new(),
            image: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub meta: Meta,
    pub page: u64,
    /// Index into `content::MEDIA`.
    pub media: usize,
    pub comment: String,
}

/// A footer or inline comment on a page or blog post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub meta: Meta,
    /// The page or blog post.
    pub page: u64,
    /// Inline comments: the resolution status (`open`, `resolved`,
    /// `reopened`, `dangling`); `None` for footer comments.
    pub inline: Option<&'static str>,
}

impl Comment {
    pub fn kind(&self) -> Kind {
        if self.inline.is_some() {
            Kind::InlineComment
        } else {
            Kind::Comment
        }
    }
}

/// The generation flags.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub pages: u32,
    pub folders: u32,
    pub attachments_per_page: u32,
    pub comments_per_page: u32,
    pub blogposts: u32,
    pub inline_comments_per_page: u32,
    pub seed: u64,
}

/// The whole dataset.
pub struct Data {
    pub pages: BTreeMap<u64, Node>,
    pub folders: BTreeMap<u64, Node>,
    pub attachments: BTreeMap<u64, Attachment>,
    /// Footer and inline comments.
    pub comments: BTreeMap<u64, Comment>,
    pub blogposts: BTreeMap<u64, Node>,
    /// Per kind (`Kind as usize`): `(modified, id)`.
    pub modified: [BTreeSet<(Ms, u64)>; KINDS],
    /// Pages by `(title, id)`.
    pub titles: BTreeSet<(String, u64)>,
    /// Pages and folders under each parent, by `(position, id)`.
    pub children: HashMap<ParentKey, BTreeSet<(i64, u64)>>,
    /// Attachments, footer and inline comments of each page and blog post.
    pub page_attachments: HashMap<u64, BTreeSet<u64>>,
    pub page_comments: HashMap<u64, BTreeSet<u64>>,
    pub page_inline: HashMap<u64, BTreeSet<u64>>,
    /// Labels, content properties and restrictions of pages and blog posts.
    pub annot: Annotations,
    /// Pages that answer 404 (the `missing_pages` fault).
    pub missing: HashSet<u64>,
    /// Every page version written through the API: (page, version) ->
    /// (storage body, `version.message`), for `GET /pages/{id}?version=N`.
    pub written: HashMap<(u64, u32), (Arc<str>, String)>,
    /// The space's home page (the first page), if any.
    pub homepage: Option<u64>,
    pub next_id: u64,
    /// The last time a mutation used (mutation times strictly increase).
    pub last_change: Ms,
    pub(super) rng: StdRng,
}

/// The metadata of content generated at `created`: a version history of
/// a few edits (folders rarely change).
fn initial_meta(rng: &mut StdRng, created: Ms, folder: bool, title: String) -> Meta {
    let version = match rng.random_range(0..100) {
        r if folder => 1 + u32::from(r >= 85),
        0..=49 => 1,
        50..=74 => 2,
        75..=89 => 3,
        _ => rng.random_range(4..=12),
    };
    let modified = if version == 1 {
        created
    } else {
        (created + rng.random_range(MINUTE..90 * DAY))
            .min(EDIT_END_MS)
            .max(created)
    };
    let author = pick_user(rng);
    Meta {
        title,
        version,
        created,
        modified,
        author,
        editor: if version == 1 { author } else { pick_user(rng) },
        message: String::new(),
    }
}

pub(super) fn pick_user(rng: &mut StdRng) -> usize {
    // A skewed mix: the first users write most.
    let r: f64 = rng.random();
    ((r * r) * content::USERS.len() as f64) as usize % content::USERS.len()
}

impl Data {
    fn empty(seed: u64) -> Data {
        Data {
            pages: BTreeMap::new(),
            folders: BTreeMap::new(),
            attachments: BTreeMap::new(),
            comments: BTreeMap::new(),
            blogposts: BTreeMap::new(),
            modified: Default::default(),
            titles: BTreeSet::new(),
            children: HashMap::new(),
            page_attachments: HashMap::new(),
            page_comments: HashMap::new(),
            page_inline: HashMap::new(),
            annot: Annotations::new(seed),
            missing: HashSet::new(),
            homepage: None,
            written: HashMap::new(),
            next_id: 65_536 + mix(seed, 1, 0, 0) % 100_000,
            last_change: EDIT_END_MS,
            rng: StdRng::seed_from_u64(mix(seed, 0x6d75_7461_7465, 0, 0)),
        }
    }

    /// The initial dataset of `cfg`.
    pub fn generate(cfg: &Config) -> Data {
        let mut d = Data::empty(cfg.seed);
        let mut rng = StdRng::seed_from_u64(mix(cfg.seed, 0x0067_656e, 0, 0));
        // Blog posts and inline comments draw from their own generators, so
        // that without them the pages and folders are what they always were.
        let mut brng = StdRng::seed_from_u64(mix(cfg.seed, 0x0062_6c6f_67, 0, 0));
        let mut irng = StdRng::seed_from_u64(mix(cfg.seed, 0x0069_6e6c, 0, 0));
        let total = u64::from(cfg.pages) + u64::from(cfg.folders) + u64::from(cfg.blogposts);
        let per_entity = u64::from(
            cfg.attachments_per_page + cfg.comments_per_page + cfg.inline_comments_per_page + 2,
        );
        let span = (CREATE_END_MS - BASE_MS) as u64;
        let avg = (span / total.max(1)).max(per_entity * 1000 * 2);
        let mut t = BASE_MS;
        let (mut pages_left, mut folders_left) = (cfg.pages, cfg.folders);
        let mut blogs_left = cfg.blogposts;
        let mut page_ids: Vec<u64> = Vec::new();
        let mut folder_ids: Vec<u64> = Vec::new();
        let mut depth: HashMap<u64, usize> = HashMap::new();
        while pages_left + folders_left + blogs_left > 0 {
            let created = t;
            if blogs_left > 0
                && brng.random_range(0..pages_left + folders_left + blogs_left) < blogs_left
            {
                blogs_left -= 1;
                let id = d.take_id();
                let title = content::blog_title(&mut brng);
                let meta = initial_meta(&mut brng, created, false, title);
                d.insert_node(Kind::BlogPost, id, Node::new(meta, None));
                d.add_children(&mut brng, &mut irng, cfg, id, created);
                t += (avg / 2 + brng.random_range(0..avg)) as Ms;
                continue;
            }
            let is_folder = !page_ids.is_empty()
                && rng.random_range(0..pages_left + folders_left) < folders_left;
            let parent = if page_ids.is_empty() {
                None
            } else if is_folder {
                match rng.random_range(0..100) {
                    0..=34 => None,
                    35..=79 if !folder_ids.is_empty() => Some(Parent::Folder(
                        folder_ids[rng.random_range(0..folder_ids.len())],
                    )),
                    _ => Some(Parent::Page(page_ids[rng.random_range(0..page_ids.len())])),
                }
            } else {
                match rng.random_range(0..100) {
                    0..=29 if !folder_ids.is_empty() => Some(Parent::Folder(
                        folder_ids[rng.random_range(0..folder_ids.len())],
                    )),
                    30..=37 => None,
                    _ => Some(Parent::Page(page_ids[rng.random_range(0..page_ids.len())])),
                }
            };
            let parent = d.shallow_parent(parent, &depth);
            let id = d.take_id();
            let dep = parent.map_or(0, |p| depth[&p.id()] + 1);
            depth.insert(id, dep);
            let title = d.sibling_title(&mut rng, is_folder, parent);
            let meta = initial_meta(&mut rng, created, is_folder, title);
            let kind = if is_folder { Kind::Folder } else { Kind::Page };
            d.insert_node(kind, id, Node::new(meta, parent));
            if is_folder {
                folders_left -= 1;
                folder_ids.push(id);
            } else {
                pages_left -= 1;
                page_ids.push(id);
                d.homepage.get_or_insert(id);
                d.add_children(&mut rng, &mut irng, cfg, id, created);
            }
            t += (avg / 2 + rng.random_range(0..avg)) as Ms;
        }
        d
    }

    /// The initial attachments, footer and inline comments of page or blog
    /// post `id` (created at `created`), and its labels, properties and
    /// restrictions.
    fn add_children(
        &mut self,
        rng: &mut StdRng,
        irng: &mut StdRng,
        cfg: &Config,
        id: u64,
        created: Ms,
    ) {
        let mut at = created;
        for _ in 0..cfg.attachments_per_page {
            at += 1000;
            let a = self.new_attachment(rng, id, at, true);
            let title = self.attachments[&a].meta.title.clone();
            if let Some(n) = self.content_node_mut(id) {
                n.image.get_or_insert(title);
            }
        }
        for _ in 0..cfg.comments_per_page {
            at += 1000;
            self.new_comment(rng, id, at, None);
        }
        for _ in 0..cfg.inline_comments_per_page {
            at += 1000;
            let status = match irng.random_range(0..100) {
                0..=64 => "open",
                65..=89 => "resolved",
                _ => "reopened",
            };
            let c = self.new_comment(irng, id, at, Some(status));
            if let Some(n) = self.content_node_mut(id) {
                n.markers.push(c);
            }
        }
        self.annot.generate(id, created);
    }

    pub(super) fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        // Ids are sparse, like the real ones.
        self.next_id += 1 + (mix(id, 2, 0, 0) % 3);
        id
    }

    /// `parent`, or its nearest ancestor with room below it (depth limit).
    fn shallow_parent(&self, mut parent: ParentKey, depth: &HashMap<u64, usize>) -> ParentKey {
        while let Some(p) = parent {
            if depth[&p.id()] + 1 < MAX_DEPTH {
                break;
            }
            parent = self.node(p).and_then(|n| n.parent);
        }
        parent
    }

    pub fn node(&self, p: Parent) -> Option<&Node> {
        match p {
            Parent::Page(id) => self.pages.get(&id),
            Parent::Folder(id) => self.folders.get(&id),
        }
    }

    /// A title for new content under `parent`: unique among its siblings,
    /// except for a few deliberate duplicates (same title, or the same but
    /// for letter case).
    pub(super) fn sibling_title(
        &self,
        rng: &mut StdRng,
        folder: bool,
        parent: ParentKey,
    ) -> String {
        let siblings = self.children.get(&parent);
        let sibling_title = |rng: &mut StdRng| -> Option<String> {
            let s = siblings.filter(|s| !s.is_empty())?;
            let (_, id) = s.iter().nth(rng.random_range(0..s.len()))?;
            self.pages
                .get(id)
                .or_else(|| self.folders.get(id))
                .map(|n| n.meta.title.clone())
        };
        match rng.random_range(0..1000) {
            0..=14 => {
                if let Some(t) = sibling_title(rng) {
                    return t;
                }
            }
            15..=19 => {
                if let Some(t) = sibling_title(rng) {
                    return t.to_uppercase();
                }
            }
            _ => {}
        }
        let base = if folder {
            content::folder_title(rng)
        } else {
            content::page_title(rng)
        };
        let taken = |t: &str| {
            siblings.is_some_and(|s| {
                s.iter().any(|(_, id)| {
                    self.pages
                        .get(id)
                        .or_else(|| self.folders.get(id))
                        .is_some_and(|n| n.meta.title == t)
                })
            })
        };
        if !taken(&base) {
            return base;
        }
        (2..)
            .map(|n| format!("{} ({n})", base.trim_end()))
            .find(|t| !taken(t))
            .expect("some suffix is free")
    }

    /// Adds page, folder or blog post `id` (a page or folder last among
    /// its siblings).
    pub(super) fn insert_node(&mut self, kind: Kind, id: u64, mut node: Node) {
        if kind != Kind::BlogPost {
            let siblings = self.children.entry(node.parent).or_default();
            node.position = siblings.last().map_or(0, |(p, _)| p + 1);
            siblings.insert((node.position, id));
        }
        self.modified[kind as usize].insert((node.meta.modified, id));
        match kind {
            Kind::Page => {
                self.titles.insert((node.meta.title.clone(), id));
                self.pages.insert(id, node);
            }
            Kind::BlogPost => {
                self.blogposts.insert(id, node);
            }
            _ => {
                self.folders.insert(id, node);
            }
        }
    }

    pub(super) fn new_attachment(
        &mut self,
        rng: &mut StdRng,
        page: u64,
        at: Ms,
        initial: bool,
    ) -> u64 {
        let media = rng.random_range(0..MEDIA.len());
        let stem = content::file_stem(rng);
        let ext = MEDIA[media].ext;
        let existing: HashSet<String> = self
            .page_attachments
            .get(&page)
            .into_iter()
            .flatten()
            .filter_map(|a| self.attachments.get(a))
            .map(|a| a.meta.title.clone())
            .collect();
        let mut title = format!("{stem}.{ext}");
        let mut n = 2;
        while existing.contains(&title) {
            title = format!("{stem}-{n}.{ext}");
            n += 1;
        }
        let mut meta = if initial {
            self.initial_meta_for_file(rng, at, title)
        } else {
            let u = pick_user(rng);
            Meta {
                title,
                version: 1,
                created: at,
                modified: at,
                author: u,
                editor: u,
                message: String::new(),
            }
        };
        meta.modified = meta.modified.max(meta.created);
        let comment = match rng.random_range(0..4) {
            0 => String::new(),
            1 => "uploaded from the editor".to_owned(),
            2 => format!("v{}", meta.version),
            _ => "Screenshot for the runbook".to_owned(),
        };
        let id = self.take_id();
        self.modified[Kind::Attachment as usize].insert((meta.modified, id));
        self.page_attachments.entry(page).or_default().insert(id);
        self.attachments.insert(
            id,
            Attachment {
                meta,
                page,
                media,
                comment,
            },
        );
        id
    }

    fn initial_meta_for_file(&self, rng: &mut StdRng, created: Ms, title: String) -> Meta {
        let version = if rng.random_bool(0.7) {
            1
        } else {
            rng.random_range(2..=4)
        };
        let modified = if version == 1 {
            created
        } else {
            (created + rng.random_range(MINUTE..60 * DAY)).min(EDIT_END_MS)
        };
        let u = pick_user(rng);
        Meta {
            title,
            version,
            created,
            modified,
            author: u,
            editor: u,
            message: String::new(),
        }
    }

    /// A new footer comment (`inline` `None`) or inline comment (its
    /// resolution status) on page or blog post `page`, created at `at`.
    pub(super) fn new_comment(
        &mut self,
        rng: &mut StdRng,
        page: u64,
        at: Ms,
        inline: Option<&'static str>,
    ) -> u64 {
        let container_title = self.container(page).map_or("", |n| n.meta.title.as_str());
        let title = format!("Re: {container_title}");
        let meta = self.initial_meta_for_file(rng, at, title);
        let id = self.take_id();
        let comment = Comment { meta, page, inline };
        self.modified[comment.kind() as usize].insert((comment.meta.modified, id));
        let index = if inline.is_some() {
            &mut self.page_inline
        } else {
            &mut self.page_comments
        };
        index.entry(page).or_default().insert(id);
        self.comments.insert(id, comment);
        id
    }

    /// The page or blog post `id`.
    pub fn container(&self, id: u64) -> Option<&Node> {
        self.pages.get(&id).or_else(|| self.blogposts.get(&id))
    }

    /// The kind of page or blog post `id`.
    pub fn container_kind(&self, id: u64) -> Option<Kind> {
        if self.pages.contains_key(&id) {
            Some(Kind::Page)
        } else if self.blogposts.contains_key(&id) {
            Some(Kind::BlogPost)
        } else {
            None
        }
    }

    pub(super) fn content_node_mut(&mut self, id: u64) -> Option<&mut Node> {
        match self.pages.get_mut(&id) {
            Some(n) => Some(n),
            None => self.blogposts.get_mut(&id),
        }
    }

    /// The pages (`Kind::Page`) or blog posts (`Kind::BlogPost`).
    pub fn nodes(&self, kind: Kind) -> &BTreeMap<u64, Node> {
        match kind {
            Kind::BlogPost => &self.blogposts,
            Kind::Folder => &self.folders,
            _ => &self.pages,
        }
    }

    /// The metadata of content `id` of `kind`.
    pub fn meta(&self, kind: Kind, id: u64) -> Option<&Meta> {
        match kind {
            Kind::Page => self.pages.get(&id).map(|n| &n.meta),
            Kind::Folder => self.folders.get(&id).map(|n| &n.meta),
            Kind::Attachment => self.attachments.get(&id).map(|a| &a.meta),
            Kind::BlogPost => self.blogposts.get(&id).map(|n| &n.meta),
            Kind::Comment | Kind::InlineComment => self
                .comments
                .get(&id)
                .filter(|c| c.kind() == kind)
                .map(|c| &c.meta),
        }
    }

    /// Page and folder ancestors of `parent`, root first.
    pub fn ancestors(&self, mut parent: ParentKey) -> Vec<Parent> {
        let mut out = Vec::new();
        while let Some(p) = parent {
            if out.len() > 64 {
                break;
            }
            out.push(p);
            parent = self.node(p).and_then(|n| n.parent);
        }
        out.reverse();
        out
    }
}

/// Test helper: every index agrees with the maps, and there is no cycle.
#[cfg(test)]
pub fn check_indexes(d: &Data) {
    let mods: BTreeSet<(Ms, u64)> = d
        .pages
        .iter()
        .map(|(id, n)| (n.meta.modified, *id))
        .collect();
    assert_eq!(mods, d.modified[0]);
    let mods: BTreeSet<(Ms, u64)> = d
        .folders
        .iter()
        .map(|(id, n)| (n.meta.modified, *id))
        .collect();
    assert_eq!(mods, d.modified[1]);
    let mods: BTreeSet<(Ms, u64)> = d
        .attachments
        .iter()
        .map(|(id, a)| (a.meta.modified, *id))
        .collect();
    assert_eq!(mods, d.modified[2]);
    for kind in [Kind::Comment, Kind::InlineComment] {
        let mods: BTreeSet<(Ms, u64)> = d
            .comments
            .iter()
            .filter(|(_, c)| c.kind() == kind)
            .map(|(id, c)| (c.meta.modified, *id))
            .collect();
        assert_eq!(mods, d.modified[kind as usize]);
    }
    let mods: BTreeSet<(Ms, u64)> = d
        .blogposts
        .iter()
        .map(|(id, n)| (n.meta.modified, *id))
        .collect();
    assert_eq!(mods, d.modified[Kind::BlogPost as usize]);
    let titles: BTreeSet<(String, u64)> = d
        .pages
        .iter()
        .map(|(id, n)| (n.meta.title.clone(), *id))
        .collect();
    assert_eq!(titles, d.titles);
    let mut kids = 0;
    for (parent, set) in &d.children {
        for (pos, id) in set {
            let n = d
                .pages
                .get(id)
                .or_else(|| d.folders.get(id))
                .expect("child exists");
            assert_eq!((n.parent, n.position), (*parent, *pos));
            kids += 1;
        }
        if let Some(p) = parent {
            assert!(
                d.node(*p).is_some() || set.is_empty(),
                "parent {p:?} exists"
            );
        }
    }
    assert_eq!(kids, d.pages.len() + d.folders.len());
    for (id, a) in &d.attachments {
        assert!(d.container(a.page).is_some());
        assert!(d.page_attachments[&a.page].contains(id));
    }
    for (id, c) in &d.comments {
        assert!(d.container(c.page).is_some());
        let index = if c.inline.is_some() {
            &d.page_inline
        } else {
            &d.page_comments
        };
        assert!(index[&c.page].contains(id));
    }
    for (id, n) in d.pages.iter().chain(&d.blogposts) {
        for m in &n.markers {
            assert!(d.page_inline[id].contains(m), "marker {m} of {id}");
        }
    }
    assert!(d.blogposts.values().all(|n| n.parent.is_none()));
    for (id, n) in d.pages.iter().chain(&d.folders) {
        assert!(
            !n.parent.is_some_and(|p| d.in_subtree(p, *id)),
            "no cycle at {id}"
        );
        assert!(n.meta.modified >= n.meta.created);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pages: u32, folders: u32) -> Config {
        Config {
            pages,
            folders,
            attachments_per_page: 2,
            comments_per_page: 1,
            blogposts: pages / 10,
            inline_comments_per_page: 1,
            seed: 7,
        }
    }

    #[test]
    fn generation_is_deterministic_and_realistic() {
        let d = Data::generate(&cfg(2000, 100));
        check_indexes(&d);
        assert_eq!(d.pages.len(), 2000);
        assert_eq!(d.folders.len(), 100);
        assert_eq!(d.blogposts.len(), 200);
        assert_eq!(d.attachments.len(), 4400);
        assert_eq!(d.comments.len(), 4400);
        assert_eq!(d.modified[Kind::InlineComment as usize].len(), 2200);
        let d2 = Data::generate(&cfg(2000, 100));
        assert_eq!(d.pages, d2.pages);
        assert_eq!(d.attachments, d2.attachments);
        let under_folders = d
            .pages
            .values()
            .filter(|n| matches!(n.parent, Some(Parent::Folder(_))))
            .count();
        let roots = d.pages.values().filter(|n| n.parent.is_none()).count();
        assert!(
            (400..=800).contains(&under_folders),
            "{under_folders} under folders"
        );
        assert!(roots >= 10, "{roots} roots");
        assert!(d
            .folders
            .values()
            .any(|n| matches!(n.parent, Some(Parent::Folder(_)))));
        let max_depth = d
            .pages
            .values()
            .map(|n| d.ancestors(n.parent).len())
            .max()
            .unwrap();
        assert!((3..MAX_DEPTH).contains(&max_depth), "depth {max_depth}");
        // Some duplicate titles among siblings, but few.
        let mut seen = HashSet::new();
        let dups = d
            .pages
            .values()
            .chain(d.folders.values())
            .filter(|n| !seen.insert((n.parent, n.meta.title.clone())))
            .count();
        assert!((1..60).contains(&dups), "{dups} duplicates");
        // Creation order is id order; everything is in 2025.
        let mut all: Vec<(u64, Ms)> = d
            .pages
            .iter()
            .chain(&d.folders)
            .map(|(id, n)| (*id, n.meta.created))
            .chain(d.attachments.iter().map(|(id, a)| (*id, a.meta.created)))
            .chain(d.comments.iter().map(|(id, c)| (*id, c.meta.created)))
            .chain(d.blogposts.iter().map(|(id, n)| (*id, n.meta.created)))
            .collect();
        all.sort_unstable();
        assert!(all.windows(2).all(|w| w[0].1 < w[1].1));
        let last = d
            .modified
            .iter()
            .filter_map(|m| m.last())
            .map(|(t, _)| *t)
            .max()
            .unwrap();
        assert!(last <= EDIT_END_MS && all[0].1 >= BASE_MS);
        // Unique file names per page.
        for atts in d.page_attachments.values() {
            let names: HashSet<&str> = atts
                .iter()
                .map(|a| d.attachments[a].meta.title.as_str())
                .collect();
            assert_eq!(names.len(), atts.len());
        }
    }

    #[test]
    fn small_and_empty_datasets() {
        let d = Data::generate(&Config {
            pages: 0,
            folders: 0,
            attachments_per_page: 0,
            comments_per_page: 0,
            blogposts: 0,
            inline_comments_per_page: 0,
            seed: 1,
        });
        assert!(d.pages.is_empty() && d.homepage.is_none());
        let d = Data::generate(&Config {
            pages: 1,
            folders: 3,
            attachments_per_page: 0,
            comments_per_page: 0,
            blogposts: 0,
            inline_comments_per_page: 0,
            seed: 1,
        });
        check_indexes(&d);
        assert_eq!(d.homepage, d.pages.keys().next().copied());
        assert_eq!(d.pages.values().next().unwrap().parent, None);
    }
}
