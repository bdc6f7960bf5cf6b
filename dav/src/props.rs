//! Live properties of drive resources, and the mix of live and dead properties PROPFIND shows.

use std::time::{Duration, UNIX_EPOCH};

use kontor_domain::model::{Collection, Item};
use kontor_domain::ports::PropTarget;

use crate::paths::DavPath;
use crate::xml::{DAV, PropValue, QName};
use crate::{Ctx, DavError};

/// A resource of the drive, as PROPFIND sees it.
pub enum Res<'a> {
    Collection(&'a Collection),
    Item(&'a Item),
}

impl Res<'_> {
    pub fn target(&self) -> PropTarget {
        match self {
            Res::Collection(c) => PropTarget::Collection(c.id),
            Res::Item(i) => PropTarget::Item(i.id),
        }
    }

    pub fn etag(&self) -> String {
        match self {
            Res::Collection(c) => format!("\"c{}-{}\"", c.id, c.modseq),
            Res::Item(i) => i.etag(),
        }
    }
}

/// The live properties allprop and propname show.
const LIVE: [&str; 8] = [
    "resourcetype",
    "getetag",
    "getcontentlength",
    "getcontenttype",
    "getlastmodified",
    "creationdate",
    "supportedlock",
    "lockdiscovery",
];

/// Live properties no client may set.
pub fn is_protected(q: &QName) -> bool {
    q.ns == DAV
        && (LIVE.contains(&q.name.as_str()) || matches!(q.name.as_str(), "quota-used-bytes" | "quota-available-bytes"))
}

pub fn live_names(res: &Res<'_>) -> Vec<QName> {
    LIVE.iter()
        .filter(|n| {
            !(matches!(res, Res::Collection(_))
                && matches!(**n, "getcontentlength" | "getcontenttype" | "getlastmodified"))
        })
        .map(|n| QName::dav(n))
        .collect()
}

fn http_date(ms: i64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

/// RFC 3339 date-time (UTC) of a millisecond timestamp.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

const SUPPORTED_LOCK: &str = "<D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>\
<D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>";

/// The value of a live property, or `None` if the resource has no such property.
pub fn live(ctx: &Ctx, res: &Res<'_>, path: &DavPath, q: &QName) -> Option<String> {
    if q.ns != DAV {
        return None;
    }
    Some(match (q.name.as_str(), res) {
        ("resourcetype", Res::Collection(_)) => "<D:collection/>".into(),
        ("resourcetype", Res::Item(_)) => String::new(),
        ("getetag", r) => crate::xml::escape(&r.etag()),
        ("getcontentlength", Res::Item(i)) => i.size.to_string(),
        ("getcontenttype", Res::Item(i)) => crate::xml::escape(&i.content_type),
        ("getlastmodified", Res::Item(i)) => http_date(i.updated_at.0),
        ("creationdate", Res::Item(i)) => rfc3339(i.created_at.0),
        ("creationdate", Res::Collection(c)) => rfc3339(c.created_at.0),
        ("supportedlock", _) => SUPPORTED_LOCK.into(),
        ("lockdiscovery", _) => ctx.locks.covering(path).iter().map(|l| l.xml(&l.root.href(false))).collect(),
        _ => return None,
    })
}

/// What PROPFIND asks for.
pub enum Wanted {
    All(Vec<QName>),
    Names,
    Props(Vec<QName>),
}

/// The propstats of one resource: found (200) and not found (404).
pub async fn propstats(
    ctx: &Ctx,
    res: &Res<'_>,
    path: &DavPath,
    wanted: &Wanted,
) -> Result<Vec<(u16, Vec<PropValue>)>, DavError> {
    let dead = ctx.core.dead_properties(&ctx.who, res.target()).await?;
    let dead_value = |q: &QName| dead.iter().find(|d| d.namespace == q.ns && d.name == q.name).map(|d| d.value.clone());
    let mut found = Vec::new();
    let mut missing = Vec::new();
    match wanted {
        Wanted::Names => {
            for q in live_names(res) {
                found.push(PropValue { name: q, value: None });
            }
            for d in &dead {
                found.push(PropValue { name: QName::new(&d.namespace, &d.name), value: None });
            }
        }
        Wanted::All(include) => {
            for q in live_names(res) {
                let value = live(ctx, res, path, &q);
                found.push(PropValue { name: q, value });
            }
            for d in &dead {
                found.push(PropValue { name: QName::new(&d.namespace, &d.name), value: Some(d.value.clone()) });
            }
            for q in include {
                if !found.iter().any(|p| p.name == *q) {
                    match live(ctx, res, path, q) {
                        Some(v) => found.push(PropValue { name: q.clone(), value: Some(v) }),
                        None => missing.push(PropValue { name: q.clone(), value: None }),
                    }
                }
            }
        }
        Wanted::Props(names) => {
            for q in names {
                match live(ctx, res, path, q).or_else(|| dead_value(q)) {
                    Some(v) => found.push(PropValue { name: q.clone(), value: Some(v) }),
                    None => missing.push(PropValue { name: q.clone(), value: None }),
                }
            }
        }
    }
    Ok(vec![(200, found), (404, missing)])
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400_123), "2000-02-29T00:00:00Z");
        assert_eq!(super::http_date(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
