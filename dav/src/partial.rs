//! Partial retrieval: the components and properties a `calendar-data` element names (RFC 4791
//! §9.6.1–§9.6.4: `comp`, `allcomp`, `allprop`, `prop` with `novalue`) and the properties an
//! `address-data` element names (RFC 6352 §10.4.2). The stored text is filtered line by line,
//! so what is returned is exactly what was stored, less what was not asked for.

use axum::http::StatusCode;

use crate::DavError;
use crate::props::{CALDAV, CARDDAV};
use crate::xml::Element;

/// Which properties of a component are returned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Props {
    All,
    /// Upper-case names, each with whether only its name and parameters are wanted (`novalue`).
    Listed(Vec<(String, bool)>),
}

/// Which subcomponents are returned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Comps {
    All,
    Listed(Vec<Spec>),
}

/// What to keep of one component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    name: String,
    props: Props,
    comps: Comps,
}

/// A component kept whole (`allcomp`, or a `comp` element with nothing inside).
static WHOLE: Spec = Spec { name: String::new(), props: Props::All, comps: Comps::All };

fn name_of(e: &Element) -> Result<String, DavError> {
    e.attrs
        .iter()
        .find(|(q, _)| q.name == "name" && q.ns.is_empty())
        .map(|(_, v)| v.trim().to_ascii_uppercase())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| DavError::new(StatusCode::BAD_REQUEST, format!("<{}> needs a name attribute", e.name.name)))
}

fn listed_prop(e: &Element) -> Result<(String, bool), DavError> {
    let novalue = e.attrs.iter().any(|(q, v)| q.name == "novalue" && v.trim() == "yes");
    Ok((name_of(e)?, novalue))
}

impl Spec {
    /// The `comp` element of a `calendar-data` element, if it has one (else: the whole object).
    pub fn of_calendar_data(data: &Element) -> Result<Option<Spec>, DavError> {
        data.child(CALDAV, "comp").map(Self::comp).transpose()
    }

    fn comp(e: &Element) -> Result<Spec, DavError> {
        let name = name_of(e)?;
        if e.elements().next().is_none() {
            return Ok(Spec { name, props: Props::All, comps: Comps::All });
        }
        let props = if e.child(CALDAV, "allprop").is_some() {
            Props::All
        } else {
            Props::Listed(e.elements().filter(|c| c.is(CALDAV, "prop")).map(listed_prop).collect::<Result<_, _>>()?)
        };
        let comps = if e.child(CALDAV, "allcomp").is_some() {
            Comps::All
        } else {
            Comps::Listed(e.elements().filter(|c| c.is(CALDAV, "comp")).map(Self::comp).collect::<Result<_, _>>()?)
        };
        Ok(Spec { name, props, comps })
    }

    /// The `prop` elements of an `address-data` element, if any (else: the whole card).
    /// BEGIN, END and VERSION always stay: without them the card is not a vCard.
    pub fn of_address_data(data: &Element) -> Result<Option<Spec>, DavError> {
        if data.child(CARDDAV, "allprop").is_some() {
            return Ok(None);
        }
        let mut listed: Vec<(String, bool)> =
            data.elements().filter(|c| c.is(CARDDAV, "prop")).map(listed_prop).collect::<Result<_, _>>()?;
        if listed.is_empty() {
            return Ok(None);
        }
        if !listed.iter().any(|(n, _)| n == "VERSION") {
            listed.push(("VERSION".to_owned(), false));
        }
        Ok(Some(Spec { name: "VCARD".to_owned(), props: Props::Listed(listed), comps: Comps::All }))
    }

    fn child(&self, name: &str) -> Option<&Spec> {
        match &self.comps {
            Comps::All => Some(&WHOLE),
            Comps::Listed(list) => list.iter().find(|c| c.name.eq_ignore_ascii_case(name)),
        }
    }

    /// Whether a property line is kept, and whether without its value.
    fn keeps(&self, name: &str) -> Option<bool> {
        match &self.props {
            Props::All => Some(false),
            Props::Listed(list) => list.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, nv)| *nv),
        }
    }

    /// The parts of `text` (iCalendar or vCard) this spec names. Top-level components of
    /// another name are left out.
    pub fn apply(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        // One entry per open component: the spec it is kept under, or None when left out.
        let mut open: Vec<Option<&Spec>> = Vec::new();
        for line in logical_lines(text) {
            let (name, value) = split_line(line);
            if name.eq_ignore_ascii_case("BEGIN") {
                let kept = match open.last() {
                    None => (self.name.eq_ignore_ascii_case(value.trim())).then_some(self),
                    Some(Some(parent)) => parent.child(value.trim()),
                    Some(None) => None,
                };
                open.push(kept);
                if kept.is_some() {
                    push_line(&mut out, line);
                }
            } else if name.eq_ignore_ascii_case("END") {
                if open.pop().flatten().is_some() {
                    push_line(&mut out, line);
                }
            } else if let Some(Some(spec)) = open.last() {
                match spec.keeps(name) {
                    Some(false) => push_line(&mut out, line),
                    Some(true) => push_line(&mut out, &without_value(line)),
                    None => {}
                }
            }
        }
        out
    }
}

/// The content lines of `text`, each with its folded continuation lines, without the final
/// line break.
fn logical_lines(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    std::iter::from_fn(move || {
        while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        if start >= bytes.len() {
            return None;
        }
        let mut end = start;
        loop {
            match memchr::memchr(b'\n', &bytes[end..]) {
                None => {
                    end = bytes.len();
                    break;
                }
                Some(i) => {
                    let next = end + i + 1;
                    if next < bytes.len() && matches!(bytes[next], b' ' | b'\t') {
                        end = next;
                    } else {
                        end += i;
                        break;
                    }
                }
            }
        }
        let line = text[start..end].trim_end_matches('\r');
        start = end;
        Some(line)
    })
}

/// The property name and the raw rest after the first `:` outside quotes (the value, for
/// BEGIN and END lines).
fn split_line(line: &str) -> (&str, &str) {
    let name_end = line.find([';', ':']).unwrap_or(line.len());
    let name = line[..name_end].trim();
    (name, value_start(line).map_or("", |at| &line[at..]))
}

/// Where the value of a (possibly folded) content line starts.
fn value_start(line: &str) -> Option<usize> {
    crate::filter::value_colon(line).map(|at| at + 1)
}

/// The line with its name and parameters and an empty value (`novalue="yes"`).
fn without_value(line: &str) -> String {
    let head = value_start(line).map_or(line, |at| &line[..at]);
    let mut s = head.to_owned();
    if !s.ends_with(':') {
        s.push(':');
    }
    s
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:1\r\nDTSTART;TZID=Europe/Berlin:20260101T100000\r\nSUMMARY:A long\r\n  summary\r\nDESCRIPTION;ALTREP=\"cid:a:b\":secret\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    fn spec(xml: &str) -> Spec {
        let e = crate::xml::parse(format!("<C:calendar-data xmlns:C=\"{CALDAV}\">{xml}</C:calendar-data>").as_bytes())
            .unwrap();
        Spec::of_calendar_data(&e).unwrap().unwrap()
    }

    #[test]
    fn keeps_what_rfc_4791_example_asks_for() {
        let s = spec(
            "<C:comp name=\"VCALENDAR\"><C:prop name=\"VERSION\"/><C:comp name=\"VEVENT\"><C:prop name=\"SUMMARY\"/><C:prop name=\"UID\"/><C:prop name=\"DTSTART\"/></C:comp><C:comp name=\"VTIMEZONE\"/></C:comp>",
        );
        assert_eq!(
            s.apply(EVENT),
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:1\r\nDTSTART;TZID=Europe/Berlin:20260101T100000\r\nSUMMARY:A long\r\n  summary\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        );
    }

    #[test]
    fn allprop_allcomp_and_novalue() {
        let s = spec(
            "<C:comp name=\"VCALENDAR\"><C:allprop/><C:comp name=\"VEVENT\"><C:prop name=\"DESCRIPTION\" novalue=\"yes\"/><C:allcomp/></C:comp></C:comp>",
        );
        let out = s.apply(EVENT);
        assert!(out.contains("PRODID:-//x//y//EN\r\n") && !out.contains("VTIMEZONE"));
        assert!(out.contains("DESCRIPTION;ALTREP=\"cid:a:b\":\r\n") && !out.contains("secret"), "{out}");
        assert!(out.contains("BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\n"));
        assert!(!out.contains("SUMMARY"));
    }

    #[test]
    fn a_different_top_component_keeps_nothing_and_names_are_required() {
        assert_eq!(spec("<C:comp name=\"VCARD\"/>").apply(EVENT), "");
        let e =
            crate::xml::parse(format!("<C:calendar-data xmlns:C=\"{CALDAV}\"><C:comp/></C:calendar-data>").as_bytes())
                .unwrap();
        assert_eq!(Spec::of_calendar_data(&e).unwrap_err().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn address_data_props_keep_version() {
        let e = crate::xml::parse(
            format!(
                "<R:address-data xmlns:R=\"{CARDDAV}\"><R:prop name=\"FN\"/><R:prop name=\"email\"/></R:address-data>"
            )
            .as_bytes(),
        )
        .unwrap();
        let s = Spec::of_address_data(&e).unwrap().unwrap();
        let card = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:u\r\nFN:Ann\r\nEMAIL;TYPE=work:ann@example.com\r\nTEL:1\r\nEND:VCARD\r\n";
        assert_eq!(
            s.apply(card),
            "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ann\r\nEMAIL;TYPE=work:ann@example.com\r\nEND:VCARD\r\n"
        );
    }
}
