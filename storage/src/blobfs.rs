//! Content-addressed blobs on the filesystem: `<root>/ab/cd/<sha256>`. A put writes to a
//! temporary file, fsyncs it, renames it into place and fsyncs the directory, so a blob that
//! `put` returned survives a crash, and a crash mid-write leaves no partial blob behind.
//!
//! Blobs never change (their name is their hash), so small ones are kept in a memory cache of
//! a fixed byte budget without any invalidation: reports over thousands of calendar objects
//! and vCards then read memory instead of one file each.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use kontor_domain::error::{Error, Result};
use kontor_domain::ids::BlobId;
use kontor_domain::ports::BlobStore;

/// Blobs larger than this are never cached (files on the drive, big attachments).
const CACHE_MAX_BLOB: usize = 256 << 10;
/// The default cache budget.
pub const DEFAULT_CACHE_BYTES: u64 = 32 << 20;

#[derive(Clone)]
struct ByteWeight;

impl quick_cache::Weighter<BlobId, Arc<[u8]>> for ByteWeight {
    fn weight(&self, _key: &BlobId, val: &Arc<[u8]>) -> u64 {
        val.len() as u64 + 96
    }
}

type BlobCache = quick_cache::sync::Cache<BlobId, Arc<[u8]>, ByteWeight>;

/// The filesystem blob store.
#[derive(Clone)]
pub struct FsBlobStore {
    root: PathBuf,
    cache: Option<Arc<BlobCache>>,
}

impl std::fmt::Debug for FsBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsBlobStore").field("root", &self.root).finish_non_exhaustive()
    }
}

impl FsBlobStore {
    /// Opens (creating if needed) a blob store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&tmp)
            .map_err(|e| Error::internal(format!("cannot create blob directory {}: {e}", root.display())))?;
        // Leftovers of writes interrupted by a crash; recent ones may belong to a running node.
        if let Ok(entries) = std::fs::read_dir(&tmp) {
            for e in entries.flatten() {
                let old = e.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
                if old.is_some_and(|age| age.as_secs() > 3600) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(Self { root, cache: None }.with_cache(DEFAULT_CACHE_BYTES))
    }

    /// Sets the memory cache's budget in bytes (0: no cache).
    #[must_use]
    pub fn with_cache(mut self, bytes: u64) -> Self {
        self.cache = (bytes > 0).then(|| {
            let items = usize::try_from(bytes / 1024).unwrap_or(usize::MAX).max(16);
            Arc::new(BlobCache::with_weighter(items, bytes, ByteWeight))
        });
        self
    }

    fn remember(&self, id: &BlobId, data: &[u8]) {
        if let Some(c) = &self.cache
            && data.len() <= CACHE_MAX_BLOB
        {
            c.insert(id.clone(), Arc::from(data));
        }
    }

    fn path(&self, id: &BlobId) -> PathBuf {
        let h = id.as_str();
        self.root.join(&h[0..2]).join(&h[2..4]).join(h)
    }

    fn put_sync(root: &Path, path: &Path, data: &[u8]) -> std::io::Result<()> {
        if path.exists() {
            return Ok(());
        }
        let dir = path.parent().unwrap_or(root);
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile_in(&root.join("tmp"))?;
        tmp.1.write_all(data)?;
        tmp.1.sync_all()?;
        std::fs::rename(&tmp.0, path)?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    }
}

/// A new file with a unique name in `dir`.
fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    loop {
        let name = format!("{:016x}", rand::random::<u64>());
        let p = dir.join(name);
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&p) {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
}

fn io_err(what: &str, id: &BlobId) -> impl FnOnce(std::io::Error) -> Error {
    let msg = format!("blob {what} {id}");
    move |e| {
        tracing::error!(error = %e, "{msg}");
        Error::internal(format!("{msg}: {e}"))
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, data: &[u8]) -> Result<BlobId> {
        let id = BlobId::of(data);
        let (root, path, data) = (self.root.clone(), self.path(&id), data.to_vec());
        let data = tokio::task::spawn_blocking(move || Self::put_sync(&root, &path, &data).map(|()| data))
            .await
            .map_err(Error::internal)?
            .map_err(io_err("write", &id))?;
        self.remember(&id, &data);
        Ok(id)
    }

    async fn get(&self, id: &BlobId) -> Result<Option<Vec<u8>>> {
        if let Some(hit) = self.cache.as_ref().and_then(|c| c.get(id)) {
            return Ok(Some(hit.to_vec()));
        }
        match tokio::fs::read(self.path(id)).await {
            Ok(d) => {
                self.remember(id, &d);
                Ok(Some(d))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", id)(e)),
        }
    }

    async fn exists(&self, id: &BlobId) -> Result<bool> {
        tokio::fs::try_exists(self.path(id)).await.map_err(io_err("stat", id))
    }

    async fn delete(&self, id: &BlobId) -> Result<()> {
        if let Some(c) = &self.cache {
            c.remove(id);
        }
        match tokio::fs::remove_file(self.path(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("delete", id)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_dedup_delete() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsBlobStore::open(dir.path()).unwrap();
        let a = s.put(b"hello").await.unwrap();
        let b = s.put(b"hello").await.unwrap();
        assert_eq!(a, b);
        assert_eq!(a, BlobId::of(b"hello"));
        assert_eq!(s.get(&a).await.unwrap().as_deref(), Some(&b"hello"[..]));
        let files: Vec<_> = walk(dir.path()).into_iter().filter(|p| !p.starts_with(dir.path().join("tmp"))).collect();
        assert_eq!(files.len(), 1, "deduplicated: {files:?}");
        assert!(std::fs::read_dir(dir.path().join("tmp")).unwrap().next().is_none(), "no temp file left");
        s.delete(&a).await.unwrap();
        assert!(!s.exists(&a).await.unwrap());
        assert_eq!(s.get(&a).await.unwrap(), None);
        s.delete(&a).await.unwrap();
    }

    fn walk(p: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(p).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }
}
