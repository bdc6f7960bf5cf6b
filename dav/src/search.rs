//! The text of a collection for "contains" searches (the common "search contacts" query):
//! every item's content unfolded and lower-cased, end to end, kept per collection at its
//! modseq. One substring search over it names the few items a query must then read and test,
//! instead of reading and scanning every item of the collection on every query.

use std::sync::Arc;

use kontor_domain::Access;
use kontor_domain::model::Item;

use crate::{Ctx, DavError};

/// Collections whose text is kept, weighed in bytes.
const BUDGET_BYTES: u64 = 64 << 20;

/// Below this many items a collection is scanned item by item.
pub const MIN_ITEMS: usize = 64;

/// A collection's searchable text at one modseq.
pub struct Corpus {
    /// Each item's unfolded, lower-cased content, followed by a NUL (which no XML needle
    /// holds, so no match spans two items).
    text: String,
    /// Per item, in listing order: its id and where its text ends.
    ends: Vec<(i64, usize)>,
}

#[derive(Clone)]
struct Weight;

impl quick_cache::Weighter<i64, (i64, Arc<Corpus>)> for Weight {
    fn weight(&self, _key: &i64, val: &(i64, Arc<Corpus>)) -> u64 {
        (val.1.text.len() + val.1.ends.len() * 16) as u64 + 64
    }
}

/// The kept corpora, by collection id.
pub struct Corpora(quick_cache::sync::Cache<i64, (i64, Arc<Corpus>), Weight>);

impl Default for Corpora {
    fn default() -> Self {
        Self(quick_cache::sync::Cache::with_weighter(1024, BUDGET_BYTES, Weight))
    }
}

impl Corpus {
    /// The ids of the items whose text contains `needle` (lower case), in listing order.
    pub fn containing(&self, needle: &str) -> Vec<i64> {
        let finder = memchr::memmem::Finder::new(needle.as_bytes());
        let text = self.text.as_bytes();
        let mut hits = Vec::new();
        let mut from = 0;
        while let Some(at) = finder.find(&text[from..]).map(|i| from + i) {
            let i = self.ends.partition_point(|&(_, end)| end <= at);
            let Some(&(id, end)) = self.ends.get(i) else { break };
            hits.push(id);
            from = end;
        }
        hits
    }
}

/// The corpus of the collection the caller opened, as of `listing` (its items, read for this
/// request at the collection's modseq).
pub async fn corpus(ctx: &Ctx, access: &Access, listing: &[Item]) -> Result<Arc<Corpus>, DavError> {
    let c = &access.collection;
    let cached = ctx.corpora.0.get(&c.id.0);
    if let Some((at, corpus)) = &cached
        && *at == c.modseq.0
    {
        return Ok(corpus.clone());
    }
    let mut text = String::new();
    let mut ends = Vec::with_capacity(listing.len());
    for item in listing {
        let data = ctx.core.content_of(access, item).await?;
        let unfolded = crate::filter::unfold(&String::from_utf8_lossy(&data)).to_lowercase();
        text.push_str(&unfolded);
        text.push('\0');
        ends.push((item.id.0, text.len()));
    }
    let corpus = Arc::new(Corpus { text, ends });
    // A reader holding an older collection row must not displace a newer corpus.
    if cached.is_none_or(|(at, _)| at < c.modseq.0) {
        ctx.corpora.0.insert(c.id.0, (c.modseq.0, corpus.clone()));
    }
    Ok(corpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_item_once_and_never_across_items() {
        let corpus =
            Corpus { text: "fn:ann smith\0fn:bob\0fn:smith smith\0".into(), ends: vec![(1, 13), (2, 20), (3, 35)] };
        assert_eq!(corpus.containing("smith"), vec![1, 3]);
        assert_eq!(corpus.containing("bob"), vec![2]);
        assert!(corpus.containing("thfn").is_empty(), "no match across the end of an item");
        assert!(corpus.containing("zed").is_empty());
    }
}
