//! Mail stored before the mailbox counts, the arrival times beside mailbox rows and the threads
//! in the change log were kept: rolling those migrations back and running them again over a
//! store with mail rebuilds the same counts, order and log threads, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)]

mod support;

use kontor_domain::ids::Modseq;
use kontor_domain::mail::query::{Condition, MessageQuery, Sort, SortKey};
use kontor_domain::mail::{KeywordOp, Keywords, MailboxRole};
use kontor_migrations::{Migrator, MigratorTrait};
use support::Env;

both_stores!(counts_order_and_log_threads_are_rebuilt);

fn message(subject: &str, extra: &str) -> Vec<u8> {
    format!("From: x@elsewhere.org\r\nTo: a@example.com\r\nSubject: {subject}\r\n{extra}\r\nText.\r\n").into_bytes()
}

async fn counts_order_and_log_threads_are_rebuilt(env: Env) {
    let a = env.user("a@example.com").await;
    let core = env.core.clone();
    for (subject, extra) in [
        ("Plan", "Message-ID: <plan@elsewhere.org>\r\n"),
        ("Re: Plan", "Message-ID: <re@elsewhere.org>\r\nIn-Reply-To: <plan@elsewhere.org>\r\n"),
        ("Other", "Message-ID: <other@elsewhere.org>\r\n"),
        ("Draft", "Message-ID: <draft@elsewhere.org>\r\n"),
    ] {
        let d = core.deliver(&[a.id], &message(subject, extra)).await.unwrap();
        d[0].outcome.as_ref().unwrap();
    }
    let inbox = core.mailbox_with_role(a.id, MailboxRole::Inbox).await.unwrap().id();
    let archive = core.mailbox_with_role(a.id, MailboxRole::Archive).await.unwrap().id();
    core.change_keywords(&a, inbox, &[1], KeywordOp::Add, &Keywords::new(["$seen"])).await.unwrap();
    core.change_keywords(&a, inbox, &[4], KeywordOp::Add, &Keywords::new(["$draft"])).await.unwrap();
    core.file_messages(&a, inbox, &[2, 3], archive, false).await.unwrap();
    core.remove_messages(&a, inbox, &[3]).await.unwrap();

    let read = async || {
        let mut counts = core.store.mailbox_counts(a.id).await.unwrap();
        counts.sort_by_key(|(b, _)| *b);
        let mut pages = Vec::new();
        for (b, ascending) in [(inbox, false), (inbox, true), (archive, false)] {
            let q = MessageQuery {
                account: a.id,
                filter: Condition::InMailbox(b),
                sort: vec![Sort { key: SortKey::ReceivedAt, ascending }],
                collapse_threads: false,
                offset: 1,
                limit: Some(2),
                count: true,
            };
            pages.push(core.store.query_messages(&q).await.unwrap());
        }
        let log: Vec<(i64, Option<i64>)> = core
            .store
            .change_rows(a.id, Modseq(0), None, 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.object == kontor_domain::changes::ObjectType::Message)
            .map(|r| (r.object_id, r.thread))
            .collect();
        (counts, pages, log)
    };
    let (counts, pages, log) = read().await;
    let inbox_counts = counts.iter().find(|(b, _)| *b == inbox).unwrap().1;
    assert_eq!(
        [
            inbox_counts.total_emails,
            inbox_counts.unread_emails,
            inbox_counts.total_threads,
            inbox_counts.unread_threads
        ],
        [3, 1, 2, 1],
        "Plan (read) and Re: Plan (one thread), Draft (not unread) in the inbox; Other moved"
    );
    assert_eq!(pages[0].total, Some(3));
    assert!(log.iter().all(|(_, t)| t.is_some()), "every message row names its thread: {log:?}");

    // Back to before the three migrations, then forward again over the same mail.
    let db = kontor_storage::connect(env.url(), 1).await.unwrap();
    Migrator::down(&db, Some(3)).await.unwrap();
    assert_eq!(kontor_storage::migrate(&db).await.unwrap(), 3);
    db.close().await.unwrap();
    let (counts_again, pages_again, log_again) = read().await;
    assert_eq!(counts_again, counts, "the counts are counted again");
    assert_eq!(pages_again, pages, "the same pages in arrival order");
    assert_eq!(log_again, log, "rows of messages still stored get their thread back");
    drop(core);
    env.finish().await;
}
