//! VTIMEZONEs whose TZID names no zone calcard knows (custom definitions, Outlook display
//! names such as "(UTC+01:00) Amsterdam, Berlin, …"). calcard resolves a zone by its name only,
//! so such an object's times would be read in UTC. Here the definition itself is evaluated
//! (RFC 5545 §3.6.5: each observance's onset, yearly rules by month and weekday, RDATEs) and
//! the IANA zone whose UTC offsets agree with it over the years that matter is named in the
//! object's copy as X-LIC-LOCATION, which calcard and [`crate::recurrence`] then follow.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarEntry, ICalendarProperty, ICalendarValue,
};
use chrono::{Datelike, NaiveDate, Offset, TimeZone};

/// The years whose offsets must agree.
const FIRST_YEAR: i32 = 2015;
const LAST_YEAR: i32 = 2035;
/// Definitions seen before, by their text: matching scans every zone.
const CACHE_ENTRIES: usize = 256;

/// A copy of `cal` in which every VTIMEZONE that calcard cannot resolve names the IANA zone
/// its definition matches; `None` when there is nothing to add.
pub fn with_known_zones(cal: &ICalendar) -> Option<ICalendar> {
    let mut additions = Vec::new();
    for (id, c) in cal.components.iter().enumerate() {
        if c.component_type != ICalendarComponentType::VTimezone || c.timezone().is_some() {
            continue;
        }
        if let Some(name) = matching_zone(cal, c) {
            additions.push((id, name));
        }
    }
    if additions.is_empty() {
        return None;
    }
    let mut copy = cal.clone();
    for (id, name) in additions {
        if let Some(c) = copy.components.get_mut(id) {
            c.entries.push(
                ICalendarEntry::new(ICalendarProperty::Other("X-LIC-LOCATION".into())).with_value(name.to_owned()),
            );
        }
    }
    Some(copy)
}

fn cache() -> &'static Mutex<HashMap<String, Option<&'static str>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<&'static str>>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The IANA zone a VTIMEZONE's definition matches, if one agrees at every sample.
fn matching_zone(cal: &ICalendar, vtz: &ICalendarComponent) -> Option<&'static str> {
    let key =
        format!("{vtz:?}{:?}", vtz.component_ids.iter().map(|i| cal.components.get(*i as usize)).collect::<Vec<_>>());
    if let Some(hit) = cache().lock().ok().and_then(|c| c.get(&key).copied()) {
        return hit;
    }
    let onsets = onsets(cal, vtz);
    let found = if onsets.is_empty() { None } else { best_zone(&onsets, tzid(vtz)) };
    if let Ok(mut c) = cache().lock() {
        if c.len() >= CACHE_ENTRIES {
            c.clear();
        }
        c.insert(key, found);
    }
    found
}

fn tzid(vtz: &ICalendarComponent) -> &str {
    vtz.property(&ICalendarProperty::Tzid)
        .and_then(|e| e.values.first())
        .and_then(ICalendarValue::as_text)
        .unwrap_or("")
}

/// An observance's UTC offset property in seconds east of UTC.
fn offset(c: &ICalendarComponent, p: &ICalendarProperty) -> Option<i32> {
    let v = c.property(p)?.values.first()?.as_partial_date_time()?;
    let secs = i32::from(v.tz_hour?) * 3600 + i32::from(v.tz_minute.unwrap_or(0)) * 60;
    Some(if v.tz_minus { -secs } else { secs })
}

/// The `n`th (negative: from the end) `weekday` of a month.
fn nth_weekday(year: i32, month: u32, n: i16, weekday: chrono::Weekday) -> Option<NaiveDate> {
    if n >= 0 {
        let first = NaiveDate::from_ymd_opt(year, month, 1)?;
        let shift = (7 + weekday.num_days_from_monday() - first.weekday().num_days_from_monday()) % 7;
        let day = first + chrono::Days::new(u64::from(shift) + 7 * u64::from(n.max(1).unsigned_abs() - 1));
        (day.month() == month).then_some(day)
    } else {
        let next = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)?
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)?
        };
        let last = next.pred_opt()?;
        let shift = (7 + last.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
        let day = last - chrono::Days::new(u64::from(shift) + 7 * u64::from(n.unsigned_abs() - 1));
        (day.month() == month).then_some(day)
    }
}

fn weekday(w: calcard::icalendar::ICalendarWeekday) -> chrono::Weekday {
    use calcard::icalendar::ICalendarWeekday as W;
    match w {
        W::Monday => chrono::Weekday::Mon,
        W::Tuesday => chrono::Weekday::Tue,
        W::Wednesday => chrono::Weekday::Wed,
        W::Thursday => chrono::Weekday::Thu,
        W::Friday => chrono::Weekday::Fri,
        W::Saturday => chrono::Weekday::Sat,
        W::Sunday => chrono::Weekday::Sun,
    }
}

/// When each observance begins (UTC seconds) and the offset from then on, sorted.
fn onsets(cal: &ICalendar, vtz: &ICalendarComponent) -> Vec<(i64, i32)> {
    let mut out = Vec::new();
    for id in &vtz.component_ids {
        let Some(o) = cal.components.get(*id as usize) else { continue };
        if !matches!(o.component_type, ICalendarComponentType::Standard | ICalendarComponentType::Daylight) {
            continue;
        }
        let (Some(from), Some(to)) =
            (offset(o, &ICalendarProperty::Tzoffsetfrom), offset(o, &ICalendarProperty::Tzoffsetto))
        else {
            continue;
        };
        let Some(start) = o
            .property(&ICalendarProperty::Dtstart)
            .and_then(|e| e.values.first())
            .and_then(ICalendarValue::as_partial_date_time)
            .and_then(calcard::common::PartialDateTime::to_date_time)
            .map(|t| t.date_time)
        else {
            continue;
        };
        let onset = |local: chrono::NaiveDateTime| local.and_utc().timestamp() - i64::from(from);
        out.push((onset(start), to));
        for e in o.properties(&ICalendarProperty::Rdate) {
            for v in e.values.iter().filter_map(ICalendarValue::as_partial_date_time) {
                if let Some(t) = v.to_date_time() {
                    out.push((onset(t.date_time), to));
                }
            }
        }
        let rule = o.property(&ICalendarProperty::Rrule).and_then(|e| match e.values.first() {
            Some(ICalendarValue::RecurrenceRule(r)) => Some(r),
            _ => None,
        });
        let Some(rule) = rule else { continue };
        let (Some(month), Some(day)) = (rule.bymonth.first(), rule.byday.first()) else { continue };
        if rule.freq != calcard::icalendar::ICalendarFrequency::Yearly {
            continue;
        }
        let until = rule.until.as_ref().and_then(calcard::common::PartialDateTime::to_date_time).map(|u| {
            let t = u.date_time.and_utc().timestamp();
            if u.offset.is_some() { t } else { t - i64::from(from) }
        });
        for year in (start.year() + 1).max(FIRST_YEAR - 1)..=LAST_YEAR {
            let Some(date) = nth_weekday(year, u32::from(month.month()), day.ordwk.unwrap_or(1), weekday(day.weekday))
            else {
                continue;
            };
            let at = onset(date.and_time(start.time()));
            if until.is_some_and(|u| at > u) {
                break;
            }
            out.push((at, to));
        }
    }
    out.sort_unstable();
    out
}

/// RFC 5545 §3.6.5: the offset of the observance whose onset came last.
fn offset_at(onsets: &[(i64, i32)], at: i64) -> Option<i32> {
    onsets.partition_point(|(t, _)| *t <= at).checked_sub(1).map(|i| onsets[i].1)
}

fn zone_offset(tz: chrono_tz::Tz, at: i64) -> Option<i32> {
    let t = chrono::DateTime::from_timestamp(at, 0)?;
    Some(tz.offset_from_utc_datetime(&t.naive_utc()).fix().local_minus_utc())
}

/// The zone that agrees with the onsets at every sample: weekly over the years, and an hour
/// either side of every onset in them. Among several (zones share rules), one whose city the
/// TZID names (Outlook writes "…, Berlin, Bern, …"), else the first.
fn best_zone(onsets: &[(i64, i32)], tzid: &str) -> Option<&'static str> {
    let year_start = |y: i32| {
        NaiveDate::from_ymd_opt(y, 1, 1).map_or(0, |d| d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp())
    };
    let (from, to) = (year_start(FIRST_YEAR), year_start(LAST_YEAR + 1));
    let mut samples: Vec<i64> = (from..to).step_by(7 * 86_400).collect();
    for (t, _) in onsets.iter().filter(|(t, _)| (from..to).contains(t)) {
        samples.extend([t - 3600, t + 3600]);
    }
    let expected: Vec<(i64, i32)> = samples.iter().filter_map(|t| offset_at(onsets, *t).map(|o| (*t, o))).collect();
    if expected.is_empty() {
        return None;
    }
    // Two samples first (mid-January, mid-July) leave few candidates for the full check.
    let quick: Vec<(i64, i32)> = [year_start(2026) + 14 * 86_400, year_start(2026) + 195 * 86_400]
        .into_iter()
        .filter_map(|t| offset_at(onsets, t).map(|o| (t, o)))
        .collect();
    let agree = |tz: chrono_tz::Tz, set: &[(i64, i32)]| set.iter().all(|(t, o)| zone_offset(tz, *t) == Some(*o));
    let matches: Vec<chrono_tz::Tz> =
        chrono_tz::TZ_VARIANTS.iter().copied().filter(|tz| agree(*tz, &quick) && agree(*tz, &expected)).collect();
    let text = tzid.to_ascii_lowercase();
    let named = matches.iter().find(|tz| {
        tz.name()
            .rsplit('/')
            .next()
            .is_some_and(|city| city.len() > 2 && text.contains(&city.replace('_', " ").to_ascii_lowercase()))
    });
    named.or(matches.first()).map(|tz| tz.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vtimezone(body: &str) -> ICalendar {
        let text = format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{body}END:VCALENDAR\r\n");
        ICalendar::parse(&text).unwrap()
    }

    fn zone_of(cal: &ICalendar) -> Option<&'static str> {
        let (_, c) =
            cal.components.iter().enumerate().find(|(_, c)| c.component_type == ICalendarComponentType::VTimezone)?;
        matching_zone(cal, c)
    }

    #[test]
    fn outlook_names_and_custom_rules_find_their_zone() {
        let berlin = vtimezone(
            "BEGIN:VTIMEZONE\r\nTZID:(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n",
        );
        let found = zone_of(&berlin).unwrap();
        assert!(
            ["Europe/Amsterdam", "Europe/Berlin", "Europe/Rome", "Europe/Stockholm", "Europe/Vienna"].contains(&found),
            "a city the TZID names: {found}"
        );
        let us = vtimezone(
            "BEGIN:VTIMEZONE\r\nTZID:My Office\r\nBEGIN:STANDARD\r\nDTSTART:20071104T020000\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:20070311T020000\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n",
        );
        let found = zone_of(&us).unwrap();
        let tz: chrono_tz::Tz = found.parse().unwrap();
        // Any zone with New York's rules will do; not one with Europe's switch dates.
        for day in ["2026-03-09T12:00:00Z", "2026-03-30T12:00:00Z", "2026-11-02T12:00:00Z", "2026-07-01T12:00:00Z"] {
            let at = chrono::DateTime::parse_from_rfc3339(day).unwrap().timestamp();
            assert_eq!(zone_offset(tz, at), zone_offset(chrono_tz::America::New_York, at), "{found} on {day}");
        }
        let fixed = vtimezone(
            "BEGIN:VTIMEZONE\r\nTZID:Somewhere fixed\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:+0530\r\nTZOFFSETTO:+0530\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n",
        );
        let found: chrono_tz::Tz = zone_of(&fixed).unwrap().parse().unwrap();
        assert_eq!(zone_offset(found, 1_800_000_000), Some(19_800));
        // A definition no zone follows is left alone.
        let odd = vtimezone(
            "BEGIN:VTIMEZONE\r\nTZID:Odd\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:+0017\r\nTZOFFSETTO:+0017\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n",
        );
        assert_eq!(zone_of(&odd), None);
        assert!(with_known_zones(&odd).is_none());
        assert!(with_known_zones(&berlin).is_none(), "calcard knows Outlook's names itself");
        assert!(with_known_zones(&us).is_some());
    }
}
