//! What changes once a client ENABLEs IMAP4rev2 (RFC 9051 §7.3.4, appendix E): SEARCH is
//! answered with ESEARCH. (SELECT's differences — no RECENT or UNSEEN, a LIST of the
//! mailbox — are in [`crate::select`].)

use crate::parse::quote;
use crate::qresync::uid_set;

/// Rewrites the `* SEARCH n…[ (MODSEQ m)]` lines of a SEARCH answer as `* ESEARCH (TAG …)
/// [UID] ALL set [MODSEQ m]`; other lines (already ESEARCH, or unsolicited) stay.
pub(crate) fn esearch(tag: &str, by_uid: bool, answer: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(answer.len());
    for line in answer.split_inclusive(|b| *b == b'\n') {
        let Some(rest) = line.strip_prefix(b"* SEARCH").filter(|r| r.first().is_none_or(|b| *b == b' ' || *b == b'\r'))
        else {
            out.extend_from_slice(line);
            continue;
        };
        let text = String::from_utf8_lossy(rest);
        let text = text.trim();
        let (numbers, modseq) = match text.split_once("(MODSEQ ") {
            Some((n, m)) => (n, m.trim_end_matches(')').trim().parse::<i64>().ok()),
            None => (text, None),
        };
        let mut ns: Vec<u32> = numbers.split_ascii_whitespace().filter_map(|n| n.parse().ok()).collect();
        ns.sort_unstable();
        ns.dedup();
        let mut esearch = format!("* ESEARCH (TAG {})", quote(tag));
        if by_uid {
            esearch.push_str(" UID");
        }
        if !ns.is_empty() {
            esearch.push_str(&format!(" ALL {}", uid_set(&ns)));
        }
        if let Some(m) = modseq {
            esearch.push_str(&format!(" MODSEQ {m}"));
        }
        esearch.push_str("\r\n");
        out.extend_from_slice(esearch.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_answers_become_esearch() {
        assert_eq!(esearch("a1", false, b"* SEARCH 1 2 3 5\r\n"), b"* ESEARCH (TAG \"a1\") ALL 1:3,5\r\n");
        assert_eq!(esearch("a2", true, b"* SEARCH\r\n"), b"* ESEARCH (TAG \"a2\") UID\r\n");
        assert_eq!(
            esearch("a3", true, b"* 3 EXPUNGE\r\n* SEARCH 4 (MODSEQ 17)\r\n"),
            b"* 3 EXPUNGE\r\n* ESEARCH (TAG \"a3\") UID ALL 4 MODSEQ 17\r\n"
        );
        let already = b"* ESEARCH (TAG \"a4\") COUNT 2\r\n";
        assert_eq!(esearch("a4", false, already), already);
    }
}
