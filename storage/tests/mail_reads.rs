//! Reads of many messages by id (the structures FETCH renders, the blobs FETCH and POP3 send):
//! they come packed into one value per batch, and give each message's own blob and structure,
//! only of the account asked about, whatever ids are mixed in.

#![allow(clippy::unwrap_used)]

mod support;

use kontor_domain::ids::PrincipalId;
use kontor_domain::mail::MailboxRole;
use support::Env;

both_stores!(structures_and_blobs_are_the_accounts_own);

async fn structures_and_blobs_are_the_accounts_own(env: Env) {
    let a = env.user("a@example.com").await;
    let b = env.user("b@example.com").await;
    let core = env.core.clone();
    let mut stored = Vec::new();
    for (who, n) in [(a.id, 0), (b.id, 1), (a.id, 2), (a.id, 3), (b.id, 4)] {
        let raw = if n == 3 {
            // A multipart message, so the structure has parts (and quotes and non-ASCII text).
            "From: \"Däve \\\"the\\\" One\" <d@elsewhere.org>\r\nSubject: parts\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
             --XX\r\nContent-Type: application/octet-stream; name=\"a;b.bin\"\r\n\r\nAAAA\r\n--XX--\r\n"
                .to_owned()
        } else {
            format!("From: x@elsewhere.org\r\nSubject: message {n}\r\n\r\nbody {n}\r\n")
        };
        let s = core.deliver(&[who], raw.as_bytes()).await.unwrap().remove(0).outcome.unwrap();
        stored.push((who, s.message));
    }
    let ids: Vec<i64> = stored.iter().map(|(_, m)| m.id).chain([999_999]).collect();
    for (who, other) in [(a.id, b.id), (b.id, a.id)] {
        let own: Vec<_> = stored.iter().filter(|(w, _)| *w == who).map(|(_, m)| m).collect();
        let structures = core.store.message_structures(who, &ids).await.unwrap();
        let blobs = core.store.message_blobs(who, &ids).await.unwrap();
        assert_eq!(structures.len(), own.len(), "only {who}'s: {structures:?}");
        assert_eq!(blobs.len(), own.len());
        for ((m, (sid, sblob, structure)), (bid, bblob)) in own.iter().zip(&structures).zip(&blobs) {
            assert_eq!((*sid, *bid), (m.id, m.id), "by id, in order");
            assert_eq!((sblob, bblob), (&m.blob, &m.blob));
            // The same structure as the message's own row holds.
            let whole = core.store.messages(who, &[m.id]).await.unwrap().remove(0);
            assert_eq!(format!("{structure:?}"), format!("{:?}", whole.structure));
        }
        // Ids of the other account alone: nothing.
        let theirs: Vec<i64> = stored.iter().filter(|(w, _)| *w == other).map(|(_, m)| m.id).collect();
        assert!(core.store.message_structures(who, &theirs).await.unwrap().is_empty());
        assert!(core.store.message_blobs(who, &theirs).await.unwrap().is_empty());
    }
    assert!(core.store.message_blobs(PrincipalId(0), &ids).await.unwrap().is_empty());
    let inbox = core.mailbox_with_role(a.id, MailboxRole::Inbox).await.unwrap();
    assert_eq!(inbox.uidnext, 4, "three messages filed");
    env.finish().await;
}
