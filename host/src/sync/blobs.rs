//! Blob downloads: the host streams each referenced binary from the network
//! to a content-addressed file (`<store>.blobs/ab/abcdef…`), never through plugin
//! memory, and only when the reference's version changed. A blob that is an
//! archive member (`blob-ref.member`) comes from its archive, downloaded once
//! per run and unpacked into the same place ([`synchost_core::archive`]).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::archive::{self, Index, TempPath};
use anyhow::Result;
use tokio::sync::{OnceCell, Semaphore};

use crate::error::failed;
use crate::net::{DownloadError, HttpClient};
use crate::runtime::bindings::types::BlobRef;
use crate::store::checkpoint::BlobLink;
use crate::store::Store;

/// An archive of this run: unpacked once, by whichever record asked first.
type Archive = Arc<OnceCell<Result<Arc<Index>, DownloadError>>>;

/// Downloads blobs with its own, lower concurrency.
pub struct BlobFetcher {
    http: Arc<HttpClient>,
    dir: PathBuf,
    slots: Semaphore,
    limits: archive::Limits,
    /// Archive URL → its members, for the run.
    archives: Mutex<HashMap<String, Archive>>,
}

impl BlobFetcher {
    /// `limits` bound what one archive may unpack to.
    pub fn new(
        http: Arc<HttpClient>,
        dir: PathBuf,
        concurrency: usize,
        limits: archive::Limits,
    ) -> BlobFetcher {
        BlobFetcher {
            http,
            dir,
            slots: Semaphore::new(concurrency.max(1)),
            limits,
            archives: Mutex::default(),
        }
    }

    /// Downloads `refs` concurrently; the first failure fails the record
    /// (the inner error). A spent download budget stops the run (the outer
    /// error).
    pub async fn download_all(
        &self,
        refs: &[BlobRef],
    ) -> Result<std::result::Result<Vec<BlobLink>, String>> {
        let downloads = refs.iter().map(|blob| self.download(blob));
        let mut links = Vec::with_capacity(refs.len());
        let mut first_failure = None;
        for result in futures::future::join_all(downloads).await {
            match result {
                Ok(link) => links.push(link),
                Err(DownloadError::BudgetSpent(why)) => {
                    return Err(failed(format!(
                        "source `{}`: {why}; what was committed is kept: raise the limit, \
                         or rerun to continue",
                        self.http.source()
                    )))
                }
                Err(DownloadError::Blob(why)) => {
                    first_failure.get_or_insert(why);
                }
            }
        }
        Ok(match first_failure {
            Some(why) => Err(why),
            None => Ok(links),
        })
    }

    async fn download(&self, blob: &BlobRef) -> Result<BlobLink, DownloadError> {
        let name = &blob.name;
        let link = |hash: String, size: u64, path: String| BlobLink {
            name: blob.name.clone(),
            url: blob.url.clone(),
            version: blob.version.clone(),
            hash,
            size,
            media_type: blob.media_type.clone(),
            path,
        };
        if let Some(member) = &blob.member {
            let found = self.member(blob, member).await.map_err(|err| match err {
                DownloadError::Blob(why) => {
                    DownloadError::Blob(format!("blob `{name}` (archive member `{member}`): {why}"))
                }
                spent => spent,
            })?;
            return Ok(link(found.hash, found.size, found.path));
        }
        let local = |why: String| DownloadError::Blob(format!("blob `{name}`: {why}"));
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|e| local(e.to_string()))?;
        let temp = TempPath::new(&self.dir).map_err(|e| local(format!("cannot store: {e}")))?;
        let (hash, size) = self
            .http
            .download(&blob.url, &blob.headers, blob.size, &temp.0)
            .await
            .map_err(|err| match err {
                DownloadError::Blob(why) => local(why),
                DownloadError::BudgetSpent(why) => {
                    DownloadError::BudgetSpent(format!("blob `{name}`: {why}"))
                }
            })?;
        // Same hash, same bytes: an existing file is already right (and
        // the temporary one goes when `temp` is dropped).
        let path = archive::place(&self.dir, &temp.0, &hash)
            .map_err(|e| local(format!("cannot store blob: {e}")))?;
        Ok(link(hash, size, path))
    }

    /// The member `member` of the archive at `blob.url`.
    async fn member(&self, blob: &BlobRef, member: &str) -> Result<archive::Member, DownloadError> {
        let cell = self
            .archives
            .lock()
            .unwrap()
            .entry(blob.url.clone())
            .or_default()
            .clone();
        let index = cell.get_or_init(|| self.unpack(blob)).await.clone()?;
        match index.get(member) {
            Some(Ok(found)) => match blob.size {
                Some(declared) if declared != found.size => Err(DownloadError::Blob(format!(
                    "the member is {} bytes, not the {declared} the reference declared",
                    found.size
                ))),
                _ => Ok(found.clone()),
            },
            Some(Err(why)) => Err(DownloadError::Blob(why.clone())),
            None => Err(DownloadError::Blob(
                "the archive has no such regular file".to_string(),
            )),
        }
    }

    /// Downloads the archive at `blob.url` (the blob's headers, no declared
    /// size: that is the member's) and unpacks it. Its failure is every
    /// member's for the rest of the run.
    async fn unpack(&self, blob: &BlobRef) -> Result<Arc<Index>, DownloadError> {
        let local = |why: String| DownloadError::Blob(format!("archive: {why}"));
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|e| local(e.to_string()))?;
        let temp = TempPath::new(&self.dir).map_err(|e| local(format!("cannot store: {e}")))?;
        self.http
            .download(&blob.url, &blob.headers, None, &temp.0)
            .await
            .map_err(|err| match err {
                DownloadError::Blob(why) => local(why),
                DownloadError::BudgetSpent(why) => {
                    DownloadError::BudgetSpent(format!("archive of blob `{}`: {why}", blob.name))
                }
            })?;
        let (dir, limits) = (self.dir.clone(), self.limits);
        // The archive's file goes when `temp` is dropped, unpacked or not.
        tokio::task::spawn_blocking(move || archive::unpack(&temp.0, &dir, &limits))
            .await
            .map_err(|e| local(e.to_string()))?
            .map(Arc::new)
            .map_err(local)
    }
}

/// Removes what no record references: blob rows without links, files
/// without rows, and leftovers of interrupted downloads (`tmp/`). Runs under
/// the writer lock, so no download is in progress. Returns the files removed.
pub fn sweep(store: &Store) -> Result<u64> {
    if !store.owns_blob_dir() {
        return Ok(0); // Other stores may reference files there.
    }
    let referenced: HashSet<String> = store.referenced_blob_paths()?.into_iter().collect();
    let dir = store.blob_dir();
    let mut removed = 0;
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(0);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let shard = entry.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(&path)?.flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            let relative = Path::new(&shard).join(&name).to_string_lossy().into_owned();
            if shard == "tmp" || !referenced.contains(&relative) {
                std::fs::remove_file(file.path())?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}
