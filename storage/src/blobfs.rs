//! Content-addressed blobs on the filesystem: `<root>/ab/<sha256>`. A put writes to a
//! temporary file, fsyncs it, renames it into place and fsyncs the directory, so a blob that
//! `put` returned survives a crash, and a crash mid-write leaves no partial blob behind.
//!
//! One level of 256 directories, made once each: with two (`ab/cd/`, 65,536 directories) nearly
//! every new message of a mailbox of thousands made a directory of its own, an inode more to
//! allocate and a directory more to sync per message. 256 directories hold a million messages
//! at about 4,000 files each, which ext4's and XFS's hashed directories look up as fast.
//! A store written with two levels is moved to one when it is opened ([`FsBlobStore::open`]).
//!
//! Blobs never change (their name is their hash), so small ones are kept in a memory cache of
//! a fixed byte budget without any invalidation: reports over thousands of calendar objects
//! and vCards then read memory instead of one file each.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use kontor_domain::error::{Error, Result};
use kontor_domain::ids::BlobId;
use kontor_domain::ports::BlobStore;

/// Blobs larger than this are never cached (files on the drive, big attachments).
const CACHE_MAX_BLOB: usize = 256 << 10;
/// The default cache budget.
pub const DEFAULT_CACHE_BYTES: u64 = 32 << 20;

#[derive(Clone)]
struct ByteWeight;

impl quick_cache::Weighter<u128, Bytes> for ByteWeight {
    fn weight(&self, _key: &u128, val: &Bytes) -> u64 {
        val.len() as u64 + 96
    }
}

/// Cached blobs by the first 128 bits of their SHA-256 (enough to tell them apart; a 16-byte
/// key hashes and compares in a few instructions, the 64-character id did not).
type BlobCache = quick_cache::sync::Cache<u128, Bytes, ByteWeight>;

/// The cache key of a blob id (its first 32 hex digits; ids are 64 by construction).
fn cache_key(id: &BlobId) -> Option<u128> {
    let mut digest = [0u8; 16];
    hex::decode_to_slice(id.as_str().get(..32)?, &mut digest).ok()?;
    Some(u128::from_be_bytes(digest))
}

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
        flatten(&root)
            .map_err(|e| Error::internal(format!("cannot move blobs in {} to one level: {e}", root.display())))?;
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

    fn remember(&self, id: &BlobId, data: &Bytes) {
        if let Some(c) = &self.cache
            && data.len() <= CACHE_MAX_BLOB
            && let Some(key) = cache_key(id)
        {
            c.insert(key, data.clone());
        }
    }

    /// Writes the bytes durably (see the module); gives back their id and the bytes.
    async fn write(&self, data: &[u8]) -> Result<(BlobId, Vec<u8>)> {
        let id = BlobId::of(data);
        let (root, path, data) = (self.root.clone(), self.path(&id), data.to_vec());
        let data = tokio::task::spawn_blocking(move || Self::put_sync(&root, &path, &data).map(|()| data))
            .await
            .map_err(Error::internal)?
            .map_err(io_err("write", &id))?;
        Ok((id, data))
    }

    fn path(&self, id: &BlobId) -> PathBuf {
        let h = id.as_str();
        self.root.join(&h[0..2]).join(h)
    }

    fn put_sync(root: &Path, path: &Path, data: &[u8]) -> std::io::Result<()> {
        if path.exists() {
            return Ok(());
        }
        let dir = path.parent().unwrap_or(root);
        let mut tmp = tempfile_in(&root.join("tmp"))?;
        tmp.1.write_all(data)?;
        tmp.1.sync_all()?;
        if let Err(e) = std::fs::rename(&tmp.0, path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                let _ = std::fs::remove_file(&tmp.0);
                return Err(e);
            }
            // The first blob of its directory: the directory is made, and made durable in the
            // root, before the blob's name goes into it.
            match std::fs::create_dir(dir) {
                Ok(()) => sync_dir(root)?,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            std::fs::rename(&tmp.0, path)?;
        }
        sync_dir(dir)
    }
}

/// Moves the blobs of a store written with two levels of directories (`ab/cd/<sha256>`) to
/// one (`ab/<sha256>`), each directory synced before the emptied one below it is removed.
/// Nothing is left half done that a second run would not finish (a rename is atomic), so a
/// store whose move was interrupted is moved on at its next opening; a file `one-level` marks
/// a store that is done (and a new one).
fn flatten(root: &Path) -> std::io::Result<()> {
    // Written once the store is of one level: later openings need not read every directory.
    let done = root.join("one-level");
    if done.exists() {
        return Ok(());
    }
    let hex2 = |name: &std::ffi::OsStr| {
        name.len() == 2 && name.to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    for top in std::fs::read_dir(root)? {
        let top = top?;
        if !hex2(&top.file_name()) || !top.file_type()?.is_dir() {
            continue;
        }
        let mut moved = false;
        let mut emptied = Vec::new();
        for sub in std::fs::read_dir(top.path())? {
            let sub = sub?;
            if !hex2(&sub.file_name()) || !sub.file_type()?.is_dir() {
                continue;
            }
            for blob in std::fs::read_dir(sub.path())? {
                let blob = blob?;
                match std::fs::rename(blob.path(), top.path().join(blob.file_name())) {
                    Ok(()) => moved = true,
                    // Moved by another node opening the same store at the same time.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            emptied.push(sub.path());
        }
        if moved {
            sync_dir(&top.path())?;
        }
        for dir in emptied {
            match std::fs::remove_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    std::fs::write(&done, b"blobs are <root>/ab/<sha256>\n")?;
    sync_dir(root)
}

/// Makes a directory's entries (names created, renamed or removed in it) durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
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
        let (id, data) = self.write(data).await?;
        self.remember(&id, &Bytes::from(data));
        Ok(id)
    }

    async fn put_uncached(&self, data: &[u8]) -> Result<BlobId> {
        Ok(self.write(data).await?.0)
    }

    async fn get(&self, id: &BlobId) -> Result<Option<Bytes>> {
        let d = self.get_uncached(id).await?;
        if let Some(d) = &d {
            self.remember(id, d);
        }
        Ok(d)
    }

    async fn get_uncached(&self, id: &BlobId) -> Result<Option<Bytes>> {
        if let Some(hit) = self.cache.as_ref().zip(cache_key(id)).and_then(|(c, key)| c.get(&key)) {
            return Ok(Some(hit));
        }
        match tokio::fs::read(self.path(id)).await {
            Ok(d) => Ok(Some(Bytes::from(d))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", id)(e)),
        }
    }

    async fn get_many_uncached(&self, ids: &[BlobId]) -> Result<Vec<Option<Bytes>>> {
        // One blocking task reads them all: a hop to a blocking thread per file cost more than
        // the read of a file in the page cache.
        let cache = self.cache.clone();
        let wanted: Vec<(BlobId, PathBuf)> = ids.iter().map(|id| (id.clone(), self.path(id))).collect();
        tokio::task::spawn_blocking(move || {
            wanted
                .into_iter()
                .map(|(id, path)| {
                    if let Some(hit) = cache.as_ref().zip(cache_key(&id)).and_then(|(c, key)| c.get(&key)) {
                        return Ok(Some(hit));
                    }
                    match std::fs::read(&path) {
                        Ok(d) => Ok(Some(Bytes::from(d))),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                        Err(e) => Err(io_err("read", &id)(e)),
                    }
                })
                .collect()
        })
        .await
        .map_err(Error::internal)?
    }

    async fn get_prefix(&self, id: &BlobId, len: u64) -> Result<Option<Bytes>> {
        use tokio::io::AsyncReadExt as _;
        if let Some(hit) = self.cache.as_ref().zip(cache_key(id)).and_then(|(c, key)| c.get(&key)) {
            return Ok(Some(hit.slice(..hit.len().min(usize::try_from(len).unwrap_or(usize::MAX)))));
        }
        let file = match tokio::fs::File::open(self.path(id)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("open", id)(e)),
        };
        let mut out = Vec::with_capacity(usize::try_from(len.min(1 << 20)).unwrap_or(0));
        file.take(len).read_to_end(&mut out).await.map_err(io_err("read", id))?;
        Ok(Some(Bytes::from(out)))
    }

    async fn exists(&self, id: &BlobId) -> Result<bool> {
        // A stat of a name the caller usually has just written: its directory entry is in
        // memory, and a hop to the blocking pool would cost more than the call.
        self.path(id).try_exists().map_err(io_err("stat", id))
    }

    async fn delete(&self, id: &BlobId) -> Result<()> {
        if let Some((c, key)) = self.cache.as_ref().zip(cache_key(id)) {
            c.remove(&key);
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
        let c = s.put_uncached(b"other").await.unwrap();
        let many = s.get_many_uncached(&[c.clone(), BlobId::of(b"nothing"), a.clone()]).await.unwrap();
        assert_eq!(many, [Some(Bytes::from_static(b"other")), None, Some(Bytes::from_static(b"hello"))]);
        s.delete(&c).await.unwrap();
        let files: Vec<_> = walk(dir.path())
            .into_iter()
            .filter(|p| !p.starts_with(dir.path().join("tmp")) && !p.ends_with("one-level"))
            .collect();
        assert_eq!(files.len(), 1, "deduplicated: {files:?}");
        assert!(std::fs::read_dir(dir.path().join("tmp")).unwrap().next().is_none(), "no temp file left");
        s.delete(&a).await.unwrap();
        assert!(!s.exists(&a).await.unwrap());
        assert_eq!(s.get(&a).await.unwrap(), None);
        s.delete(&a).await.unwrap();
    }

    #[tokio::test]
    async fn cached_blobs_are_told_apart_and_files_are_read_once_cached() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsBlobStore::open(dir.path()).unwrap();
        let ids: Vec<BlobId> = put_many(&s, 50).await;
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(s.get(id).await.unwrap().unwrap(), format!("blob {i}").as_bytes());
        }
        // A cold store reads the file, then answers from the cache even when the file is gone.
        let cold = FsBlobStore::open(dir.path()).unwrap();
        assert_eq!(cold.get(&ids[7]).await.unwrap().unwrap(), &b"blob 7"[..]);
        std::fs::remove_file(cold.path(&ids[7])).unwrap();
        assert_eq!(cold.get(&ids[7]).await.unwrap().unwrap(), &b"blob 7"[..]);
        assert_eq!(FsBlobStore::open(dir.path()).unwrap().get(&ids[7]).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_store_of_two_levels_is_moved_to_one() {
        let dir = tempfile::tempdir().unwrap();
        let blobs: Vec<(BlobId, String)> =
            (0..40).map(|i| format!("old blob {i}")).map(|b| (BlobId::of(b.as_bytes()), b)).collect();
        for (id, body) in &blobs {
            let h = id.as_str();
            let old = dir.path().join(&h[..2]).join(&h[2..4]);
            std::fs::create_dir_all(&old).unwrap();
            std::fs::write(old.join(h), body).unwrap();
        }
        // Half moved already, as by an interrupted first opening.
        let (first, _) = &blobs[0];
        let h = first.as_str();
        std::fs::rename(dir.path().join(&h[..2]).join(&h[2..4]).join(h), dir.path().join(&h[..2]).join(h)).unwrap();
        let s = FsBlobStore::open(dir.path()).unwrap().with_cache(0);
        for (id, body) in &blobs {
            assert_eq!(s.get(id).await.unwrap().as_deref(), Some(body.as_bytes()), "{id}");
        }
        let files: Vec<PathBuf> = walk(dir.path()).into_iter().filter(|f| !f.ends_with("one-level")).collect();
        assert_eq!(files.len(), blobs.len(), "{files:?}");
        for f in &files {
            assert_eq!(f.parent().unwrap().parent().unwrap(), dir.path(), "one level: {}", f.display());
        }
        // New blobs go to one level too, their directory made when first needed.
        let new = s.put(b"new blob").await.unwrap();
        assert_eq!(s.path(&new), dir.path().join(&new.as_str()[..2]).join(new.as_str()));
        assert!(s.path(&new).is_file());
        assert_eq!(FsBlobStore::open(dir.path()).unwrap().get(&new).await.unwrap().as_deref(), Some(&b"new blob"[..]));
    }

    async fn put_many(s: &FsBlobStore, n: usize) -> Vec<BlobId> {
        let mut ids = Vec::new();
        for i in 0..n {
            ids.push(s.put(format!("blob {i}").as_bytes()).await.unwrap());
        }
        ids
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
