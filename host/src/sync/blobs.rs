//! Blob downloads: the host streams each referenced binary from the network
//! to a content-addressed file (`<store>.blobs/ab/abcdef…`), never through plugin
//! memory, and only when the reference's version changed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;

use tokio::sync::Semaphore;

use crate::error::failed;
use crate::net::{DownloadError, HttpClient};
use crate::runtime::bindings::types::BlobRef;
use crate::store::checkpoint::BlobLink;
use crate::store::Store;

/// Downloads blobs with its own, lower concurrency.
pub struct BlobFetcher {
    http: Arc<HttpClient>,
    dir: PathBuf,
    slots: Semaphore,
}

impl BlobFetcher {
    pub fn new(http: Arc<HttpClient>, dir: PathBuf, concurrency: usize) -> BlobFetcher {
        BlobFetcher {
            http,
            dir,
            slots: Semaphore::new(concurrency.max(1)),
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
        let local = |why: String| DownloadError::Blob(why);
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|e| local(e.to_string()))?;
        let temp_dir = self.dir.join("tmp");
        tokio::fs::create_dir_all(&temp_dir)
            .await
            .map_err(|e| local(format!("cannot create {}: {e}", temp_dir.display())))?;
        let temp =
            TempFile(temp_dir.join(format!("{}-{}", std::process::id(), rand::random::<u64>())));
        let result = self
            .http
            .download(&blob.url, &blob.headers, blob.size, &temp.0)
            .await;
        let (hash, size) = match result {
            Ok(done) => done,
            Err(err) => {
                let name = &blob.name;
                return Err(match err {
                    DownloadError::Blob(why) => {
                        DownloadError::Blob(format!("blob `{name}`: {why}"))
                    }
                    DownloadError::BudgetSpent(why) => {
                        DownloadError::BudgetSpent(format!("blob `{name}`: {why}"))
                    }
                });
            }
        };
        let relative = Path::new(&hash[..2]).join(&hash);
        let target = self.dir.join(&relative);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| local(e.to_string()))?;
        }
        // Same hash, same bytes: an existing file is already right (and
        // the temporary one goes when `temp` is dropped).
        if !tokio::fs::try_exists(&target).await.unwrap_or(false) {
            tokio::fs::rename(&temp.0, &target)
                .await
                .map_err(|e| local(format!("cannot store blob: {e}")))?;
        }
        Ok(BlobLink {
            name: blob.name.clone(),
            url: blob.url.clone(),
            version: blob.version.clone(),
            hash,
            size,
            media_type: blob.media_type.clone(),
            path: relative.to_string_lossy().into_owned(),
        })
    }
}

/// A download's temporary file, removed when dropped unless it was renamed
/// into place: a partial file never stays behind, whatever stopped the
/// download (a failure, or its task aborted with the pages in flight).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        // Gone already when it was renamed into place.
        let _ = std::fs::remove_file(&self.0);
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
