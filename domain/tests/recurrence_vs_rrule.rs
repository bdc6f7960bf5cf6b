#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Our recurrence expansion (calcard's iterator behind `kontor_domain::recurrence`) against a
//! second implementation, the rrule crate: random rules in several time zones, with DST
//! changes inside (wall-clock times that fall in a gap or occur twice included), with EXDATEs,
//! must give the same instants.

use kontor_domain::recurrence::{CalendarObject, Window};
use proptest::prelude::*;

const ZONES: &[&str] = &["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata"];
const DAYS: &[&str] = &["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

#[derive(Debug, Clone)]
struct Case {
    zone: &'static str,
    start: String,
    rule: String,
    exdate_index: Option<usize>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        0..ZONES.len(),
        (2020u32..2030, 1u32..=12, 1u32..=28, 0u32..24, prop_oneof![Just(0u32), Just(30)]),
        prop_oneof![Just("DAILY"), Just("WEEKLY"), Just("MONTHLY"), Just("YEARLY")],
        1u32..=3,
        1u32..=40,
        proptest::sample::subsequence(DAYS.to_vec(), 0..=3),
        prop_oneof![Just(None), (1i32..=28).prop_map(Some), Just(Some(-1))],
        proptest::option::of(0usize..40),
    )
        .prop_map(|(z, (y, mo, d, h, mi), freq, interval, count, days, monthday, ex)| {
            let mut rule = format!("FREQ={freq};INTERVAL={interval};COUNT={count}");
            if freq == "WEEKLY" && !days.is_empty() {
                rule.push_str(&format!(";BYDAY={}", days.join(",")));
            }
            if freq == "MONTHLY"
                && let Some(md) = monthday
            {
                rule.push_str(&format!(";BYMONTHDAY={md}"));
            }
            Case {
                zone: ZONES[z],
                start: format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}00"),
                rule,
                exdate_index: ex.filter(|i| *i < count as usize),
            }
        })
}

/// The instants the rrule crate computes, with RFC 5545 §3.8.5.3 applied on top (DTSTART is
/// the first instance even when the rule does not produce it — the rrule crate follows dateutil
/// and leaves it out — and it uses one of COUNT), and the EXDATE (local time) it dropped.
fn reference(c: &Case) -> Option<(Vec<i64>, Option<String>)> {
    let set = format!("DTSTART;TZID={}:{}\nRRULE:{}", c.zone, c.start, c.rule);
    let parsed = set.parse::<rrule::RRuleSet>().ok()?;
    let first = parsed.get_dt_start().timestamp();
    let mut all: Vec<(i64, String)> = parsed
        .all(500)
        .dates
        .iter()
        .map(|d| (d.timestamp(), d.naive_local().format("%Y%m%dT%H%M%S").to_string()))
        .collect();
    if !all.iter().any(|(t, _)| *t == first) {
        all.pop();
        all.insert(0, (first, c.start.clone()));
    }
    let ex = c.exdate_index.filter(|i| *i < all.len()).map(|i| all.remove(i).1);
    Some((all.into_iter().map(|(t, _)| t).collect(), ex))
}

fn ours(c: &Case, exdate: Option<&str>) -> Vec<i64> {
    let ex = exdate.map(|e| format!("EXDATE;TZID={}:{e}\r\n", c.zone)).unwrap_or_default();
    let text = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:p\r\nDTSTAMP:20200101T000000Z\r\nDTSTART;TZID={}:{}\r\nDURATION:PT15M\r\nRRULE:{}\r\n{ex}END:VEVENT\r\nEND:VCALENDAR\r\n",
        c.zone, c.start, c.rule
    );
    let cal = CalendarObject::parse(&text, None).expect("parses");
    cal.instances("VEVENT", Window::ALL).iter().map(|i| i.start).collect()
}

proptest! {
    // PROPTEST_CASES=100000 for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(400),
        ..ProptestConfig::default()
    })]

    #[test]
    fn same_instants_as_the_rrule_crate(c in case()) {
        let Some((expected, ex)) = reference(&c) else { return Ok(()) };
        let got = ours(&c, ex.as_deref());
        prop_assert_eq!(got, expected, "{:?}", c);
    }

    #[test]
    fn a_window_selects_exactly_the_instances_inside_it(c in case(), a in 0i64..400, len in 1i64..120) {
        let c = Case { exdate_index: None, ..c };
        let Some((all, _)) = reference(&c) else { return Ok(()) };
        let Some(first) = all.first() else { return Ok(()) };
        let start = first + (a - 20) * 86_400;
        let w = Window { start, end: start + len * 86_400 };
        let text = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:p\r\nDTSTAMP:20200101T000000Z\r\nDTSTART;TZID={}:{}\r\nDURATION:PT15M\r\nRRULE:{}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            c.zone, c.start, c.rule
        );
        let cal = CalendarObject::parse(&text, None).unwrap();
        let got: Vec<i64> = cal.instances("VEVENT", w).iter().map(|i| i.start).collect();
        let expected: Vec<i64> = all.into_iter().filter(|s| *s < w.end && s + 900 > w.start).collect();
        prop_assert_eq!(got, expected);
    }
}
