//! XML for WebDAV: a namespace-resolved element tree read with quick-xml's `NsReader` (bodies
//! are small), and a writer for multistatus answers. Entities other than the five predefined
//! ones and character references are refused, never expanded; DTDs are refused.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use std::fmt::Write as _;

pub const DAV: &str = "DAV:";

/// A qualified name: namespace URI and local name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QName {
    pub ns: String,
    pub name: String,
}

impl QName {
    pub fn new(ns: &str, name: &str) -> Self {
        Self { ns: ns.to_owned(), name: name.to_owned() }
    }

    pub fn dav(name: &str) -> Self {
        Self::new(DAV, name)
    }

    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }
}

/// An element with resolved names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: QName,
    pub attrs: Vec<(QName, String)>,
    pub children: Vec<XNode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XNode {
    Element(Element),
    Text(String),
}

impl Element {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.name.is(ns, name)
    }

    /// Child elements.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|c| match c {
            XNode::Element(e) => Some(e),
            XNode::Text(_) => None,
        })
    }

    /// The first child element with this name.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.is(ns, name))
    }

    /// The text content (concatenated, trimmed).
    pub fn text(&self) -> String {
        let mut s = String::new();
        for c in &self.children {
            match c {
                XNode::Text(t) => s.push_str(t),
                XNode::Element(e) => s.push_str(&e.text()),
            }
        }
        s.trim().to_owned()
    }

    /// The content as XML, every element carrying its own namespace declaration, so it can be
    /// stored and later placed inside any document.
    pub fn inner_xml(&self) -> String {
        let mut out = String::new();
        for c in &self.children {
            write_node(&mut out, c);
        }
        out
    }
}

fn write_node(out: &mut String, n: &XNode) {
    match n {
        XNode::Text(t) => out.push_str(&escape(t)),
        XNode::Element(e) => {
            let _ = write!(out, "<{} xmlns=\"{}\"", e.name.name, escape(&e.name.ns));
            for (i, (q, v)) in e.attrs.iter().enumerate() {
                if q.ns.is_empty() {
                    let _ = write!(out, " {}=\"{}\"", q.name, escape(v));
                } else {
                    let _ = write!(out, " xmlns:a{i}=\"{}\" a{i}:{}=\"{}\"", escape(&q.ns), q.name, escape(v));
                }
            }
            if e.children.is_empty() {
                out.push_str("/>");
            } else {
                out.push('>');
                for c in &e.children {
                    write_node(out, c);
                }
                let _ = write!(out, "</{}>", e.name.name);
            }
        }
    }
}

/// Escapes text for element content and attribute values (copies runs without special
/// characters at once: most names, ETags and calendar data have none).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    escape_into(&mut out, s);
    out
}

/// [`escape`], appending to `out`.
pub fn escape_into(out: &mut String, s: &str) {
    // Most text (hrefs, ETags, names) has nothing to escape: one scan, one copy.
    if !s.bytes().any(|b| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'')) {
        out.push_str(s);
        return;
    }
    let mut from = 0;
    for (i, b) in s.bytes().enumerate() {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&apos;",
            _ => continue,
        };
        out.push_str(&s[from..i]);
        out.push_str(entity);
        from = i + 1;
    }
    out.push_str(&s[from..]);
}

/// Why a body is not acceptable XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError(pub String);

const MAX_DEPTH: usize = 64;
const MAX_NODES: usize = 100_000;

fn resolved(r: &ResolveResult<'_>) -> Result<String, XmlError> {
    match r {
        ResolveResult::Bound(ns) => Ok(String::from_utf8_lossy(ns.as_ref()).into_owned()),
        ResolveResult::Unbound => Ok(String::new()),
        ResolveResult::Unknown(p) => {
            Err(XmlError(format!("undeclared namespace prefix {:?}", String::from_utf8_lossy(p))))
        }
    }
}

/// Parses a whole document into its root element.
pub fn parse(body: &[u8]) -> Result<Element, XmlError> {
    let mut r = NsReader::from_reader(body);
    r.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    let mut nodes = 0usize;
    loop {
        let (ns, ev) = r.read_resolved_event().map_err(|e| XmlError(format!("malformed XML: {e}")))?;
        nodes += 1;
        if nodes > MAX_NODES {
            return Err(XmlError("XML document too large".into()));
        }
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if root.is_some() {
                    return Err(XmlError("content after the root element".into()));
                }
                let name =
                    QName { ns: resolved(&ns)?, name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned() };
                let mut attrs = Vec::new();
                for a in e.attributes() {
                    let a = a.map_err(|e| XmlError(format!("bad attribute: {e}")))?;
                    let key = a.key;
                    if key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let (ans, local) = r.resolve_attribute(key);
                    let value = a.unescape_value().map_err(|e| XmlError(format!("bad attribute value: {e}")))?;
                    attrs.push((
                        QName { ns: resolved(&ans)?, name: String::from_utf8_lossy(local.as_ref()).into_owned() },
                        value.into_owned(),
                    ));
                }
                let el = Element { name, attrs, children: Vec::new() };
                if matches!(ev, Event::Empty(_)) {
                    close(&mut stack, &mut root, el);
                } else {
                    if stack.len() >= MAX_DEPTH {
                        return Err(XmlError("XML nested too deeply".into()));
                    }
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| XmlError("unbalanced end tag".into()))?;
                close(&mut stack, &mut root, el);
            }
            Event::Text(t) => {
                let text = t.xml_content().map_err(|e| XmlError(format!("bad text: {e}")))?;
                push_text(&mut stack, &text)?;
            }
            Event::CData(t) => {
                let text = t.decode().map_err(|e| XmlError(format!("bad CDATA: {e}")))?;
                push_text(&mut stack, &text)?;
            }
            Event::GeneralRef(g) => {
                let c = match g.resolve_char_ref().map_err(|e| XmlError(format!("bad character reference: {e}")))? {
                    Some(c) => c,
                    None => match g.decode().map_err(|e| XmlError(e.to_string()))?.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => return Err(XmlError(format!("entity &{other}; is not expanded"))),
                    },
                };
                push_text(&mut stack, c.encode_utf8(&mut [0; 4]))?;
            }
            Event::DocType(_) => return Err(XmlError("document type declarations are not accepted".into())),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError("unexpected end of document".into()));
    }
    root.ok_or_else(|| XmlError("no root element".into()))
}

fn close(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(XNode::Element(el)),
        None => *root = Some(el),
    }
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => {
            if let Some(XNode::Text(t)) = parent.children.last_mut() {
                t.push_str(text);
            } else {
                parent.children.push(XNode::Text(text.to_owned()));
            }
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(XmlError("text outside the root element".into())),
    }
}

/// Writes the opening of a property element, declaring its namespace.
pub fn open_prop(out: &mut String, q: &QName) {
    if q.ns == DAV {
        out.push_str("<D:");
        out.push_str(&q.name);
    } else if q.ns.is_empty() {
        out.push('<');
        out.push_str(&q.name);
        out.push_str(" xmlns=\"\"");
    } else {
        out.push_str("<X:");
        out.push_str(&q.name);
        out.push_str(" xmlns:X=\"");
        escape_into(out, &q.ns);
        out.push('"');
    }
}

pub fn close_prop(out: &mut String, q: &QName) {
    out.push_str(if q.ns == DAV {
        "</D:"
    } else if q.ns.is_empty() {
        "</"
    } else {
        "</X:"
    });
    out.push_str(&q.name);
    out.push('>');
}

/// `<name/>` or `<name>value</name>`; `value` is XML.
pub fn prop(out: &mut String, q: &QName, value: Option<&str>) {
    open_prop(out, q);
    match value {
        None | Some("") => out.push_str("/>"),
        Some(v) => {
            out.push('>');
            out.push_str(v);
            close_prop(out, q);
        }
    }
}

/// One property in an answer: its name and, when found, its value (XML).
#[derive(Debug, Clone)]
pub struct PropValue {
    pub name: QName,
    pub value: Option<String>,
}

/// A `207 Multi-Status` body under construction.
pub struct MultiStatus {
    out: String,
}

impl Default for MultiStatus {
    fn default() -> Self {
        Self::new()
    }
}

impl MultiStatus {
    pub fn new() -> Self {
        let mut out = String::with_capacity(64 << 10);
        out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\">");
        Self { out }
    }

    /// A response with one propstat per status.
    pub fn response(&mut self, href: &str, propstats: &[(u16, Vec<PropValue>)]) {
        self.out.push_str("<D:response><D:href>");
        escape_into(&mut self.out, href);
        self.out.push_str("</D:href>");
        for (status, props) in propstats.iter().filter(|(_, p)| !p.is_empty()) {
            self.out.push_str("<D:propstat><D:prop>");
            for p in props {
                prop(&mut self.out, &p.name, p.value.as_deref());
            }
            let _ =
                write!(self.out, "</D:prop><D:status>HTTP/1.1 {status} {}</D:status></D:propstat>", reason(*status));
        }
        self.out.push_str("</D:response>");
    }

    /// A response from property values (`None`: not found), with `extra` found ones after
    /// them: what [`MultiStatus::response`] writes, without building the lists first.
    pub fn response_values(
        &mut self,
        href: &str,
        names: &[QName],
        values: &[Option<String>],
        extra: &[(&QName, String)],
    ) {
        self.out.push_str("<D:response><D:href>");
        escape_into(&mut self.out, href);
        self.out.push_str("</D:href>");
        let pairs = || names.iter().zip(values);
        if !extra.is_empty() || pairs().any(|(_, v)| v.is_some()) {
            self.out.push_str("<D:propstat><D:prop>");
            for (q, v) in pairs().filter_map(|(q, v)| v.as_deref().map(|v| (q, v))) {
                prop(&mut self.out, q, Some(v));
            }
            for (q, v) in extra {
                prop(&mut self.out, q, Some(v));
            }
            self.out.push_str("</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>");
        }
        if pairs().any(|(_, v)| v.is_none()) {
            self.out.push_str("<D:propstat><D:prop>");
            for (q, _) in pairs().filter(|(_, v)| v.is_none()) {
                prop(&mut self.out, q, None);
            }
            self.out.push_str("</D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>");
        }
        self.out.push_str("</D:response>");
    }

    /// A response whose found properties `write` puts straight into the body (it returns
    /// false for a property it does not know: then nothing is written and this returns false,
    /// for the caller to take the general way). Empty values are written as empty elements,
    /// as [`prop`] does.
    pub fn response_with(
        &mut self,
        href: &str,
        names: &[QName],
        extra: &[(&QName, String)],
        mut write: impl FnMut(&mut String, &QName) -> bool,
    ) -> bool {
        let mark = self.out.len();
        self.out.push_str("<D:response><D:href>");
        escape_into(&mut self.out, href);
        self.out.push_str("</D:href><D:propstat><D:prop>");
        for q in names {
            open_prop(&mut self.out, q);
            self.out.push('>');
            let at = self.out.len();
            if !write(&mut self.out, q) {
                self.out.truncate(mark);
                return false;
            }
            if self.out.len() == at {
                self.out.truncate(at - 1);
                self.out.push_str("/>");
            } else {
                close_prop(&mut self.out, q);
            }
        }
        for (q, v) in extra {
            prop(&mut self.out, q, Some(v));
        }
        self.out.push_str("</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>");
        true
    }

    /// Room for about `bytes` more of output (a listing's size is known before it is written).
    pub fn reserve(&mut self, bytes: usize) {
        self.out.reserve(bytes);
    }

    /// A response that is only a status (e.g. 404 for a missing member, or a removed one).
    pub fn status(&mut self, href: &str, status: u16) {
        self.out.push_str("<D:response><D:href>");
        escape_into(&mut self.out, href);
        let _ = write!(self.out, "</D:href><D:status>HTTP/1.1 {status} {}</D:status></D:response>", reason(status));
    }

    /// Raw XML appended inside the multistatus (e.g. `<D:sync-token>`).
    pub fn raw(&mut self, xml: &str) {
        self.out.push_str(xml);
    }

    pub fn finish(mut self) -> String {
        self.out.push_str("</D:multistatus>\n");
        self.out
    }

    /// Responses written without the document's head, for [`Self::streamed`].
    pub fn fragment(capacity: usize) -> Self {
        Self { out: String::with_capacity(capacity) }
    }

    pub fn into_fragment(self) -> String {
        self.out
    }

    /// The body so far, then `rest` (fragments made while the body is sent), then the end.
    /// A big listing is written and compressed a piece at a time, and the client reads the
    /// first responses while the last are made; no buffer holds the whole answer.
    pub fn streamed(self, rest: impl Iterator<Item = String> + Send + 'static) -> axum::body::Body {
        let all = std::iter::once(self.out).chain(rest).chain(std::iter::once("</D:multistatus>\n".to_owned()));
        axum::body::Body::from_stream(futures_util::stream::iter(
            all.map(|s| Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(s))),
        ))
    }
}

pub fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("")
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_specials_and_keeps_the_rest() {
        assert_eq!(super::escape("plain"), "plain");
        assert_eq!(super::escape("a<b>&\"c'é☃"), "a&lt;b&gt;&amp;&quot;c&apos;é☃");
        assert_eq!(super::escape("&"), "&amp;");
        assert_eq!(super::escape(""), "");
    }

    use super::*;

    #[test]
    fn parses_namespaces_and_keeps_values() {
        let e = parse(
            br#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="http://ns.example.com/z/">
              <D:set><D:prop><Z:Author>Jim &amp; &#x4E2D;</Z:Author><Z:x><a xmlns="urn:y" q="1">t</a></Z:x></D:prop></D:set>
            </D:propertyupdate>"#,
        )
        .unwrap();
        assert!(e.is(DAV, "propertyupdate"));
        let prop = e.child(DAV, "set").unwrap().child(DAV, "prop").unwrap();
        let props: Vec<_> = prop.elements().collect();
        assert_eq!(props[0].name, QName::new("http://ns.example.com/z/", "Author"));
        assert_eq!(props[0].text(), "Jim & \u{4E2D}");
        assert_eq!(props[1].inner_xml(), r#"<a xmlns="urn:y" q="1">t</a>"#);
        // inner XML parses back to the same tree
        let again = parse(format!("<w xmlns=\"u:w\">{}</w>", props[1].inner_xml()).as_bytes()).unwrap();
        assert_eq!(again.elements().next(), props[1].elements().next());
    }

    #[test]
    fn refuses_entities_dtds_and_garbage() {
        for bad in [
            &br#"<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>"#[..],
            b"<x>&e;</x>",
            b"<a:x>undeclared</a:x>",
            b"<x><y></x>",
            b"<x/><y/>",
            b"",
            b"not xml",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn multistatus_declares_namespaces() {
        let mut m = MultiStatus::new();
        m.response(
            "/dav/files/a%40b/x",
            &[
                (200, vec![PropValue { name: QName::dav("getetag"), value: Some("\"1\"".into()) }]),
                (
                    404,
                    vec![
                        PropValue { name: QName::new("urn:x", "p"), value: None },
                        PropValue { name: QName::new("", "n"), value: None },
                    ],
                ),
            ],
        );
        let xml = m.finish();
        let doc = parse(xml.as_bytes()).unwrap();
        let resp = doc.child(DAV, "response").unwrap();
        let stats: Vec<_> = resp.elements().filter(|e| e.is(DAV, "propstat")).collect();
        assert_eq!(stats.len(), 2);
        let missing: Vec<_> = stats[1].child(DAV, "prop").unwrap().elements().map(|e| e.name.clone()).collect();
        assert_eq!(missing, vec![QName::new("urn:x", "p"), QName::new("", "n")]);
    }
}
