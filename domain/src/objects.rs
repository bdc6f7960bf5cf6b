//! Checks calendar objects (iCalendar) and vCards before they are stored: well-formed, one
//! object per resource (one UID, one component type), a component the collection holds. The
//! bytes are stored as sent; this only reads them (calcard keeps unknown and X- properties).

use calcard::icalendar::{ICalendar, ICalendarComponentType};
use calcard::vcard::VCard;

use crate::error::{Error, Rejection, Result};
use crate::model::CollectionKind;
use crate::recurrence::{CalendarObject, Span};

/// What storing needs to know about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub uid: Option<String>,
    /// `VEVENT`, `VTODO`, `VJOURNAL`, or `VCARD`.
    pub component: Option<&'static str>,
    /// The time the object may touch (calendar objects), for the index.
    pub span: Span,
}

fn rejected(reason: Rejection, message: impl Into<String>) -> Error {
    Error::Rejected { reason, message: message.into() }
}

/// Inspects content for a collection of `kind`; other kinds take anything.
pub fn inspect(kind: CollectionKind, data: &[u8]) -> Result<ObjectInfo> {
    match kind {
        CollectionKind::Calendar | CollectionKind::TaskList => calendar_object(kind, data),
        CollectionKind::AddressBook => vcard(data),
        CollectionKind::MailFolder | CollectionKind::FileFolder => {
            Ok(ObjectInfo { uid: None, component: None, span: Span::default() })
        }
    }
}

fn text(data: &[u8], what: &str) -> Result<String> {
    String::from_utf8(data.to_vec()).map_err(|_| rejected(Rejection::InvalidData, format!("{what} must be UTF-8")))
}

fn calendar_object(kind: CollectionKind, data: &[u8]) -> Result<ObjectInfo> {
    let invalid = |m: &str| rejected(Rejection::InvalidData, format!("invalid calendar data: {m}"));
    let text = text(data, "calendar data")?;
    if !text.trim_start().get(..15).is_some_and(|s| s.eq_ignore_ascii_case("BEGIN:VCALENDAR")) {
        return Err(invalid("it must start with BEGIN:VCALENDAR"));
    }
    let cal = ICalendar::parse(&text).map_err(|_| invalid("not iCalendar"))?;
    let root = cal.components.first().ok_or_else(|| invalid("empty"))?;
    if root.component_type != ICalendarComponentType::VCalendar {
        return Err(invalid("it must be a VCALENDAR"));
    }
    let mut component = None;
    let mut uid: Option<String> = None;
    for id in &root.component_ids {
        let Some(c) = cal.components.get(*id as usize) else { continue };
        let name = match c.component_type {
            ICalendarComponentType::VTimezone => continue,
            ICalendarComponentType::VEvent => "VEVENT",
            ICalendarComponentType::VTodo => "VTODO",
            ICalendarComponentType::VJournal => "VJOURNAL",
            ICalendarComponentType::VFreebusy => "VFREEBUSY",
            _ => return Err(invalid("unexpected component")),
        };
        match component {
            None => component = Some(name),
            Some(n) if n != name => return Err(invalid("one resource holds one kind of component")),
            Some(_) => {}
        }
        let this = c.uid().ok_or_else(|| invalid("every component needs a UID"))?;
        match &uid {
            None => uid = Some(this.to_owned()),
            Some(u) if u != this => return Err(invalid("all components of one resource share one UID")),
            Some(_) => {}
        }
    }
    let component = component.ok_or_else(|| invalid("no event, task or journal in it"))?;
    let allowed: &[&str] = match kind {
        CollectionKind::TaskList => &["VTODO"],
        _ => &["VEVENT", "VTODO", "VJOURNAL"],
    };
    if !allowed.contains(&component) {
        return Err(rejected(
            Rejection::UnsupportedComponent,
            format!("this collection does not hold {component} (it holds {})", allowed.join(", ")),
        ));
    }
    let span = CalendarObject::from_parsed(cal).span();
    Ok(ObjectInfo { uid, component: Some(component), span })
}

fn vcard(data: &[u8]) -> Result<ObjectInfo> {
    let invalid = |m: &str| rejected(Rejection::InvalidData, format!("invalid vCard: {m}"));
    let text = text(data, "a vCard")?;
    if !text.trim_start().get(..11).is_some_and(|s| s.eq_ignore_ascii_case("BEGIN:VCARD")) {
        return Err(invalid("it must start with BEGIN:VCARD"));
    }
    let card = VCard::parse(&text).map_err(|_| invalid("not a vCard"))?;
    let uid = card.uid().ok_or_else(|| invalid("a vCard in an address book needs a UID"))?;
    Ok(ObjectInfo { uid: Some(uid.to_owned()), component: Some("VCARD"), span: Span::default() })
}

/// A vCard in the version a client asked for (`3.0` or `4.0`, RFC 6352 §5.1.1): as stored when
/// it is in that version already, else converted by calcard (values, parameters, binary data
/// and dates written the way that version spells them). `None` for an unknown version or data
/// that is not a vCard.
pub fn vcard_in_version(data: &str, version: &str) -> Option<String> {
    use calcard::vcard::VCardVersion;
    let wanted = match version.trim() {
        "3.0" => VCardVersion::V3_0,
        "4.0" => VCardVersion::V4_0,
        _ => return None,
    };
    let card = VCard::parse(data).ok()?;
    if card.version().unwrap_or(VCardVersion::V3_0) == wanted {
        return Some(data.to_owned());
    }
    let mut out = String::with_capacity(data.len() + 32);
    card.write_to(&mut out, wanted).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:e1@x\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260102T100000Z\r\nSUMMARY:Standup\r\nX-CUSTOM;X-P=1:kept\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn accepts_one_object_per_resource() {
        let i = inspect(CollectionKind::Calendar, EVENT.as_bytes()).unwrap();
        assert_eq!((i.uid.as_deref(), i.component), (Some("e1@x"), Some("VEVENT")));
        let todo = EVENT.replace("VEVENT", "VTODO");
        assert_eq!(inspect(CollectionKind::TaskList, todo.as_bytes()).unwrap().component, Some("VTODO"));
        let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann\r\nUID:c1\r\nEND:VCARD\r\n";
        assert_eq!(inspect(CollectionKind::AddressBook, card.as_bytes()).unwrap().uid.as_deref(), Some("c1"));
        assert_eq!(inspect(CollectionKind::FileFolder, b"\xff anything").unwrap().uid, None);
    }

    #[test]
    fn converts_vcards_between_versions() {
        let v3 = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c1\r\nFN:Ann Smith\r\nN:Smith;Ann;;;\r\nEMAIL;TYPE=INTERNET,WORK:ann@example.com\r\nX-CUSTOM:kept\r\nEND:VCARD\r\n";
        assert_eq!(vcard_in_version(v3, "3.0").as_deref(), Some(v3), "same version: unchanged");
        let v4 = vcard_in_version(v3, "4.0").unwrap();
        assert!(v4.contains("VERSION:4.0") && !v4.contains("VERSION:3.0"), "{v4}");
        assert!(v4.contains("ann@example.com") && v4.contains("X-CUSTOM:kept") && v4.contains("UID:c1"), "{v4}");
        let back = vcard_in_version(&v4, "3.0").unwrap();
        assert!(back.contains("VERSION:3.0") && back.contains("FN:Ann Smith"), "{back}");
        assert_eq!(vcard_in_version(v3, "2.1"), None);
    }

    #[test]
    fn rejects_what_is_not_one_object() {
        let reason = |k, d: &str| match inspect(k, d.as_bytes()) {
            Err(Error::Rejected { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(reason(CollectionKind::TaskList, EVENT), Rejection::UnsupportedComponent);
        assert_eq!(reason(CollectionKind::Calendar, "hello"), Rejection::InvalidData);
        assert_eq!(reason(CollectionKind::Calendar, &EVENT.replace("UID:e1@x\r\n", "")), Rejection::InvalidData);
        let two = EVENT.replace(
            "END:VCALENDAR",
            "BEGIN:VEVENT\r\nUID:other\r\nDTSTART:20260103T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR",
        );
        assert_eq!(reason(CollectionKind::Calendar, &two), Rejection::InvalidData);
        let mixed = EVENT.replace("END:VCALENDAR", "BEGIN:VTODO\r\nUID:e1@x\r\nEND:VTODO\r\nEND:VCALENDAR");
        assert_eq!(reason(CollectionKind::Calendar, &mixed), Rejection::InvalidData);
        assert_eq!(
            reason(CollectionKind::AddressBook, "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\nEND:VCARD\r\n"),
            Rejection::InvalidData
        );
        assert_eq!(reason(CollectionKind::AddressBook, EVENT), Rejection::InvalidData);
    }
}
