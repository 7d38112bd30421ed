//! Schedules of segment entries: when a campaign's audience is evaluated again.
//!
//! A schedule is an RFC 5545 recurrence rule over *dates* ([`rule`]) (`FREQ=DAILY`,
//! `FREQ=MONTHLY;BYMONTHDAY=5`, `FREQ=WEEKLY;INTERVAL=2;BYDAY=TH`, …), a time of day `at`, and a
//! zone: a fixed one (`Europe/Tallinn`) or `contact`, each contact's own (the send policy's zone
//! rules). Each date the rule yields is one **run**; a run's instants are `at` on that date in
//! the zone, so with `contact` one run spans the day as it passes around the world, from the
//! first zone to reach `at` (UTC+14) to the last (UTC−12).
//!
//! `skip` names calendars whose days have no run: a country's public holidays (`public:EE`) and
//! the policy's custom calendars drop the whole date; `public` (the contact's own country) keeps
//! the run and leaves out, on that date, each contact whose country has a public holiday.
//!
//! Daylight saving behaves as send windows do ([`crate::time`]): an `at` that does not exist on a
//! spring-forward day runs at the first instant after the gap, and one that exists twice on an
//! autumn day runs at the earlier instant. A run is always on its date's wall clock, so a
//! 10:00 run stays at 10:00 local across the change (its UTC instant moves by the hour).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod rule;

pub use rule::Rule;

use crate::policy::{PUBLIC, Policy};
use crate::time::resolve_local;
use crate::values::{LocalTime, Zone};

/// The phase of a rule with no `start`: every rule that may omit it yields the same dates from
/// any start, so this only has to be fixed.
const DEFAULT_START: (i32, u32, u32) = (2026, 1, 1);
/// The zone furthest ahead of UTC (UTC+14) reaches a wall time this much before UTC does.
const EARLIEST: TimeDelta = TimeDelta::hours(14);
/// The zone furthest behind (UTC−12), plus an hour for a daylight-saving gap.
const LATEST: TimeDelta = TimeDelta::hours(13);
/// A run in contacts' own zones admits in waves this far apart: every UTC offset in use is a
/// multiple of 15 minutes, so each wave reaches the zones whose `at` it has just passed.
pub const WAVE: TimeDelta = TimeDelta::minutes(15);
/// How many dates are looked at, at most, to find the next run (a rule whose dates all fall on
/// skipped days yields none).
const MAX_DATES: usize = 5000;

/// When a segment entry evaluates its audience again, e.g.
/// `{"rrule": "FREQ=MONTHLY;BYMONTHDAY=5", "at": "10:00", "timezone": "contact", "skip": ["public"]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// An RFC 5545 recurrence rule over dates (`RRULE:` prefix optional), e.g. `FREQ=DAILY`,
    /// `FREQ=MONTHLY;BYMONTHDAY=5`, `FREQ=WEEKLY;INTERVAL=2;BYDAY=TH`, `FREQ=MONTHLY;BYDAY=1MO`.
    /// The time of day is `at`, so `BYHOUR`/`BYMINUTE`/`BYSECOND` and sub-daily frequencies
    /// are refused; the last date is `until`, so is `UNTIL`.
    pub rrule: String,
    /// The time of day of each run, `HH:MM`, in `timezone`.
    pub at: LocalTime,
    /// An IANA zone, or `contact`: each contact's own zone (their `timezone`, their phone's,
    /// their country's, then the flow's and the policy's default).
    pub timezone: ScheduleZone,
    /// The first date the rule counts from (needed by `INTERVAL`, `COUNT`, and rules whose
    /// days come from it, such as `FREQ=WEEKLY` without `BYDAY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub start: Option<NaiveDate>,
    /// The last date with a run (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub until: Option<NaiveDate>,
    /// Calendars whose days have no run: `public` (each contact's country: those with a public
    /// holiday that day are left out of it), `public:EE` (a country's), or a calendar of the
    /// policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<String>,
}

/// The zone a schedule's `at` is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleZone {
    /// Each contact's own zone.
    Contact,
    Fixed(Zone),
}

impl FromStr for ScheduleZone {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        if text.trim() == "contact" {
            return Ok(ScheduleZone::Contact);
        }
        text.parse::<Zone>()
            .map(ScheduleZone::Fixed)
            .map_err(|e| format!("{e}, or 'contact' for each contact's own zone"))
    }
}

impl std::fmt::Display for ScheduleZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScheduleZone::Contact => f.write_str("contact"),
            ScheduleZone::Fixed(z) => write!(f, "{z}"),
        }
    }
}

impl Serialize for ScheduleZone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ScheduleZone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for ScheduleZone {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ScheduleZone".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An IANA time zone such as 'Europe/Tallinn', or 'contact' for each contact's own zone."
        })
    }
}

/// One run of a schedule: a date, and the span of instants at which its contacts are due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// The date, on the schedule's wall clock (each contact's own with `contact`).
    pub date: NaiveDate,
    /// When the first contact is due (the only instant in a fixed zone).
    pub first: DateTime<Utc>,
    /// When the last contact is due; the run is over once this has passed.
    pub last: DateTime<Utc>,
}

/// A calendar a schedule skips.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Skip {
    /// Each contact's own country's public holidays.
    ContactsPublic,
    /// One country's public holidays.
    Public(String),
    /// A calendar of the policy.
    Custom(String),
}

fn skip_of(name: &str) -> Skip {
    if name == PUBLIC {
        return Skip::ContactsPublic;
    }
    match name.strip_prefix("public:") {
        Some(country) => Skip::Public(country.trim().to_ascii_uppercase()),
        None => Skip::Custom(name.to_string()),
    }
}

impl Schedule {
    /// Every problem with the schedule, as (field under the schedule, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Err(e) = self.rule() {
            out.push(("rrule", e));
        }
        if let (Some(start), Some(until)) = (self.start, self.until)
            && until < start
        {
            out.push(("until", format!("{until} is before start {start}")));
        }
        for name in &self.skip {
            if let Skip::Public(country) = skip_of(name)
                && !crate::geo::is_country(&country)
            {
                out.push((
                    "skip",
                    format!(
                        "'{name}': '{country}' is not a country with public holidays (ISO 3166 alpha-2, e.g. public:EE)"
                    ),
                ));
            }
        }
        out
    }

    /// The custom calendars the schedule skips (to check against the policy's).
    pub fn calendars(&self) -> impl Iterator<Item = &str> {
        self.skip
            .iter()
            .filter(|n| matches!(skip_of(n), Skip::Custom(_)))
            .map(String::as_str)
    }

    /// Whether some contacts are left out of a run by their own country's holidays.
    pub fn skips_contacts_holidays(&self) -> bool {
        self.skip.iter().any(|n| n == PUBLIC)
    }

    fn start_date(&self) -> NaiveDate {
        self.start.unwrap_or_else(|| {
            let (y, m, d) = DEFAULT_START;
            NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
        })
    }

    /// The rule, read; a rule that counts from a first date needs `start`.
    fn rule(&self) -> Result<Rule, String> {
        let rule = Rule::parse(&self.rrule)?;
        if self.start.is_none() && rule.needs_start() {
            return Err("this rule counts from a first date: give the schedule a `start` (e.g. \"2026-12-03\")".into());
        }
        Ok(rule)
    }

    /// The instant of the run on `date` for a contact in `zone` (or in the schedule's own zone).
    pub fn instant(&self, date: NaiveDate, zone: Tz) -> DateTime<Utc> {
        let zone = match self.timezone {
            ScheduleZone::Fixed(z) => z.0,
            ScheduleZone::Contact => zone,
        };
        resolve_local(zone, date.and_time(self.at.0))
    }

    /// The run on `date`.
    pub fn run_on(&self, date: NaiveDate) -> Run {
        match self.timezone {
            ScheduleZone::Fixed(z) => {
                let at = resolve_local(z.0, date.and_time(self.at.0));
                Run {
                    date,
                    first: at,
                    last: at,
                }
            }
            ScheduleZone::Contact => {
                let wall = Utc.from_utc_datetime(&date.and_time(self.at.0));
                Run {
                    date,
                    first: wall - EARLIEST,
                    last: wall + LATEST,
                }
            }
        }
    }

    /// Whether `date` is closed to the whole run by a skipped calendar, and why.
    fn closed(&self, policy: &Policy, date: NaiveDate) -> Option<String> {
        for name in &self.skip {
            match skip_of(name) {
                Skip::ContactsPublic => {}
                Skip::Public(country) => {
                    if let Some(h) = crate::geo::public_holiday(&country, date) {
                        return Some(format!("public holiday in {country}: {h}"));
                    }
                }
                Skip::Custom(calendar) => {
                    if policy.calendars.get(&calendar).is_some_and(|days| days.contains(&date)) {
                        return Some(format!("closed day in calendar '{calendar}'"));
                    }
                }
            }
        }
        None
    }

    /// Why a contact of `country` (see [`Policy::country`]) has no run on `date`, if they have
    /// none: a public holiday there, when the schedule skips `public`.
    pub fn skips_contact(&self, country: Option<&str>, date: NaiveDate) -> Option<String> {
        if !self.skips_contacts_holidays() {
            return None;
        }
        let country = country?;
        crate::geo::public_holiday(country, date).map(|h| format!("public holiday in {country}: {h}"))
    }

    /// The runs in date order whose dates come after `after` (all of them with `None`), while
    /// `until` allows; dates closed by a skipped calendar are left out.
    pub fn runs_after<'a>(&'a self, policy: &'a Policy, after: Option<NaiveDate>) -> impl Iterator<Item = Run> + 'a {
        self.runs_between(policy, after, None)
    }

    /// The runs after the date `after` up to the date `upto` (both when given), at most
    /// [`MAX_DATES`] dates.
    fn runs_between<'a>(
        &'a self,
        policy: &'a Policy,
        after: Option<NaiveDate>,
        upto: Option<NaiveDate>,
    ) -> impl Iterator<Item = Run> + 'a {
        let dates = self
            .rule()
            .ok()
            .map(|rule| rule.dates(self.start_date()))
            .into_iter()
            .flatten()
            .skip_while(move |d| after.is_some_and(|a| *d <= a))
            .take_while(move |d| self.until.is_none_or(|u| *d <= u) && upto.is_none_or(|u| *d <= u))
            .take(MAX_DATES);
        dates
            .filter(move |d| self.closed(policy, *d).is_none())
            .map(|d| self.run_on(d))
    }

    /// The run that is due at `now`: the latest whose first instant has passed, after the date
    /// `after` (the last run recorded) and whose last instant is not before `since` (when
    /// runs began to count: an activation or a resume). Runs missed before `since` never run;
    /// of several due at once, only the latest runs (the earlier ones are missed).
    pub fn due(
        &self,
        policy: &Policy,
        after: Option<NaiveDate>,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<Run> {
        let mut due = None;
        let upto = now.date_naive() + TimeDelta::days(2);
        for run in self.runs_between(policy, after, Some(upto)) {
            if run.first > now {
                break;
            }
            if run.last >= since {
                due = Some(run);
            }
        }
        due
    }

    /// The next `n` runs whose last instant is at or after `now`.
    pub fn next(&self, policy: &Policy, now: DateTime<Utc>, n: usize) -> Vec<Run> {
        let before = now.date_naive() - TimeDelta::days(2);
        self.runs_after(policy, Some(before))
            .filter(|r| r.last >= now)
            .take(n)
            .collect()
    }

    /// The schedule in words, e.g. "FREQ=DAILY at 10:00 in each contact's own time zone,
    /// skipping public holidays in the contact's country".
    pub fn describe(&self) -> String {
        let mut out = format!("{} at {}", self.rrule.trim(), self.at);
        match self.timezone {
            ScheduleZone::Contact => out.push_str(" in each contact's own time zone"),
            ScheduleZone::Fixed(z) => {
                let _ = write!(out, " {z}");
            }
        }
        if let Some(start) = self.start {
            let _ = write!(out, ", from {start}");
        }
        if let Some(until) = self.until {
            let _ = write!(out, " until {until}");
        }
        let skips: BTreeSet<String> = self
            .skip
            .iter()
            .map(|n| match skip_of(n) {
                Skip::ContactsPublic => "public holidays in the contact's country".to_string(),
                Skip::Public(c) => format!("public holidays in {c}"),
                Skip::Custom(c) => format!("days of calendar '{c}'"),
            })
            .collect();
        if !skips.is_empty() {
            let _ = write!(
                out,
                ", skipping {}",
                skips.into_iter().collect::<Vec<_>>().join(" and ")
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schedule(v: serde_json::Value) -> Schedule {
        serde_json::from_value(v).unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn dates(s: &Schedule, policy: &Policy, after: &str, n: usize) -> Vec<String> {
        s.runs_after(policy, Some(day(after)))
            .take(n)
            .map(|r| r.date.to_string())
            .collect()
    }

    #[test]
    fn the_fifth_of_every_month_and_every_second_thursday() {
        let p = Policy::default();
        let monthly =
            schedule(json!({"rrule": "FREQ=MONTHLY;BYMONTHDAY=5", "at": "10:00", "timezone": "Europe/Tallinn"}));
        assert!(monthly.problems().is_empty());
        assert_eq!(
            dates(&monthly, &p, "2026-12-05", 3),
            ["2027-01-05", "2027-02-05", "2027-03-05"]
        );
        let biweekly = schedule(json!({"rrule": "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TH", "at": "09:30",
                                       "timezone": "UTC", "start": "2026-12-03"}));
        assert!(biweekly.problems().is_empty(), "{:?}", biweekly.problems());
        assert_eq!(
            dates(&biweekly, &p, "2026-12-01", 3),
            ["2026-12-03", "2026-12-17", "2026-12-31"]
        );
        let first_monday = schedule(json!({"rrule": "FREQ=MONTHLY;BYDAY=1MO", "at": "08:00", "timezone": "UTC"}));
        assert_eq!(dates(&first_monday, &p, "2026-12-31", 2), ["2027-01-04", "2027-02-01"]);
    }

    #[test]
    fn a_run_keeps_its_wall_clock_across_daylight_saving_in_three_zones() {
        let p = Policy::default();
        // Tallinn: EET → EEST on 2027-03-28; New York: EST → EDT on 2027-03-14;
        // Sydney: AEDT → AEST on 2027-04-04.
        let cases = [
            (
                "Europe/Tallinn",
                "2027-03-27",
                "2027-03-27T08:00:00Z",
                "2027-03-28T07:00:00Z",
            ),
            (
                "America/New_York",
                "2027-03-13",
                "2027-03-13T15:00:00Z",
                "2027-03-14T14:00:00Z",
            ),
            (
                "Australia/Sydney",
                "2027-04-03",
                "2027-04-02T23:00:00Z",
                "2027-04-04T00:00:00Z",
            ),
        ];
        for (zone, before, before_at, after_at) in cases {
            let s = schedule(json!({"rrule": "FREQ=DAILY", "at": "10:00", "timezone": zone}));
            let runs: Vec<Run> = s
                .runs_after(&p, Some(day(before) - TimeDelta::days(1)))
                .take(2)
                .collect();
            assert_eq!(runs[0].first, at(before_at), "{zone}");
            assert_eq!(runs[1].first, at(after_at), "{zone}");
        }
        // A wall time in the spring-forward gap runs at the first instant after it; one that
        // happens twice runs at the earlier.
        let gap = schedule(json!({"rrule": "FREQ=DAILY", "at": "03:30", "timezone": "Europe/Tallinn"}));
        assert_eq!(gap.run_on(day("2027-03-28")).first, at("2027-03-28T01:00:00Z"));
        assert_eq!(gap.run_on(day("2027-10-31")).first, at("2027-10-31T00:30:00Z"));
    }

    #[test]
    fn in_contacts_zones_a_run_spans_the_day_around_the_world() {
        let s = schedule(json!({"rrule": "FREQ=DAILY", "at": "10:00", "timezone": "contact"}));
        let run = s.run_on(day("2026-12-07"));
        assert_eq!(run.first, at("2026-12-06T20:00:00Z"));
        assert!(run.last >= at("2026-12-07T22:00:00Z"));
        let kiritimati: Tz = "Pacific/Kiritimati".parse().unwrap();
        assert_eq!(s.instant(day("2026-12-07"), kiritimati), run.first);
        let tallinn: Tz = "Europe/Tallinn".parse().unwrap();
        assert_eq!(s.instant(day("2026-12-07"), tallinn), at("2026-12-07T08:00:00Z"));
    }

    #[test]
    fn skipped_calendars_drop_dates_or_contacts() {
        let mut p = Policy::default();
        p.calendars
            .insert("shutdown".into(), [day("2026-12-28")].into_iter().collect());
        let s = schedule(
            json!({"rrule": "FREQ=DAILY", "at": "10:00", "timezone": "Europe/Tallinn",
                                "skip": ["public:EE", "shutdown"]}),
        );
        assert!(s.problems().is_empty());
        // 24–26 December are public holidays in Estonia; the 28th is in the custom calendar.
        assert_eq!(
            dates(&s, &p, "2026-12-22", 4),
            ["2026-12-23", "2026-12-27", "2026-12-29", "2026-12-30"]
        );
        let by_contact =
            schedule(json!({"rrule": "FREQ=DAILY", "at": "10:00", "timezone": "contact", "skip": ["public"]}));
        assert_eq!(dates(&by_contact, &p, "2026-12-23", 1), ["2026-12-24"]);
        assert!(by_contact.skips_contact(Some("EE"), day("2026-12-24")).is_some());
        assert!(by_contact.skips_contact(Some("US"), day("2026-12-24")).is_none());
        assert!(by_contact.skips_contact(None, day("2026-12-24")).is_none());
        let bad = schedule(json!({"rrule": "FREQ=DAILY", "at": "10:00", "timezone": "UTC", "skip": ["public:XX"]}));
        assert_eq!(bad.problems()[0].0, "skip");
    }

    #[test]
    fn rules_that_need_a_start_or_name_the_time_are_refused_with_a_reason() {
        let problem = |rule: &str| {
            let s = schedule(json!({"rrule": rule, "at": "10:00", "timezone": "UTC"}));
            s.problems().first().map(|p| p.1.clone()).unwrap_or_default()
        };
        assert!(problem("FREQ=WEEKLY;INTERVAL=2;BYDAY=TH").contains("start"));
        assert!(problem("FREQ=WEEKLY").contains("start"));
        assert!(problem("FREQ=HOURLY").contains("at most daily"));
        assert!(problem("FREQ=DAILY;BYHOUR=9").contains("BYHOUR"));
        assert!(problem("FREQ=DAILY;UNTIL=20270101T000000Z").contains("until"));
        assert!(problem("EVERY DAY").contains("RFC 5545"));
        assert_eq!(problem("FREQ=DAILY"), "");
    }

    #[test]
    fn the_due_run_is_the_latest_passed_since_runs_began_to_count() {
        let p = Policy::default();
        let s = schedule(json!({"rrule": "FREQ=DAILY", "at": "10:00", "timezone": "UTC"}));
        // Activated at 09:00: today's 10:00 run is not yet due, then it is.
        let since = at("2026-12-07T09:00:00Z");
        assert_eq!(s.due(&p, None, since, at("2026-12-07T09:59:59Z")), None);
        assert_eq!(
            s.due(&p, None, since, at("2026-12-07T10:00:00Z")).unwrap().date,
            day("2026-12-07")
        );
        // Recorded: nothing more is due until tomorrow.
        assert_eq!(
            s.due(&p, Some(day("2026-12-07")), since, at("2026-12-07T23:00:00Z")),
            None
        );
        // Down for three days: only the latest missed run is due.
        let late = s.due(&p, Some(day("2026-12-07")), since, at("2026-12-10T12:00:00Z"));
        assert_eq!(late.unwrap().date, day("2026-12-10"));
        // Resumed at noon after a pause: the morning's run does not run late.
        assert_eq!(
            s.due(
                &p,
                Some(day("2026-12-07")),
                at("2026-12-10T12:00:00Z"),
                at("2026-12-10T12:00:01Z")
            ),
            None
        );
        assert_eq!(
            s.next(&p, at("2026-12-07T10:00:01Z"), 2)
                .iter()
                .map(|r| r.date.to_string())
                .collect::<Vec<_>>(),
            ["2026-12-08", "2026-12-09"]
        );
    }
}
