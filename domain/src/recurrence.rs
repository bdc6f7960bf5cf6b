//! Calendar time: the instances of a calendar object inside a time window, the time-range
//! rules of RFC 4791 §9.9 per component type, the span the item index keeps, and the
//! `expand` / `limit-recurrence-set` / free-busy views of an object.
//!
//! calcard parses and expands: its `datecalc` is a port of the rrule crate's iterator, and its
//! expansion merges RECURRENCE-ID overrides (also RANGE=THISANDFUTURE), RDATE and EXDATE, and
//! resolves IANA, Windows and vendor-prefixed TZIDs (and VTIMEZONE's X-LIC-LOCATION). This
//! module bounds that expansion by the window asked for (it takes an iteration budget, not an
//! end date), fixes what RFC 5545 says differently (a DATE-TIME start with neither DTEND nor
//! DURATION is an instant), and writes the results. Floating times and dates are read in the
//! collection's time zone when it has one, else in UTC (RFC 4791 §9.9).

use std::str::FromStr;

use calcard::common::PartialDateTime;
use calcard::common::timezone::Tz;
use calcard::icalendar::dates::TimeOrDelta;
use calcard::icalendar::timezone::TzResolver;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarEntry, ICalendarParameterName, ICalendarProperty,
    ICalendarStatus, ICalendarTransparency, ICalendarValue,
};
use chrono::{DateTime, NaiveDateTime, TimeZone};

/// No instance before or after this (seconds since the epoch): the years 1 and 9999.
pub const MIN_TIME: i64 = -62_135_596_800;
pub const MAX_TIME: i64 = 253_402_300_799;
/// Recurrence iterations one object may cost (a minutely rule over two months).
const MAX_ITERATIONS: usize = 100_000;
/// Index spans are widened by this much, for floating times read in another zone.
const SLACK: i64 = 86_400;

/// A half-open interval of UTC seconds: `start <= t < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

impl Window {
    pub const ALL: Window = Window { start: MIN_TIME, end: MAX_TIME };

    /// From RFC 5545 UTC date-times (`20260101T000000Z`); a missing side is unbounded.
    pub fn parse(start: Option<&str>, end: Option<&str>) -> Option<Window> {
        let start = match start {
            Some(s) => parse_utc(s)?,
            None => MIN_TIME,
        };
        let end = match end {
            Some(s) => parse_utc(s)?,
            None => MAX_TIME,
        };
        Some(Window { start, end })
    }
}

/// `YYYYMMDDTHHMMSSZ` to seconds since the epoch.
pub fn parse_utc(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix('z'))?;
    NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%S").ok().map(|t| t.and_utc().timestamp())
}

/// A DATE or DATE-TIME property value in UTC seconds: `Z` times as they are, times with a TZID
/// in that zone, floating times and dates in `zone` (else UTC).
pub fn instant(value: &str, tzid: Option<&str>, zone: Option<&str>) -> Option<i64> {
    let v = value.trim();
    if v.ends_with('Z') || v.ends_with('z') {
        return parse_utc(v);
    }
    let naive = if v.len() == 8 {
        chrono::NaiveDate::parse_from_str(v, "%Y%m%d").ok()?.and_hms_opt(0, 0, 0)?
    } else {
        NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S").ok()?
    };
    let tz = tzid.and_then(|t| Tz::from_str(t).ok()).or_else(|| zone.and_then(resolve_zone)).unwrap_or(Tz::UTC);
    local_instant(tz, &naive)
}

/// A wall-clock time in `tz` in UTC seconds, as RFC 5545 §3.3.5 reads it: of a time that occurs
/// twice (DST ends) the first, of one that does not occur (DST starts) the offset from before
/// the gap. calcard and chrono's `single()` give nothing for either.
fn local_instant(tz: Tz, local: &NaiveDateTime) -> Option<i64> {
    tz.from_local_datetime(local)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(*local - chrono::TimeDelta::hours(1)))
                .earliest()
                .map(|t| t + chrono::TimeDelta::hours(1))
        })
        .map(|t| t.timestamp())
}

/// Seconds since the epoch as `YYYYMMDDTHHMMSSZ`.
pub fn format_utc(t: i64) -> String {
    DateTime::from_timestamp(t, 0).map_or_else(String::new, |d| d.format("%Y%m%dT%H%M%SZ").to_string())
}

/// The range of time an object may touch, for the item index; `None` is unbounded. Padded
/// for floating times, so it only ever selects a superset of the matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Span {
    pub start: Option<i64>,
    pub end: Option<i64>,
}

/// One occurrence: the component it comes from (master or override), when it starts and ends,
/// and which recurrence it is (`None` for a non-recurring object).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instance {
    pub comp: u32,
    pub start: i64,
    pub end: i64,
    pub recurrence_id: Option<i64>,
    /// The start in the component's own zone, for writing dates back as dates.
    local_date: Option<chrono::NaiveDate>,
}

/// Free/busy kinds (RFC 5545 FBTYPE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BusyType {
    Busy,
    Tentative,
}

/// A parsed calendar object with the zone floating times are read in.
pub struct CalendarObject {
    cal: ICalendar,
    /// The copy calcard expands, when `cal` itself will not do (`None`: `cal` serves):
    /// - without SEQUENCE when the object has overrides: calcard pairs an override with its
    ///   master only when their SEQUENCEs are equal, which RFC 5545 does not ask of clients
    ///   (python-caldav and others bump the master's alone);
    /// - with its times made floating (see `floated`) when one of them falls twice or never on
    ///   the wall clock of its zone;
    /// - with custom VTIMEZONEs naming the IANA zone they match ([`crate::vtimezone`]).
    adjusted: Option<ICalendar>,
    /// The components whose times `adjusted` holds as floating wall-clock times, each with the
    /// zone they are read in. calcard cannot place a local time that a DST change makes
    /// ambiguous or skips: it refuses such a DTSTART (the whole event would vanish) and drops
    /// such an EXDATE, RDATE or RECURRENCE-ID. Floating, the rule runs on the wall clock and
    /// matches EXDATEs and overrides there; [`Self::instance`] then places each instance as
    /// RFC 5545 §3.3.5 says.
    floated: Vec<(u32, Tz)>,
    /// The object's VTIMEZONEs and known zone names, floating times in `tz`; built once.
    zones: TzResolver<String>,
}

impl CalendarObject {
    /// A rough size in memory, for caches that keep parsed objects.
    pub fn weight(&self) -> u64 {
        let entries: usize = self.cal.components.iter().map(|c| c.entries.len()).sum();
        (entries as u64 + 8) * 160 * if self.adjusted.is_some() { 2 } else { 1 }
    }
}

/// The properties whose values are points in time that the expansion reads.
const TIMES: [ICalendarProperty; 6] = [
    ICalendarProperty::Dtstart,
    ICalendarProperty::Dtend,
    ICalendarProperty::Due,
    ICalendarProperty::Rdate,
    ICalendarProperty::Exdate,
    ICalendarProperty::RecurrenceId,
];

/// A time zone given as a TZID, or as an iCalendar object holding one VTIMEZONE (the
/// `calendar-timezone` property).
pub fn resolve_zone(text: &str) -> Option<Tz> {
    let t = text.trim();
    if t.get(..15).is_some_and(|s| s.eq_ignore_ascii_case("BEGIN:VCALENDAR")) {
        let cal = ICalendar::parse(t).ok()?;
        let cal = crate::vtimezone::with_known_zones(&cal).unwrap_or(cal);
        return cal.timezones().find_map(|c| c.timezone()).map(|(_, tz)| tz);
    }
    Tz::from_str(t).ok()
}

/// Component kinds that have time (the comp-filter names time-range applies to).
fn kind(name: &str) -> Option<ICalendarComponentType> {
    Some(match name.to_ascii_uppercase().as_str() {
        "VEVENT" => ICalendarComponentType::VEvent,
        "VTODO" => ICalendarComponentType::VTodo,
        "VJOURNAL" => ICalendarComponentType::VJournal,
        "VFREEBUSY" => ICalendarComponentType::VFreebusy,
        _ => return None,
    })
}

fn first_date<'a>(c: &'a ICalendarComponent, p: &ICalendarProperty) -> Option<&'a PartialDateTime> {
    c.property(p).and_then(|e| e.values.first()).and_then(ICalendarValue::as_partial_date_time)
}

impl CalendarObject {
    /// Parses `text`; `zone` (a TZID or a VTIMEZONE object) is where floating times are.
    pub fn parse(text: &str, zone: Option<&str>) -> Option<CalendarObject> {
        let cal = ICalendar::parse(text).ok()?;
        let tz = zone.and_then(resolve_zone).unwrap_or(Tz::UTC);
        Some(CalendarObject::build(cal, tz))
    }

    /// An object parsed already, floating times in UTC.
    pub(crate) fn from_parsed(cal: ICalendar) -> CalendarObject {
        CalendarObject::build(cal, Tz::UTC)
    }

    fn build(cal: ICalendar, tz: Tz) -> CalendarObject {
        let overrides = cal.components.iter().any(ICalendarComponent::is_recurrence_override);
        // Custom VTIMEZONEs get the IANA zone their rules match (in the copy only).
        let named = crate::vtimezone::with_known_zones(&cal);
        let zones = named.as_ref().unwrap_or(&cal).build_owned_tz_resolver().with_default(tz);
        let mut obj = CalendarObject { cal, adjusted: None, floated: Vec::new(), zones };
        let floated = obj.to_float();
        if overrides || !floated.is_empty() || named.is_some() {
            let mut copy = named.unwrap_or_else(|| obj.cal.clone());
            if overrides {
                for comp in &mut copy.components {
                    comp.entries.retain(|e| e.name != ICalendarProperty::Sequence);
                }
            }
            for (id, zone) in &floated {
                obj.float(&mut copy, *id, *zone);
            }
            obj.adjusted = Some(copy);
        }
        obj.floated = floated;
        obj
    }

    /// What calcard expands.
    fn expandable(&self) -> &ICalendar {
        self.adjusted.as_ref().unwrap_or(&self.cal)
    }

    /// The zone a time value of `c` is read in: its own TZID, else DTSTART's, else the
    /// object's zone.
    fn zone_of(&self, c: &ICalendarComponent, e: &ICalendarEntry) -> Tz {
        self.zones
            .resolve_or_default(e.tz_id().or_else(|| c.property(&ICalendarProperty::Dtstart).and_then(|d| d.tz_id())))
    }

    /// The zone an instance of component `id` is placed in.
    fn instance_zone(&self, id: u32, c: &ICalendarComponent) -> Tz {
        self.floated.iter().find(|(f, _)| *f == id).map_or_else(
            || self.zones.resolve_or_default(c.property(&ICalendarProperty::Dtstart).and_then(|d| d.tz_id())),
            |f| f.1,
        )
    }

    /// Which components to float (see `floated`), with their zones: none when every local
    /// time of the object has exactly one instant; else every time component, in its DTSTART's
    /// zone (overrides in their master's, so RECURRENCE-IDs meet the rule's wall clock).
    fn to_float(&self) -> Vec<(u32, Tz)> {
        let unplaceable = self.time_components().any(|(_, c)| {
            c.entries.iter().filter(|e| TIMES.contains(&e.name)).any(|e| {
                let zone = self.zone_of(c, e);
                !zone.is_floating()
                    && e.values.iter().filter_map(ICalendarValue::as_partial_date_time).any(|v| {
                        v.to_date_time().is_some_and(|t| {
                            t.offset.is_none() && zone.from_local_datetime(&t.date_time).single().is_none()
                        })
                    })
            })
        });
        if !unplaceable {
            return Vec::new();
        }
        let own = |c: &ICalendarComponent| {
            self.zones.resolve_or_default(c.property(&ICalendarProperty::Dtstart).and_then(|d| d.tz_id()))
        };
        let master =
            self.time_components().find(|(_, c)| c.property(&ICalendarProperty::Rrule).is_some()).map(|x| own(x.1));
        self.time_components()
            .map(|(id, c)| (id, if c.is_recurrence_override() { master.unwrap_or_else(|| own(c)) } else { own(c) }))
            .collect()
    }

    /// Rewrites component `id` of `copy` with every time value as a floating wall-clock time
    /// in `zone`: values in that zone keep their wall clock (also one a DST change skips),
    /// others (UTC, other zones) are moved to it.
    fn float(&self, copy: &mut ICalendar, id: u32, zone: Tz) {
        let (Some(original), Some(c)) = (self.component(id), copy.components.get_mut(id as usize)) else { return };
        for (e, before) in c.entries.iter_mut().zip(&original.entries) {
            if !TIMES.contains(&e.name) {
                continue;
            }
            let own = self.zone_of(original, before);
            for (v, was) in e.values.iter_mut().zip(&before.values) {
                let (ICalendarValue::PartialDateTime(p), Some(was)) = (v, was.as_partial_date_time()) else { continue };
                let Some(t) = was.to_date_time().filter(|_| was.has_time()) else { continue };
                let local = if t.offset.is_none() && own == zone {
                    t.date_time
                } else {
                    let Some(at) = self.time_in(original, before, was) else { continue };
                    let Some(utc) = DateTime::from_timestamp(at, 0) else { continue };
                    zone.from_utc_datetime(&utc.naive_utc()).naive_local()
                };
                **p = PartialDateTime::from_naive_timestamp(local.and_utc().timestamp());
            }
            e.params.retain(|p| p.name != ICalendarParameterName::Tzid);
        }
    }

    /// Whether the master's rule, left alone (no EXDATE, RDATE or overrides), starts at DTSTART.
    fn synchronised(&self, master: u32, dtstart: i64) -> bool {
        let mut bare = self.expandable().clone();
        if let Some(root) = bare.components.first_mut() {
            root.component_ids.retain(|id| *id == master);
        }
        if let Some(c) = bare.components.get_mut(master as usize) {
            c.entries.retain(|e| !matches!(e.name, ICalendarProperty::Exdate | ICalendarProperty::Rdate));
        }
        bare.expand_dates(Tz::Floating, 1)
            .events
            .first()
            .is_none_or(|e| self.instance(e).is_some_and(|i| i.start == dtstart))
    }

    /// The master's DTSTART in UTC seconds.
    fn dtstart_of(&self, master: u32) -> Option<i64> {
        self.prop_time(self.component(master)?, &ICalendarProperty::Dtstart)
    }

    /// A date or date-time value of `c` in UTC seconds: in its own TZID, else DTSTART's, else
    /// the object's zone.
    fn time_in(&self, c: &ICalendarComponent, e: &ICalendarEntry, p: &PartialDateTime) -> Option<i64> {
        let zone = self.zone_of(c, e);
        let t = p.to_date_time()?;
        if t.offset.is_some() || zone.is_floating() {
            return t.to_date_time_with_tz(zone).map(|t| t.timestamp());
        }
        local_instant(zone, &t.date_time)
    }

    /// Every date or date-time value of every `prop` of `c`, in UTC seconds.
    fn times(&self, c: &ICalendarComponent, prop: &ICalendarProperty) -> Vec<i64> {
        c.properties(prop)
            .flat_map(|e| {
                e.values.iter().filter_map(ICalendarValue::as_partial_date_time).filter_map(|v| self.time_in(c, e, v))
            })
            .collect()
    }

    /// The first value of `prop` in `c`, in UTC seconds.
    fn prop_time(&self, c: &ICalendarComponent, prop: &ICalendarProperty) -> Option<i64> {
        let e = c.property(prop)?;
        self.time_in(c, e, e.values.first().and_then(ICalendarValue::as_partial_date_time)?)
    }

    fn component(&self, id: u32) -> Option<&ICalendarComponent> {
        self.cal.components.get(id as usize)
    }

    /// The time components (events, tasks, journals, free/busy) directly in the VCALENDAR.
    fn time_components(&self) -> impl Iterator<Item = (u32, &ICalendarComponent)> {
        let root = self.cal.components.first();
        root.into_iter()
            .flat_map(|r| r.component_ids.iter())
            .filter_map(|id| self.component(*id).filter(|c| c.component_type.has_time_ranges()).map(|c| (*id, c)))
    }

    /// Every instance starting before `until`, in no particular order. calcard's expansion
    /// takes an iteration budget; it doubles until the rules have passed `until` or end.
    fn expand_until(&self, until: i64) -> Vec<Instance> {
        self.expand_checked(until).0
    }

    /// [`Self::expand_until`], and whether the iteration cap cut the expansion short.
    fn expand_checked(&self, until: i64) -> (Vec<Instance>, bool) {
        let masters: Vec<u32> = self
            .time_components()
            .filter(|(_, c)| c.property(&ICalendarProperty::Rrule).is_some())
            .map(|x| x.0)
            .collect();
        let mut budget = masters.iter().map(|m| self.estimate(*m, until)).max().unwrap_or(16);
        let mut previous = usize::MAX;
        loop {
            // Floating times come back floating; `instance` places them in their zones.
            let expansion = self.expandable().expand_dates(Tz::Floating, budget);
            let n = expansion.events.len();
            // A floating time read as UTC is at most 14 hours after its instant.
            let passed = masters.iter().all(|m| {
                expansion.events.iter().rev().find(|e| e.comp_id == *m).is_none_or(|e| {
                    e.start.timestamp() - if e.start.timezone().is_floating() { 14 * 3600 } else { 0 } >= until
                })
            });
            let complete = n == previous;
            if masters.is_empty() || passed || complete || budget >= MAX_ITERATIONS {
                let mut out: Vec<Instance> = expansion.events.into_iter().filter_map(|e| self.instance(&e)).collect();
                for m in &masters {
                    self.exclude(*m, &mut out);
                }
                for m in &masters {
                    self.dtstart_counts(*m, &mut out, complete);
                }
                let cut = !masters.is_empty() && !passed && !complete;
                return (out, cut);
            }
            previous = n;
            budget = (budget * 4).min(MAX_ITERATIONS);
        }
    }

    /// About how many iterations the master's rule needs to pass `until`: the expansion's
    /// first budget, so a query for one month does not expand hundreds of instances (more are
    /// asked for when it falls short).
    fn estimate(&self, master: u32, until: i64) -> usize {
        use calcard::icalendar::ICalendarFrequency as F;
        let Some(rule) =
            self.component(master).and_then(|c| c.property(&ICalendarProperty::Rrule)).and_then(|e| {
                match e.values.first() {
                    Some(ICalendarValue::RecurrenceRule(r)) => Some(r),
                    _ => None,
                }
            })
        else {
            return 16;
        };
        let start = self.dtstart_of(master).unwrap_or(until);
        #[allow(clippy::cast_precision_loss)]
        let days = ((until.saturating_sub(start)) as f64 / 86_400.0).max(1.0);
        let many = |n: usize| n.max(1) as f64;
        let per_day = match rule.freq {
            F::Secondly => 86_400.0,
            F::Minutely => 1_440.0,
            F::Hourly => 24.0,
            F::Daily => 1.0,
            F::Weekly => many(rule.byday.len()) / 7.0,
            F::Monthly => many(rule.byday.len() + rule.bymonthday.len()) / 28.0,
            F::Yearly => {
                many(rule.bymonth.len()) * many(rule.byday.len() + rule.bymonthday.len() + rule.byyearday.len()) / 365.0
            }
        };
        let n = days * per_day / f64::from(rule.interval.unwrap_or(1).max(1)) * 1.25 + 8.0;
        let n = if rule.count.is_some_and(|c| f64::from(c) < n) { f64::from(rule.count.unwrap_or(0)) + 8.0 } else { n };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = n.min(MAX_ITERATIONS as f64) as usize;
        n.clamp(8, MAX_ITERATIONS)
    }

    /// Drops the master's instances whose instant an EXDATE names. calcard compares wall
    /// clocks when the object is floated, and a skipped wall-clock time has a second name
    /// (02:30 on the day clocks jump from 02:00 to 03:00 is also 03:30).
    fn exclude(&self, master: u32, out: &mut Vec<Instance>) {
        let Some(c) = self.component(master).filter(|c| c.property(&ICalendarProperty::Exdate).is_some()) else {
            return;
        };
        let exdates = self.times(c, &ICalendarProperty::Exdate);
        out.retain(|i| i.comp != master || !exdates.contains(&i.start));
    }

    /// RFC 5545 §3.8.5.3: "The DTSTART property value always counts as the first occurrence",
    /// also when it does not match the rule (calcard, like the rrule crate, leaves it out then).
    /// It uses one of COUNT, so the rule's last instance goes when the expansion is complete.
    fn dtstart_counts(&self, master: u32, out: &mut Vec<Instance>, complete: bool) {
        let (Some(c), Some(dtstart)) = (self.component(master), self.dtstart_of(master)) else { return };
        // The common case: the rule produced DTSTART (or an override replaced it).
        if out.iter().any(|i| (i.start == dtstart && i.comp == master) || i.recurrence_id == Some(dtstart)) {
            return;
        }
        let (exdates, rdates) = (self.times(c, &ICalendarProperty::Exdate), self.times(c, &ICalendarProperty::Rdate));
        // Missing because an EXDATE removed it: unsynchronised only if the bare rule skips it.
        if exdates.contains(&dtstart) && self.synchronised(master, dtstart) {
            return;
        }
        let length = out.iter().find(|i| i.comp == master).map_or(0, |i| i.end - i.start);
        let counted = c
            .properties(&ICalendarProperty::Rrule)
            .any(|e| matches!(e.values.first(), Some(ICalendarValue::RecurrenceRule(r)) if r.count.is_some()));
        // DTSTART took one of COUNT: the rule's last instance goes (unless an EXDATE took it).
        let latest = out.iter().filter(|i| i.comp == master && !rdates.contains(&i.start)).map(|i| i.start).max();
        if counted
            && complete
            && latest.is_some_and(|l| !exdates.iter().any(|x| *x > l))
            && let Some(n) = out.iter().position(|i| i.comp == master && Some(i.start) == latest)
        {
            out.remove(n);
        }
        let present = out.iter().any(|i| (i.start == dtstart && i.comp == master) || i.recurrence_id == Some(dtstart));
        if !present && !exdates.contains(&dtstart) {
            let local_date = chrono::DateTime::from_timestamp(dtstart, 0).map(|d| d.naive_utc().date());
            out.push(Instance {
                comp: master,
                start: dtstart,
                end: dtstart + length,
                recurrence_id: Some(dtstart),
                local_date,
            });
        }
    }

    fn instance(
        &self,
        e: &calcard::icalendar::dates::CalendarEvent<DateTime<Tz>, TimeOrDelta<DateTime<Tz>, chrono::TimeDelta>>,
    ) -> Option<Instance> {
        let c = self.component(e.comp_id)?;
        let zone = self.instance_zone(e.comp_id, c);
        // Floating: a floating time, a floated component, or a wall-clock time calcard could
        // not place (DST changes); RFC 5545 §3.3.5 takes the first of two, and the offset from
        // before a gap.
        let local = e.start.naive_local();
        let start = if e.start.timezone().is_floating() && !zone.is_floating() {
            local_instant(zone, &local).unwrap_or(e.start.timestamp())
        } else {
            e.start.timestamp()
        };
        let instant = matches!(c.component_type, ICalendarComponentType::VEvent | ICalendarComponentType::VJournal)
            && first_date(c, &ICalendarProperty::Dtstart).is_some_and(PartialDateTime::has_time)
            && c.property(&ICalendarProperty::Dtend).is_none()
            && c.property(&ICalendarProperty::Duration).is_none();
        let end = if instant {
            start
        } else {
            match e.end {
                TimeOrDelta::Time(t) if t.timezone().is_floating() && !zone.is_floating() => {
                    local_instant(zone, &t.naive_local()).unwrap_or(t.timestamp()).max(start)
                }
                TimeOrDelta::Time(t) => t.timestamp(),
                // Nominal durations (days, weeks) follow the wall clock across DST changes.
                TimeOrDelta::Delta(d) => {
                    let tz = if e.start.timezone().is_floating() { zone } else { e.start.timezone() };
                    local
                        .checked_add_signed(d)
                        .and_then(|n| tz.from_local_datetime(&n).earliest())
                        .map_or(start + d.num_seconds(), |t| t.timestamp())
                        .max(start)
                }
            }
        };
        let recurring = c.is_recurrent_or_override();
        let recurrence_id = if !recurring {
            None
        } else if c.property(&ICalendarProperty::RecurrenceId).is_some() {
            self.prop_time(c, &ICalendarProperty::RecurrenceId)
        } else {
            Some(start)
        };
        Some(Instance { comp: e.comp_id, start, end, recurrence_id, local_date: Some(e.start.naive_local().date()) })
    }

    /// Whether one instance of component `c` passes a time-range test (RFC 4791 §9.9).
    fn in_window(c: &ICalendarComponent, i: &Instance, w: Window) -> bool {
        let has = |p: ICalendarProperty| c.property(&p).is_some();
        match c.component_type {
            ICalendarComponentType::VTodo => {
                let (begin, finish) = (i.start, i.end);
                let dtstart = has(ICalendarProperty::Dtstart);
                if dtstart && has(ICalendarProperty::Duration) {
                    w.start <= finish && (w.end > begin || w.end >= finish)
                } else if dtstart && has(ICalendarProperty::Due) {
                    (w.start < finish || w.start <= begin) && (w.end > begin || w.end >= finish)
                } else if dtstart {
                    w.start <= begin && w.end > begin
                } else if has(ICalendarProperty::Due) {
                    // calcard starts a DUE-only task at DUE.
                    w.start < begin && w.end >= begin
                } else {
                    Self::completed_created(c, w)
                }
            }
            _ if i.end > i.start => i.start < w.end && i.end > w.start,
            _ => w.start <= i.start && i.start < w.end,
        }
    }

    /// The last rows of RFC 4791's VTODO table: no DTSTART, DUE or DURATION.
    fn completed_created(c: &ICalendarComponent, w: Window) -> bool {
        let at = |p: ICalendarProperty| {
            first_date(c, &p).and_then(|d| d.to_date_time_with_tz(Tz::UTC)).map(|t| t.timestamp())
        };
        match (at(ICalendarProperty::Completed), at(ICalendarProperty::Created)) {
            (Some(done), Some(made)) => (w.start <= made || w.start <= done) && (w.end >= made || w.end >= done),
            (Some(done), None) => w.start <= done && w.end >= done,
            (None, Some(made)) => w.end > made,
            (None, None) => true,
        }
    }

    /// Instances of the components named `comp` (VEVENT, VTODO, …) that pass the time-range
    /// test for `w`, ordered by start.
    pub fn instances(&self, comp: &str, w: Window) -> Vec<Instance> {
        let Some(kind) = kind(comp) else { return Vec::new() };
        let mut out: Vec<Instance> = self
            .expand_until(w.end)
            .into_iter()
            .filter(|i| self.component(i.comp).is_some_and(|c| c.component_type == kind && Self::in_window(c, i, w)))
            .collect();
        // A task without any date has no instance in calcard; RFC 4791 matches it everywhere.
        if kind == ICalendarComponentType::VTodo {
            for (id, c) in self.time_components() {
                if c.component_type == kind
                    && !out.iter().any(|i| i.comp == id)
                    && first_date(c, &ICalendarProperty::Dtstart).is_none()
                    && first_date(c, &ICalendarProperty::Due).is_none()
                    && Self::completed_created(c, w)
                {
                    out.push(Instance {
                        comp: id,
                        start: w.start,
                        end: w.start,
                        recurrence_id: None,
                        local_date: None,
                    });
                }
            }
        }
        out.sort_by_key(|i| (i.start, i.comp));
        out
    }

    /// Whether any component named `comp` has an instance in `w`.
    pub fn overlaps(&self, comp: &str, w: Window) -> bool {
        !self.instances(comp, w).is_empty()
    }

    /// Whether an alarm of a component named `parent` triggers inside `w` (RFC 4791 §9.9 for
    /// VALARM): TRIGGER relative to the start (or, RELATED=END, the end) of each instance, or
    /// absolute, and its REPEAT/DURATION repetitions.
    pub fn alarm_in(&self, parent: &str, w: Window) -> bool {
        use calcard::icalendar::{ICalendarParameterName as N, ICalendarParameterValue as V, ICalendarRelated};
        let Some(kind) = kind(parent) else { return false };
        // (parent component, offset or absolute time, from the end?, repetitions, interval)
        let mut triggers = Vec::new();
        for (id, c) in self.time_components().filter(|(_, c)| c.component_type == kind) {
            for alarm in c.component_ids.iter().filter_map(|a| self.component(*a)) {
                if alarm.component_type != ICalendarComponentType::VAlarm {
                    continue;
                }
                let Some(t) = alarm.property(&ICalendarProperty::Trigger) else { continue };
                let from_end =
                    t.params.iter().any(|p| p.name == N::Related && p.value == V::Related(ICalendarRelated::End));
                let at = match t.values.first() {
                    Some(ICalendarValue::Duration(d)) => d.to_time_delta().map(|d| (false, d.num_seconds())),
                    Some(ICalendarValue::PartialDateTime(p)) => {
                        p.to_date_time_with_tz(Tz::UTC).map(|d| (true, d.timestamp()))
                    }
                    _ => None,
                };
                let Some((absolute, at)) = at else { continue };
                let repeat = alarm
                    .property(&ICalendarProperty::Repeat)
                    .and_then(|r| r.values.first())
                    .and_then(ICalendarValue::as_integer)
                    .unwrap_or(0)
                    .clamp(0, 1000);
                let every = match alarm.property(&ICalendarProperty::Duration).and_then(|d| d.values.first()) {
                    Some(ICalendarValue::Duration(d)) => d.to_time_delta().map_or(0, |d| d.num_seconds()),
                    _ => 0,
                };
                triggers.push((id, absolute, at, from_end, repeat, every));
            }
        }
        let fires = |base: i64, repeat: i64, every: i64| {
            (0..=repeat).any(|k| w.start <= base + k * every && base + k * every < w.end)
        };
        if triggers.iter().any(|t| t.1 && fires(t.2, t.4, t.5)) {
            return true;
        }
        let reach = triggers.iter().filter(|t| !t.1).map(|t| t.2.abs() + t.4 * t.5.abs()).max();
        let Some(reach) = reach else { return false };
        let wide = Window { start: w.start.saturating_sub(reach + SLACK), end: w.end.saturating_add(reach + SLACK) };
        self.expand_until(wide.end).iter().filter(|i| i.start < wide.end && i.end.max(i.start) >= wide.start).any(|i| {
            triggers.iter().filter(|t| !t.1 && t.0 == i.comp).any(|t| {
                let base = if t.3 { i.end } else { i.start } + t.2;
                fires(base, t.4, t.5)
            })
        })
    }

    /// The index span: from the earliest instance to the end of the last (unbounded for a
    /// rule without COUNT or UNTIL), padded; `None` sides for objects without time.
    pub fn span(&self) -> Span {
        let unbounded = self.time_components().any(|(_, c)| {
            c.properties(&ICalendarProperty::Rrule).any(|e| {
                matches!(e.values.first(), Some(ICalendarValue::RecurrenceRule(r)) if r.count.is_none() && r.until.is_none())
            })
        });
        let timeless_task = self.time_components().any(|(_, c)| {
            c.component_type == ICalendarComponentType::VTodo
                && first_date(c, &ICalendarProperty::Dtstart).is_none()
                && first_date(c, &ICalendarProperty::Due).is_none()
        });
        if timeless_task {
            return Span::default();
        }
        let (all, cut) = self.expand_checked(if unbounded { MIN_TIME } else { MAX_TIME });
        if all.is_empty() {
            return Span::default();
        }
        let start = all.iter().map(|i| i.start).min().map(|s| s - SLACK);
        let end = if unbounded || cut { None } else { all.iter().map(|i| i.end.max(i.start)).max().map(|e| e + SLACK) };
        Span { start, end }
    }

    /// RFC 4791 §9.6.5 `expand`: recurring components become one component per instance in
    /// `w`, with UTC times (dates stay dates), a RECURRENCE-ID and no rules; VTIMEZONEs go.
    pub fn expanded(&self, w: Window) -> String {
        let mut out = ICalendar { components: Vec::new() };
        let Some(root) = self.cal.components.first() else { return String::new() };
        out.components.push(ICalendarComponent {
            component_type: root.component_type.clone(),
            entries: root.entries.clone(),
            component_ids: Vec::new(),
        });
        let mut kinds: Vec<ICalendarComponentType> = Vec::new();
        for (_, c) in self.time_components() {
            if !c.is_recurrent_or_override() {
                let utc = self.in_utc(c, 0);
                self.push_tree(&mut out, 0, utc);
            } else if !kinds.contains(&c.component_type) {
                kinds.push(c.component_type.clone());
            }
        }
        let mut instances: Vec<Instance> = kinds
            .iter()
            .flat_map(|k| self.instances(k.as_str(), w))
            .filter(|i| self.component(i.comp).is_some_and(ICalendarComponent::is_recurrent_or_override))
            .collect();
        instances.sort_by_key(|i| (i.start, i.comp));
        for i in &instances {
            if let Some(src) = self.component(i.comp) {
                // Other times of the instance (a task's DUE) move with it.
                let master_start = self.prop_time(src, &ICalendarProperty::Dtstart).unwrap_or(i.start);
                let shifted = self.in_utc(src, i.start - master_start);
                let c = Self::instance_component(&shifted, i);
                self.push_tree(&mut out, 0, c);
            }
        }
        let mut s = String::new();
        let _ = out.write_to(&mut s);
        s
    }

    /// Appends `c` under `parent` in `out`, with copies of its sub-components (alarms) from
    /// this object, renumbered for `out`.
    fn push_tree(&self, out: &mut ICalendar, parent: usize, mut c: ICalendarComponent) {
        let children = std::mem::take(&mut c.component_ids);
        let id = out.components.len();
        out.components.push(c);
        if let Some(p) = out.components.get_mut(parent) {
            p.component_ids.push(u32::try_from(id).unwrap_or(u32::MAX));
        }
        for child in children {
            if let Some(sub) = self.component(child) {
                self.push_tree(out, id, sub.clone());
            }
        }
    }

    /// A copy of `c` whose DTSTART, DTEND, DUE and RECURRENCE-ID date-times are in UTC (dates
    /// stay dates), moved by `shift` seconds except RECURRENCE-ID and DTSTART (the instance
    /// sets those).
    fn in_utc(&self, src: &ICalendarComponent, shift: i64) -> ICalendarComponent {
        use ICalendarProperty as P;
        let mut c = src.clone();
        for (e, original) in c.entries.iter_mut().zip(&src.entries) {
            if !matches!(e.name, P::Dtstart | P::Dtend | P::Due | P::RecurrenceId) {
                continue;
            }
            let Some(p) = original.values.first().and_then(ICalendarValue::as_partial_date_time) else { continue };
            if !p.has_time() {
                continue;
            }
            let Some(t) = self.time_in(src, original, p) else { continue };
            let by = if matches!(e.name, P::Dtend | P::Due) { shift } else { 0 };
            let v = PartialDateTime::from_utc_timestamp(t.saturating_add(by));
            *e = ICalendarEntry::new(e.name.clone()).with_value(ICalendarValue::PartialDateTime(Box::new(v)));
        }
        c
    }

    /// One expanded instance: the source component with its own times replaced.
    fn instance_component(src: &ICalendarComponent, i: &Instance) -> ICalendarComponent {
        use ICalendarProperty as P;
        let dtstart = src.property(&P::Dtstart);
        let all_day = dtstart
            .and_then(|e| e.values.first())
            .and_then(ICalendarValue::as_partial_date_time)
            .is_some_and(|d| !d.has_time());
        let when = |t: i64, as_date: Option<chrono::NaiveDate>, template: Option<&ICalendarEntry>, name: P| match (
            all_day, as_date,
        ) {
            (true, Some(d)) => {
                let ts = d.and_hms_opt(0, 0, 0).map_or(t, |n| n.and_utc().timestamp());
                let mut e = template.cloned().unwrap_or_else(|| ICalendarEntry::new(name.clone()));
                e.name = name;
                e.values = vec![ICalendarValue::PartialDateTime(Box::new(PartialDateTime::from_date_timestamp(ts)))];
                e
            }
            _ => ICalendarEntry::new(name)
                .with_value(ICalendarValue::PartialDateTime(Box::new(PartialDateTime::from_utc_timestamp(t)))),
        };
        let has_duration = src.property(&P::Duration).is_some();
        let mut c = ICalendarComponent {
            component_type: src.component_type.clone(),
            entries: Vec::with_capacity(src.entries.len() + 1),
            component_ids: src.component_ids.clone(),
        };
        let end_date = all_day
            .then(|| i.local_date.and_then(|d| d.checked_add_signed(chrono::TimeDelta::try_seconds(i.end - i.start)?)))
            .flatten();
        for e in &src.entries {
            match e.name {
                P::Rrule | P::Rdate | P::Exdate | P::Exrule | P::RecurrenceId | P::Dtend => {}
                P::Dtstart => {
                    c.entries.push(when(i.start, i.local_date, Some(e), P::Dtstart));
                    if let Some(rid) = i.recurrence_id {
                        let rid_date = src.property(&P::RecurrenceId).map_or(i.local_date, |r| {
                            r.values
                                .first()
                                .and_then(ICalendarValue::as_partial_date_time)
                                .and_then(|p| p.to_date_time().map(|d| d.date_time.date()))
                        });
                        c.entries.push(when(rid, rid_date, Some(e), P::RecurrenceId));
                    }
                    if !has_duration && src.property(&P::Dtend).is_some() {
                        c.entries.push(when(i.end, end_date, Some(e), P::Dtend));
                    }
                }
                _ => c.entries.push(e.clone()),
            }
        }
        c
    }

    /// RFC 4791 §9.6.6 `limit-recurrence-set`: the master with the overrides that matter in `w`
    /// (whose instance or RECURRENCE-ID falls inside it); other overrides are left out.
    pub fn limited(&self, w: Window) -> String {
        let kept: Vec<u32> = self
            .time_components()
            .filter(|(id, c)| {
                !c.is_recurrence_override()
                    || self.instances(c.component_type.as_str(), w).iter().any(|i| i.comp == *id)
                    || self
                        .expand_until(w.end)
                        .iter()
                        .any(|i| i.comp == *id && i.recurrence_id.is_some_and(|r| r >= w.start && r < w.end))
            })
            .map(|x| x.0)
            .collect();
        let mut cal = self.cal.clone();
        if let Some(root) = cal.components.first_mut() {
            root.component_ids.retain(|id| {
                kept.contains(id) || self.component(*id).is_some_and(|c| !c.component_type.has_time_ranges())
            });
        }
        let mut s = String::new();
        let _ = cal.write_to(&mut s);
        s
    }

    /// Busy periods of the object's events inside `w` (RFC 4791 §7.10): transparent and
    /// cancelled events are free; tentative ones are BUSY-TENTATIVE. Clipped to the window.
    pub fn busy(&self, w: Window) -> Vec<(i64, i64, BusyType)> {
        self.instances("VEVENT", w)
            .into_iter()
            .filter_map(|i| {
                let c = self.component(i.comp)?;
                if c.transparency() == Some(&ICalendarTransparency::Transparent)
                    || c.status() == Some(&ICalendarStatus::Cancelled)
                {
                    return None;
                }
                let kind =
                    if c.status() == Some(&ICalendarStatus::Tentative) { BusyType::Tentative } else { BusyType::Busy };
                let (s, e) = (i.start.max(w.start), i.end.min(w.end));
                (e > s).then_some((s, e, kind))
            })
            .collect()
    }
}

/// Merges overlapping busy periods of one kind, sorted by start.
pub fn merge_busy(mut periods: Vec<(i64, i64, BusyType)>) -> Vec<(i64, i64, BusyType)> {
    periods.sort_by_key(|p| (p.2, p.0));
    let mut out: Vec<(i64, i64, BusyType)> = Vec::new();
    for p in periods {
        match out.last_mut() {
            Some(last) if last.2 == p.2 && p.0 <= last.1 => last.1 = last.1.max(p.1),
            _ => out.push(p),
        }
    }
    out.sort_by_key(|p| (p.0, p.2));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(body: &str) -> CalendarObject {
        let text = format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{body}END:VCALENDAR\r\n");
        CalendarObject::parse(&text, None).unwrap()
    }

    fn w(a: &str, b: &str) -> Window {
        Window::parse(Some(a), Some(b)).unwrap()
    }

    const BERLIN: &str = "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

    /// Wall-clock times that occur twice (DST ends) or not at all (DST starts): the instance is
    /// the first of two, or keeps the offset from before the gap, and an EXDATE written the
    /// same way removes it (calcard resolves neither; found by the rrule-crate property test).
    #[test]
    fn exdate_at_an_ambiguous_or_missing_wall_clock_time() {
        let sydney = cal(
            "BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20200101T000000Z\r\nDTSTART;TZID=Australia/Sydney:20200403T020000\r\nDURATION:PT15M\r\nRRULE:FREQ=DAILY;COUNT=3\r\nEND:VEVENT\r\n",
        );
        let starts = |c: &CalendarObject| -> Vec<String> {
            c.instances("VEVENT", Window::ALL).iter().map(|i| format_utc(i.start)).collect()
        };
        // 5 April 2020 02:00 occurs at +11 and again at +10; the first is 4 April 15:00Z.
        assert_eq!(starts(&sydney), ["20200402T150000Z", "20200403T150000Z", "20200404T150000Z"]);
        let excluded = cal(
            "BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20200101T000000Z\r\nDTSTART;TZID=Australia/Sydney:20200403T020000\r\nDURATION:PT15M\r\nRRULE:FREQ=DAILY;COUNT=3\r\nEXDATE;TZID=Australia/Sydney:20200405T020000\r\nEND:VEVENT\r\n",
        );
        assert_eq!(starts(&excluded), ["20200402T150000Z", "20200403T150000Z"]);
        // 29 March 2026 02:30 does not exist in Berlin; it is read with +01:00 (01:30Z).
        let gap = cal(
            "BEGIN:VEVENT\r\nUID:g\r\nDTSTAMP:20200101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260328T023000\r\nDURATION:PT15M\r\nRRULE:FREQ=DAILY;COUNT=3\r\nEXDATE;TZID=Europe/Berlin:20260329T023000\r\nEND:VEVENT\r\n",
        );
        assert_eq!(starts(&gap), ["20260328T013000Z", "20260330T003000Z"]);
        let gap_start = cal(
            "BEGIN:VEVENT\r\nUID:g\r\nDTSTAMP:20200101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260329T023000\r\nDURATION:PT15M\r\nRRULE:FREQ=DAILY;COUNT=2\r\nEND:VEVENT\r\n",
        );
        assert_eq!(starts(&gap_start), ["20260329T013000Z", "20260330T003000Z"]);
        // A single event at 02:30 on the night Berlin's clocks go back (calcard refuses it).
        let single = cal(
            "BEGIN:VEVENT\r\nUID:o\r\nDTSTAMP:20200101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20261025T023000\r\nDTEND;TZID=Europe/Berlin:20261025T040000\r\nEND:VEVENT\r\n",
        );
        let i = single.instances("VEVENT", Window::ALL);
        assert_eq!(
            (format_utc(i[0].start), format_utc(i[0].end)),
            ("20261025T003000Z".into(), "20261025T030000Z".into())
        );
        // An override of that ambiguous instance, and an RDATE in the gap.
        let moved = cal(
            "BEGIN:VEVENT\r\nUID:m\r\nDTSTAMP:20200101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20261024T023000\r\nDURATION:PT15M\r\nRRULE:FREQ=DAILY;COUNT=3\r\nRDATE;TZID=Europe/Berlin:20270328T023000\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:m\r\nDTSTAMP:20200101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Berlin:20261025T023000\r\nDTSTART:20261025T120000Z\r\nDURATION:PT15M\r\nEND:VEVENT\r\n",
        );
        assert_eq!(starts(&moved), ["20261024T003000Z", "20261025T120000Z", "20261026T013000Z", "20270328T013000Z"]);
    }

    /// A VTIMEZONE under a name no zone has, with New York's rules: the instances follow its
    /// DST switches (before, times were read in UTC).
    #[test]
    fn a_custom_vtimezone_is_followed() {
        let c = cal(
            "BEGIN:VTIMEZONE\r\nTZID:My Office\r\nBEGIN:STANDARD\r\nDTSTART:20071104T020000\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:20070311T020000\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:c\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=My Office:20260302T090000\r\nDURATION:PT1H\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nEND:VEVENT\r\n",
        );
        let starts: Vec<String> = c.instances("VEVENT", Window::ALL).iter().map(|i| format_utc(i.start)).collect();
        // EST until 8 March 2026, EDT after.
        assert_eq!(starts, ["20260302T140000Z", "20260309T130000Z", "20260316T130000Z"]);
        assert!(c.overlaps("VEVENT", w("20260309T125900Z", "20260309T130100Z")));
    }

    #[test]
    fn weekly_rule_keeps_wall_clock_across_dst() {
        let c = cal(&format!(
            "{BERLIN}BEGIN:VEVENT\r\nUID:w\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260319T090000\r\nDTEND;TZID=Europe/Berlin:20260319T100000\r\nRRULE:FREQ=WEEKLY\r\nEND:VEVENT\r\n"
        ));
        // 19 March is CET (08:00Z); 2 April is CEST (07:00Z).
        let i = c.instances("VEVENT", w("20260318T000000Z", "20260403T000000Z"));
        let starts: Vec<String> = i.iter().map(|i| format_utc(i.start)).collect();
        assert_eq!(starts, ["20260319T080000Z", "20260326T080000Z", "20260402T070000Z"]);
        assert_eq!(i[2].end - i[2].start, 3600);
        assert!(!c.overlaps("VEVENT", w("20260402T080000Z", "20260409T000000Z")));
        assert!(c.overlaps("VEVENT", w("20300101T000000Z", "20300108T000000Z")), "infinite rule");
        assert_eq!(c.span().end, None);
        assert!(!c.overlaps("VTODO", Window::ALL));
    }

    #[test]
    fn exdate_rdate_and_override() {
        let c = cal(
            "BEGIN:VEVENT\r\nUID:r\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nDURATION:PT30M\r\nRRULE:FREQ=DAILY;COUNT=5\r\nSEQUENCE:3\r\nEXDATE:20260106T100000Z\r\nRDATE:20260120T150000Z\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:r\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:20260107T100000Z\r\nDTSTART:20260110T120000Z\r\nDTEND:20260110T130000Z\r\nSUMMARY:moved\r\nEND:VEVENT\r\n",
        );
        let all: Vec<String> = c.instances("VEVENT", Window::ALL).iter().map(|i| format_utc(i.start)).collect();
        assert_eq!(
            all,
            ["20260105T100000Z", "20260108T100000Z", "20260109T100000Z", "20260110T120000Z", "20260120T150000Z"]
        );
        // The moved instance is found where it went, not where it was.
        assert!(!c.overlaps("VEVENT", w("20260107T000000Z", "20260108T000000Z")));
        let span = c.span();
        assert!(span.start.unwrap() <= parse_utc("20260105T100000Z").unwrap());
        assert!(span.end.unwrap() >= parse_utc("20260120T153000Z").unwrap());
        let x = c.expanded(w("20260107T000000Z", "20260111T000000Z"));
        assert!(x.contains("RECURRENCE-ID:20260107T100000Z"), "{x}");
        assert!(x.contains("RECURRENCE-ID:20260108T100000Z"), "{x}");
        assert!(x.contains("SUMMARY:moved"), "{x}");
        assert!(!x.contains("RRULE") && !x.contains("EXDATE"), "{x}");
        assert_eq!(x.matches("BEGIN:VEVENT").count(), 3, "{x}");
        let l = c.limited(w("20260101T000000Z", "20260102T000000Z"));
        assert!(l.contains("RRULE") && !l.contains("moved"), "{l}");
    }

    #[test]
    fn instants_all_day_and_floating() {
        let instant =
            cal("BEGIN:VEVENT\r\nUID:i\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nEND:VEVENT\r\n");
        assert!(instant.overlaps("VEVENT", w("20260105T100000Z", "20260105T100001Z")));
        assert!(!instant.overlaps("VEVENT", w("20260105T100001Z", "20260106T000000Z")));
        let day =
            cal("BEGIN:VEVENT\r\nUID:d\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260105\r\nEND:VEVENT\r\n");
        assert!(day.overlaps("VEVENT", w("20260105T230000Z", "20260106T000000Z")));
        assert!(!day.overlaps("VEVENT", w("20260106T000000Z", "20260107T000000Z")));
        // Floating 09:00 read in New York is 14:00Z.
        let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:f\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000\r\nDTEND:20260105T100000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let ny = CalendarObject::parse(text, Some("America/New_York")).unwrap();
        assert!(ny.overlaps("VEVENT", w("20260105T140000Z", "20260105T143000Z")));
        assert!(!ny.overlaps("VEVENT", w("20260105T090000Z", "20260105T100000Z")));
        let windows = CalendarObject::parse(
            &text
                .replace("DTSTART:", "DTSTART;TZID=W. Europe Standard Time:")
                .replace("DTEND:", "DTEND;TZID=W. Europe Standard Time:"),
            None,
        )
        .unwrap();
        assert!(windows.overlaps("VEVENT", w("20260105T080000Z", "20260105T083000Z")), "Windows TZID");
        assert_eq!(super::instant("20260105T090000", Some("America/New_York"), None), parse_utc("20260105T140000Z"));
        assert_eq!(super::instant("20260105T090000", None, Some("Europe/Berlin")), parse_utc("20260105T080000Z"));
        assert_eq!(super::instant("20260105", None, None), parse_utc("20260105T000000Z"));
    }

    #[test]
    fn tasks_follow_rfc4791_table() {
        let due = cal("BEGIN:VTODO\r\nUID:t\r\nDTSTAMP:20260101T000000Z\r\nDUE:20260110T120000Z\r\nEND:VTODO\r\n");
        assert!(due.overlaps("VTODO", w("20260110T000000Z", "20260110T120000Z")));
        assert!(!due.overlaps("VTODO", w("20260110T120000Z", "20260111T000000Z")));
        let none = cal("BEGIN:VTODO\r\nUID:n\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:any time\r\nEND:VTODO\r\n");
        assert!(none.overlaps("VTODO", w("20300101T000000Z", "20300102T000000Z")));
        assert_eq!(none.span(), Span::default());
        let done =
            cal("BEGIN:VTODO\r\nUID:c\r\nDTSTAMP:20260101T000000Z\r\nCOMPLETED:20260103T000000Z\r\nEND:VTODO\r\n");
        assert!(done.overlaps("VTODO", w("20260102T000000Z", "20260104T000000Z")));
        assert!(!done.overlaps("VTODO", w("20260104T000000Z", "20260105T000000Z")));
    }

    #[test]
    fn alarms_trigger_per_instance() {
        let c = cal(
            "BEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\nRRULE:FREQ=DAILY;COUNT=3\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\n",
        );
        assert!(c.alarm_in("VEVENT", w("20260106T094000Z", "20260106T095000Z")));
        assert!(!c.alarm_in("VEVENT", w("20260106T095000Z", "20260106T100000Z")));
        assert!(!c.alarm_in("VEVENT", w("20260108T094000Z", "20260108T095000Z")), "after COUNT");
    }

    #[test]
    fn an_unsynchronised_dtstart_is_the_first_instance() {
        // A Tuesday start for a Monday rule: RFC 5545 counts the Tuesday, and it uses one of COUNT.
        let c = cal(
            "BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260106T100000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=3\r\nEND:VEVENT\r\n",
        );
        let all: Vec<String> = c.instances("VEVENT", Window::ALL).iter().map(|i| format_utc(i.start)).collect();
        assert_eq!(all, ["20260106T100000Z", "20260112T100000Z", "20260119T100000Z"]);
        assert!(c.overlaps("VEVENT", w("20260106T103000Z", "20260106T110000Z")));
    }

    #[test]
    fn expanded_instances_keep_their_alarms_and_move_their_times() {
        let c = cal(&format!(
            "{BERLIN}BEGIN:VTODO\r\nUID:t\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260105T090000\r\nDUE;TZID=Europe/Berlin:20260105T120000\r\nRRULE:FREQ=DAILY;COUNT=3\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:due soon\r\nTRIGGER;RELATED=END:-PT10M\r\nEND:VALARM\r\nEND:VTODO\r\n"
        ));
        let x = c.expanded(Window::ALL);
        assert_eq!(x.matches("BEGIN:VTODO").count(), 3, "{x}");
        assert_eq!(x.matches("BEGIN:VALARM").count(), 3, "{x}");
        assert_eq!(x.matches("END:VALARM").count(), 3, "{x}");
        assert!(x.contains("DTSTART:20260107T080000Z") && x.contains("DUE:20260107T110000Z"), "{x}");
        assert!(!x.contains("TZID"), "{x}");
        CalendarObject::parse(&x, None).expect("the expansion parses again");
    }

    #[test]
    fn busy_time() {
        let c = cal(
            "BEGIN:VEVENT\r\nUID:b\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\nRRULE:FREQ=DAILY;COUNT=3\r\nSTATUS:TENTATIVE\r\nEND:VEVENT\r\n",
        );
        let b = c.busy(w("20260105T103000Z", "20260107T000000Z"));
        assert_eq!(b.len(), 2);
        assert_eq!((format_utc(b[0].0), b[0].2), ("20260105T103000Z".to_owned(), BusyType::Tentative));
        let merged = merge_busy(vec![(0, 10, BusyType::Busy), (5, 20, BusyType::Busy), (30, 40, BusyType::Busy)]);
        assert_eq!(merged, [(0, 20, BusyType::Busy), (30, 40, BusyType::Busy)]);
    }
}
