//! Blob downloads: the host streams each referenced binary from the network
//! to a content-addressed file (`<store>.blobs/ab/abcdef…`), never through plugin
//! memory, and only when the reference's version changed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;

use tokio::sync::Semaphore;

use crate::net::HttpClient;
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

    /// Downloads `refs` concurrently; the first failure fails the record.
    pub async fn download_all(&self, refs: &[BlobRef]) -> Result<Vec<BlobLink>, String> {
        let downloads = refs.iter().map(|blob| self.download(blob));
        futures::future::join_all(downloads)
            .await
            .into_iter()
            .collect()
    }

    async fn download(&self, blob: &BlobRef) -> Result<BlobLink, String> {
        let _slot = self.slots.acquire().await.map_err(|e| e.to_string())?;
        let temp_dir = self.dir.join("tmp");
        tokio::fs::create_dir_all(&temp_dir)
            .await
            .map_err(|e| format!("cannot create {}: {e}", temp_dir.display()))?;
        let temp = temp_dir.join(format!("{}-{}", std::process::id(), rand::random::<u64>()));
        let result = self.http.download(&blob.url, &temp).await;
        let (hash, size) = match result {
            Ok(done) => done,
            Err(err) => {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(format!("blob `{}`: {err}", blob.name));
            }
        };
        let relative = Path::new(&hash[..2]).join(&hash);
        let target = self.dir.join(&relative);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| e.to_string())?;
        }
        // Same hash, same bytes: an existing file is already right.
        if tokio::fs::try_exists(&target).await.unwrap_or(false) {
            let _ = tokio::fs::remove_file(&temp).await;
        } else {
            tokio::fs::rename(&temp, &target)
                .await
                .map_err(|e| format!("cannot store blob: {e}"))?;
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
