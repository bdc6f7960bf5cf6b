//! JSContact (RFC 9553) and JSCalendar as JMAP shows contacts and events, converted by calcard
//! from and to the vCard and iCalendar text the items keep (what CardDAV and CalDAV serve).
//!
//! The stored text stays the truth: a read converts it; a JMAP write converts the whole object
//! back and stores the result as the item's new text. calcard carries what one format has and
//! the other lacks in conversion properties (`vCard` on a card, `iCalendar` on an event: the
//! original property names, parameters and unknown properties), so a vCard or iCalendar object
//! written over DAV and changed over JMAP keeps its X- properties and parameters.

use calcard::icalendar::ICalendar;
use calcard::jscalendar::JSCalendar;
use calcard::jscalendar::import::ConversionOptions;
use calcard::jscontact::JSContact;
use calcard::vcard::{VCard, VCardVersion};
use serde_json::{Map, Value};

/// The JSContact Card of a vCard.
pub fn card_to_json(vcard: &str) -> Option<Map<String, Value>> {
    let card = VCard::parse(vcard).ok()?;
    let js: JSContact<'static, String, String> = card.into_jscontact();
    match serde_json::to_value(&js.0).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// The vCard of a JSContact Card, in `version` (4.0 for new cards; a changed card keeps the
/// version it was stored in, for the CardDAV client that wrote it). `None` when calcard
/// cannot read the object as a card.
pub fn json_to_card(card: &Map<String, Value>, version: &str) -> Option<String> {
    let text = serde_json::to_string(card).ok()?;
    let js = JSContact::<String, String>::parse(&text).ok()?;
    let vcard = js.into_vcard()?;
    let version = if version == "3.0" { VCardVersion::V3_0 } else { VCardVersion::V4_0 };
    let mut out = String::with_capacity(text.len());
    vcard.write_to(&mut out, version).ok()?;
    Some(out)
}

/// The version of a stored vCard (`3.0` or `4.0`).
pub fn card_version(vcard: &str) -> &'static str {
    match VCard::parse(vcard).ok().and_then(|c| c.version()) {
        Some(VCardVersion::V4_0) => "4.0",
        _ => "3.0",
    }
}

/// The JSCalendar object of an iCalendar object holding one event (its overrides become
/// `recurrenceOverrides`).
pub fn event_to_json(ical: &str) -> Option<Map<String, Value>> {
    let cal = ICalendar::parse(ical).ok()?;
    let js: JSCalendar<'static, String, String> =
        cal.into_jscalendar_with_opt(ConversionOptions::default().return_first(true));
    match serde_json::to_value(&js.0).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// The iCalendar text of a JSCalendar Event, with VTIMEZONEs for the zones it names (CalDAV
/// clients expect them). A changed event passes the text it had (`original`): what its
/// VCALENDAR held besides the event (PRODID, X-WR- properties…) is kept. `None` when calcard
/// cannot read the object.
pub fn json_to_event(event: &Map<String, Value>, original: Option<&str>) -> Option<String> {
    // calcard writes a VCALENDAR around the entries of a Group; a bare Event comes out as a
    // lone VEVENT.
    let mut group = original
        .and_then(|o| ICalendar::parse(o).ok())
        .and_then(|cal| serde_json::to_value(&cal.into_jscalendar::<String, String>().0).ok())
        .and_then(|v| match v {
            Value::Object(m) if m.get("@type").and_then(Value::as_str) == Some("Group") => Some(m),
            _ => None,
        })
        .unwrap_or_else(|| {
            let mut m = Map::new();
            m.insert("@type".into(), Value::String("Group".into()));
            m.insert("prodId".into(), Value::String("-//Kontor//JMAP//EN".into()));
            m
        });
    group.insert("entries".into(), Value::Array(vec![Value::Object(event.clone())]));
    let text = serde_json::to_string(&group).ok()?;
    let js = JSCalendar::<String, String>::parse(&text).ok()?;
    let mut cal = js.into_icalendar()?;
    cal.add_missing_timezones();
    let out = cal.to_string();
    if !out.starts_with("BEGIN:VCALENDAR\r\n") {
        return None;
    }
    if out.contains("\r\nVERSION:") {
        Some(out)
    } else {
        Some(out.replacen("BEGIN:VCALENDAR\r\n", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n", 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CARD: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c1\r\nFN:Ann Smith\r\nN:Smith;Ann;;;\r\n\
        EMAIL;TYPE=INTERNET,WORK:ann@example.com\r\nTEL;TYPE=CELL:+1 555 0100\r\nX-CUSTOM;X-P=1:kept\r\nEND:VCARD\r\n";

    #[test]
    fn cards_round_trip() {
        let js = card_to_json(CARD).unwrap();
        assert_eq!(js["@type"], "Card");
        assert_eq!(js["uid"], "c1");
        assert_eq!(js["name"]["full"], "Ann Smith", "{js:?}");
        let email = js["emails"].as_object().unwrap().values().next().unwrap();
        assert_eq!(email["address"], "ann@example.com");
        let back = json_to_card(&js, card_version(CARD)).unwrap();
        assert!(back.contains("VERSION:3.0") && back.contains("UID:c1"), "{back}");
        assert!(back.contains("ann@example.com") && back.contains("X-CUSTOM"), "{back}");

        let made = json!({
            "@type": "Card", "version": "1.0", "uid": "new-1",
            "name": { "components": [ { "kind": "given", "value": "Bob" }, { "kind": "surname", "value": "Jones" } ] },
            "emails": { "e1": { "address": "bob@example.com" } },
        });
        let text = json_to_card(made.as_object().unwrap(), "4.0").unwrap();
        assert!(
            text.contains("VERSION:4.0") && text.contains("UID:new-1") && text.contains("bob@example.com"),
            "{text}"
        );
        assert!(text.contains("N:Jones;Bob") || text.contains("N;"), "{text}");
    }

    #[test]
    fn events_round_trip() {
        let ical = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:e1@x\r\n\
            DTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260105T100000\r\nDURATION:PT1H\r\n\
            RRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Standup\r\nX-CUSTOM;X-P=1:kept\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nUID:e1@x\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Berlin:20260112T100000\r\n\
            DTSTART;TZID=Europe/Berlin:20260112T110000\r\nDURATION:PT1H\r\nSUMMARY:Standup (late)\r\nEND:VEVENT\r\n\
            END:VCALENDAR\r\n";
        let js = event_to_json(ical).unwrap();
        assert_eq!(js["@type"], "Event", "{js:?}");
        assert_eq!(js["title"], "Standup");
        assert_eq!(js["start"], "2026-01-05T10:00:00");
        assert_eq!(js["timeZone"], "Europe/Berlin");
        assert!(js["recurrenceOverrides"]["2026-01-12T10:00:00"].is_object(), "{js:?}");
        let back = json_to_event(&js, Some(ical)).unwrap();
        assert!(back.contains("PRODID:-//t//t//EN") && back.contains("VERSION:2.0"), "{back}");
        assert!(back.contains("RRULE:FREQ=WEEKLY;COUNT=4") && back.contains("X-CUSTOM"), "{back}");
        assert!(back.contains("RECURRENCE-ID") && back.contains("Standup (late)"), "{back}");

        let made = json!({
            "@type": "Event", "uid": "new-e", "title": "Lunch",
            "start": "2026-03-02T12:00:00", "timeZone": "Europe/Paris", "duration": "PT1H",
        });
        let text = json_to_event(made.as_object().unwrap(), None).unwrap();
        assert!(text.starts_with("BEGIN:VCALENDAR\r\n") && text.contains("VERSION:2.0"), "{text}");
        assert!(
            text.contains("BEGIN:VEVENT") && text.contains("SUMMARY:Lunch") && text.contains("UID:new-e"),
            "{text}"
        );
        assert!(text.contains("PRODID:") && text.contains("BEGIN:VTIMEZONE"), "{text}");
    }
}
