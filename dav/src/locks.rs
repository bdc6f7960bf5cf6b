//! WebDAV locks (RFC 4918 §6–7) kept in memory per node, good enough for clients that insist
//! on locking before they write, and the `If` header (§10.4) that submits lock tokens and
//! conditions on ETags.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::paths::DavPath;

const MAX_TIMEOUT: u64 = 7 * 24 * 3600;
const DEFAULT_TIMEOUT: u64 = 3600;

#[derive(Debug, Clone)]
pub struct Lock {
    pub token: String,
    pub root: DavPath,
    pub infinite: bool,
    pub exclusive: bool,
    /// The client's `owner` element content (XML).
    pub owner: String,
    pub timeout_secs: u64,
    expires: Instant,
}

impl Lock {
    /// Whether this lock covers `p` (its root, or below it for depth infinity).
    pub fn covers(&self, p: &DavPath) -> bool {
        self.root == *p || (self.infinite && self.root.contains(p))
    }

    /// `<D:activelock>` for lockdiscovery.
    pub fn xml(&self, root_href: &str) -> String {
        format!(
            "<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:{}/></D:lockscope>\
             <D:depth>{}</D:depth>{}<D:timeout>Second-{}</D:timeout>\
             <D:locktoken><D:href>{}</D:href></D:locktoken><D:lockroot><D:href>{}</D:href></D:lockroot></D:activelock>",
            if self.exclusive { "exclusive" } else { "shared" },
            if self.infinite { "infinity" } else { "0" },
            if self.owner.is_empty() { String::new() } else { format!("<D:owner>{}</D:owner>", self.owner) },
            self.timeout_secs,
            self.token,
            crate::xml::escape(root_href),
        )
    }
}

/// The locks of this node.
#[derive(Default)]
pub struct Locks {
    inner: Mutex<HashMap<String, Lock>>,
}

/// Parses `Timeout: Second-600, Infinite` (the first usable value; capped).
pub fn timeout(header: Option<&str>) -> u64 {
    header
        .into_iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .find_map(|t| {
            if t.eq_ignore_ascii_case("infinite") {
                Some(MAX_TIMEOUT)
            } else {
                t.strip_prefix("Second-").and_then(|n| n.parse::<u64>().ok())
            }
        })
        .unwrap_or(DEFAULT_TIMEOUT)
        .clamp(1, MAX_TIMEOUT)
}

impl Locks {
    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Lock>> {
        let mut m = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        m.retain(|_, l| l.expires > now);
        m
    }

    /// Locks that cover `p`.
    pub fn covering(&self, p: &DavPath) -> Vec<Lock> {
        self.live().values().filter(|l| l.covers(p)).cloned().collect()
    }

    /// Locks that cover `p` or anything below it.
    pub fn touching(&self, p: &DavPath) -> Vec<Lock> {
        self.live().values().filter(|l| l.covers(p) || p.contains(&l.root)).cloned().collect()
    }

    /// Takes a new lock, unless a conflicting one exists.
    pub fn lock(
        &self,
        root: DavPath,
        infinite: bool,
        exclusive: bool,
        owner: String,
        timeout_secs: u64,
    ) -> Option<Lock> {
        let mut m = self.live();
        let conflict = m.values().any(|l| {
            let overlaps = l.covers(&root) || (infinite && root.contains(&l.root));
            overlaps && (l.exclusive || exclusive)
        });
        if conflict {
            return None;
        }
        let b: [u8; 16] = rand::random();
        let token = format!(
            "opaquelocktoken:{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            u16::from_be_bytes([b[4], b[5]]),
            u16::from_be_bytes([b[6], b[7]]),
            u16::from_be_bytes([b[8], b[9]]),
            u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]]),
        );
        let lock = Lock {
            token: token.clone(),
            root,
            infinite,
            exclusive,
            owner,
            timeout_secs,
            expires: Instant::now() + Duration::from_secs(timeout_secs),
        };
        m.insert(token, lock.clone());
        Some(lock)
    }

    /// Refreshes the lock with this token if it covers `p`.
    pub fn refresh(&self, token: &str, p: &DavPath, timeout_secs: u64) -> Option<Lock> {
        let mut m = self.live();
        let l = m.get_mut(token).filter(|l| l.covers(p))?;
        l.timeout_secs = timeout_secs;
        l.expires = Instant::now() + Duration::from_secs(timeout_secs);
        Some(l.clone())
    }

    /// Removes the lock with this token if it covers `p`.
    pub fn unlock(&self, token: &str, p: &DavPath) -> bool {
        let mut m = self.live();
        if m.get(token).is_some_and(|l| l.covers(p)) {
            m.remove(token);
            true
        } else {
            false
        }
    }

    /// Drops the locks rooted at or below `p` (it was deleted or moved away).
    pub fn forget(&self, p: &DavPath) {
        self.live().retain(|_, l| !p.contains(&l.root));
    }
}

/// One condition of an `If` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    Token { not: bool, token: String },
    ETag { not: bool, etag: String },
}

/// A parsed `If` header: lists, each optionally tagged with the resource it is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IfHeader {
    pub lists: Vec<(Option<String>, Vec<Cond>)>,
}

impl IfHeader {
    /// Parses the header; `None` if it is malformed.
    pub fn parse(s: &str) -> Option<Self> {
        let mut out = Self::default();
        let mut tag: Option<String> = None;
        let mut rest = s.trim();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('<') {
                let end = r.find('>')?;
                tag = Some(r[..end].to_owned());
                rest = r[end + 1..].trim_start();
            } else if let Some(r) = rest.strip_prefix('(') {
                let end = r.find(')')?;
                let mut conds = Vec::new();
                let mut body = r[..end].trim();
                while !body.is_empty() {
                    let mut not = false;
                    if body.len() >= 3 && body[..3].eq_ignore_ascii_case("not") {
                        not = true;
                        body = body[3..].trim_start();
                    }
                    if let Some(b) = body.strip_prefix('<') {
                        let e = b.find('>')?;
                        conds.push(Cond::Token { not, token: b[..e].to_owned() });
                        body = b[e + 1..].trim_start();
                    } else if let Some(b) = body.strip_prefix('[') {
                        let e = b.find(']')?;
                        conds.push(Cond::ETag { not, etag: b[..e].trim().to_owned() });
                        body = b[e + 1..].trim_start();
                    } else {
                        return None;
                    }
                }
                if conds.is_empty() {
                    return None;
                }
                out.lists.push((tag.clone(), conds));
                rest = r[end + 1..].trim_start();
            } else {
                return None;
            }
        }
        (!out.lists.is_empty()).then_some(out)
    }

    /// Every state token that appears (submitted lock tokens).
    pub fn tokens(&self) -> Vec<&str> {
        self.lists
            .iter()
            .flat_map(|(_, c)| c.iter())
            .filter_map(|c| match c {
                Cond::Token { token, .. } => Some(token.as_str()),
                Cond::ETag { .. } => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[&str]) -> DavPath {
        DavPath {
            area: crate::paths::Area::Files,
            owner: "a@x".into(),
            segments: s.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn parses_if_headers() {
        let h = IfHeader::parse("(<opaquelocktoken:1> [\"e1\"]) (Not <DAV:no-lock>)").unwrap();
        assert_eq!(h.lists.len(), 2);
        assert_eq!(h.lists[1].1, vec![Cond::Token { not: true, token: "DAV:no-lock".into() }]);
        assert_eq!(h.tokens(), vec!["opaquelocktoken:1", "DAV:no-lock"]);
        let t = IfHeader::parse("<http://h/dav/files/a@x/c/> (<opaquelocktoken:2>)").unwrap();
        assert_eq!(t.lists[0].0.as_deref(), Some("http://h/dav/files/a@x/c/"));
        for bad in ["", "(", "()", "(<x>", "junk", "([e)"] {
            assert!(IfHeader::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn exclusive_and_shared_locks() {
        let l = Locks::default();
        let a = l.lock(p(&["c"]), true, true, String::new(), 60).unwrap();
        assert!(l.lock(p(&["c", "f"]), false, false, String::new(), 60).is_none(), "covered by depth infinity");
        assert!(l.lock(p(&[]), true, false, String::new(), 60).is_none(), "would cover an exclusive lock");
        assert_eq!(l.covering(&p(&["c", "f"])).len(), 1);
        assert!(l.refresh(&a.token, &p(&["c", "f"]), 120).is_some());
        assert!(l.unlock(&a.token, &p(&["c"])));
        let s1 = l.lock(p(&["f"]), false, false, String::new(), 60).unwrap();
        let s2 = l.lock(p(&["f"]), false, false, String::new(), 60).unwrap();
        assert_ne!(s1.token, s2.token);
        assert!(l.lock(p(&["f"]), false, true, String::new(), 60).is_none());
        l.forget(&p(&[]));
        assert!(l.covering(&p(&["f"])).is_empty());
        assert_eq!(timeout(Some("Second-100")), 100);
        assert_eq!(timeout(Some("Infinite, Second-4100000000")), MAX_TIMEOUT);
        assert_eq!(timeout(None), DEFAULT_TIMEOUT);
    }
}
