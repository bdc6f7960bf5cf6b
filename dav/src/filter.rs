//! The filters of calendar-query (RFC 4791 §9.7) and addressbook-query (RFC 6352 §10.5),
//! evaluated against one stored object: component filters scoped to the components they
//! name, property filters with text-match (collations, match types, negation), param-filter,
//! is-not-defined, and time-range on components (recurrence-aware, through the domain's
//! recurrence module), on alarms and on date-time properties.

use std::cell::OnceCell;
use std::sync::Arc;

use axum::http::StatusCode;
use kontor_domain::ids::BlobId;
use kontor_domain::recurrence::{CalendarObject, Window};

use crate::DavError;
use crate::props::{CALDAV, CARDDAV};
use crate::xml::Element;

/// One content line of the unfolded text: property name (group stripped), parameters,
/// value. Names are compared ignoring case.
struct Line<'a> {
    name: &'a str,
    params: Vec<(&'a str, &'a str)>,
    value: &'a str,
}

fn parse_line(l: &str) -> Option<Line<'_>> {
    let split = value_colon(l)?;
    let (head, value) = l.split_at(split);
    let mut parts = head.split(';');
    let name = parts.next()?.rsplit('.').next()?;
    let params = parts.filter_map(|p| p.split_once('=')).map(|(k, v)| (k, v.trim_matches('"'))).collect();
    Some(Line { name, params, value: &value[1..] })
}

/// Where a content line's value separator is: the first ':' outside a quoted parameter value.
pub(crate) fn value_colon(line: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, b) in line.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b':' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// A component and the lines and components inside it.
struct Comp<'a> {
    name: &'a str,
    lines: Vec<Line<'a>>,
    children: Vec<Comp<'a>>,
}

/// Content lines joined again where they were folded (RFC 5545 §3.1, RFC 6350 §3.2); the
/// text itself when nothing is folded.
pub(crate) fn unfold(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let folds = |i: usize| matches!(bytes.get(i + 1), Some(b' ' | b'\t'));
    if !memchr::memchr_iter(b'\n', bytes).any(folds) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for i in memchr::memchr_iter(b'\n', bytes).filter(|&i| folds(i)) {
        // The line break (with its CR) and the one space or tab after it go.
        let cut = if i > 0 && bytes[i - 1] == b'\r' { i - 1 } else { i };
        if cut >= from {
            out.push_str(&text[from..cut]);
        }
        from = i + 2;
    }
    out.push_str(&text[from.min(text.len())..]);
    std::borrow::Cow::Owned(out)
}

/// The components of an unfolded text.
fn components(unfolded: &str) -> Vec<Comp<'_>> {
    let mut stack: Vec<Comp> = vec![Comp { name: "", lines: Vec::new(), children: Vec::new() }];
    for raw in unfolded.lines() {
        let Some(line) = parse_line(raw.trim_end_matches('\r')) else { continue };
        if line.name.eq_ignore_ascii_case("BEGIN") {
            stack.push(Comp { name: line.value.trim(), lines: Vec::new(), children: Vec::new() });
        } else if line.name.eq_ignore_ascii_case("END") && stack.len() > 1 {
            if let Some(done) = stack.pop()
                && let Some(parent) = stack.last_mut()
            {
                parent.children.push(done);
            }
        } else if let Some(top) = stack.last_mut() {
            top.lines.push(line);
        }
    }
    while stack.len() > 1 {
        if let Some(done) = stack.pop()
            && let Some(parent) = stack.last_mut()
        {
            parent.children.push(done);
        }
    }
    stack.pop().map(|root| root.children).unwrap_or_default()
}

fn attr<'a>(e: &'a Element, name: &str) -> Option<&'a str> {
    e.attrs.iter().find(|(q, _)| q.name == name).map(|(_, v)| v.as_str())
}

/// A time-range element's window; a missing side is unbounded (RFC 4791 §9.9).
pub fn time_range(e: &Element) -> Result<Window, DavError> {
    Window::parse(attr(e, "start"), attr(e, "end")).filter(|w| w.start < w.end).ok_or_else(|| {
        DavError::condition(
            StatusCode::FORBIDDEN,
            "<C:valid-filter/>",
            "time-range needs UTC date-times (YYYYMMDDTHHMMSSZ) with start before end",
        )
    })
}

/// Whether a filter tests time anywhere (then floating times need the calendar's zone).
pub fn has_time_range(e: &Element) -> bool {
    e.elements().any(|c| c.name.name == "time-range" || has_time_range(c))
}

/// Checks a filter before it runs: supported collations, well-formed time ranges, and no
/// time-range on the VCALENDAR itself (RFC 4791 §9.9 defines them for the components inside).
pub fn validate(filter: &Element) -> Result<(), DavError> {
    if let Some(cal) = filter.child(CALDAV, "comp-filter")
        && cal.child(CALDAV, "time-range").is_some()
    {
        return Err(DavError::condition(
            StatusCode::FORBIDDEN,
            "<C:valid-filter/>",
            "a time-range belongs in the comp-filter of VEVENT, VTODO, VJOURNAL, VFREEBUSY or VALARM",
        ));
    }
    validate_inner(filter)
}

fn validate_inner(filter: &Element) -> Result<(), DavError> {
    for e in filter.elements() {
        if e.name.name == "text-match"
            && let Some(c) = attr(e, "collation")
            && !matches!(c, "i;octet" | "i;ascii-casemap" | "i;unicode-casemap")
        {
            let ns = if e.name.ns == CARDDAV { "CR" } else { "C" };
            return Err(DavError::condition(
                StatusCode::FORBIDDEN,
                &format!("<{ns}:supported-collation/>"),
                format!("collation {c:?} is not supported"),
            ));
        }
        if e.name.name == "time-range" {
            time_range(e)?;
        }
        validate_inner(e)?;
    }
    Ok(())
}

/// A filter evaluated against objects of one collection.
pub struct Query<'a> {
    filter: &'a Element,
    /// Where floating times are (the query's or the collection's time zone).
    zone: Option<&'a str>,
    /// Text every match must contain (lower case), to pass over most objects unparsed.
    needle: Option<Needle>,
    /// Where parsed objects are kept between queries.
    objects: Option<&'a Objects>,
}

/// Parsed calendar objects by blob and zone: blobs never change, so an entry never goes
/// stale, and repeated time-range queries do not parse the same objects again.
pub struct Objects(quick_cache::sync::Cache<(BlobId, Option<String>), Arc<CalendarObject>, ObjectWeight>);

/// Budget of the parsed-object cache, weighed as eight times the text.
const OBJECTS_BUDGET: u64 = 64 << 20;

#[derive(Clone)]
pub struct ObjectWeight;

impl quick_cache::Weighter<(BlobId, Option<String>), Arc<CalendarObject>> for ObjectWeight {
    fn weight(&self, _key: &(BlobId, Option<String>), val: &Arc<CalendarObject>) -> u64 {
        val.weight()
    }
}

impl Objects {
    /// The content of `blob` parsed with floating times in `zone`, from the cache or parsed
    /// now and kept.
    pub fn parsed(&self, blob: &BlobId, text: &str, zone: Option<&str>) -> Option<Arc<CalendarObject>> {
        let key = (blob.clone(), zone.map(str::to_owned));
        if let Some(hit) = self.0.get(&key) {
            return Some(hit);
        }
        let parsed = Arc::new(CalendarObject::parse(text, zone)?);
        self.0.insert(key, parsed.clone());
        Some(parsed)
    }
}

impl Default for Objects {
    fn default() -> Self {
        Self(quick_cache::sync::Cache::with_weighter(4096, OBJECTS_BUDGET, ObjectWeight))
    }
}

/// The prefilter's text, with an ASCII case-insensitive searcher when it is ASCII.
struct Needle {
    lower: String,
    ascii: Option<aho_corasick::AhoCorasick>,
}

impl Needle {
    fn new(lower: String) -> Self {
        let ascii = lower
            .is_ascii()
            .then(|| aho_corasick::AhoCorasick::builder().ascii_case_insensitive(true).build([lower.as_str()]).ok())
            .flatten();
        Self { lower, ascii }
    }
}

/// Whether `text`, unfolded and lower-cased, can contain the needle. ASCII text is searched
/// in place; anything else goes through Unicode lower-casing.
fn may_contain(text: &str, needle: &Needle) -> bool {
    let bytes = text.as_bytes();
    let folded = memchr::memchr_iter(b'\n', bytes).any(|i| matches!(bytes.get(i + 1), Some(b' ' | b'\t')));
    if let Some(finder) = &needle.ascii
        && !folded
        && text.is_ascii()
    {
        return finder.is_match(text);
    }
    let lower = text.to_lowercase();
    lower.contains(&needle.lower) || unfold(&lower).contains(&needle.lower)
}

/// The one text an address book filter cannot match without: a single prop-filter whose only
/// test is a case-insensitive, non-negated text-match (the common "search contacts" query).
fn needle(filter: &Element) -> Option<String> {
    if !filter.is(CARDDAV, "filter") {
        return None;
    }
    let mut props = filter.elements();
    let (Some(prop), None) = (props.next(), props.next()) else { return None };
    let mut tests = prop.elements();
    let (Some(t), None) = (tests.next(), tests.next()) else { return None };
    let plain = t.name.name == "text-match"
        && attr(t, "negate-condition") != Some("yes")
        && attr(t, "collation") != Some("i;octet");
    let text = t.text().to_lowercase();
    (plain && !text.is_empty()).then_some(text)
}

impl<'a> Query<'a> {
    pub fn new(filter: &'a Element, zone: Option<&'a str>) -> Self {
        Self { filter, zone, needle: needle(filter).map(Needle::new), objects: None }
    }

    /// Keeps the objects parsed for time ranges in `objects`.
    #[must_use]
    pub fn with_objects(mut self, objects: &'a Objects) -> Self {
        self.objects = Some(objects);
        self
    }

    /// The text (lower case) every match must contain, when the filter has one.
    pub fn needle(&self) -> Option<&str> {
        self.needle.as_ref().map(|n| n.lower.as_str())
    }

    /// The window of the query's top component's time-range, to narrow with the index.
    pub fn window(&self) -> Option<Window> {
        let cal = self.filter.child(CALDAV, "comp-filter")?;
        let mut it = cal.elements().filter(|e| e.is(CALDAV, "comp-filter"));
        let comp = it.next()?;
        if it.next().is_some() || comp.child(CALDAV, "is-not-defined").is_some() {
            return None;
        }
        comp.child(CALDAV, "time-range").and_then(|t| time_range(t).ok())
    }

    #[cfg(test)]
    pub fn matches(&self, text: &str) -> bool {
        self.matches_blob(text, None)
    }

    /// [`Query::matches`] for the content of `blob` (whose parse is then kept).
    pub fn matches_blob(&self, text: &str, blob: Option<&BlobId>) -> bool {
        if let Some(n) = &self.needle
            && !may_contain(text, n)
        {
            return false;
        }
        let unfolded = unfold(text);
        let roots = components(&unfolded);
        if self.filter.is(CARDDAV, "filter") {
            // RFC 6352 §10.5: anyof unless the filter says allof.
            let anyof = attr(self.filter, "test") != Some("allof");
            return roots.iter().filter(|c| c.name.eq_ignore_ascii_case("VCARD")).any(|card| {
                let mut tests = self
                    .filter
                    .elements()
                    .filter(|f| f.is(CARDDAV, "prop-filter"))
                    .map(|f| prop_matches(f, card, true, None));
                if anyof { tests.any(|t| t) } else { tests.all(|t| t) }
            });
        }
        let cache = self.objects.zip(blob);
        let object = Lazy { cell: OnceCell::new(), text, zone: self.zone, cache };
        let roots: Vec<&Comp> = roots.iter().collect();
        self.filter.elements().filter(|f| f.is(CALDAV, "comp-filter")).all(|f| comp_matches(f, &roots, "", &object))
    }
}

/// The parsed calendar object, parsed only when a time-range asks for it (or taken from the
/// cache of parsed objects).
struct Lazy<'a> {
    cell: OnceCell<Option<Arc<CalendarObject>>>,
    text: &'a str,
    zone: Option<&'a str>,
    cache: Option<(&'a Objects, &'a BlobId)>,
}

impl Lazy<'_> {
    fn get(&self) -> Option<&CalendarObject> {
        self.cell
            .get_or_init(|| {
                let Some((objects, blob)) = self.cache else {
                    return CalendarObject::parse(self.text, self.zone).map(Arc::new);
                };
                objects.parsed(blob, self.text, self.zone)
            })
            .as_deref()
    }
}

/// RFC 4791 §9.7.1: some component named so among `candidates` passes every child test.
/// A time-range on a component in the VCALENDAR tests its instances; on a VALARM, the
/// alarm's triggers for each instance of its parent.
fn comp_matches(f: &Element, candidates: &[&Comp], parent: &str, object: &Lazy) -> bool {
    let name = attr(f, "name").unwrap_or("").to_ascii_uppercase();
    let named: Vec<&Comp> = candidates.iter().copied().filter(|c| c.name.eq_ignore_ascii_case(&name)).collect();
    if f.child(CALDAV, "is-not-defined").is_some() {
        return named.is_empty();
    }
    named.iter().any(|c| {
        f.elements().all(|t| {
            if t.is(CALDAV, "time-range") {
                let Ok(w) = time_range(t) else { return false };
                if name == "VALARM" {
                    object.get().is_some_and(|o| o.alarm_in(parent, w))
                } else if parent == "VCALENDAR" {
                    object.get().is_some_and(|o| o.overlaps(&name, w))
                } else {
                    true
                }
            } else if t.is(CALDAV, "comp-filter") {
                let inner: Vec<&Comp> = c.children.iter().collect();
                comp_matches(t, &inner, &name, object)
            } else if t.is(CALDAV, "prop-filter") {
                prop_matches(t, c, false, object.zone)
            } else {
                true
            }
        })
    })
}

/// RFC 4791 §9.7.2 / RFC 6352 §10.5.1: a property of the component passes the tests.
/// CalDAV ANDs the tests; CardDAV combines them by the `test` attribute (default anyof).
fn prop_matches(f: &Element, comp: &Comp, card: bool, zone: Option<&str>) -> bool {
    let name = attr(f, "name").unwrap_or("").to_ascii_uppercase();
    let lines: Vec<&Line> = comp.lines.iter().filter(|l| l.name.eq_ignore_ascii_case(&name)).collect();
    if f.elements().any(|c| c.name.name == "is-not-defined") {
        return lines.is_empty();
    }
    let tests: Vec<&Element> = f.elements().filter(|c| c.name.name != "is-not-defined").collect();
    if tests.is_empty() {
        return !lines.is_empty();
    }
    let allof = !card || attr(f, "test") == Some("allof");
    let one = |l: &Line, t: &Element| match t.name.name.as_str() {
        "text-match" => text_matches(t, l.value, card),
        "param-filter" => param_matches(t, l, card),
        "time-range" => {
            let tzid = l.params.iter().find(|(k, _)| k.eq_ignore_ascii_case("TZID")).map(|(_, v)| *v);
            let (Ok(w), Some(at)) = (time_range(t), kontor_domain::recurrence::instant(l.value, tzid, zone)) else {
                return false;
            };
            w.start <= at && at < w.end
        }
        _ => true,
    };
    lines.iter().any(|l| if allof { tests.iter().all(|t| one(l, t)) } else { tests.iter().any(|t| one(l, t)) })
}

fn param_matches(f: &Element, line: &Line, card: bool) -> bool {
    let name = attr(f, "name").unwrap_or("").to_ascii_uppercase();
    let values: Vec<&str> =
        line.params.iter().filter(|(k, _)| k.eq_ignore_ascii_case(&name)).flat_map(|(_, v)| v.split(',')).collect();
    if f.elements().any(|c| c.name.name == "is-not-defined") {
        return values.is_empty();
    }
    match f.elements().find(|c| c.name.name == "text-match") {
        Some(t) => values.iter().any(|v| text_matches(t, v, card)),
        None => !values.is_empty(),
    }
}

/// text-match: `i;octet` compares bytes, the casemap collations ignore case; CardDAV's
/// match-type picks equals / contains / starts-with / ends-with (CalDAV: contains).
fn text_matches(t: &Element, value: &str, card: bool) -> bool {
    let needle = t.text();
    let negate = attr(t, "negate-condition") == Some("yes");
    let exact = attr(t, "collation") == Some("i;octet");
    let (v, n) = if exact { (value.to_owned(), needle) } else { (value.to_lowercase(), needle.to_lowercase()) };
    let how = if card { attr(t, "match-type").unwrap_or("contains") } else { "contains" };
    let hit = match how {
        "equals" => v == n,
        "starts-with" => v.starts_with(&n),
        "ends-with" => v.ends_with(&n),
        _ => v.contains(&n),
    };
    hit != negate
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(xml: &str) -> Element {
        crate::xml::parse(xml.as_bytes()).unwrap()
    }

    fn cal_filter(body: &str) -> Element {
        q(&format!(
            "<C:filter xmlns:C=\"{CALDAV}\"><C:comp-filter name=\"VCALENDAR\">{body}</C:comp-filter></C:filter>"
        ))
    }

    const EVENT: &str = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:1\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\nRRULE:FREQ=WEEKLY\r\nSUMMARY:Team\r\n meeting\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:a@x\r\nBEGIN:VALARM\r\nTRIGGER:-PT10M\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    fn m(f: &Element, text: &str) -> bool {
        Query::new(f, None).matches(text)
    }

    #[test]
    fn unfolds_crlf_lf_and_tabs_and_borrows_unfolded_text() {
        assert_eq!(unfold("A:x\r\n y\r\nB:z\r\n"), "A:xy\r\nB:z\r\n");
        assert_eq!(unfold("A:x\n\ty\n z\nB:\r\n \r\n w"), "A:xyz\nB:w");
        assert_eq!(unfold("A:x\n\n y"), "A:x\ny");
        assert!(matches!(unfold("A:x\r\nB:y\r\n"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn components_properties_and_params() {
        assert!(m(&cal_filter("<C:comp-filter name=\"VEVENT\"/>"), EVENT));
        assert!(!m(&cal_filter("<C:comp-filter name=\"VTODO\"/>"), EVENT));
        let summary = |t: &str| {
            cal_filter(&format!(
                "<C:comp-filter name=\"VEVENT\"><C:prop-filter name=\"SUMMARY\">{t}</C:prop-filter></C:comp-filter>"
            ))
        };
        assert!(m(&summary("<C:text-match>TEAMMEETING</C:text-match>"), EVENT), "unfolded, case-insensitive");
        assert!(!m(&summary("<C:text-match collation=\"i;octet\">TEAM</C:text-match>"), EVENT));
        assert!(!m(&summary("<C:text-match negate-condition=\"yes\">team</C:text-match>"), EVENT));
        // DESCRIPTION is in the alarm, not in the event.
        assert!(!m(
            &cal_filter("<C:comp-filter name=\"VEVENT\"><C:prop-filter name=\"DESCRIPTION\"/></C:comp-filter>"),
            EVENT
        ));
        assert!(m(
            &cal_filter(
                "<C:comp-filter name=\"VEVENT\"><C:prop-filter name=\"ATTENDEE\"><C:param-filter name=\"PARTSTAT\"><C:text-match>accepted</C:text-match></C:param-filter></C:prop-filter></C:comp-filter>"
            ),
            EVENT
        ));
        let err = validate(&summary("<C:text-match collation=\"i;klingon\">x</C:text-match>"));
        assert!(err.is_err());
    }

    #[test]
    fn time_ranges_on_instances_and_alarms() {
        let tr = |a: &str, b: &str| {
            cal_filter(&format!(
                "<C:comp-filter name=\"VEVENT\"><C:time-range start=\"{a}\" end=\"{b}\"/></C:comp-filter>"
            ))
        };
        assert!(m(&tr("20260112T103000Z", "20260112T120000Z"), EVENT), "second week");
        assert!(!m(&tr("20260112T110000Z", "20260112T120000Z"), EVENT));
        assert_eq!(
            Query::new(&tr("20260112T110000Z", "20260112T120000Z"), None).window().map(|w| w.end - w.start),
            Some(3600)
        );
        let alarm = |a: &str, b: &str| {
            cal_filter(&format!(
                "<C:comp-filter name=\"VEVENT\"><C:comp-filter name=\"VALARM\"><C:time-range start=\"{a}\" end=\"{b}\"/></C:comp-filter></C:comp-filter>"
            ))
        };
        assert!(m(&alarm("20260119T094500Z", "20260119T095500Z"), EVENT));
        assert!(!m(&alarm("20260119T095500Z", "20260119T100500Z"), EVENT));
    }

    #[test]
    fn address_filters() {
        let card =
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann Smith\r\nitem1.EMAIL;TYPE=work:ann@example.com\r\nEND:VCARD\r\n";
        let f =
            |test: &str, body: &str| q(&format!("<R:filter xmlns:R=\"{CARDDAV}\" test=\"{test}\">{body}</R:filter>"));
        assert!(m(
            &f(
                "anyof",
                "<R:prop-filter name=\"EMAIL\"><R:text-match match-type=\"starts-with\">ANN@</R:text-match></R:prop-filter>"
            ),
            card
        ));
        assert!(!m(
            &f(
                "anyof",
                "<R:prop-filter name=\"FN\"><R:text-match match-type=\"equals\">ann</R:text-match></R:prop-filter>"
            ),
            card
        ));
        assert!(m(&f("anyof", "<R:prop-filter name=\"NICKNAME\"><R:is-not-defined/></R:prop-filter>"), card));
        assert!(m(
            &f(
                "anyof",
                "<R:prop-filter name=\"EMAIL\"><R:param-filter name=\"TYPE\"><R:text-match match-type=\"equals\">WORK</R:text-match></R:param-filter></R:prop-filter>"
            ),
            card
        ));
        let both = "<R:prop-filter name=\"FN\"><R:text-match>ann</R:text-match></R:prop-filter><R:prop-filter name=\"NICKNAME\"/>";
        assert!(m(&f("anyof", both), card));
        let may = |text: &str, needle: &str| may_contain(text, &Needle::new(needle.to_owned()));
        assert!(may("FN:Ann SMITH", "ann smith") && !may("FN:Ann", "bob"));
        assert!(may("FN:Ann S\r\n MITH", "ann smith"), "folded");
        assert!(may("FN:MÜLLER", "müller"), "non-ASCII");
        assert!(may("FN:Ann\r\nNOTE:bäh", "ann") && !may("FN:Ann\r\nNOTE:bäh", "bob"), "non-ASCII text, ASCII needle");
        let no_test = q(&format!("<R:filter xmlns:R=\"{CARDDAV}\">{both}</R:filter>"));
        assert!(m(&no_test, card), "anyof is the default");
        assert!(!m(&f("allof", both), card));
        let inner = "<R:prop-filter name=\"FN\" test=\"allof\"><R:text-match>ann</R:text-match><R:text-match>bob</R:text-match></R:prop-filter>";
        assert!(!m(&f("anyof", inner), card));
        assert!(m(&f("anyof", &inner.replace("allof", "anyof")), card));
    }
}
