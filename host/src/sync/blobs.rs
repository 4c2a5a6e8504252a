//! Blob downloads: the host streams each referenced binary from the network
//! to a content-addressed file (`blobs/ab/abcdef…`), never through plugin
//! memory, and only when the reference's version changed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::net::HttpClient;
use crate::runtime::bindings::types::BlobRef;
use crate::store::checkpoint::BlobLink;

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
