//! URLs of the DAV tree: percent-decoding of request paths and encoding of hrefs.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Characters kept as they are in a path segment (RFC 3986 pchar, minus what confuses clients).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@')
    .remove(b'!')
    .remove(b'$')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':');

pub const FILES: &str = "/dav/files/";

/// A path in someone's file drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrivePath {
    /// The owner's address.
    pub owner: String,
    /// Decoded segments below the drive's top.
    pub segments: Vec<String>,
}

impl DrivePath {
    /// A key that names the resource (for locks): owner and segments.
    pub fn key(&self) -> String {
        let mut k = self.owner.clone();
        for s in &self.segments {
            k.push('/');
            k.push_str(s);
        }
        k
    }

    /// The href of this path; collections end with `/`.
    pub fn href(&self, collection: bool) -> String {
        let mut h = format!("{FILES}{}/", encode(&self.owner));
        for (i, s) in self.segments.iter().enumerate() {
            h.push_str(&encode(s));
            if collection || i + 1 < self.segments.len() {
                h.push('/');
            }
        }
        h
    }

    #[must_use]
    pub fn child(&self, name: &str) -> Self {
        let mut segments = self.segments.clone();
        segments.push(name.to_owned());
        Self { owner: self.owner.clone(), segments }
    }

    pub fn parent(&self) -> Option<Self> {
        let mut segments = self.segments.clone();
        segments.pop()?;
        Some(Self { owner: self.owner.clone(), segments })
    }

    /// Whether `other` is this path or below it.
    pub fn contains(&self, other: &Self) -> bool {
        self.owner == other.owner && other.segments.starts_with(&self.segments)
    }
}

pub fn encode(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

/// Why a path cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPath(pub String);

/// Parses a request path (or a Destination URL) under `/dav/files/`.
pub fn parse_drive(raw: &str) -> Result<Option<DrivePath>, BadPath> {
    let path = strip_origin(raw);
    let path = path.split(['?', '#']).next().unwrap_or("");
    let Some(rest) = path.strip_prefix(FILES) else {
        return Ok(None);
    };
    let mut segs = Vec::new();
    for raw_seg in rest.split('/').filter(|s| !s.is_empty()) {
        let seg = percent_decode_str(raw_seg)
            .decode_utf8()
            .map_err(|_| BadPath(format!("path segment {raw_seg:?} is not UTF-8")))?
            .into_owned();
        if seg == "." || seg == ".." || seg.contains('/') || seg.chars().any(char::is_control) {
            return Err(BadPath(format!("path segment {seg:?} is not allowed")));
        }
        segs.push(seg);
    }
    if segs.is_empty() {
        return Err(BadPath("the drive URL needs a user: /dav/files/<user>/".into()));
    }
    let owner = segs.remove(0);
    Ok(Some(DrivePath { owner, segments: segs }))
}

/// `http://host:port/path` → `/path`; a path stays as it is.
pub fn strip_origin(raw: &str) -> &str {
    match raw.find("://") {
        Some(i) => {
            let after = &raw[i + 3..];
            after.find('/').map_or("/", |j| &after[j..])
        }
        None => raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_paths() {
        let p = parse_drive("/dav/files/a%40example.com/docs/r%C3%A9sum%C3%A9%20v2.txt").unwrap().unwrap();
        assert_eq!(p.owner, "a@example.com");
        assert_eq!(p.segments, ["docs", "résumé v2.txt"]);
        assert_eq!(p.href(false), "/dav/files/a@example.com/docs/r%C3%A9sum%C3%A9%20v2.txt");
        assert_eq!(parse_drive(&p.href(false)).unwrap().unwrap(), p);
        assert_eq!(p.parent().unwrap().href(true), "/dav/files/a@example.com/docs/");
        let d = parse_drive("http://127.0.0.1:8080/dav/files/a@example.com/x/").unwrap().unwrap();
        assert_eq!(d.segments, ["x"]);
        assert!(p.parent().unwrap().contains(&p) && !p.contains(&p.parent().unwrap()));
    }

    #[test]
    fn refuses_tricks() {
        assert!(parse_drive("/dav/files/a@x/../b@x/").is_err());
        assert!(parse_drive("/dav/files/a@x/%2e%2e/").is_err());
        assert!(parse_drive("/dav/files/a@x/a%2Fb").is_err());
        assert!(parse_drive("/dav/files/a@x/%FF").is_err());
        assert!(parse_drive("/dav/files/").is_err());
        assert_eq!(parse_drive("/dav/other/x").unwrap(), None);
    }
}
