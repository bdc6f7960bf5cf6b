//! JMAP for Contacts (RFC 9610): AddressBook and ContactCard over the address books and vCards
//! CardDAV serves. A card is JSContact (RFC 9553) converted from the stored vCard; a card
//! written here is stored as a vCard, so CardDAV clients read it, and the other way round.

use async_trait::async_trait;
use kontor_domain::Access;
use kontor_domain::changes::ObjectType as Obj;
use kontor_domain::ids::AccountId;
use kontor_domain::rights::{Rights, Role};
use serde_json::{Map, Value, json};

use crate::api::Ctx;
use crate::convert;
use crate::error::{MethodError, SetError};
use crate::generic::{Changes, ObjectType, QueryOut, Window};
use crate::groupware::{self as gw, BOOKS};
use crate::ids;

const CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
const VCARD: &str = "text/vcard; charset=utf-8";

pub struct AddressBook;
pub struct ContactCard;

/// RFC 9610 §2 AddressBookRights from the domain's rights.
pub fn book_rights(r: Rights) -> Value {
    json!({
        "mayRead": r.contains(Rights::READ),
        "mayWrite": r.contains(Rights::CREATE | Rights::MODIFY | Rights::DELETE),
        "mayShare": r.contains(Rights::SHARE),
        "mayDelete": r.contains(Rights::DELETE_COLLECTION),
    })
}

/// The role an AddressBookRights object asks for (DESIGN.md's roles): share → owner, write →
/// editor, read → reviewer; `mayDelete` adds deleting the book.
fn rights_of_book(m: &Map<String, Value>) -> Rights {
    let on = |k: &str| m.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut r = if on("mayShare") {
        Role::Owner.rights()
    } else if on("mayWrite") {
        Role::Editor.rights()
    } else if on("mayRead") {
        Role::Reviewer.rights()
    } else {
        Rights::NONE
    };
    if on("mayDelete") && !r.is_empty() {
        r |= Rights::DELETE_COLLECTION;
    }
    r
}

async fn book_json(ctx: &Ctx<'_>, list: &[Access], a: &Access, props: &[String]) -> Result<Value, MethodError> {
    let mut out = Map::new();
    for p in props {
        let v = match p.as_str() {
            "id" => json!(ids::collection(BOOKS.coll, a.collection.id)),
            "name" => json!(gw::display_name(a)),
            "description" => json!(gw::text_property(ctx, a, CARDDAV, "addressbook-description").await),
            "sortOrder" => json!(0),
            "isDefault" => json!(gw::is_default(list, a)),
            "isSubscribed" => json!(true),
            "shareWith" => gw::share_with(ctx, a, book_rights).await?,
            "myRights" => book_rights(a.rights),
            _ => continue,
        };
        out.insert(p.clone(), v);
    }
    Ok(Value::Object(out))
}

/// Properties of a book a client may send back unchanged but not change.
fn unchanged_ok(list: &[Access], a: &Access, k: &str, v: &Value) -> bool {
    match k {
        "sortOrder" => v.as_u64() == Some(0),
        "isSubscribed" => v.as_bool() == Some(true),
        "isDefault" => v.as_bool() == Some(gw::is_default(list, a)),
        "myRights" => *v == book_rights(a.rights),
        "id" => v.as_str() == Some(ids::collection(BOOKS.coll, a.collection.id).as_str()),
        _ => false,
    }
}

#[async_trait]
impl ObjectType for AddressBook {
    const NAME: &'static str = "AddressBook";
    const SIMPLE_QUERY_CHANGES: bool = true;
    const PROPERTIES: &'static [&'static str] =
        &["id", "name", "description", "sortOrder", "isDefault", "isSubscribed", "shareWith", "myRights"];

    async fn state(ctx: &Ctx<'_>, account: AccountId) -> Result<String, MethodError> {
        gw::state(ctx, account, BOOKS).await
    }

    async fn get(
        ctx: &Ctx<'_>,
        account: AccountId,
        wanted: Option<Vec<String>>,
        props: &[String],
        _args: &Map<String, Value>,
    ) -> Result<(Vec<Value>, Vec<String>), MethodError> {
        let list = gw::collections(ctx, account, BOOKS).await?;
        let (mut out, mut not_found) = (Vec::new(), Vec::new());
        match wanted {
            None => {
                for a in &list {
                    out.push(book_json(ctx, &list, a, props).await?);
                }
            }
            Some(wanted) => {
                for id in wanted {
                    match gw::find(&list, BOOKS, &id) {
                        Some(a) => out.push(book_json(ctx, &list, a, props).await?),
                        None => not_found.push(id),
                    }
                }
            }
        }
        Ok((out, not_found))
    }

    async fn changes(ctx: &Ctx<'_>, account: AccountId, since: &str, max: usize) -> Result<Changes, MethodError> {
        gw::changes(ctx, account, BOOKS, Obj::Collection, since, max).await
    }

    async fn create(ctx: &Ctx<'_>, account: AccountId, object: &Map<String, Value>) -> Result<Value, SetError> {
        for k in object.keys() {
            if !matches!(k.as_str(), "name" | "description" | "sortOrder" | "isSubscribed" | "shareWith") {
                return Err(SetError::invalid_properties(&[k], format!("{k} cannot be set")));
            }
        }
        let name = gw::opt_string(object, "name")?
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| SetError::invalid_properties(&["name"], "an address book needs a name"))?;
        let description = gw::opt_string(object, "description")?.map(str::to_owned);
        let made = ctx
            .core
            .create_collection(ctx.who, account, None, BOOKS.kind, &gw::random_id(), Some(name.to_owned()))
            .await?;
        let a = ctx.core.access(ctx.who, made.id).await?;
        if description.is_some() {
            gw::set_text_properties(ctx, &a, vec![(CARDDAV, "addressbook-description", description)]).await?;
        }
        if let Some(share) = object.get("shareWith") {
            gw::set_share_with(ctx, &a, Some(share), Vec::new(), rights_of_book).await?;
        }
        Ok(json!({
            "id": ids::collection(BOOKS.coll, made.id),
            "sortOrder": 0, "isSubscribed": true, "isDefault": false,
            "myRights": book_rights(a.rights),
        }))
    }

    async fn update(
        ctx: &Ctx<'_>,
        account: AccountId,
        id: &str,
        patch: &Map<String, Value>,
    ) -> Result<Option<Value>, SetError> {
        let list = gw::collections(ctx, account, BOOKS).await.map_err(|_| SetError::not_found())?;
        let a = gw::find(&list, BOOKS, id).ok_or_else(SetError::not_found)?;
        let (plain, shares) = gw::split_share_patches(patch);
        let mut props = Vec::new();
        for (k, v) in &plain {
            match k.as_str() {
                "name" => {
                    let name = gw::opt_string(&plain, "name")?
                        .filter(|n| !n.trim().is_empty())
                        .ok_or_else(|| SetError::invalid_properties(&["name"], "a name cannot be empty"))?;
                    let patch = kontor_domain::ports::CollectionPatch {
                        display_name: Some(Some(name.to_owned())),
                        ..Default::default()
                    };
                    ctx.core.update_collection(ctx.who, a.collection.id, patch).await?;
                }
                "description" => {
                    props.push((CARDDAV, "addressbook-description", gw::opt_string(&plain, k)?.map(str::to_owned)));
                }
                "shareWith" => {}
                _ if unchanged_ok(&list, a, k, v) => {}
                _ => return Err(SetError::invalid_properties(&[k], format!("{k} cannot be changed"))),
            }
        }
        gw::set_text_properties(ctx, a, props).await?;
        if plain.contains_key("shareWith") || !shares.is_empty() {
            gw::set_share_with(ctx, a, plain.get("shareWith"), shares, rights_of_book).await?;
        }
        Ok(None)
    }

    async fn destroy(ctx: &Ctx<'_>, account: AccountId, id: &str, args: &Map<String, Value>) -> Result<(), SetError> {
        let list = gw::collections(ctx, account, BOOKS).await.map_err(|_| SetError::not_found())?;
        let a = gw::find(&list, BOOKS, id).ok_or_else(SetError::not_found)?;
        a.require(Rights::DELETE_COLLECTION)?;
        let remove_contents = args.get("onDestroyRemoveContents").and_then(Value::as_bool).unwrap_or(false);
        if !remove_contents && a.rights.contains(Rights::READ) && !ctx.core.list_items(a).await?.is_empty() {
            return Err(SetError::new("addressBookHasContents", "the address book holds cards"));
        }
        ctx.core.remove_collection(ctx.who, a.collection.id).await?;
        Ok(())
    }

    async fn query(
        ctx: &Ctx<'_>,
        account: AccountId,
        args: &Map<String, Value>,
        window: &Window,
    ) -> Result<QueryOut, MethodError> {
        if let Some(Value::Object(f)) = args.get("filter")
            && let Some(k) = f.keys().next()
        {
            return Err(MethodError::new("unsupportedFilter", format!("cannot filter address books by {k}")));
        }
        let list = gw::collections(ctx, account, BOOKS).await?;
        window.apply(list.iter().map(|a| ids::collection(BOOKS.coll, a.collection.id)).collect())
    }
}

/// Every property a ContactCard has: RFC 9553's Card, RFC 9555's `vCard` conversion
/// property, and RFC 9610's `id` and `addressBookIds`.
const CARD_PROPERTIES: &[&str] = &[
    "id",
    "addressBookIds",
    "@type",
    "version",
    "created",
    "kind",
    "language",
    "members",
    "prodId",
    "uid",
    "updated",
    "name",
    "nicknames",
    "organizations",
    "speakToAs",
    "titles",
    "emails",
    "onlineServices",
    "phones",
    "preferredLanguages",
    "calendars",
    "schedulingAddresses",
    "addresses",
    "cryptoKeys",
    "directories",
    "links",
    "media",
    "localizations",
    "anniversaries",
    "keywords",
    "notes",
    "personalInfo",
    "relatedTo",
    "vCard",
];

/// Card properties whose values are objects (maps of ids or plain objects).
const CARD_OBJECTS: &[&str] = &[
    "members",
    "name",
    "nicknames",
    "organizations",
    "speakToAs",
    "titles",
    "emails",
    "onlineServices",
    "phones",
    "preferredLanguages",
    "calendars",
    "schedulingAddresses",
    "addresses",
    "cryptoKeys",
    "directories",
    "links",
    "media",
    "localizations",
    "anniversaries",
    "keywords",
    "notes",
    "personalInfo",
    "relatedTo",
    "vCard",
];

/// Checks the shape of a card a client sent (what calcard would silently drop is refused).
fn check_card(card: &Map<String, Value>) -> Result<(), SetError> {
    for (k, v) in card {
        let ok = match k.as_str() {
            "@type" => v.as_str() == Some("Card"),
            "version" | "uid" | "kind" | "language" | "prodId" | "created" | "updated" => v.is_string(),
            k if CARD_OBJECTS.contains(&k) => v.is_object(),
            // Vendor properties (RFC 9553 §1.6.1) carry a domain name.
            k if k.contains(':') => true,
            _ => return Err(SetError::invalid_properties(&[k], format!("unknown property {k}"))),
        };
        if !ok {
            return Err(SetError::invalid_properties(&[k], format!("{k} has the wrong type")));
        }
    }
    if let Some(Value::Object(name)) = card.get("name")
        && let Some(c) = name.get("components")
        && !c.is_array()
    {
        return Err(SetError::invalid_properties(&["name/components"], "components must be an array"));
    }
    Ok(())
}

fn card_json(item: &gw::Loaded, props: Option<&[String]>) -> Option<Value> {
    let mut card = convert::card_to_json(&item.text)?;
    card.insert("id".into(), json!(ids::item(BOOKS.item, item.item.id)));
    card.insert("addressBookIds".into(), gw::collection_ids(BOOKS, item.item.collection));
    if let Some(props) = props {
        card.retain(|k, _| props.iter().any(|p| p == k));
    }
    Some(Value::Object(card))
}

/// The card a client wants stored, as vCard text: server-set properties taken out, `@type`,
/// `version` and `uid` filled in.
fn card_text(card: &mut Map<String, Value>, version: &str) -> Result<String, SetError> {
    card.remove("id");
    card.remove("addressBookIds");
    card.entry("@type").or_insert_with(|| json!("Card"));
    card.entry("version").or_insert_with(|| json!("1.0"));
    check_card(card)?;
    convert::json_to_card(card, version)
        .ok_or_else(|| SetError::invalid_properties(&[], "the card cannot be converted to a vCard"))
}

#[async_trait]
impl ObjectType for ContactCard {
    const NAME: &'static str = "ContactCard";
    const SIMPLE_QUERY_CHANGES: bool = true;
    const COPY: bool = true;
    /// A copy goes to the target account's default collection unless the entry names one.
    const SERVER_SET: &'static [&'static str] = &["id", "addressBookIds"];
    const PROPERTIES: &'static [&'static str] = CARD_PROPERTIES;

    async fn state(ctx: &Ctx<'_>, account: AccountId) -> Result<String, MethodError> {
        gw::state(ctx, account, BOOKS).await
    }

    async fn get(
        ctx: &Ctx<'_>,
        account: AccountId,
        wanted: Option<Vec<String>>,
        props: &[String],
        args: &Map<String, Value>,
    ) -> Result<(Vec<Value>, Vec<String>), MethodError> {
        let all = matches!(args.get("properties"), None | Some(Value::Null));
        let (items, mut not_found) = gw::load_items(ctx, account, BOOKS, wanted).await?;
        let mut out = Vec::with_capacity(items.len());
        for l in &items {
            match card_json(l, (!all).then_some(props)) {
                Some(v) => out.push(v),
                None => not_found.push(ids::item(BOOKS.item, l.item.id)),
            }
        }
        Ok((out, not_found))
    }

    async fn changes(ctx: &Ctx<'_>, account: AccountId, since: &str, max: usize) -> Result<Changes, MethodError> {
        gw::changes(ctx, account, BOOKS, Obj::Item, since, max).await
    }

    async fn create(ctx: &Ctx<'_>, account: AccountId, object: &Map<String, Value>) -> Result<Value, SetError> {
        let list = gw::collections(ctx, account, BOOKS).await.map_err(|_| SetError::forbidden("no address book"))?;
        let book = match object.get("addressBookIds") {
            None => list.first().ok_or_else(|| SetError::invalid_properties(&["addressBookIds"], "no book"))?,
            v => gw::one_collection(ctx, &list, BOOKS, "addressBookIds", v)?,
        };
        let mut card = object.clone();
        let generated = if gw::opt_string(&card, "uid")?.is_none() {
            let uid = format!("urn:uuid:{}", gw::random_uuid());
            card.insert("uid".into(), json!(uid));
            Some(uid)
        } else {
            None
        };
        let text = card_text(&mut card, "4.0")?;
        let uid = card.get("uid").and_then(Value::as_str);
        let name = gw::resource_name(uid.and_then(|u| u.strip_prefix("urn:uuid:").or(Some(u))), ".vcf");
        let item = ctx.core.create_item(ctx.who, book.collection.id, &name, VCARD, text.as_bytes()).await?;
        let mut out = json!({ "id": ids::item(BOOKS.item, item.id) });
        if let Some(uid) = generated {
            out["uid"] = json!(uid);
        }
        if object.get("addressBookIds").is_none() {
            out["addressBookIds"] = gw::collection_ids(BOOKS, book.collection.id);
        }
        Ok(out)
    }

    async fn update(
        ctx: &Ctx<'_>,
        account: AccountId,
        id: &str,
        patch: &Map<String, Value>,
    ) -> Result<Option<Value>, SetError> {
        let l = gw::item_for_update(ctx, account, BOOKS, id).await?;
        let mut card = convert::card_to_json(&l.text)
            .ok_or_else(|| SetError::new("serverFail", "the stored vCard cannot be read"))?;
        let mut books = gw::collection_ids(BOOKS, l.item.collection);
        let mut rest = Map::new();
        for (k, v) in patch {
            if k == "addressBookIds" {
                books = v.clone();
            } else if let Some(b) = k.strip_prefix("addressBookIds/") {
                if let Value::Object(m) = &mut books {
                    if v.is_null() {
                        m.remove(b);
                    } else {
                        m.insert(b.to_owned(), v.clone());
                    }
                }
            } else if k == "id" || k.starts_with("id/") {
                return Err(SetError::invalid_properties(&["id"], "id cannot be changed"));
            } else {
                rest.insert(k.clone(), v.clone());
            }
        }
        let uid = card.get("uid").cloned();
        gw::apply_patch(&mut card, &rest)?;
        if card.get("uid") != uid.as_ref() {
            return Err(SetError::invalid_properties(&["uid"], "uid cannot be changed"));
        }
        if !rest.is_empty() {
            let text = card_text(&mut card, convert::card_version(&l.text))?;
            ctx.core.replace_item(ctx.who, l.item.id, VCARD, text.as_bytes(), Some(l.item.modseq)).await?;
        }
        let list = gw::collections(ctx, account, BOOKS).await.map_err(|_| SetError::not_found())?;
        let to = gw::one_collection(ctx, &list, BOOKS, "addressBookIds", Some(&books))?;
        if to.collection.id != l.item.collection {
            ctx.core.move_item(ctx.who, l.item.id, to.collection.id, &l.item.name).await?;
        }
        Ok(None)
    }

    async fn destroy(ctx: &Ctx<'_>, account: AccountId, id: &str, _args: &Map<String, Value>) -> Result<(), SetError> {
        let l = gw::item_for_update(ctx, account, BOOKS, id).await?;
        ctx.core.remove_item(ctx.who, l.item.id, None).await?;
        Ok(())
    }

    async fn query(
        ctx: &Ctx<'_>,
        account: AccountId,
        args: &Map<String, Value>,
        window: &Window,
    ) -> Result<QueryOut, MethodError> {
        let filter = args.get("filter").filter(|f| !f.is_null());
        if let Some(f) = filter {
            gw::check_filter(f, CARD_FILTERS, "cards")?;
        }
        let (items, _) = gw::load_items(ctx, account, BOOKS, None).await?;
        let mut found: Vec<(Value, i64, String)> = Vec::new();
        for l in &items {
            let Some(card) = card_json(l, None) else { continue };
            if let Some(f) = filter
                && !matches_card(f, &card, l)?
            {
                continue;
            }
            let id = card["id"].as_str().unwrap_or_default().to_owned();
            found.push((card, l.item.created_at.0, id));
        }
        sort_cards(&mut found, args.get("sort"))?;
        window.apply(found.into_iter().map(|(_, _, id)| id).collect())
    }
}

const CARD_FILTERS: &[&str] = &[
    "inAddressBook",
    "uid",
    "kind",
    "hasMember",
    "text",
    "name",
    "name/given",
    "name/surname",
    "name/surname2",
    "nickname",
    "organization",
    "email",
    "phone",
    "onlineService",
    "address",
    "note",
];

fn sort_cards(found: &mut [(Value, i64, String)], sort: Option<&Value>) -> Result<(), MethodError> {
    let Some(Value::Array(sort)) = sort else { return Ok(()) };
    let mut keys = Vec::new();
    for s in sort {
        let prop = s.get("property").and_then(Value::as_str).unwrap_or_default();
        if !matches!(prop, "created" | "updated" | "name/given" | "name/surname" | "name/surname2") {
            return Err(MethodError::new("unsupportedSort", format!("cannot sort cards by {prop:?}")));
        }
        keys.push((prop.to_owned(), s.get("isAscending").and_then(Value::as_bool).unwrap_or(true)));
    }
    let key = |c: &(Value, i64, String), prop: &str| -> String {
        match prop {
            "created" => format!("{:020}", c.1),
            "updated" => c.0["updated"].as_str().unwrap_or_default().to_owned(),
            _ => component(&c.0, prop.trim_start_matches("name/")).to_lowercase(),
        }
    };
    found.sort_by(|a, b| {
        for (prop, asc) in &keys {
            let o = key(a, prop).cmp(&key(b, prop));
            if o != std::cmp::Ordering::Equal {
                return if *asc { o } else { o.reverse() };
            }
        }
        std::cmp::Ordering::Equal
    });
    Ok(())
}

/// The values of a name component kind (`given`, `surname`…), joined.
fn component(card: &Value, kind: &str) -> String {
    card["name"]["components"]
        .as_array()
        .map(|c| {
            c.iter().filter(|x| x["kind"] == kind).filter_map(|x| x["value"].as_str()).collect::<Vec<_>>().join(" ")
        })
        .unwrap_or_default()
}

/// Every string inside a value, for text filters.
fn strings(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(&s.to_lowercase());
            out.push('\n');
        }
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fn contains(v: &Value, needle: &Value) -> Result<bool, MethodError> {
    let Value::String(n) = needle else { return Err(MethodError::invalid_arguments("filter values are strings")) };
    let mut hay = String::new();
    strings(v, &mut hay);
    Ok(hay.contains(&n.to_lowercase()))
}

/// RFC 9610 §3.3's filter on one card (conditions and AND/OR/NOT operators).
fn matches_card(f: &Value, card: &Value, l: &gw::Loaded) -> Result<bool, MethodError> {
    let Value::Object(f) = f else { return Err(MethodError::invalid_arguments("a filter must be an object")) };
    if let Some(op) = f.get("operator") {
        let Some(Value::Array(conds)) = f.get("conditions") else {
            return Err(MethodError::invalid_arguments("a filter operator needs conditions"));
        };
        let mut results = Vec::with_capacity(conds.len());
        for c in conds {
            results.push(matches_card(c, card, l)?);
        }
        return match op.as_str() {
            Some("AND") => Ok(results.iter().all(|r| *r)),
            Some("OR") => Ok(results.iter().any(|r| *r)),
            Some("NOT") => Ok(!results.iter().any(|r| *r)),
            _ => Err(MethodError::invalid_arguments("operator must be AND, OR or NOT")),
        };
    }
    for (k, v) in f {
        let ok = match k.as_str() {
            "inAddressBook" => v.as_str().and_then(|b| ids::parse_collection(b, BOOKS.coll)) == Some(l.item.collection),
            "uid" => card["uid"] == *v,
            "kind" => card["kind"].as_str().unwrap_or("individual") == v.as_str().unwrap_or_default(),
            "hasMember" => v.as_str().is_some_and(|m| card["members"][m] == true),
            "text" => contains(card, v)?,
            "name" => contains(&card["name"], v)?,
            "name/given" | "name/surname" | "name/surname2" => {
                contains(&json!(component(card, k.trim_start_matches("name/"))), v)?
            }
            "nickname" => contains(&card["nicknames"], v)?,
            "organization" => contains(&card["organizations"], v)?,
            "email" => contains(&card["emails"], v)?,
            "phone" => contains(&card["phones"], v)?,
            "onlineService" => contains(&card["onlineServices"], v)?,
            "address" => contains(&card["addresses"], v)?,
            "note" => contains(&card["notes"], v)?,
            _ => return Err(MethodError::new("unsupportedFilter", format!("cannot filter cards by {k}"))),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}
