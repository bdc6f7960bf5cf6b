//! Filing a new message (one batch of statements in the account's transaction): the thread it
//! joins, its UIDs in several mailboxes, the counts and the change log, and a refused filing
//! (a mailbox of another account, the same mailbox twice, no room) that writes nothing.

#![allow(clippy::unwrap_used)]

mod support;

use kontor_domain::changes::ObjectType;
use kontor_domain::ids::{CollectionId, Modseq, Timestamp};
use kontor_domain::mail::query::MailboxCounts;
use kontor_domain::mail::{Keywords, MailboxRole, NewMessage, Summary, Tally, ThreadKeys, parse};
use kontor_domain::model::Principal;
use support::Env;

both_stores!(
    threads_are_found_by_references_then_marked_subject,
    one_message_in_several_mailboxes,
    a_refused_filing_writes_nothing,
    an_expunge_of_thousands_is_logged
);

fn message(id: &str, subject: &str, refs: &str) -> String {
    format!("From: x@elsewhere.org\r\nMessage-ID: <{id}>\r\nSubject: {subject}\r\n{refs}\r\nbody of {id}\r\n")
}

async fn deliver(env: &Env, who: &Principal, raw: &str) -> kontor_domain::mail::Message {
    env.core.deliver(&[who.id], raw.as_bytes()).await.unwrap().remove(0).outcome.unwrap().message
}

async fn counts(env: &Env, who: &Principal, mailbox: CollectionId) -> MailboxCounts {
    let all = env.core.store.mailbox_counts(who.id).await.unwrap();
    all.into_iter().find(|(m, _)| *m == mailbox).unwrap().1
}

async fn threads_are_found_by_references_then_marked_subject(env: Env) {
    let a = env.user("a@example.com").await;
    let b = env.user("b@example.com").await;
    let first = deliver(&env, &a, &message("first@x", "Plan", "")).await;
    assert_eq!(first.thread, first.id, "a new thread is named after its first message");
    let reply = deliver(&env, &a, &message("reply@x", "Re: Plan", "In-Reply-To: <first@x>\r\n")).await;
    assert_eq!(reply.thread, first.thread, "by In-Reply-To");
    let deep = deliver(&env, &a, &message("deep@x", "Re: Re: Plan", "References: <nowhere@x> <reply@x>\r\n")).await;
    assert_eq!(deep.thread, first.thread, "by References");
    let marked = deliver(&env, &a, &message("fwd@x", "Fwd: plan", "")).await;
    assert_eq!(marked.thread, first.thread, "a reply marker without references: by base subject");
    let same_subject = deliver(&env, &a, &message("again@x", "Plan", "")).await;
    assert_eq!(same_subject.thread, same_subject.id, "no marker, no references: a thread of its own");
    let unknown = deliver(&env, &a, &message("other@x", "Other", "In-Reply-To: <unknown@x>\r\n")).await;
    assert_eq!(unknown.thread, unknown.id);
    // Another account's message with those ids and subject is not in a's threads.
    let theirs = deliver(&env, &b, &message("b1@x", "Re: Plan", "In-Reply-To: <first@x>\r\n")).await;
    assert_eq!(theirs.thread, theirs.id, "threads are per account");
    let theirs2 = deliver(&env, &b, &message("b2@x", "Re: Plan", "")).await;
    assert_eq!(theirs2.thread, theirs.thread, "b's own earlier message by base subject");
    // The stored rows say the same as the answers.
    let rows = env.core.store.messages(a.id, &[deep.id, marked.id, unknown.id]).await.unwrap();
    assert_eq!(rows.iter().map(|m| m.thread).collect::<Vec<_>>(), [first.thread, first.thread, unknown.id]);
    let inbox = env.core.mailbox_with_role(a.id, MailboxRole::Inbox).await.unwrap();
    let c = counts(&env, &a, inbox.id()).await;
    assert_eq!(
        c,
        MailboxCounts { total_emails: 6, unread_emails: 6, total_threads: 3, unread_threads: 3 },
        "three threads: the plan's four messages, the second plan, the other"
    );
    env.finish().await;
}

fn new_message(who: &Principal, raw: &str, mailboxes: Vec<CollectionId>, keywords: &[&str]) -> NewMessage {
    let parsed = parse::parse(raw.as_bytes());
    NewMessage {
        account: who.id,
        blob: kontor_domain::ids::BlobId::of(raw.as_bytes()),
        size: raw.len() as u64,
        received_at: Timestamp(1_700_000_000_000),
        thread: ThreadKeys::of(&parsed),
        parsed,
        keywords: Keywords::new(keywords.iter().map(|k| (*k).to_owned())),
        mailboxes,
    }
}

async fn one_message_in_several_mailboxes(env: Env) {
    let a = env.user("a@example.com").await;
    let inbox = env.core.mailbox_with_role(a.id, MailboxRole::Inbox).await.unwrap();
    let archive = env.core.mailbox_with_role(a.id, MailboxRole::Archive).await.unwrap();
    // Archive already holds two messages, Inbox none.
    for n in 0..2 {
        let raw = message(&format!("old{n}@x"), "old", "");
        env.core.store.append_message(new_message(&a, &raw, vec![archive.id()], &[])).await.unwrap();
    }
    let before = env.core.store.log_position(a.id).await.unwrap().current;
    let raw = message("both@x", "both", "");
    let stored =
        env.core.store.append_message(new_message(&a, &raw, vec![inbox.id(), archive.id()], &["$seen"])).await.unwrap();
    let m = &stored.value.message;
    let got: Vec<(CollectionId, u32)> = stored.value.memberships.iter().map(|s| (s.mailbox, s.uid)).collect();
    assert_eq!(got, [(inbox.id(), inbox.uidnext), (archive.id(), archive.uidnext + 2)], "in the order asked");
    assert!(stored.value.memberships.iter().all(|s| s.message == m.id && s.modseq == m.modseq));
    assert_eq!(m.modseq, Modseq(before.0 + 1));
    assert_eq!(m.thread, m.id);
    assert_eq!(m.keywords, Keywords::new(["$seen".to_owned()]));
    // Both mailboxes list it under those UIDs; the log has one row per mailbox at the modseq.
    let (_, listed) = env.core.store.messages_by_id(a.id, &[m.id]).await.unwrap().remove(0);
    let mut listed: Vec<(CollectionId, u32)> = listed.iter().map(|s| (s.mailbox, s.uid)).collect();
    listed.sort();
    let mut want = got.clone();
    want.sort();
    assert_eq!(listed, want);
    let log = env.core.store.change_rows_at(a.id, m.modseq, None).await.unwrap();
    let mut names: Vec<(CollectionId, String, ObjectType)> =
        log.iter().map(|r| (r.collection_id, r.name.clone(), r.object)).collect();
    names.sort_by_key(|n| n.0);
    let mut want_names: Vec<_> = got.iter().map(|(b, u)| (*b, u.to_string(), ObjectType::Message)).collect();
    want_names.sort_by_key(|n| n.0);
    assert_eq!(names, want_names);
    assert!(log.iter().all(|r| r.object_id == m.id && r.thread == Some(m.thread)));
    // Counts: read, so no unread; Archive has three messages in three threads.
    assert_eq!(
        counts(&env, &a, archive.id()).await,
        MailboxCounts { total_emails: 3, unread_emails: 2, total_threads: 3, unread_threads: 2 }
    );
    assert_eq!(
        counts(&env, &a, inbox.id()).await,
        MailboxCounts { total_emails: 1, unread_emails: 0, total_threads: 1, unread_threads: 0 }
    );
    env.finish().await;
}

async fn a_refused_filing_writes_nothing(env: Env) {
    let a = env.user("a@example.com").await;
    let b = env.user("b@example.com").await;
    deliver(&env, &a, &message("kept@x", "kept", "")).await;
    let inbox = env.core.mailbox_with_role(a.id, MailboxRole::Inbox).await.unwrap();
    let theirs = env.core.mailbox_with_role(b.id, MailboxRole::Inbox).await.unwrap();
    let position = env.core.store.log_position(a.id).await.unwrap().current;
    let used = env.core.store.principal(a.id).await.unwrap().unwrap().quota.used_bytes;
    let raw = message("refused@x", "refused", "");

    let e = env.core.store.append_message(new_message(&a, &raw, vec![inbox.id(), theirs.id()], &[])).await;
    assert!(matches!(e, Err(kontor_domain::Error::NotFound(_))), "another account's mailbox: {e:?}");
    let e = env.core.store.append_message(new_message(&a, &raw, vec![inbox.id(), inbox.id()], &[])).await;
    assert!(matches!(e, Err(kontor_domain::Error::Invalid(_))), "the same mailbox twice: {e:?}");
    let e = env.core.store.append_message(new_message(&a, &raw, vec![], &[])).await;
    assert!(matches!(e, Err(kontor_domain::Error::Invalid(_))), "no mailbox: {e:?}");

    // Nothing of the refused message: log, quota, UIDs, counts, rows.
    assert_eq!(env.core.store.log_position(a.id).await.unwrap().current, position);
    assert_eq!(env.core.store.principal(a.id).await.unwrap().unwrap().quota.used_bytes, used);
    let now = env.core.mailbox_with_role(a.id, MailboxRole::Inbox).await.unwrap();
    assert_eq!(now.uidnext, inbox.uidnext);
    assert_eq!(env.core.mailbox_with_role(b.id, MailboxRole::Inbox).await.unwrap().uidnext, theirs.uidnext);
    assert_eq!(counts(&env, &a, inbox.id()).await.total_emails, 1);
    assert_eq!(counts(&env, &b, theirs.id()).await.total_emails, 0);
    let blob = kontor_domain::ids::BlobId::of(raw.as_bytes());
    assert!(env.core.store.messages_with_blob(a.id, &blob).await.unwrap().is_empty());
    // And the next message takes the next UID.
    let ok = env.core.store.append_message(new_message(&a, &raw, vec![inbox.id()], &[])).await.unwrap();
    assert_eq!(ok.value.memberships[0].uid, inbox.uidnext);
    env.finish().await;
}

/// More messages than one statement may have parameters for on PostgreSQL (65,535: 7,282 log
/// rows of nine) go in one expunge; the log gets a row for each.
async fn an_expunge_of_thousands_is_logged(env: Env) {
    const N: u32 = 7_400;
    let a = env.user("a@example.com").await;
    let inbox = env.core.mailbox_with_role(a.id, MailboxRole::Inbox).await.unwrap();
    for n in 0..N {
        // Some with a Date (sent_at) and keywords, so the packed listing below sees both kinds.
        let date = if n % 3 == 0 { "Date: Tue, 1 Dec 2026 10:00:00 +0000\r\n" } else { "" };
        let raw = format!("From: x@elsewhere.org\r\n{date}Subject: {n}\r\n\r\n{n}\r\n");
        let keywords: &[&str] = if n % 2 == 0 { &["$seen", "$flagged"] } else { &[] };
        env.core.store.append_message(new_message(&a, &raw, vec![inbox.id()], keywords)).await.unwrap();
    }
    // The listing of summaries reads them a thousand at a time (packed rows): all of them, in
    // UID order, as the full rows say; and its tally is the store's.
    let listed = env.core.store.mailbox_summaries(inbox.id()).await.unwrap();
    assert_eq!(listed.len(), N as usize);
    let full = env.core.store.mailbox_messages(inbox.id()).await.unwrap();
    let expected: Vec<Summary> = full.iter().map(|(m, msg)| Summary::of(m, msg)).collect();
    assert_eq!(listed, expected);
    assert!(listed.iter().any(|s| s.sent_at.is_some()) && listed.iter().any(|s| s.sent_at.is_none()));
    assert_eq!(env.core.store.mailbox_tally(inbox.id()).await.unwrap(), Tally::of(&listed));
    let uids: Vec<u32> = (inbox.uidnext..inbox.uidnext + N).collect();
    let removed = env.core.store.remove_from_mailbox(inbox.id(), &uids).await.unwrap();
    assert_eq!(removed.value, uids);
    let at = env.core.store.log_position(a.id).await.unwrap().current;
    let log = env.core.store.change_rows_at(a.id, at, Some(inbox.id())).await.unwrap();
    assert_eq!(log.len(), N as usize, "one row per message");
    let mut names: Vec<u32> = log.iter().map(|r| r.name.parse().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, uids);
    assert_eq!(counts(&env, &a, inbox.id()).await, MailboxCounts::default());
    assert_eq!(env.core.store.mailbox_summaries(inbox.id()).await.unwrap(), []);
    assert_eq!(env.core.store.mailbox_tally(inbox.id()).await.unwrap(), Tally::default());
    env.finish().await;
}
