//! WebDAV ACL (RFC 3744) over the one permission model: the `acl`, `acl-restrictions` and
//! `supported-privilege-set` properties, and the ACL method, which sets the grants of a
//! collection (grant-only, no inversion, principals of the owner's domain).

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use kontor_domain::address::Address;
use kontor_domain::rights::{Rights, Role};
use kontor_domain::{Access, Error, Node};

use crate::paths::{self, Area};
use crate::props::{CALDAV, el, href, privileges};
use crate::xml::{DAV, Element};
use crate::{Ctx, DavError, DavResult, body_bytes, parse_xml};

/// The privileges a client may name, and the rights each stands for.
fn rights_of(ns: &str, name: &str) -> Option<Rights> {
    Some(match (ns, name) {
        (DAV, "all") => Role::Owner.rights(),
        (DAV, "read") => Rights::READ | Rights::SEEN,
        (DAV, "write") => Rights::CREATE | Rights::MODIFY | Rights::DELETE | Rights::FLAG,
        (DAV, "write-content") => Rights::MODIFY,
        (DAV, "write-properties") => Rights::FLAG,
        (DAV, "bind") => Rights::CREATE,
        (DAV, "unbind") => Rights::DELETE,
        (DAV, "read-acl" | "write-acl") => Rights::SHARE,
        (DAV, "read-current-user-privilege-set" | "unlock") => Rights::NONE,
        (CALDAV, "read-free-busy") => Rights::FREE_BUSY,
        _ => return None,
    })
}

/// `supported-privilege-set`: the privilege tree.
pub fn supported_privilege_set() -> String {
    let p = |ns: &str, name: &str, inner: &str| {
        format!("<D:supported-privilege><D:privilege>{}</D:privilege>{inner}</D:supported-privilege>", el(ns, name))
    };
    let write = [p(DAV, "write-properties", ""), p(DAV, "write-content", ""), p(DAV, "bind", ""), p(DAV, "unbind", "")]
        .concat();
    let read = p(CALDAV, "read-free-busy", "");
    p(
        DAV,
        "all",
        &[
            p(DAV, "read", &read),
            p(DAV, "write", &write),
            p(DAV, "read-acl", ""),
            p(DAV, "write-acl", ""),
            p(DAV, "read-current-user-privilege-set", ""),
        ]
        .concat(),
    )
}

pub const ACL_RESTRICTIONS: &str = "<D:grant-only/><D:no-invert/>";

/// The `acl` property: the owner's protected ACE and one per grant (share right needed).
pub async fn acl_value(ctx: &Ctx, a: &Access) -> Result<Option<String>, DavError> {
    let c = &a.collection;
    let grants = match ctx.core.grants_on(&ctx.who, c.account).await {
        Ok(g) => g,
        Err(Error::Forbidden { .. } | Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut out = format!(
        "<D:ace><D:principal><D:property><D:owner/></D:property></D:principal><D:grant>{}</D:grant><D:protected/></D:ace>",
        privileges(Rights::ALL)
    );
    for g in grants.iter().filter(|g| g.collection == Some(c.id) || g.collection.is_none()) {
        let Some(p) = ctx.core.store.principal(g.grantee).await? else { continue };
        let inherited = if g.collection.is_none() {
            "<D:inherited>".to_owned()
                + &href(&format!("{}{}/", Area::Principals.prefix(), p.address))
                + "</D:inherited>"
        } else {
            String::new()
        };
        out.push_str(&format!(
            "<D:ace><D:principal>{}</D:principal><D:grant>{}</D:grant>{inherited}</D:ace>",
            href(&format!("{}{}/", Area::Principals.prefix(), paths::encode(&p.address.to_string()))),
            privileges(g.rights)
        ));
    }
    Ok(Some(out))
}

fn refuse(condition: &str, message: &str) -> DavError {
    DavError::condition(StatusCode::FORBIDDEN, condition, message)
}

/// The grantee and rights one ACE asks for (`None` for the owner's protected ACE).
fn ace(e: &Element) -> Result<Option<(Address, Rights)>, DavError> {
    if e.child(DAV, "deny").is_some() {
        return Err(refuse("<D:grant-only/>", "only grants are supported"));
    }
    let principal =
        e.child(DAV, "principal").ok_or_else(|| DavError::new(StatusCode::BAD_REQUEST, "ace without principal"))?;
    if e.child(DAV, "invert").is_some() {
        return Err(refuse("<D:no-invert/>", "inverted principals are not supported"));
    }
    if principal.child(DAV, "property").is_some_and(|p| p.child(DAV, "owner").is_some()) {
        return Ok(None);
    }
    let Some(h) = principal.child(DAV, "href") else {
        return Err(refuse("<D:allowed-principal/>", "grants name one user of the domain by its principal URL"));
    };
    let path = paths::parse(&h.text())
        .ok()
        .flatten()
        .filter(|p| p.area == Area::Principals && p.segments.is_empty())
        .ok_or_else(|| refuse("<D:recognized-principal/>", "unknown principal URL"))?;
    let address =
        Address::parse(&path.owner).map_err(|_| refuse("<D:recognized-principal/>", "unknown principal URL"))?;
    let mut rights = Rights::NONE;
    for g in e.child(DAV, "grant").into_iter().flat_map(Element::elements).filter(|p| p.is(DAV, "privilege")) {
        for p in g.elements() {
            rights |= rights_of(&p.name.ns, &p.name.name)
                .ok_or_else(|| refuse("<D:not-supported-privilege/>", "unknown privilege"))?;
        }
    }
    Ok(Some((address, rights)))
}

/// ACL: replaces the grants of a collection with the ACEs sent.
pub async fn acl(ctx: &Ctx, body: Body) -> DavResult {
    let doc = parse_xml(&body_bytes(body).await?)?;
    if !doc.is(DAV, "acl") {
        return Err(DavError::new(StatusCode::BAD_REQUEST, "expected a DAV:acl document"));
    }
    let Node::Collection(a) = ctx.node(&ctx.path).await? else {
        return Err(refuse("<D:no-ace-conflict/>", "access is granted on collections"));
    };
    let mut wanted: Vec<(Address, Rights)> = Vec::new();
    for e in doc.elements().filter(|e| e.is(DAV, "ace")) {
        if let Some((who, r)) = ace(e)? {
            match wanted.iter_mut().find(|(w, _)| *w == who) {
                Some((_, have)) => *have |= r,
                None => wanted.push((who, r)),
            }
        }
    }
    let c = &a.collection;
    if !a.rights.contains(Rights::SHARE) {
        return Err(DavError::condition(StatusCode::FORBIDDEN, "<D:need-privileges/>", "write-acl needed"));
    }
    // Check every principal before changing anything: a refused ACL changes nothing.
    for (who, _) in &wanted {
        let ok = match ctx.core.principal_by_address(&who.to_string()).await {
            Ok(p) => p.domain_id == ctx.who.domain_id && p.id != c.account,
            Err(Error::NotFound(_)) => false,
            Err(e) => return Err(e.into()),
        };
        if !ok {
            return Err(refuse("<D:recognized-principal/>", &format!("{who} cannot be granted access here")));
        }
    }
    // Grants on the collection that the new ACL no longer names are revoked.
    for g in ctx.core.grants_on(&ctx.who, c.account).await? {
        if g.collection == Some(c.id)
            && let Some(p) = ctx.core.store.principal(g.grantee).await?
            && !wanted.iter().any(|(w, _)| *w == p.address)
        {
            ctx.core.share(&ctx.who, c.account, Some(c.id), &p.address, Rights::NONE).await?;
        }
    }
    for (who, rights) in wanted {
        match ctx.core.share(&ctx.who, c.account, Some(c.id), &who, rights).await {
            Ok(_) => {}
            Err(Error::CrossDomainGrant(_) | Error::NotFound(_) | Error::Invalid(_)) => {
                return Err(refuse("<D:recognized-principal/>", &format!("{who} cannot be granted access here")));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(StatusCode::OK.into_response())
}
