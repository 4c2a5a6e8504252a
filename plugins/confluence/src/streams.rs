//! The streams, and how each is listed.

use synchost_sdk::Error;

use crate::api::Kind;
use crate::config::{BodyFormat, Config};
use crate::extras::Wanted;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Pages,
    BlogPosts,
    Folders,
    Attachments,
    Comments,
    InlineComments,
}

impl Stream {
    pub const ALL: [Stream; 6] = [
        Stream::Pages,
        Stream::BlogPosts,
        Stream::Folders,
        Stream::Attachments,
        Stream::Comments,
        Stream::InlineComments,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stream::Pages => "pages",
            Stream::BlogPosts => "blogposts",
            Stream::Folders => "folders",
            Stream::Attachments => "attachments",
            Stream::Comments => "comments",
            Stream::InlineComments => "inline-comments",
        }
    }

    /// What one item is called in messages.
    pub fn item(self) -> &'static str {
        match self {
            Stream::Pages => "page",
            Stream::BlogPosts => "blog post",
            Stream::Folders => "folder",
            Stream::Attachments => "attachment",
            Stream::Comments => "comment",
            Stream::InlineComments => "inline comment",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Stream::Pages => "Pages with their bodies",
            Stream::BlogPosts => "Blog posts with their bodies",
            Stream::Folders => "Folders of the page tree",
            Stream::Attachments => "Attachments; the host downloads the files",
            Stream::Comments => {
                "Footer comments with their bodies (only with include_comments=true)"
            }
            Stream::InlineComments => {
                "Inline comments with their anchor text and resolution \
                 (only with include_comments=true)"
            }
        }
    }

    pub fn parse(name: &str) -> Result<Stream, Error> {
        Stream::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| Error::unknown_stream(name))
    }

    /// Pages and blog posts: listed through v2, pushed, with labels,
    /// properties and restrictions.
    pub fn kind(self) -> Option<Kind> {
        match self {
            Stream::Pages => Some(Kind::Page),
            Stream::BlogPosts => Some(Kind::BlogPost),
            _ => None,
        }
    }

    /// Comments of either stream: only with `include_comments`.
    pub fn is_comments(self) -> bool {
        matches!(self, Stream::Comments | Stream::InlineComments)
    }

    /// Items that belong to a page or blog post (their parent): left out
    /// with it under `restrictions = skip`.
    pub fn has_container(self) -> bool {
        matches!(
            self,
            Stream::Attachments | Stream::Comments | Stream::InlineComments
        )
    }

    /// The CQL content type.
    pub fn cql_type(self) -> &'static str {
        match self {
            Stream::Pages => "page",
            Stream::BlogPosts => "blogpost",
            Stream::Folders => "folder",
            Stream::Attachments => "attachment",
            Stream::Comments | Stream::InlineComments => "comment",
        }
    }

    /// What the bulk metadata search asks for this stream's items: only
    /// pages and blog posts have any, and only when a setting asks.
    pub fn wanted(self, config: &Config) -> Option<Wanted> {
        self.kind().and(Wanted::of(config))
    }

    /// What a content search (or a v1 fetch) expands: versions always; the
    /// page an attachment or comment belongs to; comment bodies; an inline
    /// comment's anchor and resolution; what the settings ask of pages and
    /// blog posts.
    pub fn expand(self, config: &Config) -> Vec<&'static str> {
        let body = match config.body_format {
            BodyFormat::Storage => "body.storage",
            BodyFormat::AtlasDocFormat => "body.atlas_doc_format",
        };
        let mut expand = vec!["version"];
        match self {
            Stream::Pages | Stream::BlogPosts => {
                expand.extend(self.wanted(config).map(Wanted::expand).unwrap_or_default())
            }
            Stream::Folders => {}
            Stream::Attachments => expand.push("container"),
            Stream::Comments => expand.extend(["container", body]),
            Stream::InlineComments => expand.extend([
                "container",
                body,
                "extensions.inlineProperties",
                "extensions.resolution",
            ]),
        }
        expand
    }
}

/// How a stream is listed in this enumeration. `since` is the same on every
/// call of one enumeration (the host keeps it with the run), so a resumed
/// cursor is read the same way as the page that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// v2 `GET /spaces/{id}/pages` (or `/blogposts`): a full listing.
    Space(Kind),
    /// v1 CQL content search: every other listing.
    Search,
}

impl Listing {
    pub fn of(stream: Stream, since: Option<&str>) -> Listing {
        match (stream.kind(), since) {
            (Some(kind), None) => Listing::Space(kind),
            _ => Listing::Search,
        }
    }
}
