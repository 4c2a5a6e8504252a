//! `POST /_control/mutate` on the dataset: random updates, deletions
//! (children move up to the deleted page's parent, with a new version),
//! creations, moves and attachment versions, all at one time `now`.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::Serialize;

use super::data::{pick_user, Data, Kind, Meta, Ms, Node, Parent, ParentKey, MAX_DEPTH};

/// What `mutate` did, ids as the API shows them, sorted.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Mutation {
    pub updated: Vec<String>,
    pub deleted: Vec<String>,
    pub created: Vec<String>,
    pub moved: Vec<String>,
    /// Attachments with a new version, and new ones.
    pub attachments: Vec<String>,
    /// Children of deleted pages, moved to the deleted page's parent
    /// (version + 1, like a move).
    pub reparented: Vec<String>,
    /// The new attachments among `attachments`.
    pub attachments_created: Vec<String>,
    /// Attachments and comments deleted with their page.
    pub deleted_attachments: Vec<String>,
    pub deleted_comments: Vec<String>,
}

/// What went with a deleted page, and its children that moved up.
#[derive(Debug, Default)]
pub(super) struct DeletedPage {
    pub attachments: Vec<u64>,
    pub comments: Vec<u64>,
    pub reparented: Vec<u64>,
}

/// The counts `mutate` takes, and pages to update on purpose.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MutateRequest {
    /// Pages updated besides the `update` random ones (never picked for the
    /// random changes), e.g. to make a push conflict on purpose.
    pub update_ids: BTreeSet<u64>,
    pub update: usize,
    pub delete: usize,
    pub create: usize,
    pub moves: usize,
    pub attachments: usize,
}

impl Data {
    /// True when `candidate` is `id` or below it.
    pub(super) fn in_subtree(&self, candidate: Parent, id: u64) -> bool {
        let mut cur = Some(candidate);
        while let Some(p) = cur {
            if p.id() == id {
                return true;
            }
            cur = self.node(p).and_then(|n| n.parent);
        }
        false
    }

    fn node_mut(&mut self, kind: Kind, id: u64) -> Option<&mut Node> {
        match kind {
            Kind::Page => self.pages.get_mut(&id),
            _ => self.folders.get_mut(&id),
        }
    }

    fn kind_of_node(&self, id: u64) -> Kind {
        if self.pages.contains_key(&id) {
            Kind::Page
        } else {
            Kind::Folder
        }
    }

    /// A new version of page or folder `id` (kind `kind`), at `now`, under
    /// `new_parent` when given (appended to its children).
    pub(super) fn bump_node(
        &mut self,
        kind: Kind,
        id: u64,
        now: Ms,
        new_parent: Option<ParentKey>,
        editor: usize,
    ) {
        let Some(node) = self.node_mut(kind, id) else {
            return;
        };
        let (old_mod, old_parent, old_pos) = (node.meta.modified, node.parent, node.position);
        node.meta.version += 1;
        node.meta.modified = now;
        node.meta.editor = editor;
        node.meta.message.clear();
        node.body = None;
        self.modified[kind as usize].remove(&(old_mod, id));
        self.modified[kind as usize].insert((now, id));
        if let Some(parent) = new_parent {
            if let Some(s) = self.children.get_mut(&old_parent) {
                s.remove(&(old_pos, id));
            }
            let siblings = self.children.entry(parent).or_default();
            let pos = siblings.last().map_or(0, |(p, _)| p + 1);
            siblings.insert((pos, id));
            let node = self.node_mut(kind, id).expect("present");
            node.parent = parent;
            node.position = pos;
        }
    }

    /// A random new parent for a page: root, a folder or a page, never
    /// `id` itself or below it (`None` inside: root).
    fn random_parent(&mut self, id: Option<u64>) -> ParentKey {
        for _ in 0..20 {
            let r = self.rng.random_range(0..100);
            let cand = if r < 10 {
                return None;
            } else if r < 40 && !self.folders.is_empty() {
                let i = self.rng.random_range(0..self.folders.len());
                Parent::Folder(*self.folders.keys().nth(i).expect("in range"))
            } else if !self.pages.is_empty() {
                let i = self.rng.random_range(0..self.pages.len());
                Parent::Page(*self.pages.keys().nth(i).expect("in range"))
            } else {
                return None;
            };
            if id.is_none_or(|id| !self.in_subtree(cand, id))
                && self.ancestors(Some(cand)).len() < MAX_DEPTH
            {
                return Some(cand);
            }
        }
        None
    }

    /// Deletes page `id` (it goes to the trash: gone from every listing and
    /// fetch) with its attachments and comments; its child pages and folders
    /// move to its parent with a new version at `now`. `None` when there is
    /// no such page.
    pub(super) fn delete_page(&mut self, id: u64, now: Ms, editor: usize) -> Option<DeletedPage> {
        let node = self.pages.remove(&id)?;
        let mut gone = DeletedPage::default();
        self.modified[Kind::Page as usize].remove(&(node.meta.modified, id));
        self.titles.remove(&(node.meta.title.clone(), id));
        self.missing.remove(&id);
        if let Some(s) = self.children.get_mut(&node.parent) {
            s.remove(&(node.position, id));
        }
        for att in self.page_attachments.remove(&id).unwrap_or_default() {
            if let Some(a) = self.attachments.remove(&att) {
                self.modified[Kind::Attachment as usize].remove(&(a.meta.modified, att));
                gone.attachments.push(att);
            }
        }
        for c in self.page_comments.remove(&id).unwrap_or_default() {
            if let Some(cm) = self.comments.remove(&c) {
                self.modified[Kind::Comment as usize].remove(&(cm.meta.modified, c));
                gone.comments.push(c);
            }
        }
        let kids: Vec<u64> = self
            .children
            .remove(&Some(Parent::Page(id)))
            .unwrap_or_default()
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        for kid in kids {
            // Its old sibling set went with the deleted page.
            let kind = self.kind_of_node(kid);
            self.bump_node(kind, kid, now, Some(node.parent), editor);
            gone.reparented.push(kid);
        }
        Some(gone)
    }

    /// Gives page `id` the title `title` (a new version) at time `now`.
    pub fn retitle(&mut self, id: u64, title: String, now: Ms) -> Result<(), String> {
        let Some(node) = self.pages.get_mut(&id) else {
            return Err(format!("no page {id}"));
        };
        let old = std::mem::replace(&mut node.meta.title, title.clone());
        let editor = node.meta.editor;
        self.titles.remove(&(old, id));
        self.titles.insert((title, id));
        let now = now.max(self.last_change + 1);
        self.last_change = now;
        self.bump_node(Kind::Page, id, now, None, editor);
        Ok(())
    }

    /// Applies random changes at time `now` (see [`Mutation`]); all or nothing.
    pub fn mutate(&mut self, req: MutateRequest, now: Ms) -> Result<Mutation, String> {
        if let Some(id) = req
            .update_ids
            .iter()
            .find(|id| !self.pages.contains_key(id))
        {
            return Err(format!("no page {id} to update"));
        }
        let pages_needed = req.update + req.delete + req.moves;
        if pages_needed > self.pages.len() - req.update_ids.len() {
            return Err(format!(
                "cannot update {}, delete {} and move {} pages: only {} exist",
                req.update,
                req.delete,
                req.moves,
                self.pages.len() - req.update_ids.len()
            ));
        }
        if req.attachments > self.attachments.len() {
            return Err(format!(
                "cannot change {} attachments: only {} exist",
                req.attachments,
                self.attachments.len()
            ));
        }
        if req.attachments > 0 && self.pages.len() - req.delete + req.create == 0 {
            return Err("no page would be left for new attachments".to_owned());
        }
        let now = now.max(self.last_change + 1);
        self.last_change = now;
        let mut out = Mutation::default();
        let ids: Vec<u64> = self
            .pages
            .keys()
            .filter(|id| !req.update_ids.contains(id))
            .copied()
            .collect();
        let picks = rand::seq::index::sample(&mut self.rng, ids.len(), pages_needed).into_vec();
        let mut groups: [Vec<u64>; 3] = Default::default();
        for (i, idx) in picks.into_iter().enumerate() {
            let g = if i < req.delete {
                0
            } else if i < req.delete + req.update {
                1
            } else {
                2
            };
            groups[g].push(ids[idx]);
        }
        for g in &mut groups {
            g.sort_unstable();
        }
        let [to_delete, mut to_update, to_move] = groups;
        to_update.extend(&req.update_ids);
        to_update.sort_unstable();
        let editor = pick_user(&mut self.rng);

        let mut reparented = BTreeSet::new();
        let (mut deleted_attachments, mut deleted_comments) = (Vec::new(), Vec::new());
        for &id in &to_delete {
            let gone = self
                .delete_page(id, now, editor)
                .expect("picked from pages");
            deleted_attachments.extend(gone.attachments);
            deleted_comments.extend(gone.comments);
            reparented.extend(gone.reparented);
            reparented.remove(&id);
            out.deleted.push(id.to_string());
        }
        for &id in &to_update {
            self.bump_node(Kind::Page, id, now, None, editor);
            out.updated.push(id.to_string());
        }
        for &id in &to_move {
            let current = self.pages[&id].parent;
            let mut parent = self.random_parent(Some(id));
            if parent == current {
                parent = self.random_parent(Some(id));
            }
            self.bump_node(Kind::Page, id, now, Some(parent), editor);
            out.moved.push(id.to_string());
        }
        for _ in 0..req.create {
            let parent = self.random_parent(None);
            let mut rng = StdRng::seed_from_u64(self.rng.random());
            let title = self.sibling_title(&mut rng, false, parent);
            let id = self.take_id();
            let meta = Meta {
                title,
                version: 1,
                created: now,
                modified: now,
                author: editor,
                editor,
                message: String::new(),
            };
            self.insert_node(
                Kind::Page,
                id,
                Node {
                    meta,
                    parent,
                    position: 0,
                    body: None,
                },
            );
            out.created.push(id.to_string());
        }
        if req.attachments > 0 {
            let att_ids: Vec<u64> = self.attachments.keys().copied().collect();
            let mut picked: Vec<u64> =
                rand::seq::index::sample(&mut self.rng, att_ids.len(), req.attachments)
                    .into_iter()
                    .map(|i| att_ids[i])
                    .collect();
            picked.sort_unstable();
            for &a in &picked {
                let att = self.attachments.get_mut(&a).expect("picked");
                let old = att.meta.modified;
                att.meta.version += 1;
                att.meta.modified = now;
                att.meta.editor = editor;
                att.meta.message.clear();
                att.comment = format!("v{}", att.meta.version);
                self.modified[Kind::Attachment as usize].remove(&(old, a));
                self.modified[Kind::Attachment as usize].insert((now, a));
            }
            let mut all: Vec<u64> = picked;
            for _ in 0..req.attachments.div_ceil(4) {
                let i = self.rng.random_range(0..self.pages.len());
                let page = *self.pages.keys().nth(i).expect("in range");
                let mut rng = StdRng::seed_from_u64(self.rng.random());
                let id = self.new_attachment(&mut rng, page, now, false);
                out.attachments_created.push(format!("att{id}"));
                all.push(id);
            }
            all.sort_unstable();
            out.attachments = all.iter().map(|a| format!("att{a}")).collect();
        }
        // A reparented child that was also picked for deletion is gone.
        out.reparented = reparented
            .into_iter()
            .filter(|id| self.pages.contains_key(id) || self.folders.contains_key(id))
            .map(|id| id.to_string())
            .collect();
        deleted_attachments.sort_unstable();
        deleted_comments.sort_unstable();
        out.deleted_attachments = deleted_attachments
            .iter()
            .map(|a| format!("att{a}"))
            .collect();
        out.deleted_comments = deleted_comments.iter().map(u64::to_string).collect();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::data::{check_indexes, Config};
    use super::*;

    fn cfg(pages: u32, folders: u32) -> Config {
        Config {
            pages,
            folders,
            attachments_per_page: 2,
            comments_per_page: 1,
            seed: 7,
        }
    }

    #[test]
    fn mutate_keeps_indexes_and_reports() {
        let mut d = Data::generate(&cfg(300, 20));
        let before_pages = d.pages.clone();
        let now = 1_800_000_000_000;
        let m = d
            .mutate(
                MutateRequest {
                    update: 10,
                    delete: 8,
                    create: 5,
                    moves: 7,
                    attachments: 12,
                    ..Default::default()
                },
                now,
            )
            .unwrap();
        check_indexes(&d);
        assert_eq!(
            (
                m.updated.len(),
                m.deleted.len(),
                m.created.len(),
                m.moved.len()
            ),
            (10, 8, 5, 7)
        );
        assert_eq!(m.attachments.len(), 12 + 3);
        assert_eq!(m.attachments_created.len(), 3);
        assert_eq!(d.pages.len(), 300 - 8 + 5);
        for id in m.updated.iter().chain(&m.moved) {
            let id: u64 = id.parse().unwrap();
            let n = &d.pages[&id];
            assert!(n.meta.version > before_pages[&id].meta.version);
            assert_eq!(n.meta.modified, now);
        }
        for id in &m.deleted {
            let id: u64 = id.parse().unwrap();
            assert!(!d.pages.contains_key(&id));
            assert!(!d.page_attachments.contains_key(&id));
        }
        assert_eq!(m.deleted_attachments.len(), 16);
        assert_eq!(m.deleted_comments.len(), 8);
        for id in &m.reparented {
            let id: u64 = id.parse().unwrap();
            let n = d.pages.get(&id).or_else(|| d.folders.get(&id)).unwrap();
            assert_eq!(n.meta.modified, now);
        }
        // Everything changed is exactly what the lastmodified index has at `now`.
        let changed: BTreeSet<u64> = d.modified[0].range((now, 0)..).map(|(_, id)| *id).collect();
        let reported: BTreeSet<u64> = m
            .updated
            .iter()
            .chain(&m.moved)
            .chain(&m.created)
            .chain(&m.reparented)
            .map(|s| s.parse().unwrap())
            .filter(|id| d.pages.contains_key(id))
            .collect();
        assert_eq!(changed, reported);
        // The next mutation is strictly later even with the same clock.
        let m2 = d
            .mutate(
                MutateRequest {
                    update: 1,
                    ..Default::default()
                },
                now,
            )
            .unwrap();
        let id: u64 = m2.updated[0].parse().unwrap();
        assert_eq!(d.pages[&id].meta.modified, now + 1);
        // Too much is refused and changes nothing.
        let n = d.pages.len();
        assert!(d
            .mutate(
                MutateRequest {
                    delete: n + 1,
                    ..Default::default()
                },
                now
            )
            .is_err());
        assert_eq!(d.pages.len(), n);
        // Deleting everything works and leaves consistent indexes.
        let _ = d
            .mutate(
                MutateRequest {
                    delete: n,
                    ..Default::default()
                },
                now,
            )
            .unwrap();
        check_indexes(&d);
        assert!(d.pages.is_empty() && d.attachments.is_empty());
    }
}
