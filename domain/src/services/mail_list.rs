//! Reading a mailbox the light way: the summaries a session keeps per message (IMAP's selected
//! mailbox, STATUS), whole messages only for those it fetches, and POP3's maildrop (UIDs,
//! sizes and blobs). A mailbox of thousands then costs a session a few hundred kilobytes, not
//! every message's envelope and structure.

use crate::error::{Error, Result};
use crate::ids::{AccountId, BlobId, CollectionId, Modseq};
use crate::mail::{Message, MimePart, Summary, Tally};
use crate::model::Principal;
use crate::rights::Rights;
use crate::services::mail::MailboxReader;

/// Where a message's bytes are, for a reader of a mailbox of its account: read with
/// [`crate::Core::read_blobs`] (a FETCH of whole bodies, POP3's RETR) without its row.
#[derive(Debug, Clone)]
pub struct BlobRef {
    /// The message's id.
    pub message: i64,
    account: AccountId,
    blob: BlobId,
}

/// What FETCH needs of a message beyond its summary: where its bytes are, and its MIME
/// structure with the envelopes delivery read (ENVELOPE, BODYSTRUCTURE, body sections).
#[derive(Debug, Clone)]
pub struct Structured {
    pub bytes: BlobRef,
    pub structure: MimePart,
}

impl Structured {
    /// The message's id.
    pub fn message(&self) -> i64 {
        self.bytes.message
    }
}

/// A message of a POP3 maildrop: its UID and size, and where its bytes are.
#[derive(Debug, Clone)]
pub struct Dropped {
    pub uid: u32,
    pub size: u64,
    pub bytes: BlobRef,
}

impl Dropped {
    /// The message's id.
    pub fn message(&self) -> i64 {
        self.bytes.message
    }

    /// The account whose message it is.
    pub(crate) fn account(&self) -> AccountId {
        self.bytes.account
    }
}

impl crate::Core {
    /// The summaries of a mailbox's messages (by UID) for a caller who may read it; on someone
    /// else's mailbox with the caller's own seen state.
    pub async fn mailbox_summaries(&self, who: &Principal, mailbox: CollectionId) -> Result<Vec<Summary>> {
        let access = self.access(who, mailbox).await?;
        access.require(Rights::READ)?;
        let mut listed = self.store.mailbox_summaries(mailbox).await?;
        if access.collection.account != who.id {
            let ids: Vec<i64> = listed.iter().map(|s| s.message).collect();
            let mut states = self.store.seen_states(who.id, &ids).await?;
            states.sort_unstable_by_key(|(id, _, _)| *id);
            for s in &mut listed {
                let state = states.binary_search_by_key(&s.message, |(id, _, _)| *id).ok().map(|at| states[at]);
                s.keywords = s.keywords.with_seen(state.is_some_and(|(_, seen, _)| seen));
                if let Some((_, _, modseq)) = state {
                    s.modseq = Modseq(s.modseq.0.max(modseq.0));
                }
            }
        }
        Ok(listed)
    }

    /// The tally of a mailbox (count, highest UID, highest MODSEQ) for a caller who may read
    /// it, when it tells every change the caller's listing would show: on someone else's
    /// mailbox the caller's own seen state is kept apart, and `None` says to list it again.
    pub async fn mailbox_tally(&self, who: &Principal, mailbox: CollectionId) -> Result<Option<Tally>> {
        let access = self.access(who, mailbox).await?;
        access.require(Rights::READ)?;
        if access.collection.account != who.id {
            return Ok(None);
        }
        self.store.mailbox_tally(mailbox).await.map(Some)
    }

    /// Whole messages (by id, in ascending order) of the reader's mailbox's account, for what a
    /// summary does not hold (envelopes, structure, the bytes' blob); unknown ids are left out.
    /// Their keywords are the owner's: a colleague's view is in its summaries.
    pub async fn listed_messages(&self, reader: &MailboxReader, ids: &[i64]) -> Result<Vec<Message>> {
        self.store.messages(reader.account(), ids).await
    }

    /// The structures of messages (by id, in ascending order) of the reader's mailbox's account
    /// and where their bytes are, by id; unknown ids are left out. Only those two columns are
    /// read: a FETCH of every message's ENVELOPE and BODYSTRUCTURE reads no more.
    pub async fn message_structures(&self, reader: &MailboxReader, ids: &[i64]) -> Result<Vec<Structured>> {
        let account = reader.account();
        Ok(self
            .store
            .message_structures(account, ids)
            .await?
            .into_iter()
            .map(|(message, blob, structure)| Structured { bytes: BlobRef { message, account, blob }, structure })
            .collect())
    }

    /// The header of a message (up to its body), or the whole message where messages are
    /// attached in it: what ENVELOPE and BODYSTRUCTURE read again of messages stored before
    /// delivery kept their envelopes.
    pub async fn read_structured_head(&self, reader: &MailboxReader, m: &Structured) -> Result<bytes::Bytes> {
        fn attaches(p: &MimePart) -> bool {
            (p.media_type == "message" && p.subtype == "rfc822") || p.parts.iter().any(attaches)
        }
        if m.bytes.account != reader.account() {
            return Err(Error::not_found("message"));
        }
        if attaches(&m.structure) {
            return self.read_blobs(reader, &[&m.bytes]).await?.pop().ok_or_else(|| Error::not_found("message"));
        }
        let head = u64::from(m.structure.body_start).max(1);
        self.blobs
            .get_prefix(&m.bytes.blob, head)
            .await?
            .ok_or_else(|| Error::internal(format!("blob {} is missing", m.bytes.blob)))
    }

    /// Where the bytes of messages (by id) of the reader's mailbox's account are, by id; unknown
    /// ids are left out.
    pub async fn message_blobs(&self, reader: &MailboxReader, ids: &[i64]) -> Result<Vec<BlobRef>> {
        let account = reader.account();
        Ok(self
            .store
            .message_blobs(account, ids)
            .await?
            .into_iter()
            .map(|(message, blob)| BlobRef { message, account, blob })
            .collect())
    }

    /// The bytes of messages (in order) through the reader their places came with.
    pub async fn read_blobs(&self, reader: &MailboxReader, refs: &[&BlobRef]) -> Result<Vec<bytes::Bytes>> {
        if refs.iter().any(|r| r.account != reader.account()) {
            return Err(Error::not_found("message"));
        }
        let ids: Vec<BlobId> = refs.iter().map(|r| r.blob.clone()).collect();
        let got = self.blobs.get_many_uncached(&ids).await?;
        got.into_iter()
            .zip(refs)
            .map(|(b, r)| b.ok_or_else(|| Error::internal(format!("blob {} is missing", r.blob))))
            .collect()
    }

    /// [`Self::read_blobs`] of one message, started now and awaited later: POP3 reads the next
    /// message while the client is still taking the last one (clients download in order).
    pub fn read_blob_ahead(
        &self,
        reader: &MailboxReader,
        r: &BlobRef,
    ) -> Result<tokio::task::JoinHandle<Result<bytes::Bytes>>> {
        if r.account != reader.account() {
            return Err(Error::not_found("message"));
        }
        let (blobs, id) = (self.blobs.clone(), r.blob.clone());
        Ok(tokio::spawn(async move {
            blobs.get_uncached(&id).await?.ok_or_else(|| Error::internal(format!("blob {id} is missing")))
        }))
    }

    /// The maildrop of POP3: a mailbox's messages by UID with their sizes and where their bytes
    /// are, and the reader they are read through.
    pub async fn maildrop(&self, who: &Principal, mailbox: CollectionId) -> Result<(MailboxReader, Vec<Dropped>)> {
        let listed = self.mailbox_summaries(who, mailbox).await?;
        let reader = self.mailbox_reader(who, mailbox).await?;
        let mut ids: Vec<i64> = listed.iter().map(|s| s.message).collect();
        ids.sort_unstable();
        let blobs = self.message_blobs(&reader, &ids).await?;
        let dropped = listed
            .into_iter()
            .filter_map(|s| {
                let at = blobs.binary_search_by_key(&s.message, |b| b.message).ok()?;
                Some(Dropped { uid: s.uid, size: s.size, bytes: blobs[at].clone() })
            })
            .collect();
        Ok((reader, dropped))
    }
}
