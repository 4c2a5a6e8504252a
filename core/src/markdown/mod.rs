//! Confluence storage format <-> Markdown, with an exact round trip.
//!
//! [`to_markdown`] splits a body into its top-level blocks, keeping each
//! block's bytes. A block becomes Markdown (paragraphs, headings, emphasis,
//! code, strikethrough, links, page links `[[Title]]`, attachment images,
//! lists, block quotes, `<br />`, rules, simple tables, code macros) only
//! when that Markdown converts back to exactly its bytes; any other block
//! (panels, status, expand, Jira and other macros, merged cells, layouts,
//! task lists, anything unusual) is a fenced block with the info string
//! [`RAW_INFO`] that carries the storage XML verbatim. Inside a paragraph an
//! element Markdown cannot say stays as inline HTML, verbatim. White space
//! between blocks is kept as `<!-- gap "..." -->` lines. The whole result is
//! checked once more; if it does not convert back exactly (blocks that merge
//! with their neighbours), the whole body is one raw block. So
//! `to_storage(to_markdown(x)) == x` for every body `x`.
//!
//! Text stays text: entities are kept as written (`&lt;b&gt;` is the text
//! `<b>` in Markdown too, never bold) and characters Markdown would read as
//! syntax are escaped with `\`.
//!
//! [`to_storage`] reads that Markdown and the Markdown a user adds: new or
//! edited paragraphs become `<p>...</p>` with `<`, `>` and bare `&` escaped.
//! Each block converts on its own, so editing one paragraph changes only
//! that paragraph's bytes. Bodies are hostile: nesting is bounded (see
//! [`storage::MAX_DEPTH`]), nothing recurses without a bound, nothing panics.

mod storage;
mod text;
mod to_markdown;
mod to_storage;

use std::collections::HashMap;
use std::fmt;

pub use text::to_text;

/// The info string of a fenced block that holds storage XML verbatim.
pub const RAW_INFO: &str = "xml confluence-storage";
/// Before a code macro's id in a fence's info string.
const MACRO_ID: &str = "macro-id=";
/// How a line that keeps white space between blocks starts.
const GAP_MARKER: &str = "<!-- gap ";
/// Between two blocks.
const SEPARATOR: &str = "\n\n";

/// Where a page's attachments are in the mirror, relative to its Markdown
/// file: `![](path)` for `<ac:image><ri:attachment ri:filename="F" />`.
#[derive(Debug, Default, Clone)]
pub struct Links {
    by_filename: HashMap<String, String>,
    by_path: HashMap<String, String>,
}

impl Links {
    /// From (attachment file name, relative path) pairs.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Links {
        let mut links = Links::default();
        for (filename, path) in pairs {
            links.by_path.insert(path.clone(), filename.clone());
            links.by_filename.insert(filename, path);
        }
        links
    }

    fn path_of<'a>(&'a self, filename: &'a str) -> &'a str {
        self.by_filename
            .get(filename)
            .map_or(filename, String::as_str)
    }

    fn filename_of<'a>(&'a self, path: &'a str) -> &'a str {
        self.by_path.get(path).map_or(path, String::as_str)
    }
}

/// Markdown that cannot be converted to storage format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertError(String);

impl ConvertError {
    fn new(why: impl Into<String>) -> ConvertError {
        ConvertError(why.into())
    }
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConvertError {}

/// The Markdown of a storage-format body (see the module documentation).
pub fn to_markdown(storage: &str, links: &Links) -> String {
    to_markdown::document(storage, links)
}

/// The storage-format body of Markdown.
pub fn to_storage(markdown: &str, links: &Links) -> Result<String, ConvertError> {
    to_storage::document(markdown, links)
}

#[cfg(test)]
mod tests;
