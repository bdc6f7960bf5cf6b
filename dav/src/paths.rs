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

/// The parts of the DAV tree, each with a home per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Area {
    /// `/dav/files/<user>/…`: the file drive.
    Files,
    /// `/dav/calendars/<user>/<calendar>/<object>`: calendars and task lists.
    Calendars,
    /// `/dav/addressbooks/<user>/<book>/<card>`.
    AddressBooks,
    /// `/dav/principals/<user>/`.
    Principals,
}

impl Area {
    pub const ALL: [Self; 4] = [Self::Files, Self::Calendars, Self::AddressBooks, Self::Principals];

    pub fn prefix(self) -> &'static str {
        match self {
            Self::Files => "/dav/files/",
            Self::Calendars => "/dav/calendars/",
            Self::AddressBooks => "/dav/addressbooks/",
            Self::Principals => "/dav/principals/",
        }
    }
}

/// A path below a user's home in one area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DavPath {
    pub area: Area,
    /// The owner's address.
    pub owner: String,
    /// Decoded segments below the home.
    pub segments: Vec<String>,
}

impl DavPath {
    pub fn home(area: Area, owner: &str) -> Self {
        Self { area, owner: owner.to_owned(), segments: Vec::new() }
    }

    /// The href of this path; collections end with `/`.
    pub fn href(&self, collection: bool) -> String {
        let mut h = format!("{}{}/", self.area.prefix(), encode(&self.owner));
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
        Self { area: self.area, owner: self.owner.clone(), segments }
    }

    pub fn parent(&self) -> Option<Self> {
        let mut segments = self.segments.clone();
        segments.pop()?;
        Some(Self { area: self.area, owner: self.owner.clone(), segments })
    }

    /// Whether `other` is this path or below it.
    pub fn contains(&self, other: &Self) -> bool {
        self.area == other.area && self.owner == other.owner && other.segments.starts_with(&self.segments)
    }
}

pub fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    encode_into(&mut out, segment);
    out
}

/// [`encode`], appending to `out` (a listing's hrefs are written without a string each).
pub fn encode_into(out: &mut String, segment: &str) {
    for chunk in utf8_percent_encode(segment, SEGMENT) {
        out.push_str(chunk);
    }
}

/// Why a path cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPath(pub String);

/// Parses a request path (or a Destination URL) below one of the areas; `None` for other paths.
pub fn parse(raw: &str) -> Result<Option<DavPath>, BadPath> {
    let path = strip_origin(raw);
    let path = path.split(['?', '#']).next().unwrap_or("");
    let Some((area, rest)) = Area::ALL.into_iter().find_map(|a| path.strip_prefix(a.prefix()).map(|r| (a, r))) else {
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
        return Err(BadPath(format!("the URL needs a user: {}<user>/", area.prefix())));
    }
    let owner = segs.remove(0);
    Ok(Some(DavPath { area, owner, segments: segs }))
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
        let p = parse("/dav/files/a%40example.com/docs/r%C3%A9sum%C3%A9%20v2.txt").unwrap().unwrap();
        assert_eq!(p.owner, "a@example.com");
        assert_eq!(p.segments, ["docs", "résumé v2.txt"]);
        assert_eq!(p.href(false), "/dav/files/a@example.com/docs/r%C3%A9sum%C3%A9%20v2.txt");
        assert_eq!(parse(&p.href(false)).unwrap().unwrap(), p);
        assert_eq!(p.parent().unwrap().href(true), "/dav/files/a@example.com/docs/");
        let d = parse("http://127.0.0.1:8080/dav/files/a@example.com/x/").unwrap().unwrap();
        assert_eq!(d.segments, ["x"]);
        assert!(p.parent().unwrap().contains(&p) && !p.contains(&p.parent().unwrap()));
    }

    #[test]
    fn refuses_tricks() {
        assert!(parse("/dav/files/a@x/../b@x/").is_err());
        assert!(parse("/dav/files/a@x/%2e%2e/").is_err());
        assert!(parse("/dav/files/a@x/a%2Fb").is_err());
        assert!(parse("/dav/files/a@x/%FF").is_err());
        assert!(parse("/dav/files/").is_err());
        assert_eq!(parse("/dav/other/x").unwrap(), None);
        assert_eq!(parse("/dav/calendars/a@x/work/e.ics").unwrap().unwrap().area, Area::Calendars);
    }
}
