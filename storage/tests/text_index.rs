//! The full-text index's batches: on SQLite a delivered message's text waits beside the FTS5
//! index until the indexer takes it in, and searches find it in both places; a message deleted
//! while it waits takes its text with it. On PostgreSQL the text is indexed as it is written
//! and nothing waits. Both stores answer the same searches throughout.

#![allow(clippy::unwrap_used)]

mod support;

use kontor_domain::mail::MailboxRole;
use kontor_domain::mail::search::{TextField, TextQuery};
use sea_orm::{ConnectionTrait, Statement};
use support::Env;

both_stores!(text_waits_for_the_index_and_is_found_meanwhile);

/// How many messages' text waits (SQLite), or `None` where there is no such table.
async fn waiting(env: &Env) -> Option<i64> {
    if !env.url().starts_with("sqlite:") {
        return None;
    }
    let db = kontor_storage::connect(env.url(), 1).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), "SELECT count(*) FROM message_text_pending"))
        .await
        .unwrap()
        .unwrap();
    let n: i64 = row.try_get_by_index(0).unwrap();
    db.close().await.unwrap();
    Some(n)
}

async fn text_waits_for_the_index_and_is_found_meanwhile(env: Env) {
    let a = env.user("a@example.com").await;
    let core = env.core.clone();
    let inbox = core.mailbox_with_role(a.id, MailboxRole::Inbox).await.unwrap().id();
    for body in ["the zebracorn grazes", "a quiet meadow", "another zebracorn", "gone soon: zebracorn"] {
        let raw = format!("From: x@elsewhere.org\r\nSubject: s\r\n\r\n{body}\r\n");
        core.deliver(&[a.id], raw.as_bytes()).await.unwrap()[0].outcome.as_ref().unwrap();
    }
    let search = async |needle: &str| {
        let mut ids = Vec::new();
        for q in [TextQuery::one(TextField::Body, needle), TextQuery::one(TextField::Text, needle)] {
            ids.push(core.search_mailbox_text(&a, inbox, &q).await.unwrap());
        }
        // What is in a body is in the text (which also has the header).
        assert!(ids[0].iter().all(|id| ids[1].contains(id)), "{needle}: {ids:?}");
        ids.swap_remove(0)
    };
    // No indexer runs here: on SQLite all four wait, and are found all the same.
    let sqlite = waiting(&env).await.is_some();
    assert!(waiting(&env).await.is_none_or(|n| n == 4));
    let found = search("zebracorn").await;
    assert_eq!(found.len(), 3, "{found:?}");
    assert_eq!(search("qu").await.len(), 1, "a short needle");
    assert_eq!(search("meadow").await.len(), 1);

    // Taken in: nothing waits, the same answers.
    assert_eq!(core.index_pending_text().await.unwrap(), if sqlite { 4 } else { 0 });
    assert!(waiting(&env).await.is_none_or(|n| n == 0));
    assert_eq!(search("zebracorn").await, found);
    assert_eq!(search("qu").await.len(), 1);

    // One more waits beside the indexed ones; both are found. A message deleted while it
    // waits takes its text along.
    let raw = b"From: x@elsewhere.org\r\nSubject: late zebracorn\r\n\r\nlate\r\n";
    core.deliver(&[a.id], raw).await.unwrap()[0].outcome.as_ref().unwrap();
    assert!(waiting(&env).await.is_none_or(|n| n == 1));
    assert_eq!(
        core.search_mailbox_text(&a, inbox, &TextQuery::one(TextField::Text, "zebracorn")).await.unwrap().len(),
        4
    );
    assert_eq!(search("zebracorn").await, found, "the late one has it only in its subject");
    core.remove_messages(&a, inbox, &[5]).await.unwrap();
    assert!(waiting(&env).await.is_none_or(|n| n == 0));
    assert_eq!(core.index_pending_text().await.unwrap(), 0);
    core.remove_messages(&a, inbox, &[4]).await.unwrap();
    assert_eq!(search("zebracorn").await.len(), 2);
    env.finish().await;
}
