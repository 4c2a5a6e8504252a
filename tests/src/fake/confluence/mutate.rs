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
    /// Attachments and comments deleted with their page or blog post.
    pub deleted_attachments: Vec<String>,
    pub deleted_comments: Vec<String>,
    pub deleted_inline_comments: Vec<String>,
    pub blogposts_updated: Vec<String>,
    pub blogposts_deleted: Vec<String>,
    pub blogposts_created: Vec<String>,
    /// Pages and blog posts whose labels changed (no new version).
    pub labels_changed: Vec<String>,
    /// New inline comments (their page or blog post gets a new version
    /// with the marker, reported in `updated` / `blogposts_updated`).
    pub inline_comments_created: Vec<String>,
    /// Inline comments with a new version (a new body).
    pub inline_comments_updated: Vec<String>,
    /// Inline comments resolved (or reopened when resolved): a new version.
    pub inline_comments_resolved: Vec<String>,
    /// Pages and blog posts with a property added or changed (no new
    /// content version; the property's version goes up).
    pub properties_changed: Vec<String>,
    /// Pages and blog posts whose read restriction was added or lifted (no
    /// new version).
    pub restrictions_changed: Vec<String>,
}

/// What went with a deleted page, and its children that moved up.
#[derive(Debug, Default)]
pub(super) struct DeletedPage {
    pub attachments: Vec<u64>,
    pub comments: Vec<u64>,
    pub inline_comments: Vec<u64>,
    pub reparented: Vec<u64>,
}

/// The counts `mutate` takes, and pages to update on purpose.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MutateRequest {
    /// Pages and blog posts updated besides the `update` random ones
    /// (never picked for the random changes), e.g. to make a push conflict
    /// on purpose.
    pub update_ids: BTreeSet<u64>,
    pub update: usize,
    pub delete: usize,
    pub create: usize,
    pub moves: usize,
    pub attachments: usize,
    pub blogposts_update: usize,
    pub blogposts_delete: usize,
    pub blogposts_create: usize,
    /// Pages and blog posts that get a label added or removed.
    pub labels: usize,
    pub inline_create: usize,
    pub inline_update: usize,
    /// Inline comments deleted (their marker leaves the body: the page or
    /// blog post gets a new version).
    pub inline_delete: usize,
    pub inline_resolve: usize,
    pub properties: usize,
    pub restrictions: usize,
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
            Kind::BlogPost => self.blogposts.get_mut(&id),
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

    /// Deletes page or blog post `id` (it goes to the trash: gone from
    /// every listing and fetch) with its attachments, comments, labels,
    /// properties and restrictions; a page's child pages and folders move
    /// to its parent with a new version at `now`. `None` when there is no
    /// such content.
    pub(super) fn delete_content(
        &mut self,
        kind: Kind,
        id: u64,
        now: Ms,
        editor: usize,
    ) -> Option<DeletedPage> {
        let node = match kind {
            Kind::Page => self.pages.remove(&id)?,
            Kind::BlogPost => self.blogposts.remove(&id)?,
            _ => return None,
        };
        let mut gone = DeletedPage::default();
        self.modified[kind as usize].remove(&(node.meta.modified, id));
        self.missing.remove(&id);
        self.annot.remove(id);
        for att in self.page_attachments.remove(&id).unwrap_or_default() {
            if let Some(a) = self.attachments.remove(&att) {
                self.modified[Kind::Attachment as usize].remove(&(a.meta.modified, att));
                gone.attachments.push(att);
            }
        }
        let comments = self.page_comments.remove(&id).unwrap_or_default();
        let inline = self.page_inline.remove(&id).unwrap_or_default();
        for c in comments.into_iter().chain(inline) {
            if let Some(cm) = self.comments.remove(&c) {
                self.modified[cm.kind() as usize].remove(&(cm.meta.modified, c));
                match cm.kind() {
                    Kind::Comment => gone.comments.push(c),
                    _ => gone.inline_comments.push(c),
                }
            }
        }
        if kind == Kind::BlogPost {
            return Some(gone);
        }
        self.titles.remove(&(node.meta.title.clone(), id));
        if let Some(s) = self.children.get_mut(&node.parent) {
            s.remove(&(node.position, id));
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

    /// Gives page or blog post `id` the title `title` (a new version) at
    /// time `now`.
    pub fn retitle(&mut self, id: u64, title: String, now: Ms) -> Result<(), String> {
        let Some(kind) = self.container_kind(id) else {
            return Err(format!("no page or blog post {id}"));
        };
        let node = self.node_mut(kind, id).expect("exists");
        let old = std::mem::replace(&mut node.meta.title, title.clone());
        let editor = node.meta.editor;
        if kind == Kind::Page {
            self.titles.remove(&(old, id));
            self.titles.insert((title, id));
        }
        let now = now.max(self.last_change + 1);
        self.last_change = now;
        self.bump_node(kind, id, now, None, editor);
        Ok(())
    }

    /// Applies random changes at time `now` (see [`Mutation`]); all or nothing.
    pub fn mutate(&mut self, req: MutateRequest, now: Ms) -> Result<Mutation, String> {
        if let Some(id) = req
            .update_ids
            .iter()
            .find(|id| self.container_kind(**id).is_none())
        {
            return Err(format!("no page or blog post {id} to update"));
        }
        let fixed_pages = req
            .update_ids
            .iter()
            .filter(|id| self.pages.contains_key(id))
            .count();
        let fixed_blogs = req.update_ids.len() - fixed_pages;
        let pages_needed = req.update + req.delete + req.moves;
        if pages_needed > self.pages.len() - fixed_pages {
            return Err(format!(
                "cannot update {}, delete {} and move {} pages: only {} exist",
                req.update,
                req.delete,
                req.moves,
                self.pages.len() - fixed_pages
            ));
        }
        let blogs_needed = req.blogposts_update + req.blogposts_delete;
        if blogs_needed > self.blogposts.len() - fixed_blogs {
            return Err(format!(
                "cannot update {} and delete {} blog posts: only {} exist",
                req.blogposts_update,
                req.blogposts_delete,
                self.blogposts.len() - fixed_blogs
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
        let labelled_left = self.pages.len() - req.delete + req.create + self.blogposts.len()
            - req.blogposts_delete
            + req.blogposts_create;
        let annotated = req.labels.max(req.properties).max(req.restrictions);
        if annotated > labelled_left {
            return Err(format!(
                "cannot change the labels, properties or restrictions of {annotated}: only {labelled_left} pages and blog posts would exist",
            ));
        }
        let inline = self.modified[Kind::InlineComment as usize].len();
        // Deletions of pages may take inline comments with them: a bound.
        if req.inline_update + req.inline_delete + req.inline_resolve > inline {
            return Err(format!(
                "cannot update {}, delete {} and resolve {} inline comments: only {inline} exist",
                req.inline_update, req.inline_delete, req.inline_resolve
            ));
        }
        if req.inline_create > 0 && labelled_left == 0 {
            return Err("no page or blog post would be left for new inline comments".to_owned());
        }
        let now = now.max(self.last_change + 1);
        self.last_change = now;
        let mut out = Mutation::default();
        let [to_delete, mut to_update, to_move] = self.pick(
            Kind::Page,
            &req.update_ids,
            [req.delete, req.update, req.moves],
        );
        let [blogs_delete, mut blogs_update, _] = self.pick(
            Kind::BlogPost,
            &req.update_ids,
            [req.blogposts_delete, req.blogposts_update, 0],
        );
        for id in &req.update_ids {
            match self.container_kind(*id) {
                Some(Kind::Page) => to_update.push(*id),
                _ => blogs_update.push(*id),
            }
        }
        to_update.sort_unstable();
        blogs_update.sort_unstable();
        let editor = pick_user(&mut self.rng);

        let mut reparented = BTreeSet::new();
        let mut gone_all = DeletedPage::default();
        let deletions = to_delete
            .iter()
            .map(|id| (Kind::Page, *id))
            .chain(blogs_delete.iter().map(|id| (Kind::BlogPost, *id)));
        for (kind, id) in deletions {
            let gone = self
                .delete_content(kind, id, now, editor)
                .expect("picked from the content");
            gone_all.attachments.extend(gone.attachments);
            gone_all.comments.extend(gone.comments);
            gone_all.inline_comments.extend(gone.inline_comments);
            reparented.extend(gone.reparented);
            reparented.remove(&id);
        }
        out.deleted = strings(&to_delete);
        out.blogposts_deleted = strings(&blogs_delete);
        for &id in &to_update {
            self.bump_node(Kind::Page, id, now, None, editor);
        }
        for &id in &blogs_update {
            self.bump_node(Kind::BlogPost, id, now, None, editor);
        }
        out.updated = strings(&to_update);
        out.blogposts_updated = strings(&blogs_update);
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
            let id = self.create(Kind::Page, title, parent, now, editor);
            out.created.push(id.to_string());
        }
        for _ in 0..req.blogposts_create {
            let mut rng = StdRng::seed_from_u64(self.rng.random());
            let title = super::content::blog_title(&mut rng);
            let id = self.create(Kind::BlogPost, title, None, now, editor);
            out.blogposts_created.push(id.to_string());
        }
        if req.attachments > 0 {
            self.change_attachments(req.attachments, now, editor, &mut out);
        }
        if req.labels > 0 {
            out.labels_changed = self.change_labels(req.labels);
        }
        self.change_inline(&req, now, editor, &mut out);
        if req.properties > 0 {
            out.properties_changed = self.change_properties(req.properties, now, editor);
        }
        if req.restrictions > 0 {
            out.restrictions_changed = self.change_restrictions(req.restrictions);
        }
        // A reparented child that was also picked for deletion is gone.
        out.reparented = reparented
            .into_iter()
            .filter(|id| self.pages.contains_key(id) || self.folders.contains_key(id))
            .map(|id| id.to_string())
            .collect();
        gone_all.attachments.sort_unstable();
        gone_all.comments.sort_unstable();
        gone_all.inline_comments.sort_unstable();
        out.deleted_attachments = gone_all
            .attachments
            .iter()
            .map(|a| format!("att{a}"))
            .collect();
        out.deleted_comments = strings(&gone_all.comments);
        // Inline comments deleted on their own are there already.
        let mut inline: Vec<u64> = gone_all.inline_comments;
        inline.extend(
            out.deleted_inline_comments
                .iter()
                .filter_map(|c| c.parse::<u64>().ok()),
        );
        inline.sort_unstable();
        out.deleted_inline_comments = strings(&inline);
        Ok(out)
    }

    /// Distinct random pages or blog posts (`kind`) outside `fixed`, in
    /// groups of the sizes `counts`, each sorted.
    fn pick(&mut self, kind: Kind, fixed: &BTreeSet<u64>, counts: [usize; 3]) -> [Vec<u64>; 3] {
        let ids: Vec<u64> = self
            .nodes(kind)
            .keys()
            .filter(|id| !fixed.contains(id))
            .copied()
            .collect();
        let total = counts.iter().sum();
        let picks = rand::seq::index::sample(&mut self.rng, ids.len(), total).into_vec();
        let mut groups: [Vec<u64>; 3] = Default::default();
        for (i, idx) in picks.into_iter().enumerate() {
            let g = if i < counts[0] {
                0
            } else if i < counts[0] + counts[1] {
                1
            } else {
                2
            };
            groups[g].push(ids[idx]);
        }
        for g in &mut groups {
            g.sort_unstable();
        }
        groups
    }

    /// A new page or blog post at `now`, version 1, no body written.
    fn create(
        &mut self,
        kind: Kind,
        title: String,
        parent: ParentKey,
        now: Ms,
        editor: usize,
    ) -> u64 {
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
        self.insert_node(kind, id, Node::new(meta, parent));
        id
    }

    /// New versions of `n` random attachments, and a quarter as many new
    /// ones on random pages.
    fn change_attachments(&mut self, n: usize, now: Ms, editor: usize, out: &mut Mutation) {
        let att_ids: Vec<u64> = self.attachments.keys().copied().collect();
        let mut picked: Vec<u64> = rand::seq::index::sample(&mut self.rng, att_ids.len(), n)
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
        for _ in 0..n.div_ceil(4) {
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

    /// Adds a label to, or removes one from, `n` random pages and blog
    /// posts (no new version); their ids, sorted.
    fn change_labels(&mut self, n: usize) -> Vec<String> {
        let picked = self.pick_annotated(n);
        for &id in &picked {
            let current: Vec<String> = self.annot.labels_of(id).map(str::to_owned).collect();
            if !current.is_empty() && self.rng.random_bool(0.5) {
                let name = &current[self.rng.random_range(0..current.len())];
                self.annot.remove_label(id, name);
            } else {
                let labels = super::annot::LABELS;
                let fresh: Vec<&str> = labels
                    .iter()
                    .copied()
                    .filter(|l| !current.iter().any(|c| c == l))
                    .collect();
                let name = match fresh.as_slice() {
                    [] => "changed",
                    f => f[self.rng.random_range(0..f.len())],
                };
                self.annot.add_label(id, name);
            }
        }
        strings(&picked)
    }
}

impl Data {
    /// The inline comment changes of `req` (after the other changes).
    fn change_inline(&mut self, req: &MutateRequest, now: Ms, editor: usize, out: &mut Mutation) {
        let mut bumped: BTreeSet<u64> = BTreeSet::new();
        let ids: Vec<u64> = self.modified[Kind::InlineComment as usize]
            .iter()
            .map(|(_, id)| *id)
            .collect();
        let counts = [req.inline_delete, req.inline_update, req.inline_resolve];
        let total: usize = counts.iter().sum();
        let picks = rand::seq::index::sample(&mut self.rng, ids.len(), total.min(ids.len()));
        let mut picked: Vec<u64> = picks.into_iter().map(|i| ids[i]).collect();
        let resolve: Vec<u64> = picked.split_off((counts[0] + counts[1]).min(picked.len()));
        let update: Vec<u64> = picked.split_off(counts[0].min(picked.len()));
        for c in picked {
            let Some(comment) = self.comments.remove(&c) else {
                continue;
            };
            self.modified[Kind::InlineComment as usize].remove(&(comment.meta.modified, c));
            if let Some(s) = self.page_inline.get_mut(&comment.page) {
                s.remove(&c);
            }
            if let Some(n) = self.content_node_mut(comment.page) {
                n.markers.retain(|m| *m != c);
            }
            bumped.insert(comment.page);
            out.deleted_inline_comments.push(c.to_string());
        }
        for (list, resolving) in [(update, false), (resolve, true)] {
            for c in list {
                let comment = self.comments.get_mut(&c).expect("picked");
                let old = comment.meta.modified;
                comment.meta.version += 1;
                comment.meta.modified = now;
                comment.meta.editor = editor;
                if resolving {
                    comment.inline = Some(match comment.inline {
                        Some("resolved") => "reopened",
                        _ => "resolved",
                    });
                }
                self.modified[Kind::InlineComment as usize].remove(&(old, c));
                self.modified[Kind::InlineComment as usize].insert((now, c));
                let report = if resolving {
                    &mut out.inline_comments_resolved
                } else {
                    &mut out.inline_comments_updated
                };
                report.push(c.to_string());
            }
        }
        let containers: Vec<u64> = self
            .pages
            .keys()
            .chain(self.blogposts.keys())
            .copied()
            .collect();
        for _ in 0..req.inline_create {
            let page = containers[self.rng.random_range(0..containers.len())];
            let mut rng = StdRng::seed_from_u64(self.rng.random());
            let status = if rng.random_bool(0.8) {
                "open"
            } else {
                "reopened"
            };
            let c = self.new_comment(&mut rng, page, now, Some(status));
            if let Some(n) = self.content_node_mut(page) {
                n.markers.push(c);
            }
            bumped.insert(page);
            out.inline_comments_created.push(c.to_string());
        }
        // The bodies changed: a new version of each page or blog post.
        for id in bumped {
            let Some(kind) = self.container_kind(id) else {
                continue;
            };
            self.bump_node(kind, id, now, None, editor);
            let report = if kind == Kind::Page {
                &mut out.updated
            } else {
                &mut out.blogposts_updated
            };
            if !report.contains(&id.to_string()) {
                report.push(id.to_string());
            }
        }
        for list in [
            &mut out.updated,
            &mut out.blogposts_updated,
            &mut out.deleted_inline_comments,
            &mut out.inline_comments_created,
            &mut out.inline_comments_updated,
            &mut out.inline_comments_resolved,
        ] {
            list.sort_by_key(|id| id.parse::<u64>().unwrap_or_default());
        }
    }

    /// `n` random pages and blog posts get a property added or changed.
    fn change_properties(&mut self, n: usize, now: Ms, editor: usize) -> Vec<String> {
        let picked = self.pick_annotated(n);
        for &id in &picked {
            let mut rng = StdRng::seed_from_u64(self.rng.random());
            self.annot.set_property(id, &mut rng, now, editor);
        }
        strings(&picked)
    }

    /// `n` random pages and blog posts get a read restriction, or lose it.
    fn change_restrictions(&mut self, n: usize) -> Vec<String> {
        let picked = self.pick_annotated(n);
        for &id in &picked {
            let user = pick_user(&mut self.rng);
            self.annot.toggle_read_restriction(id, user);
        }
        strings(&picked)
    }

    /// `n` distinct random pages and blog posts, sorted.
    fn pick_annotated(&mut self, n: usize) -> Vec<u64> {
        let ids: Vec<u64> = self
            .pages
            .keys()
            .chain(self.blogposts.keys())
            .copied()
            .collect();
        let mut picked: Vec<u64> = rand::seq::index::sample(&mut self.rng, ids.len(), n)
            .into_iter()
            .map(|i| ids[i])
            .collect();
        picked.sort_unstable();
        picked
    }
}

fn strings(ids: &[u64]) -> Vec<String> {
    ids.iter().map(u64::to_string).collect()
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
            blogposts: 30,
            inline_comments_per_page: 1,
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
        assert_eq!(m.deleted_inline_comments.len(), 8);
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
                    blogposts_delete: d.blogposts.len(),
                    ..Default::default()
                },
                now,
            )
            .unwrap();
        check_indexes(&d);
        assert!(d.pages.is_empty() && d.blogposts.is_empty());
        assert!(d.attachments.is_empty() && d.comments.is_empty());
        assert!(d.annot.labels.is_empty() && d.annot.properties.is_empty());
    }

    #[test]
    fn inline_comments_properties_and_restrictions_change() {
        let mut d = Data::generate(&cfg(120, 5));
        let props_before = d.annot.properties.clone();
        let restr_before = d.annot.restrictions.clone();
        let now = 1_800_000_000_000;
        let m = d
            .mutate(
                MutateRequest {
                    inline_create: 3,
                    inline_update: 2,
                    inline_delete: 2,
                    inline_resolve: 2,
                    properties: 4,
                    restrictions: 3,
                    ..Default::default()
                },
                now,
            )
            .unwrap();
        check_indexes(&d);
        assert_eq!(m.inline_comments_created.len(), 3);
        assert_eq!(m.inline_comments_updated.len(), 2);
        assert_eq!(m.inline_comments_resolved.len(), 2);
        assert_eq!(m.deleted_inline_comments.len(), 2);
        for c in &m.inline_comments_created {
            let c: u64 = c.parse().unwrap();
            let page = d.comments[&c].page;
            assert!(d.container(page).unwrap().markers.contains(&c));
            let bumped = m.updated.iter().chain(&m.blogposts_updated);
            assert!(bumped.into_iter().any(|id| *id == page.to_string()));
        }
        for c in &m.inline_comments_resolved {
            let c = &d.comments[&c.parse().unwrap()];
            assert!(matches!(c.inline, Some("resolved" | "reopened")));
            assert_eq!(c.meta.modified, now);
        }
        for id in &m.properties_changed {
            let id: u64 = id.parse().unwrap();
            assert_ne!(d.annot.properties.get(&id), props_before.get(&id));
            assert!(
                d.container(id).unwrap().meta.modified < now
                    || m.updated.contains(&id.to_string())
                    || m.blogposts_updated.contains(&id.to_string())
            );
        }
        for id in &m.restrictions_changed {
            let id: u64 = id.parse().unwrap();
            let read = |r: Option<&super::super::annot::Restrictions>| {
                r.is_some_and(|r| !r.read.is_empty())
            };
            assert_ne!(
                read(d.annot.restrictions.get(&id)),
                read(restr_before.get(&id))
            );
        }
    }

    #[test]
    fn blog_posts_and_labels_change_like_pages() {
        let mut d = Data::generate(&cfg(100, 5));
        let before = d.blogposts.clone();
        let labels_before = d.annot.labels.clone();
        let pinned = *d.blogposts.keys().next().unwrap();
        let now = 1_800_000_000_000;
        let m = d
            .mutate(
                MutateRequest {
                    update_ids: [pinned].into(),
                    blogposts_update: 3,
                    blogposts_delete: 2,
                    blogposts_create: 4,
                    labels: 6,
                    ..Default::default()
                },
                now,
            )
            .unwrap();
        check_indexes(&d);
        assert_eq!(m.blogposts_updated.len(), 4);
        assert!(m.blogposts_updated.contains(&pinned.to_string()));
        assert_eq!(
            (m.blogposts_deleted.len(), m.blogposts_created.len()),
            (2, 4)
        );
        assert!(m.updated.is_empty());
        assert_eq!(d.blogposts.len(), 30 - 2 + 4);
        for id in &m.blogposts_updated {
            let id: u64 = id.parse().unwrap();
            assert_eq!(d.blogposts[&id].meta.version, before[&id].meta.version + 1);
        }
        assert_eq!(m.deleted_attachments.len(), 4);
        // Label changes: no new version, a different label set.
        assert_eq!(m.labels_changed.len(), 6);
        for id in &m.labels_changed {
            let id: u64 = id.parse().unwrap();
            if let Some(n) = d.container(id) {
                assert_ne!(d.annot.labels.get(&id), labels_before.get(&id), "{id}");
                let created = m.created.contains(&id.to_string())
                    || m.blogposts_created.contains(&id.to_string());
                assert!(
                    created
                        || n.meta.modified < now
                        || m.blogposts_updated.contains(&id.to_string())
                );
            }
        }
        assert!(d
            .mutate(
                MutateRequest {
                    blogposts_delete: 1000,
                    ..Default::default()
                },
                now
            )
            .is_err());
    }
}
