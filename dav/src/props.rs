//! Properties: the live ones of each kind of resource (WebDAV, CalDAV, CardDAV, ACL, quota,
//! sync), and the mix of live and dead ones PROPFIND shows.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use kontor_domain::Access;
use kontor_domain::model::{CollectionKind, Item, Principal};
use kontor_domain::ports::PropTarget;
use kontor_domain::rights::Rights;

use crate::paths::{Area, DavPath, encode};
use crate::xml::{DAV, MultiStatus, PropValue, QName, escape};
use crate::{Ctx, DavError};

pub const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
pub const CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
pub const CALSERVER: &str = "http://calendarserver.org/ns/";

/// A resource as PROPFIND sees it.
pub enum Res<'a> {
    Root,
    Principal(&'a Principal),
    Home(&'a Principal),
    Collection(&'a Access),
    Item(&'a Item, &'a Access),
}

impl Res<'_> {
    pub fn target(&self) -> Option<PropTarget> {
        match self {
            Res::Collection(a) => Some(PropTarget::Collection(a.collection.id)),
            Res::Item(i, _) => Some(PropTarget::Item(i.id)),
            _ => None,
        }
    }
}

/// An empty element in any namespace (`<D:x/>` or `<x xmlns="ns"/>`).
pub fn el(ns: &str, name: &str) -> String {
    if ns == DAV { format!("<D:{name}/>") } else { format!("<{name} xmlns=\"{ns}\"/>") }
}

/// `<D:href>…</D:href>`.
pub fn href(h: &str) -> String {
    format!("<D:href>{}</D:href>", escape(h))
}

pub fn collection_etag(a: &Access) -> String {
    format!("\"c{}-{}\"", a.collection.id, a.collection.modseq)
}

/// The sync token (a URI, RFC 6578) for a position in the change log.
pub fn sync_token(t: &kontor_domain::changes::SyncToken) -> String {
    format!("urn:kontor:sync:{t}")
}

/// The live properties allprop and propname show for a resource.
pub fn allprop_names(res: &Res<'_>) -> Vec<QName> {
    let names: &[&str] = match res {
        Res::Root | Res::Home(_) | Res::Principal(_) => &["resourcetype", "displayname"],
        Res::Collection(a) if a.collection.kind == CollectionKind::FileFolder => {
            &["resourcetype", "getetag", "creationdate", "supportedlock", "lockdiscovery"]
        }
        Res::Collection(_) => {
            &["resourcetype", "displayname", "getetag", "creationdate", "supportedlock", "lockdiscovery"]
        }
        Res::Item(..) => &[
            "resourcetype",
            "getetag",
            "getcontentlength",
            "getcontenttype",
            "getlastmodified",
            "creationdate",
            "supportedlock",
            "lockdiscovery",
        ],
    };
    names.iter().map(|n| QName::dav(n)).collect()
}

/// Live properties no client may set.
pub fn is_protected(q: &QName) -> bool {
    (q.ns == DAV
        && matches!(
            q.name.as_str(),
            "resourcetype"
                | "getetag"
                | "getcontentlength"
                | "getcontenttype"
                | "getlastmodified"
                | "creationdate"
                | "supportedlock"
                | "lockdiscovery"
                | "quota-used-bytes"
                | "quota-available-bytes"
                | "current-user-principal"
                | "current-user-privilege-set"
                | "supported-report-set"
                | "sync-token"
                | "owner"
                | "acl"
                | "acl-restrictions"
                | "supported-privilege-set"
        ))
        || (q.ns == CALSERVER && q.name == "getctag")
        || (q.ns == CALDAV
            && matches!(q.name.as_str(), "supported-calendar-data" | "max-resource-size" | "calendar-home-set"))
        || (q.ns == CARDDAV && matches!(q.name.as_str(), "supported-address-data" | "max-resource-size"))
}

fn http_date(ms: i64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

/// RFC 3339 date-time (UTC) of a millisecond timestamp.
pub fn rfc3339(ms: i64) -> String {
    kontor_domain::ids::Timestamp(ms).rfc3339()
}

const SUPPORTED_LOCK: &str = "<D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>\
<D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>";

/// The WebDAV ACL privileges (RFC 3744, CalDAV's read-free-busy) that rights give.
pub fn privileges(r: Rights) -> String {
    let mut out = String::new();
    let mut add = |ns: &str, name: &str| out.push_str(&format!("<D:privilege>{}</D:privilege>", el(ns, name)));
    if r.contains(Rights::READ) {
        add(DAV, "read");
        add(DAV, "read-current-user-privilege-set");
    }
    if r.intersects(Rights::READ | Rights::FREE_BUSY) {
        add(CALDAV, "read-free-busy");
    }
    if r.contains(Rights::FLAG) {
        add(DAV, "write-properties");
    }
    if r.intersects(Rights::MODIFY | Rights::MODIFY_OWN) {
        add(DAV, "write-content");
    }
    if r.contains(Rights::CREATE) {
        add(DAV, "bind");
    }
    if r.intersects(Rights::DELETE | Rights::DELETE_OWN) {
        add(DAV, "unbind");
    }
    if r.contains(Rights::SHARE) {
        add(DAV, "read-acl");
        add(DAV, "write-acl");
    }
    if r == Rights::ALL {
        add(DAV, "all");
    }
    out
}

fn principal_href(address: &str) -> String {
    format!("{}{}/", Area::Principals.prefix(), encode(address))
}

/// The value of a live property, or `None` if the resource has no such property.
/// The properties an item's row alone answers, written into `out` (false for any other).
/// Listings and reports of many items write these in place: no string per value.
fn item_value(out: &mut String, q: &QName, i: &Item) -> bool {
    if q.ns != DAV {
        return false;
    }
    match q.name.as_str() {
        "getetag" => {
            let _ = write!(out, "&quot;{}-{}&quot;", i.id, i.modseq);
        }
        "resourcetype" => {}
        "getcontentlength" => {
            let _ = write!(out, "{}", i.size);
        }
        "getcontenttype" => crate::xml::escape_into(out, &i.content_type),
        "getlastmodified" => out.push_str(&http_date(i.updated_at.0)),
        _ => return false,
    }
    true
}

/// A listing's responses when every asked property is one its rows answer (else `None`):
/// made lazily, a piece at a time, for [`MultiStatus::streamed`]. `base` is the collection's
/// href.
pub fn item_listing(
    items: std::sync::Arc<Vec<Item>>,
    base: String,
    names: &[QName],
) -> Option<impl Iterator<Item = String> + Send + 'static> {
    const PIECE: usize = 128;
    let first = items.first()?;
    if names.is_empty() || !names.iter().all(|q| item_value(&mut String::new(), q, first)) {
        return None;
    }
    let names = names.to_vec();
    let pieces = items.len().div_ceil(PIECE);
    Some((0..pieces).map(move |n| {
        let piece = &items[n * PIECE..((n + 1) * PIECE).min(items.len())];
        let mut ms = MultiStatus::fragment(piece.len() * 320);
        let mut href = String::new();
        for item in piece {
            href.clear();
            href.push_str(&base);
            crate::paths::encode_into(&mut href, &item.name);
            ms.response_with(&href, &names, &[], |out, q| item_value(out, q, item));
        }
        ms.into_fragment()
    }))
}

pub async fn live(ctx: &Ctx, res: &Res<'_>, path: Option<&DavPath>, q: &QName) -> Result<Option<String>, DavError> {
    if let Res::Item(i, _) = res {
        let mut v = String::new();
        if item_value(&mut v, q, i) {
            return Ok(Some(v));
        }
    }
    let kind = match res {
        Res::Collection(a) | Res::Item(_, a) => Some(a.collection.kind),
        _ => None,
    };
    let calendarish = matches!(kind, Some(CollectionKind::Calendar | CollectionKind::TaskList));
    let v = match (q.ns.as_str(), q.name.as_str(), res) {
        (DAV, "resourcetype", Res::Root | Res::Home(_)) => el(DAV, "collection"),
        (DAV, "resourcetype", Res::Principal(_)) => format!("{}{}", el(DAV, "collection"), el(DAV, "principal")),
        (DAV, "resourcetype", Res::Collection(a)) => match a.collection.kind {
            CollectionKind::Calendar | CollectionKind::TaskList => {
                format!("{}{}", el(DAV, "collection"), el(CALDAV, "calendar"))
            }
            CollectionKind::AddressBook => format!("{}{}", el(DAV, "collection"), el(CARDDAV, "addressbook")),
            _ => el(DAV, "collection"),
        },
        (DAV, "alternate-URI-set" | "group-membership", Res::Principal(_)) => String::new(),
        (DAV, "displayname", Res::Principal(p)) => escape(p.display_name.as_deref().unwrap_or(&p.address.to_string())),
        (DAV, "displayname", Res::Collection(a)) if a.collection.kind != CollectionKind::FileFolder => {
            escape(a.collection.display_name.as_deref().unwrap_or(&a.collection.name))
        }
        (DAV, "getetag", Res::Collection(a)) | (CALSERVER, "getctag", Res::Collection(a)) => {
            escape(&collection_etag(a))
        }
        (DAV, "sync-token", Res::Collection(a)) => {
            let t = ctx.core.current_token(&ctx.who, a.collection.account).await;
            // Grantees cannot read the owner's account-wide position; the collection's modseq
            // is a valid position in the same log.
            let t = t.unwrap_or(kontor_domain::changes::SyncToken {
                account: a.collection.account,
                modseq: a.collection.modseq,
            });
            escape(&sync_token(&t))
        }
        (DAV, "creationdate", Res::Item(i, _)) => rfc3339(i.created_at.0),
        (DAV, "creationdate", Res::Collection(a)) => rfc3339(a.collection.created_at.0),
        (DAV, "supportedlock", Res::Collection(_) | Res::Item(..)) => SUPPORTED_LOCK.into(),
        (DAV, "lockdiscovery", Res::Collection(_) | Res::Item(..)) => {
            path.map(|p| ctx.locks.covering(p).iter().map(|l| l.xml(&l.root.href(false))).collect()).unwrap_or_default()
        }
        (DAV, "current-user-principal", _) => href(&principal_href(&ctx.who.address.to_string())),
        (DAV, "principal-URL", Res::Principal(p)) | (DAV, "owner", Res::Principal(p) | Res::Home(p)) => {
            href(&principal_href(&p.address.to_string()))
        }
        (DAV, "principal-collection-set", _) => href(Area::Principals.prefix()),
        (DAV, "owner", Res::Collection(a)) => match ctx.core.store.principal(a.collection.account).await? {
            Some(p) => href(&principal_href(&p.address.to_string())),
            None => return Ok(None),
        },
        (DAV, "current-user-privilege-set", Res::Collection(a) | Res::Item(_, a)) => privileges(a.rights),
        (DAV, "current-user-privilege-set", Res::Home(p)) => {
            privileges(if p.id == ctx.who.id { Rights::ALL } else { Rights::READ })
        }
        (DAV, "current-user-privilege-set", Res::Principal(_) | Res::Root) => privileges(Rights::READ),
        (DAV, "supported-report-set", Res::Collection(a)) => {
            let reports: &[(&str, &str)] = match a.collection.kind {
                CollectionKind::Calendar | CollectionKind::TaskList => {
                    &[(CALDAV, "calendar-multiget"), (CALDAV, "calendar-query"), (DAV, "sync-collection")]
                }
                CollectionKind::AddressBook => {
                    &[(CARDDAV, "addressbook-multiget"), (CARDDAV, "addressbook-query"), (DAV, "sync-collection")]
                }
                _ => &[(DAV, "sync-collection")],
            };
            reports
                .iter()
                .map(|(ns, n)| format!("<D:supported-report><D:report>{}</D:report></D:supported-report>", el(ns, n)))
                .collect()
        }
        (DAV, "quota-used-bytes" | "quota-available-bytes", Res::Collection(a)) => {
            let Some(owner) = ctx.core.store.principal(a.collection.account).await? else { return Ok(None) };
            quota_value(&q.name, &owner)
        }
        (DAV, "quota-used-bytes" | "quota-available-bytes", Res::Home(p)) => quota_value(&q.name, p),
        (DAV, "acl", Res::Collection(a)) => return crate::acl::acl_value(ctx, a).await,
        (DAV, "acl-restrictions", Res::Collection(_)) => crate::acl::ACL_RESTRICTIONS.into(),
        (DAV, "supported-privilege-set", Res::Collection(_) | Res::Item(..) | Res::Home(_)) => {
            crate::acl::supported_privilege_set()
        }
        (CALDAV, "calendar-home-set", Res::Principal(p)) => {
            href(&format!("{}{}/", Area::Calendars.prefix(), encode(&p.address.to_string())))
        }
        (CARDDAV, "addressbook-home-set", Res::Principal(p)) => {
            href(&format!("{}{}/", Area::AddressBooks.prefix(), encode(&p.address.to_string())))
        }
        (CALDAV, "calendar-user-address-set", Res::Principal(p)) => {
            format!("{}{}", href(&format!("mailto:{}", p.address)), href(&principal_href(&p.address.to_string())))
        }
        (CALDAV, "supported-calendar-component-set", Res::Collection(a)) if calendarish => {
            let comps: &[&str] = if a.collection.kind == CollectionKind::TaskList {
                &["VTODO"]
            } else {
                &["VEVENT", "VTODO", "VJOURNAL"]
            };
            comps.iter().map(|c| format!("<comp xmlns=\"{CALDAV}\" name=\"{c}\"/>")).collect()
        }
        (CALDAV, "supported-calendar-data", Res::Collection(_)) if calendarish => {
            format!("<calendar-data xmlns=\"{CALDAV}\" content-type=\"text/calendar\" version=\"2.0\"/>")
        }
        (CARDDAV, "supported-address-data", Res::Collection(a)) if a.collection.kind == CollectionKind::AddressBook => {
            format!(
                "<address-data-type xmlns=\"{CARDDAV}\" content-type=\"text/vcard\" version=\"3.0\"/><address-data-type xmlns=\"{CARDDAV}\" content-type=\"text/vcard\" version=\"4.0\"/>"
            )
        }
        (CALDAV | CARDDAV, "max-resource-size", Res::Collection(_)) if kind != Some(CollectionKind::FileFolder) => {
            ctx.core.settings.max_item_size.to_string()
        }
        _ => return Ok(None),
    };
    Ok(Some(v))
}

fn quota_value(name: &str, p: &Principal) -> String {
    if name == "quota-used-bytes" {
        p.quota.used_bytes.to_string()
    } else {
        p.quota
            .limit_bytes
            .map_or_else(|| (i64::MAX as u64).to_string(), |l| l.saturating_sub(p.quota.used_bytes).to_string())
    }
}

/// What PROPFIND asks for.
pub enum Wanted {
    All(Vec<QName>),
    Names,
    Props(Vec<QName>),
}

impl Wanted {
    /// Whether answering needs the resource's path (lock discovery), not only its href.
    pub fn needs_path(&self) -> bool {
        match self {
            Wanted::Props(names) => names.iter().any(|q| q.is(DAV, "lockdiscovery")),
            Wanted::All(_) | Wanted::Names => true,
        }
    }
}

/// The values of the named properties of one resource (`None`: it has no such property):
/// live ones first; dead properties cost a query, read only when a name is not live.
async fn values_of(
    ctx: &Ctx,
    res: &Res<'_>,
    path: Option<&DavPath>,
    names: &[QName],
) -> Result<Vec<Option<String>>, DavError> {
    let mut values = Vec::with_capacity(names.len());
    for q in names {
        values.push(live(ctx, res, path, q).await?);
    }
    if values.iter().any(Option::is_none)
        && let Some(t) = res.target()
    {
        let dead = ctx.core.dead_properties(&ctx.who, t).await?;
        for (v, q) in values.iter_mut().zip(names).filter(|(v, _)| v.is_none()) {
            *v = dead.iter().find(|d| d.namespace == q.ns && d.name == q.name).map(|d| d.value.clone());
        }
    }
    Ok(values)
}

/// Writes one resource's response (`extra`: more found properties, e.g. `calendar-data`).
/// The same answer as `ms.response(href, &propstats(..))`, written in place: the many items
/// of a listing or report cost no copies of property names.
pub async fn respond(
    ctx: &Ctx,
    ms: &mut MultiStatus,
    href: &str,
    res: &Res<'_>,
    path: Option<&DavPath>,
    wanted: &Wanted,
    extra: &[(&QName, String)],
) -> Result<(), DavError> {
    if let Wanted::Props(names) = wanted {
        if let Res::Item(item, _) = res
            && !names.is_empty()
            && ms.response_with(href, names, extra, |out, q| item_value(out, q, item))
        {
            return Ok(());
        }
        let values = values_of(ctx, res, path, names).await?;
        ms.response_values(href, names, &values, extra);
    } else {
        let mut stats = propstats(ctx, res, path, wanted).await?;
        stats[0].1.extend(extra.iter().map(|(q, v)| PropValue { name: (*q).clone(), value: Some(v.clone()) }));
        ms.response(href, &stats);
    }
    Ok(())
}

/// The propstats of one resource: found (200) and not found (404).
pub async fn propstats(
    ctx: &Ctx,
    res: &Res<'_>,
    path: Option<&DavPath>,
    wanted: &Wanted,
) -> Result<Vec<(u16, Vec<PropValue>)>, DavError> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    let names = match wanted {
        Wanted::Props(names) => names,
        Wanted::All(_) | Wanted::Names => {
            let dead = match res.target() {
                Some(t) => ctx.core.dead_properties(&ctx.who, t).await?,
                None => Vec::new(),
            };
            everything(ctx, res, path, wanted, &dead, &mut found, &mut missing).await?;
            return Ok(vec![(200, found), (404, missing)]);
        }
    };
    for (q, value) in names.iter().zip(values_of(ctx, res, path, names).await?) {
        match value {
            Some(v) => found.push(PropValue { name: q.clone(), value: Some(v) }),
            None => missing.push(PropValue { name: q.clone(), value: None }),
        }
    }
    Ok(vec![(200, found), (404, missing)])
}

/// allprop (with its `include`) and propname.
async fn everything(
    ctx: &Ctx,
    res: &Res<'_>,
    path: Option<&DavPath>,
    wanted: &Wanted,
    dead: &[kontor_domain::ports::DeadProperty],
    found: &mut Vec<PropValue>,
    missing: &mut Vec<PropValue>,
) -> Result<(), DavError> {
    match wanted {
        Wanted::Names => {
            for q in allprop_names(res) {
                found.push(PropValue { name: q, value: None });
            }
            for d in dead {
                found.push(PropValue { name: QName::new(&d.namespace, &d.name), value: None });
            }
        }
        Wanted::All(include) => {
            for q in allprop_names(res).into_iter().chain(include.iter().cloned()) {
                if found.iter().any(|p: &PropValue| p.name == q) {
                    continue;
                }
                match live(ctx, res, path, &q).await? {
                    Some(v) => found.push(PropValue { name: q, value: Some(v) }),
                    None if include.contains(&q) => missing.push(PropValue { name: q, value: None }),
                    None => {}
                }
            }
            for d in dead {
                let q = QName::new(&d.namespace, &d.name);
                if !found.iter().any(|p| p.name == q) {
                    found.push(PropValue { name: q, value: Some(d.value.clone()) });
                }
            }
        }
        Wanted::Props(_) => {}
    }
    Ok(())
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
