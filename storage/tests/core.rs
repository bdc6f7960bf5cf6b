//! The domain services over the real store, on SQLite and PostgreSQL: the change log, quota,
//! the permission model, blobs, renames, authentication.

#![allow(clippy::unwrap_used, clippy::many_single_char_names)]

mod support;

use std::collections::BTreeSet;
use std::net::IpAddr;

use kontor_domain::auth::{AuthMethod, Credentials};
use kontor_domain::changes::{ObjectType, SyncToken};
use kontor_domain::events::Event;
use kontor_domain::ids::Modseq;
use kontor_domain::model::{CollectionKind, PrincipalKind};
use kontor_domain::quota::QuotaLevel;
use kontor_domain::rights::{Rights, Role};
use kontor_domain::{Actor, Error, NewUser};
use support::Env;

const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

both_stores!(
    change_log_and_sync,
    sync_paging_with_limit,
    quota_refuses_and_warns_once_per_crossing,
    roles_allow_exactly_what_they_name,
    blobs_are_deduplicated_and_collected,
    rename_keeps_data_and_frees_the_address,
    passwords_app_passwords_and_tokens,
    removing_a_user_releases_its_data,
    concurrent_writers_get_distinct_modseqs_and_respect_quota,
    caches_follow_the_log_and_stale_readers_do_not_displace_them,
);

fn ids(v: &[kontor_domain::changes::ChangedObject]) -> BTreeSet<i64> {
    v.iter().map(|o| o.id).collect()
}

async fn change_log_and_sync(mut env: Env) {
    let a = env.user("a@example.com").await;
    let core = env.core.clone();
    env.drain();
    let start = core.current_token(&a, a.id).await.unwrap().modseq.0;
    let cal = core.create_collection(&a, a.id, None, CollectionKind::FileFolder, "work", None).await.unwrap();
    let i1 = core.create_item(&a, cal.id, "1.ics", "text/calendar", b"one").await.unwrap();
    let i2 = core.create_item(&a, cal.id, "2.ics", "text/calendar", b"two").await.unwrap();
    assert!(i2.modseq > i1.modseq && i1.modseq > cal.created_modseq, "every write takes the next modseq");

    // First sync: everything there is, no tombstones.
    let first = core.changes_since(&a, a.id, Some(cal.id), None, 100).await.unwrap();
    assert_eq!(ids(&first.created), BTreeSet::from([i1.id.0, i2.id.0]));
    assert!(first.destroyed.is_empty() && !first.has_more);
    let token = first.new_token.unwrap().to_string();

    let i3 = core.create_item(&a, cal.id, "3.ics", "text/calendar", b"three").await.unwrap();
    let i1b = core.replace_item(&a, i1.id, "text/calendar", b"one, changed", Some(i1.modseq)).await.unwrap();
    core.remove_item(&a, i2.id, None).await.unwrap();
    let tmp = core.create_item(&a, cal.id, "tmp.ics", "text/calendar", b"tmp").await.unwrap();
    core.remove_item(&a, tmp.id, None).await.unwrap();

    let ch = core.changes_since(&a, a.id, Some(cal.id), Some(&token), 100).await.unwrap();
    assert_eq!(ids(&ch.created), BTreeSet::from([i3.id.0]));
    assert_eq!(ids(&ch.updated), BTreeSet::from([i1.id.0]));
    assert_eq!(ids(&ch.destroyed), BTreeSet::from([i2.id.0]), "created-and-removed inside the window is left out");
    assert_eq!(ch.destroyed[0].name, "2.ics", "a tombstone still names what went away");
    let now = core.current_token(&a, a.id).await.unwrap();
    assert_eq!(ch.new_token, Some(now));

    // A stale ETag (modseq) is refused and changes nothing.
    let stale = core.replace_item(&a, i1.id, "text/calendar", b"lost update", Some(i1.modseq)).await;
    assert!(matches!(stale, Err(Error::PreconditionFailed(_))), "{stale:?}");
    assert_eq!(core.read_item(&a, i1.id).await.unwrap().1, &b"one, changed"[..]);
    assert_eq!(core.read_item(&a, i1.id).await.unwrap().0.modseq, i1b.modseq);

    // Nothing new since the latest token.
    let none = core.changes_since(&a, a.id, None, Some(&now.to_string()), 100).await.unwrap();
    assert!(none.created.is_empty() && none.updated.is_empty() && none.destroyed.is_empty());

    // Account-wide log sees the collection too.
    let all = core.changes_since(&a, a.id, None, None, 100).await.unwrap();
    assert!(all.created.iter().any(|o| o.object == ObjectType::Collection && o.id == cal.id.0));

    // Tokens of another account, garbage and pruned pasts get clear errors.
    let b = env.user("b@example.com").await;
    let b_token = core.current_token(&b, b.id).await.unwrap().to_string();
    assert!(matches!(core.changes_since(&a, a.id, None, Some(&b_token), 10).await, Err(Error::TokenWrongAccount)));
    assert!(matches!(core.changes_since(&a, a.id, None, Some("nonsense"), 10).await, Err(Error::TokenInvalid(_))));
    let ahead = SyncToken { account: a.id, modseq: Modseq(now.modseq.0 + 5) }.to_string();
    assert!(matches!(core.changes_since(&a, a.id, None, Some(&ahead), 10).await, Err(Error::TokenInvalid(_))));
    core.prune_changes(a.id, i3.modseq).await.unwrap();
    assert!(matches!(core.changes_since(&a, a.id, None, Some(&token), 10).await, Err(Error::TokenExpired { .. })));
    let at_prune = SyncToken { account: a.id, modseq: i3.modseq }.to_string();
    let after = core.changes_since(&a, a.id, Some(cal.id), Some(&at_prune), 10).await.unwrap();
    assert_eq!(ids(&after.updated), BTreeSet::from([i1.id.0]));

    // Someone without rights cannot read a's log (and learns nothing about it).
    assert!(matches!(core.changes_since(&b, a.id, None, None, 10).await, Err(Error::NotFound(_))));
    assert!(matches!(core.changes_since(&b, a.id, Some(cal.id), None, 10).await, Err(Error::NotFound(_))));

    // Every commit published its modseq, in order.
    let seqs: Vec<i64> = env
        .drain()
        .into_iter()
        .filter_map(|e| match e {
            Event::Changed { account, modseq, kinds } if account == a.id => {
                assert_eq!(kinds, vec![CollectionKind::FileFolder]);
                Some(modseq.0)
            }
            _ => None,
        })
        .collect();
    // collection, three items, a replace, a removal, a create and remove: eight commits.
    assert_eq!(seqs, (start + 1..=start + 8).collect::<Vec<_>>());
    env.finish().await;
}

async fn sync_paging_with_limit(env: Env) {
    let a = env.user("a@example.com").await;
    let core = env.core.clone();
    let book = core.create_collection(&a, a.id, None, CollectionKind::FileFolder, "cards", None).await.unwrap();
    let mut made = BTreeSet::new();
    for n in 0..7 {
        made.insert(
            core.create_item(&a, book.id, &format!("{n}.vcf"), "text/vcard", format!("card {n}").as_bytes())
                .await
                .unwrap()
                .id
                .0,
        );
    }
    // First sync in pages of 3.
    let (mut seen, mut token, mut pages) = (BTreeSet::new(), None::<String>, 0);
    loop {
        let ch = core.changes_since(&a, a.id, Some(book.id), token.as_deref(), 3).await.unwrap();
        assert!(ch.created.len() + ch.updated.len() <= 3);
        seen.extend(ids(&ch.created));
        seen.extend(ids(&ch.updated));
        token = Some(ch.new_token.unwrap().to_string());
        pages += 1;
        if !ch.has_more {
            break;
        }
        assert!(pages < 10, "paging must end");
    }
    assert_eq!(seen, made);
    assert_eq!(pages, 3);
    // Incremental changes in pages of 2.
    let all: Vec<_> = made.iter().copied().collect();
    for id in &all[..5] {
        core.remove_item(&a, kontor_domain::ids::ItemId(*id), None).await.unwrap();
    }
    let mut gone = BTreeSet::new();
    for _ in 0..10 {
        let ch = core.changes_since(&a, a.id, Some(book.id), token.as_deref(), 2).await.unwrap();
        gone.extend(ids(&ch.destroyed));
        token = Some(ch.new_token.unwrap().to_string());
        if !ch.has_more {
            break;
        }
    }
    assert_eq!(gone, all[..5].iter().copied().collect());
    env.finish().await;
}

async fn quota_refuses_and_warns_once_per_crossing(mut env: Env) {
    let a = env.user("a@example.com").await;
    let core = env.core.clone();
    core.set_quota(Actor::System, "a@example.com", Some(1000)).await.unwrap();
    let f = core.create_collection(&a, a.id, None, CollectionKind::FileFolder, "files", None).await.unwrap();
    let warnings = |env: &mut Env| {
        env.drain()
            .into_iter()
            .filter_map(|e| match e {
                Event::QuotaWarning { level, used_bytes, limit_bytes, .. } => Some((level, used_bytes, limit_bytes)),
                Event::Changed { .. } | Event::Noticed { .. } => None,
            })
            .collect::<Vec<_>>()
    };
    env.drain();
    let x = core.create_item(&a, f.id, "x", "application/octet-stream", &[1; 600]).await.unwrap();
    assert!(warnings(&mut env).is_empty());
    let y = core.create_item(&a, f.id, "y", "application/octet-stream", &[2; 200]).await.unwrap();
    assert_eq!(warnings(&mut env), vec![(QuotaLevel::Warn70, 800, 1000)]);
    core.create_item(&a, f.id, "z", "application/octet-stream", &[3; 50]).await.unwrap();
    assert!(warnings(&mut env).is_empty(), "no second warning at the same level");
    core.create_item(&a, f.id, "w", "application/octet-stream", &[4; 100]).await.unwrap();
    assert_eq!(warnings(&mut env), vec![(QuotaLevel::Warn90, 950, 1000)]);

    // Over quota: refused, nothing written.
    let before = core.list_items(&core.access(&a, f.id).await.unwrap()).await.unwrap().len();
    let r = core.create_item(&a, f.id, "big", "application/octet-stream", &[5; 51]).await;
    assert!(matches!(r, Err(Error::OverQuota { used: 950, limit: 1000, requested: 51 })), "{r:?}");
    assert_eq!(core.list_items(&core.access(&a, f.id).await.unwrap()).await.unwrap().len(), before);
    assert_eq!(core.principal_by_address("a@example.com").await.unwrap().quota.used_bytes, 950);
    let grow = core.replace_item(&a, y.id, "application/octet-stream", &[6; 300], None).await;
    assert!(matches!(grow, Err(Error::OverQuota { .. })), "{grow:?}");

    // Falling below re-arms; crossing again warns again.
    core.remove_item(&a, x.id, None).await.unwrap();
    assert_eq!(core.principal_by_address("a@example.com").await.unwrap().quota.used_bytes, 350);
    assert!(warnings(&mut env).is_empty());
    core.create_item(&a, f.id, "again", "application/octet-stream", &[7; 400]).await.unwrap();
    assert_eq!(warnings(&mut env), vec![(QuotaLevel::Warn70, 750, 1000)]);

    // Lowering the quota under current use warns too.
    core.set_quota(Actor::System, "a@example.com", Some(800)).await.unwrap();
    assert_eq!(warnings(&mut env), vec![(QuotaLevel::Warn90, 750, 800)]);
    core.set_quota(Actor::System, "a@example.com", None).await.unwrap();
    core.create_item(&a, f.id, "unlimited", "application/octet-stream", &[8; 5000]).await.unwrap();
    env.finish().await;
}

async fn roles_allow_exactly_what_they_name(env: Env) {
    let owner = env.user("owner@example.com").await;
    let b = env.user("b@example.com").await;
    let c = env.user("c@example.com").await;
    let outsider = env.user("d@other.org").await;
    let core = env.core.clone();
    let cal = core.create_collection(&owner, owner.id, None, CollectionKind::FileFolder, "team", None).await.unwrap();
    let mine = core.create_item(&owner, cal.id, "o.ics", "text/calendar", b"owner's").await.unwrap();
    let addr = |p: &kontor_domain::model::Principal| p.address.clone();

    // No grant: invisible.
    assert!(matches!(core.access(&b, cal.id).await, Err(Error::NotFound(_))));
    assert!(matches!(core.read_item(&b, mine.id).await, Err(Error::NotFound(_))));
    assert!(core.list_collections(&b, owner.id, None).await.unwrap().is_empty(), "nothing of the owner's is listed");

    // Free/busy: sees the collection, reads no item.
    core.share(&owner, owner.id, Some(cal.id), &addr(&b), Role::FreeBusy.rights()).await.unwrap();
    assert_eq!(core.access(&b, cal.id).await.unwrap().rights, Rights::FREE_BUSY);
    assert!(matches!(core.read_item(&b, mine.id).await, Err(Error::Forbidden { .. })));

    // Reviewer: reads, may not write.
    core.share(&owner, owner.id, Some(cal.id), &addr(&b), Role::Reviewer.rights()).await.unwrap();
    assert_eq!(core.read_item(&b, mine.id).await.unwrap().1, &b"owner's"[..]);
    assert!(matches!(core.create_item(&b, cal.id, "b.ics", "text/calendar", b"b").await, Err(Error::Forbidden { .. })));
    assert!(matches!(core.replace_item(&b, mine.id, "text/calendar", b"x", None).await, Err(Error::Forbidden { .. })));
    assert!(matches!(core.remove_item(&b, mine.id, None).await, Err(Error::Forbidden { .. })));

    // Author: creates, changes and removes only its own items.
    core.share(&owner, owner.id, Some(cal.id), &addr(&b), Role::Author.rights()).await.unwrap();
    let bs = core.create_item(&b, cal.id, "b.ics", "text/calendar", b"b's").await.unwrap();
    assert_eq!(bs.created_by, Some(b.id));
    core.replace_item(&b, bs.id, "text/calendar", b"b's, edited", None).await.unwrap();
    assert!(matches!(core.replace_item(&b, mine.id, "text/calendar", b"x", None).await, Err(Error::Forbidden { .. })));
    assert!(matches!(core.remove_item(&b, mine.id, None).await, Err(Error::Forbidden { .. })));
    assert!(matches!(
        core.share(&b, owner.id, Some(cal.id), &addr(&c), Role::Reviewer.rights()).await,
        Err(Error::Forbidden { .. })
    ));
    core.remove_item(&b, bs.id, None).await.unwrap();

    // Editor: changes anyone's items, may not share or delete the calendar.
    core.share(&owner, owner.id, Some(cal.id), &addr(&b), Role::Editor.rights()).await.unwrap();
    core.replace_item(&b, mine.id, "text/calendar", b"edited by b", None).await.unwrap();
    assert!(matches!(core.remove_collection(&b, cal.id).await, Err(Error::Forbidden { .. })));

    // Owner (delegate): shares onwards, inside the domain only.
    core.share(&owner, owner.id, Some(cal.id), &addr(&b), Role::Owner.rights()).await.unwrap();
    core.share(&b, owner.id, Some(cal.id), &addr(&c), Role::Reviewer.rights()).await.unwrap();
    assert!(core.read_item(&c, mine.id).await.is_ok());
    let cross = core.share(&owner, owner.id, Some(cal.id), &addr(&outsider), Role::Reviewer.rights()).await;
    assert!(matches!(cross, Err(Error::CrossDomainGrant(_))), "{cross:?}");
    assert!(matches!(core.read_item(&outsider, mine.id).await, Err(Error::NotFound(_))));
    // Account-wide grants are the owner's alone.
    assert!(matches!(core.share(&b, owner.id, None, &addr(&c), Rights::SEND_AS).await, Err(Error::Forbidden { .. })));
    core.share(&owner, owner.id, None, &addr(&b), Rights::SEND_AS).await.unwrap();
    assert!(core.rights_in(&b, owner.id, None).await.unwrap().contains(Rights::SEND_AS));
    assert_eq!(core.grants_on(&owner, owner.id).await.unwrap().len(), 3);

    // Revoking takes effect at once.
    core.share(&owner, owner.id, Some(cal.id), &addr(&c), Rights::NONE).await.unwrap();
    assert!(matches!(core.read_item(&c, mine.id).await, Err(Error::NotFound(_))));

    // Grants to a group reach its members.
    let (g, _) = core
        .add_user(
            Actor::System,
            NewUser {
                address: kontor_domain::address::Address::parse("team@example.com").unwrap(),
                kind: PrincipalKind::Group,
                password: None,
                display_name: None,
                is_admin: false,
                quota: None,
            },
        )
        .await
        .unwrap();
    core.store.add_member(g.id, c.id).await.unwrap();
    assert!(
        matches!(core.store.add_member(g.id, outsider.id).await, Err(Error::Invalid(_))),
        "no members from other domains"
    );
    core.share(&owner, owner.id, Some(cal.id), &g.address, Role::Reviewer.rights()).await.unwrap();
    assert!(core.read_item(&c, mine.id).await.is_ok());

    // A delegate passes on no more than it holds, and never to itself.
    let more =
        core.share(&b, owner.id, Some(cal.id), &addr(&c), Role::Owner.rights() | Rights::DELETE_COLLECTION).await;
    assert!(matches!(more, Err(Error::Forbidden { .. })), "{more:?}");
    assert!(matches!(
        core.share(&b, owner.id, Some(cal.id), &addr(&b), Role::Owner.rights()).await,
        Err(Error::Invalid(_))
    ));

    // Renamed into another domain, c loses what came through the group as well.
    core.add_domain(Actor::System, "elsewhere.org").await.unwrap();
    let moved = core.rename_user(Actor::System, "c@example.com", "c@elsewhere.org").await.unwrap();
    assert!(matches!(core.read_item(&moved, mine.id).await, Err(Error::NotFound(_))));
    env.finish().await;
}

async fn blobs_are_deduplicated_and_collected(env: Env) {
    let a = env.user("a@example.com").await;
    let b = env.user("b@example.com").await;
    let core = env.core.clone();
    let fa = core.create_collection(&a, a.id, None, CollectionKind::FileFolder, "f", None).await.unwrap();
    let fb = core.create_collection(&b, b.id, None, CollectionKind::FileFolder, "f", None).await.unwrap();
    let body = b"the same attachment, sent to two people".to_vec();
    let ia = core.create_item(&a, fa.id, "x", "text/plain", &body).await.unwrap();
    let ib = core.create_item(&b, fb.id, "x", "text/plain", &body).await.unwrap();
    assert_eq!(ia.blob, ib.blob);
    let path = env.dir.path().join("blobs").join(&ia.blob.as_str()[..2]).join(ia.blob.as_str());
    assert!(path.exists());
    core.remove_item(&a, ia.id, None).await.unwrap();
    assert_eq!(core.collect_garbage().await.unwrap(), 0, "still referenced by b");
    assert!(path.exists());
    core.remove_item(&b, ib.id, None).await.unwrap();
    assert_eq!(core.collect_garbage().await.unwrap(), 1);
    assert!(!path.exists());
    // The same content again is stored again.
    let again = core.create_item(&a, fa.id, "y", "text/plain", &body).await.unwrap();
    assert_eq!(core.read_item(&a, again.id).await.unwrap().1, body);
    // Replacing content releases the old blob.
    core.replace_item(&a, again.id, "text/plain", b"new content", None).await.unwrap();
    assert_eq!(core.collect_garbage().await.unwrap(), 1);
    assert!(!path.exists());
    env.finish().await;
}

async fn rename_keeps_data_and_frees_the_address(env: Env) {
    let info = env.user("info@example.com").await;
    let core = env.core.clone();
    let f = core.create_collection(&info, info.id, None, CollectionKind::MailFolder, "Old mail", None).await.unwrap();
    let msg = core.create_item(&info, f.id, "1", "message/rfc822", b"Subject: hello\r\n\r\nold mail").await.unwrap();
    let archived = core.rename_user(Actor::System, "info@example.com", "archive@example.com").await.unwrap();
    assert_eq!(archived.id, info.id);
    assert_eq!(core.read_item(&archived, msg.id).await.unwrap().1, &b"Subject: hello\r\n\r\nold mail"[..]);
    assert!(matches!(core.principal_by_address("info@example.com").await, Err(Error::NotFound(_))));
    // Log in as the archive with the old password.
    let who = core
        .authenticate(
            Credentials::Password {
                login: "archive@example.com".into(),
                password: "password-of-info@example.com".into(),
            },
            IP,
        )
        .await
        .unwrap();
    assert_eq!(who.principal.id, info.id);
    // A fresh info@ is a new, empty account.
    let fresh = env.user("info@example.com").await;
    assert_ne!(fresh.id, info.id);
    let fresh_collections: Vec<_> =
        core.list_collections(&fresh, fresh.id, None).await.unwrap().into_iter().map(|a| a.collection.name).collect();
    assert_eq!(
        fresh_collections,
        ["calendar", "tasks", "contacts", "INBOX", "Drafts", "Sent", "Junk", "Trash", "Archive"],
        "only what every new user gets"
    );
    assert!(matches!(core.read_item(&fresh, msg.id).await, Err(Error::NotFound(_))));
    // Names in use are refused.
    assert!(matches!(
        core.rename_user(Actor::System, "info@example.com", "archive@example.com").await,
        Err(Error::Conflict(_))
    ));
    core.add_alias(Actor::System, "sales@example.com", "info@example.com").await.unwrap();
    assert!(matches!(
        core.rename_user(Actor::System, "info@example.com", "sales@example.com").await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        core.rename_user(Actor::System, "info@example.com", "x@nowhere.org").await,
        Err(Error::NotFound(_))
    ));
    env.finish().await;
}

async fn passwords_app_passwords_and_tokens(env: Env) {
    let a = env.user("a@example.com").await;
    let core = env.core.clone();
    let pw = |login: &str, password: &str| Credentials::Password { login: login.into(), password: password.into() };
    let ok = core.authenticate(pw("A@Example.com", "password-of-a@example.com"), IP).await.unwrap();
    assert_eq!((ok.principal.id, ok.method), (a.id, AuthMethod::Password));
    assert!(matches!(core.authenticate(pw("a@example.com", "wrong"), IP).await, Err(Error::AuthFailed)));
    assert!(
        matches!(core.authenticate(pw("a", "password-of-a@example.com"), IP).await, Err(Error::AuthFailed)),
        "a login without a domain is refused"
    );
    assert!(matches!(core.authenticate(pw("nobody@example.com", "x"), IP).await, Err(Error::AuthFailed)));

    let (_, secret) = core.add_app_password(Actor::System, "a@example.com", "phone").await.unwrap();
    let via_app = core.authenticate(pw("a@example.com", &secret), IP).await.unwrap();
    assert_eq!(via_app.method, AuthMethod::AppPassword);
    assert!(core.list_app_passwords(Actor::System, "a@example.com").await.unwrap()[0].last_used_at.is_some());
    let b = env.user("b@example.com").await;
    assert!(
        matches!(core.authenticate(pw("b@example.com", &secret), IP).await, Err(Error::AuthFailed)),
        "another user's app password"
    );
    assert!(matches!(core.add_app_password(Actor::System, "a@example.com", "phone").await, Err(Error::Conflict(_))));
    assert!(matches!(
        core.add_app_password(Actor::Principal(&b), "a@example.com", "x").await,
        Err(Error::Forbidden { .. })
    ));
    core.revoke_app_password(Actor::System, "a@example.com", "phone").await.unwrap();
    assert!(matches!(core.authenticate(pw("a@example.com", &secret), IP).await, Err(Error::AuthFailed)));

    let (token, _) = core.issue_token(&ok).unwrap();
    let via_token = core.authenticate(Credentials::Bearer(token.clone()), IP).await.unwrap();
    assert_eq!((via_token.principal.id, via_token.method), (a.id, AuthMethod::Token));
    core.set_password(Actor::System, "a@example.com", Some("a brand new password".into())).await.unwrap();
    assert!(
        matches!(core.authenticate(Credentials::Bearer(token), IP).await, Err(Error::AuthFailed)),
        "a new password ends old tokens"
    );
    assert!(core.authenticate(pw("a@example.com", "a brand new password"), IP).await.is_ok());
    assert!(matches!(
        core.set_password(Actor::System, "a@example.com", Some("short".into())).await,
        Err(Error::Invalid(_))
    ));
    env.finish().await;
}

async fn removing_a_user_releases_its_data(env: Env) {
    let a = env.user("a@example.com").await;
    let core = env.core.clone();
    let f = core.create_collection(&a, a.id, None, CollectionKind::FileFolder, "f", None).await.unwrap();
    let sub = core.create_collection(&a, a.id, Some(f.id), CollectionKind::FileFolder, "sub", None).await.unwrap();
    core.create_item(&a, sub.id, "x", "text/plain", b"only a has this").await.unwrap();
    core.add_alias(Actor::System, "alias@example.com", "a@example.com").await.unwrap();
    assert!(matches!(core.remove_domain(Actor::System, "example.com").await, Err(Error::Invalid(_))));
    core.remove_user(Actor::System, "a@example.com").await.unwrap();
    assert_eq!(core.collect_garbage().await.unwrap(), 1);
    assert!(core.list_aliases(Actor::System, None).await.unwrap().is_empty());
    assert!(core.store.collection(f.id).await.unwrap().is_none());
    core.remove_domain(Actor::System, "example.com").await.unwrap();
    assert!(core.list_domains(Actor::System).await.unwrap().is_empty());
    env.finish().await;
}

async fn concurrent_writers_get_distinct_modseqs_and_respect_quota(env: Env) {
    let a = env.user("a@example.com").await;
    let core = env.core.clone();
    let f = core.create_collection(&a, a.id, None, CollectionKind::FileFolder, "f", None).await.unwrap();
    core.set_quota(Actor::System, "a@example.com", Some(1000)).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let (core, a) = (core.clone(), a.clone());
            tokio::spawn(
                async move { core.create_item(&a, f.id, &format!("{n}"), "text/plain", &[n as u8; 100]).await },
            )
        })
        .collect();
    let mut ok = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(item) => ok.push(item.modseq.0),
            Err(Error::OverQuota { .. }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(ok.len(), 10, "exactly the items that fit");
    let distinct: BTreeSet<_> = ok.iter().collect();
    assert_eq!(distinct.len(), ok.len(), "modseqs are unique: {ok:?}");
    assert_eq!(core.principal_by_address("a@example.com").await.unwrap().quota.used_bytes, 1000);
    // Refused writes rolled back their modseq too: the log has no gaps and no extra entries.
    let log = core
        .changes_since(
            &a,
            a.id,
            Some(f.id),
            Some(&SyncToken { account: a.id, modseq: f.created_modseq }.to_string()),
            100,
        )
        .await
        .unwrap();
    assert_eq!(log.created.len(), 10);
    env.finish().await;
}

/// The listing and collection-set caches answer by the modseq a reader holds: a fresh reader
/// always sees the latest write, a reader holding an older row never pushes the newer state
/// out, and a second store over the same database (another node) sees the first's writes.
async fn caches_follow_the_log_and_stale_readers_do_not_displace_them(env: Env) {
    let a = env.user("a@example.com").await;
    let core = env.core.clone();
    let fresh = || async { core.principal_by_address("a@example.com").await.unwrap() };
    let names = |set: &[kontor_domain::model::Collection]| set.iter().map(|c| c.name.clone()).collect::<BTreeSet<_>>();

    let before = fresh().await;
    let first = names(&core.own_collections(&before).await.unwrap());
    let f = core.create_collection(&a, a.id, None, CollectionKind::FileFolder, "new", None).await.unwrap();
    let after = fresh().await;
    assert!(after.log.current > before.log.current, "a collection change moves the account's log");
    let now = names(&core.own_collections(&after).await.unwrap());
    assert!(now.contains("new") && !first.contains("new"), "{first:?} then {now:?}");
    // A stale reader gets that state or a newer one, and leaves the newer set in place.
    let stale = names(&core.own_collections(&before).await.unwrap());
    assert!(stale.is_superset(&first));
    assert!(names(&core.own_collections(&after).await.unwrap()).contains("new"));

    let opened = core.access(&a, f.id).await.unwrap();
    assert!(core.list_items(&opened).await.unwrap().is_empty());
    core.create_item(&a, f.id, "b", "text/plain", b"b").await.unwrap();
    core.create_item(&a, f.id, "a", "text/plain", b"a").await.unwrap();
    let reopened = core.access(&a, f.id).await.unwrap();
    let listing = core.list_items(&reopened).await.unwrap();
    let listed: Vec<&str> = listing.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(listed, ["a", "b"], "listings are sorted by name");
    assert!(kontor_domain::model::find_item(&listing, "b").is_some());
    assert!(kontor_domain::model::find_item(&listing, "c").is_none());
    // The reader that opened the folder before the writes may see either state…
    let old = core.list_items(&opened).await.unwrap().len();
    assert!(old == 0 || old == 2);
    // …and does not displace the newer listing.
    assert_eq!(core.list_items(&reopened).await.unwrap().len(), 2);

    // Another node on the same database: its caches fill from its own reads, then follow the
    // first node's writes through the modseqs it reads.
    let other = env.second_core().await;
    let other_view = other.access(&a, f.id).await.unwrap();
    assert_eq!(other.list_items(&other_view).await.unwrap().len(), 2);
    core.create_item(&a, f.id, "c", "text/plain", b"c").await.unwrap();
    let other_view = other.access(&a, f.id).await.unwrap();
    assert_eq!(other.list_items(&other_view).await.unwrap().len(), 3, "the other node sees the write");
    let p = other.principal_by_address("a@example.com").await.unwrap();
    assert!(!names(&other.own_collections(&p).await.unwrap()).contains("newer"));
    core.create_collection(&a, a.id, None, CollectionKind::FileFolder, "newer", None).await.unwrap();
    let p = other.principal_by_address("a@example.com").await.unwrap();
    assert!(names(&other.own_collections(&p).await.unwrap()).contains("newer"), "the other node sees the new folder");
    env.finish().await;
}
