//! What a DAV path names: principals, calendar and address book homes (with the collections
//! colleagues shared, bound as `shared-<id>`), collections and items.

use axum::http::StatusCode;
use kontor_domain::model::{Collection, CollectionKind, Principal};
use kontor_domain::{Access, Error, Node};

use crate::paths::{Area, DavPath};
use crate::{Ctx, DavError};

/// Prefix of the names under which shared collections appear in the grantee's home.
pub const SHARED: &str = "shared-";

/// What a path names.
pub enum Target {
    /// `/dav/principals/<user>/`.
    Principal(Principal),
    /// `/dav/calendars/<user>/` or `/dav/addressbooks/<user>/`.
    Home(Principal),
    /// A name in a home where no collection is (MKCALENDAR / MKCOL create here).
    MissingCollection { owner: Principal, name: String },
    /// A collection, an item, or a missing item in a collection.
    Node(Node),
}

/// The collection kinds an area holds.
pub fn kinds(area: Area) -> &'static [CollectionKind] {
    match area {
        Area::Calendars => &[CollectionKind::Calendar, CollectionKind::TaskList],
        Area::AddressBooks => &[CollectionKind::AddressBook],
        Area::Files => &[CollectionKind::FileFolder],
        Area::Principals => &[],
    }
}

impl Ctx {
    /// Resolves any path of the tree.
    pub async fn resolve(&self, p: &DavPath) -> Result<Target, DavError> {
        // Most requests are to one's own homes: no lookup for those.
        let owner = if p.owner.eq_ignore_ascii_case(&self.who.address.to_string()) {
            self.who.clone()
        } else {
            self.core.principal_by_address(&p.owner).await?
        };
        if owner.domain_id != self.who.domain_id {
            return Err(Error::not_found(format!("user {}", p.owner)).into());
        }
        match p.area {
            Area::Principals if p.segments.is_empty() => Ok(Target::Principal(owner)),
            Area::Principals => Err(Error::not_found("resource").into()),
            Area::Files => {
                // Folders colleagues shared appear at the top of one's own drive.
                if owner.id == self.who.id
                    && let Some(first) = p.segments.first()
                    && let Some(access) = self.shared_binding(Area::Files, first).await?
                {
                    return Ok(Target::Node(self.core.resolve(&self.who, access, &p.segments[1..]).await?));
                }
                let root = self.core.drive_root(&self.who, owner.id).await?;
                Ok(Target::Node(self.core.resolve(&self.who, root, &p.segments).await?))
            }
            Area::Calendars | Area::AddressBooks => {
                if owner.id != self.who.id && p.segments.is_empty() {
                    return Err(Error::not_found("home").into());
                }
                let Some(first) = p.segments.first() else { return Ok(Target::Home(owner)) };
                let Some(access) = self.home_child(&owner, p.area, first).await? else {
                    return match p.segments.len() {
                        1 => Ok(Target::MissingCollection { owner, name: first.clone() }),
                        _ => Err(Error::not_found(format!("collection {first:?}")).into()),
                    };
                };
                Ok(Target::Node(self.core.resolve(&self.who, access, &p.segments[1..]).await?))
            }
        }
    }

    /// `shared-<id>` in one of the caller's own homes (or at the top of its drive): a
    /// colleague's collection of the area's kinds that is shared with it.
    async fn shared_binding(&self, area: Area, name: &str) -> Result<Option<Access>, DavError> {
        let Some(id) = name.strip_prefix(SHARED).and_then(|n| n.parse::<i64>().ok()) else { return Ok(None) };
        match self.core.access(&self.who, kontor_domain::ids::CollectionId(id)).await {
            Ok(a) if kinds(area).contains(&a.collection.kind) && a.collection.account != self.who.id => Ok(Some(a)),
            Ok(_) | Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The collections of the area's kinds that colleagues shared with the caller.
    pub async fn shared_in(&self, area: Area) -> Result<Vec<Access>, DavError> {
        let mut out: Vec<Access> = Vec::new();
        for g in self.core.shared_with(&self.who).await? {
            let Some(cid) = g.collection else { continue };
            if let Ok(a) = self.core.access(&self.who, cid).await
                && kinds(area).contains(&a.collection.kind)
                && a.collection.account != self.who.id
                && !out.iter().any(|x| x.collection.id == cid)
            {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// A collection in a home: the owner's own, or (in one's own home) a shared one.
    async fn home_child(&self, owner: &Principal, area: Area, name: &str) -> Result<Option<Access>, DavError> {
        if owner.id == self.who.id && name.strip_prefix(SHARED).is_some_and(|n| n.parse::<i64>().is_ok()) {
            return self.shared_binding(area, name).await;
        }
        if owner.id == self.who.id {
            // One's own collections are cached at the account's position this request read.
            let own = self.core.own_collections(&self.who).await?;
            let found = kinds(area)
                .iter()
                .find_map(|kind| own.iter().find(|c| c.parent.is_none() && c.kind == *kind && c.name == name));
            return match found {
                Some(c) => Ok(Some(self.core.access_to(&self.who, c.clone()).await?)),
                None => Ok(None),
            };
        }
        for kind in kinds(area) {
            if let Some(c) = self.core.store.collection_by_name(owner.id, None, *kind, name).await? {
                return Ok(Some(self.core.access_to(&self.who, c).await?));
            }
        }
        Ok(None)
    }

    /// The collections listed in a home: own ones, then those shared with the caller.
    pub async fn home_children(&self, owner: &Principal, area: Area) -> Result<Vec<(String, Access)>, DavError> {
        let mut out = Vec::new();
        for kind in kinds(area) {
            for a in self.core.list_collections(&self.who, owner.id, Some(*kind)).await? {
                if a.collection.parent.is_none() {
                    out.push((a.collection.name.clone(), a));
                }
            }
        }
        if owner.id == self.who.id {
            for a in self.shared_in(area).await? {
                out.push((format!("{SHARED}{}", a.collection.id), a));
            }
        }
        Ok(out)
    }

    /// What the path names, as a collection or item.
    pub async fn node(&self, p: &DavPath) -> Result<Node, DavError> {
        match self.resolve(p).await? {
            Target::Node(n) => Ok(n),
            Target::MissingCollection { .. } => Err(DavError::new(StatusCode::NOT_FOUND, "no such collection")),
            Target::Home(_) | Target::Principal(_) => {
                Err(DavError::new(StatusCode::METHOD_NOT_ALLOWED, "not allowed on a home or principal"))
            }
        }
    }

    /// Like [`Ctx::node`], but a missing parent inside a visible home is a conflict (RFC 4918:
    /// 409 for PUT, MKCOL, COPY and MOVE targets whose parent collection does not exist).
    pub async fn target(&self, p: &DavPath) -> Result<Node, DavError> {
        let conflict = || DavError::new(StatusCode::CONFLICT, "the parent collection does not exist");
        match self.resolve(p).await {
            Ok(Target::Node(n)) => Ok(n),
            Ok(Target::MissingCollection { .. }) => Err(conflict()),
            Ok(Target::Home(_) | Target::Principal(_)) => {
                Err(DavError::new(StatusCode::METHOD_NOT_ALLOWED, "not allowed on a home or principal"))
            }
            Err(e) if e.status == StatusCode::NOT_FOUND && !p.segments.is_empty() && self.home_visible(p).await => {
                Err(conflict())
            }
            Err(e) => Err(e),
        }
    }

    async fn home_visible(&self, p: &DavPath) -> bool {
        self.resolve(&DavPath::home(p.area, &p.owner)).await.is_ok()
    }
}

/// The name under which a collection appears for the caller (own name or `shared-<id>`).
pub fn bound_name(who: &Principal, c: &Collection) -> String {
    if c.account == who.id { c.name.clone() } else { format!("{SHARED}{}", c.id) }
}

/// The collection a DAV URL names, for APIs that take URLs (e.g. `/api/shares`).
pub async fn collection_at(
    core: std::sync::Arc<kontor_domain::Core>,
    who: Principal,
    url: &str,
) -> Result<Collection, DavError> {
    let path = crate::paths::parse(url)
        .map_err(|e| DavError::new(StatusCode::BAD_REQUEST, e.0))?
        .ok_or_else(|| DavError::new(StatusCode::BAD_REQUEST, "not a URL of the DAV tree"))?;
    let ctx = Ctx {
        core,
        locks: std::sync::Arc::new(crate::locks::Locks::default()),
        corpora: std::sync::Arc::default(),
        objects: std::sync::Arc::default(),
        who,
        path: path.clone(),
        headers: axum::http::HeaderMap::new(),
        if_header: None,
    };
    match ctx.resolve(&path).await? {
        Target::Node(Node::Collection(a)) => Ok(a.collection),
        _ => Err(DavError::new(StatusCode::NOT_FOUND, "no collection at this URL")),
    }
}
