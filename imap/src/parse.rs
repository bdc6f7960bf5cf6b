//! Reading IMAP commands (RFC 9051 §9, RFC 3501): a tag, a command name and its arguments as
//! tokens. Literals (`{n}`, `{n+}` of RFC 7888) arrive already joined into the command by the
//! driver ([`literal_at_end`] tells it when one follows a line). Anything that does not parse
//! is an error the session answers with BAD; nothing here panics on input.

/// One argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// An atom, including sequence sets and fetch attributes with their `[section]<partial>`.
    Atom(String),
    /// A quoted string or a literal.
    String(Vec<u8>),
    /// A parenthesised list.
    List(Vec<Token>),
    Nil,
}

impl Token {
    /// The token as text: atoms and strings (not lists or NIL).
    pub fn text(&self) -> Option<String> {
        match self {
            Token::Atom(a) => Some(a.clone()),
            Token::String(s) => Some(String::from_utf8_lossy(s).into_owned()),
            _ => None,
        }
    }

    pub fn atom(&self) -> Option<&str> {
        match self {
            Token::Atom(a) => Some(a),
            _ => None,
        }
    }
}

/// A command line: its tag, its name (upper case) and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub tag: String,
    pub name: String,
    pub args: Vec<Token>,
}

/// Why a command could not be read: with the tag when it was readable (for `tag BAD`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub tag: Option<String>,
    pub reason: &'static str,
}

const MAX_DEPTH: usize = 16;

/// Whether a line (without its CRLF) ends with a literal announcement: its size and whether
/// the client waits for a continuation (`{n}`, not `{n+}`).
pub fn literal_at_end(line: &[u8]) -> Option<(usize, bool)> {
    let line = line.strip_suffix(b"}")?;
    let open = line.iter().rposition(|b| *b == b'{')?;
    let inner = &line[open + 1..];
    let (digits, sync) = match inner.strip_suffix(b"+") {
        Some(d) => (d, false),
        None => (inner, true),
    };
    if digits.is_empty() || digits.len() > 12 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok().map(|n| (n, sync))
}

struct Reader<'a> {
    s: &'a [u8],
    at: usize,
}

/// RFC 9051 ATOM-CHAR, plus the list wildcards and `\` of flags (read as atoms here); `]`
/// only inside brackets (see [`Reader::atom`]).
fn is_atom_char(b: u8) -> bool {
    b > b' ' && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'"' | b']')
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn space(&mut self) -> bool {
        if self.peek() == Some(b' ') {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// An atom; brackets keep everything up to their match, spaces and parentheses included
    /// (`BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.1024>`).
    fn atom(&mut self) -> Option<String> {
        let start = self.at;
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            if depth > 0 {
                if b == b'[' {
                    depth += 1;
                } else if b == b']' {
                    depth -= 1;
                } else if b == b'\r' || b == b'\n' {
                    return None;
                }
                self.at += 1;
                continue;
            }
            if b == b'[' {
                depth += 1;
                self.at += 1;
            } else if is_atom_char(b) {
                self.at += 1;
            } else {
                break;
            }
        }
        if depth > 0 || self.at == start {
            return None;
        }
        std::str::from_utf8(&self.s[start..self.at]).ok().map(str::to_owned)
    }

    fn quoted(&mut self) -> Option<Vec<u8>> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some(out);
                }
                b'\\' => {
                    self.at += 1;
                    let c = self.peek()?;
                    if c != b'"' && c != b'\\' {
                        return None;
                    }
                    out.push(c);
                    self.at += 1;
                }
                b'\r' | b'\n' => return None,
                c => {
                    out.push(c);
                    self.at += 1;
                }
            }
        }
    }

    /// `{n}` or `{n+}`, CRLF, then n bytes.
    fn literal(&mut self) -> Option<Vec<u8>> {
        let rest = &self.s[self.at..];
        let close = rest.iter().position(|b| *b == b'}')?;
        let (n, _) = literal_at_end(&rest[..=close])?;
        let body = self.at + close + 1;
        if self.s.get(body..body + 2) != Some(b"\r\n") {
            return None;
        }
        let data = self.s.get(body + 2..body + 2 + n)?.to_vec();
        self.at = body + 2 + n;
        Some(data)
    }

    fn token(&mut self, depth: usize) -> Option<Token> {
        match self.peek()? {
            b'"' => self.quoted().map(Token::String),
            b'{' => self.literal().map(Token::String),
            // literal8 (RFC 3516 §4.4: APPEND of binary content).
            b'~' if self.s.get(self.at + 1) == Some(&b'{') => {
                self.at += 1;
                self.literal().map(Token::String)
            }
            b'(' if depth < MAX_DEPTH => {
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(b')') {
                        self.at += 1;
                        return Some(Token::List(items));
                    }
                    if !items.is_empty() && !self.space() {
                        return None;
                    }
                    if self.peek() == Some(b')') {
                        self.at += 1;
                        return Some(Token::List(items));
                    }
                    items.push(self.token(depth + 1)?);
                }
            }
            _ => {
                let a = self.atom()?;
                Some(if a.eq_ignore_ascii_case("NIL") { Token::Nil } else { Token::Atom(a) })
            }
        }
    }
}

/// Parses one complete command (literals joined in, the final CRLF optional).
pub fn command(line: &[u8]) -> Result<Command, ParseError> {
    let line = line.strip_suffix(b"\r\n").or_else(|| line.strip_suffix(b"\n")).unwrap_or(line);
    let mut r = Reader { s: line, at: 0 };
    let tag = r
        .atom()
        .filter(|t| !t.contains(['+', '[', ']']))
        .ok_or(ParseError { tag: None, reason: "Missing or bad tag" })?;
    let bad = |reason| ParseError { tag: Some(tag.clone()), reason };
    if !r.space() {
        return Err(bad("Missing command"));
    }
    let name = r.atom().ok_or_else(|| bad("Missing command"))?.to_ascii_uppercase();
    let mut args = Vec::new();
    while r.at < line.len() {
        if !r.space() {
            return Err(bad("Expected a space between arguments"));
        }
        args.push(r.token(0).ok_or_else(|| bad("Syntax error in arguments"))?);
    }
    Ok(Command { tag, name, args })
}

/// A sequence set (`1:3,5,7:*`) as ranges; `*` is `largest`.
pub fn sequence_set(s: &str, largest: u32) -> Option<Vec<(u32, u32)>> {
    let num = |p: &str| if p == "*" { Some(largest) } else { p.parse::<u32>().ok().filter(|n| *n > 0) };
    s.split(',')
        .map(|part| match part.split_once(':') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                Some((a.min(b), a.max(b)))
            }
            None => num(part).map(|n| (n, n)),
        })
        .collect()
}

/// IMAP quoting for a string in a response.
pub fn quote(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len() + 2);
    quote_into(&mut out, s, false);
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// [`quote`] written to `out`; `upper`: the text in ASCII upper case.
pub fn quote_into(out: &mut Vec<u8>, s: &str, upper: bool) {
    let bytes = s.as_bytes();
    // One look at the bytes decides; most values need neither a literal nor an escape.
    let (mut literal, mut escapes) = (false, false);
    for &b in bytes {
        literal |= b == b'\r' || b == b'\n' || b >= 0x80;
        escapes |= b == b'"' || b == b'\\';
    }
    let start = out.len();
    if literal {
        use std::io::Write as _;
        let _ = write!(out, "{{{}}}\r\n", bytes.len());
        let from = out.len();
        out.extend_from_slice(bytes);
        if upper {
            out[from..].make_ascii_uppercase();
        }
        return;
    }
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if escapes {
        for &b in bytes {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
    } else {
        out.extend_from_slice(bytes);
    }
    out.push(b'"');
    if upper {
        out[start..].make_ascii_uppercase();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_arguments_and_literals() {
        let c = command(b"a1 LOGIN \"ann@example.com\" {5}\r\nse\"cr\r\n").unwrap();
        assert_eq!(c.tag, "a1");
        assert_eq!(c.name, "LOGIN");
        assert_eq!(c.args, [Token::String(b"ann@example.com".to_vec()), Token::String(b"se\"cr".to_vec())]);
        let f = command(b"x UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100> RFC822.SIZE)").unwrap();
        assert_eq!(f.name, "UID");
        assert_eq!(f.args[0], Token::Atom("FETCH".into()));
        assert_eq!(
            f.args[2],
            Token::List(vec![
                Token::Atom("FLAGS".into()),
                Token::Atom("BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>".into()),
                Token::Atom("RFC822.SIZE".into())
            ])
        );
        let l = command(b"t LIST \"\" *").unwrap();
        assert_eq!(l.args, [Token::String(Vec::new()), Token::Atom("*".into())]);
        let s = command(b"t STORE 1 +FLAGS (\\Seen \\Flagged)").unwrap();
        assert_eq!(s.args[2], Token::List(vec![Token::Atom("\\Seen".into()), Token::Atom("\\Flagged".into())]));
        assert_eq!(literal_at_end(b"a APPEND INBOX {310}"), Some((310, true)));
        assert_eq!(literal_at_end(b"a APPEND INBOX {310+}"), Some((310, false)));
        let binary = command(b"a APPEND INBOX ~{3}\r\na\0b").unwrap();
        assert_eq!(binary.args[1], Token::String(b"a\0b".to_vec()));
        assert_eq!(literal_at_end(b"a LOGIN x {}"), None);
        assert_eq!(sequence_set("1:3,5,7:*", 9), Some(vec![(1, 3), (5, 5), (7, 9)]));
        assert_eq!(sequence_set("0", 9), None);
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        let mut up = Vec::new();
        quote_into(&mut up, "mixed\\Case", true);
        quote_into(&mut up, "gr\u{fc}n", true);
        assert_eq!(String::from_utf8(up).unwrap(), "\"MIXED\\\\CASE\"{5}\r\nGR\u{fc}N");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"   ",
            b"tag",
            b"tag FETCH (1",
            b"tag FETCH \"unterminated",
            b"tag LOGIN {99}\r\nshort",
            b"tag X [[[",
            b"\xff\xfe FETCH 1",
            b"tag FETCH 1 ((((((((((((((((((((((((((((((x))))))))))))))))))))))))))))))",
        ] {
            assert!(command(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(command(b"a7 FETCH (").unwrap_err().tag.as_deref(), Some("a7"));
    }
}
