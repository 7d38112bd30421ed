//! Send policy: *when*, *how often* and *how fast* a message may go out to a contact.
//!
//! The same [`SendRules`] shape is written at three levels, the most specific winning field by
//! field: a send node (`"window": …` on the node), the flow (`"policy": {"sms": {…}}`), and the
//! workspace configuration ([`Policy::channels`]). [`Policy::rules`] merges them.
//!
//! Everything here is pure: the open times of a contact come from their zone, the window, and
//! the calendars of closed days (public holidays of their country from [`crate::geo`], custom
//! calendars from the configuration). [`Guard`] carries what delivery must still respect when it
//! finally sends, so a message delayed by a queue or a throttle is never sent outside its window.
//!
//! Daylight saving: a window edge in a spring-forward gap opens at the first instant after the
//! gap; an edge in an autumn overlap takes the later instant for `start` and the earlier for
//! `end`, so no instant whose wall time lies outside the window is ever open (the window may
//! lose up to the repeated hour that night). A window with `end` at or before `start` runs past
//! midnight and belongs to the day it opens on: it runs to its end the next morning even when
//! the window does not open on that next day (`days`), and stops at midnight only when the next
//! day is closed (a holiday of its calendars).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::time::resolve_local;
use crate::values::{Duration, LocalTime, Weekday};

/// How far ahead open time is looked for; beyond it a send is refused rather than deferred.
pub const HORIZON_DAYS: i64 = 400;

/// The calendar name that means "public holidays of the contact's country".
pub const PUBLIC: &str = "public";

/// Allowed hours in the contact's local time, e.g. 10:00–20:00 Monday to Saturday.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendWindow {
    pub start: LocalTime,
    /// At or before `start`: the window runs past midnight into the next day.
    pub end: LocalTime,
    /// Days the window opens on; every day when absent. An overnight window opening on the
    /// last of them still runs into the next morning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<Vec<Weekday>>,
}

impl SendWindow {
    fn opens_on(&self, day: NaiveDate) -> bool {
        self.days
            .as_ref()
            .is_none_or(|days| days.iter().any(|d| d.to_chrono() == day.weekday()))
    }

    /// The window's span opening on `day`, in UTC; an overnight span stops at midnight when
    /// `closed` says the next day is closed.
    fn span(&self, tz: Tz, day: NaiveDate, closed: &dyn Fn(NaiveDate) -> bool) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = resolve_latest(tz, day.and_time(self.start.0));
        if self.end.0 > self.start.0 {
            return (start, resolve_local(tz, day.and_time(self.end.0)));
        }
        let next = day.succ_opt().unwrap_or(day);
        if closed(next) {
            return (start, resolve_local(tz, next.and_time(chrono::NaiveTime::MIN)));
        }
        (start, resolve_local(tz, next.and_time(self.end.0)))
    }
}

impl fmt::Display for SendWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}–{}", self.start, self.end)?;
        if let Some(days) = &self.days {
            let names: Vec<String> = days
                .iter()
                .map(|d| {
                    serde_json::to_value(d)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                })
                .collect();
            write!(f, " {}", names.join(","))?;
        }
        Ok(())
    }
}

/// The later instant for a wall time that occurs twice; gaps resolve as in [`resolve_local`]
/// (which takes the earlier).
fn resolve_latest(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local).latest() {
        Some(t) => t.with_timezone(&Utc),
        None => resolve_local(tz, local),
    }
}

/// At most `max` messages per contact on a channel within `per`, across all flows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cap {
    pub max: u32,
    pub per: Duration,
    /// What a capped send does: `skip` (default) or `defer` until the cap allows it.
    #[serde(default, skip_serializing_if = "CapAction::is_default")]
    pub then: CapAction,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CapAction {
    #[default]
    Skip,
    Defer,
}

impl CapAction {
    fn is_default(&self) -> bool {
        *self == CapAction::Skip
    }
}

/// A throttle: at most `max` messages per `per`, cluster-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub max: u32,
    pub per: Duration,
}

/// Spreads sends over time instead of sending them at once: over a duration (`"over": "3d"`)
/// or over the open time of the next `days` days that have any (with a window Mon–Fri, the
/// next working days). Each contact gets a fixed point in that time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pace {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
}

/// Rules for sends: on a channel (configuration or flow), or on one send node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRules {
    /// Allowed hours in the contact's zone; outside them a send is deferred, never dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<SendWindow>,
    /// Calendars of days without sends: `public` (the public holidays of the contact's
    /// country) and names of custom calendars from the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holidays: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<Cap>,
    /// Channel and flow level only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pace: Option<Pace>,
}

impl SendRules {
    /// `self` where set, `fallback` elsewhere.
    pub fn or(&self, fallback: &SendRules) -> SendRules {
        SendRules {
            window: self.window.clone().or_else(|| fallback.window.clone()),
            holidays: self.holidays.clone().or_else(|| fallback.holidays.clone()),
            cap: self.cap.clone().or_else(|| fallback.cap.clone()),
            throttle: self.throttle.or(fallback.throttle),
            pace: self.pace.clone().or_else(|| fallback.pace.clone()),
        }
    }

    /// Problems with these rules, as (field, message), for `cairn flows validate` and the API.
    pub fn check(&self, prefix: &str, calendars: Option<&BTreeSet<String>>, node_level: bool) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let field = |f: &str| {
            if prefix.is_empty() {
                f.to_string()
            } else {
                format!("{prefix}.{f}")
            }
        };
        if let Some(w) = &self.window
            && w.days.as_ref().is_some_and(Vec::is_empty)
        {
            found.push((field("window.days"), "is empty: the window would never open".into()));
        }
        for name in self.holidays.iter().flatten() {
            if name != PUBLIC && calendars.is_some_and(|c| !c.contains(name)) {
                found.push((
                    field("holidays"),
                    format!("unknown calendar '{name}' (use 'public' or a calendar from the configuration)"),
                ));
            }
        }
        if let Some(cap) = &self.cap {
            if cap.max == 0 {
                found.push((field("cap.max"), "must be at least 1".into()));
            }
            if cap.per.seconds() == 0 {
                found.push((field("cap.per"), "must be longer than 0s".into()));
            }
        }
        if let Some(rate) = &self.throttle {
            if node_level {
                found.push((field("throttle"), "is set per channel or per flow, not per node".into()));
            }
            if rate.max == 0 {
                found.push((field("throttle.max"), "must be at least 1".into()));
            }
            if rate.per.seconds() == 0 {
                found.push((field("throttle.per"), "must be longer than 0s".into()));
            }
        }
        if let Some(pace) = &self.pace {
            match (&pace.over, pace.days) {
                (Some(_), Some(_)) | (None, None) => found.push((
                    field("pace"),
                    "needs exactly one of 'over' (a duration) or 'days'".into(),
                )),
                (Some(d), None) if d.seconds() == 0 => {
                    found.push((field("pace.over"), "must be longer than 0s".into()))
                }
                (None, Some(0)) => found.push((field("pace.days"), "must be at least 1".into())),
                _ => {}
            }
        }
        found
    }
}

/// Workspace-wide policy: the configuration every flow runs under.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Zone for contacts whose zone comes from nowhere else (default UTC).
    #[serde(default = "utc", with = "zone_name")]
    #[schemars(with = "String")]
    pub default_timezone: Tz,
    /// Country (ISO 3166 alpha-2) whose public holidays apply to contacts whose country comes
    /// from nowhere else (neither their `country` field nor their phone number), e.g. `"EE"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_country: Option<String>,
    /// Rules per channel, e.g. `{"sms": {"window": {"start": "10:00", "end": "20:00"}}}`.
    #[serde(default)]
    pub channels: BTreeMap<Channel, SendRules>,
    /// Custom calendars of closed days, e.g. `{"shutdown": ["2026-12-24", "2026-12-31"]}`.
    #[serde(default)]
    pub calendars: BTreeMap<String, BTreeSet<NaiveDate>>,
}

fn utc() -> Tz {
    chrono_tz::UTC
}

mod zone_name {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(d)?;
        name.parse()
            .map_err(|_| serde::de::Error::custom(format!("unknown time zone '{name}'")))
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            default_timezone: chrono_tz::UTC,
            default_country: None,
            channels: BTreeMap::new(),
            calendars: BTreeMap::new(),
        }
    }
}

impl Policy {
    /// Reads a policy document (JSON), naming the field of any problem.
    pub fn from_json(text: &str) -> Result<Policy, String> {
        let policy: Policy = serde_json::from_str(text).map_err(|e| format!("policy: {e}"))?;
        let problems = policy.problems();
        if problems.is_empty() {
            Ok(policy)
        } else {
            let lines: Vec<String> = problems
                .iter()
                .map(|(field, message)| format!("policy: {field}: {message}"))
                .collect();
            Err(lines.join("\n"))
        }
    }

    /// What is wrong with a policy that parsed, as (field, message): a default country without
    /// public holidays, rules out of range, holidays naming a calendar it lacks.
    pub fn problems(&self) -> Vec<(String, String)> {
        let names: BTreeSet<String> = self.calendars.keys().cloned().collect();
        let mut problems = Vec::new();
        if let Some(country) = &self.default_country
            && !crate::geo::is_country(country)
        {
            problems.push((
                "default_country".to_string(),
                format!("'{country}' is not a country with public holidays (ISO 3166 alpha-2, e.g. \"EE\")"),
            ));
        }
        for (channel, rules) in &self.channels {
            problems.extend(rules.check(&format!("channels.{channel}"), Some(&names), false));
        }
        problems
    }

    /// The country whose public holidays apply to `contact`: theirs (see
    /// [`crate::geo::contact_country`]), else the policy's `default_country`.
    pub fn country(&self, contact: &crate::Contact) -> Option<String> {
        self.country_at(&crate::geo::Place::of(contact))
    }

    /// The country whose public holidays apply to a contact at `place`.
    pub fn country_at(&self, place: &crate::geo::Place<'_>) -> Option<String> {
        place
            .country()
            .or_else(|| self.default_country.as_deref().map(|c| c.trim().to_ascii_uppercase()))
    }

    /// The rules a send follows: the node's, then the flow's for the channel, then these.
    pub fn rules(&self, channel: Channel, flow: Option<&SendRules>, node: &SendRules) -> SendRules {
        let workspace = self.channels.get(&channel).cloned().unwrap_or_default();
        let flow_level = flow.map_or(workspace.clone(), |f| f.or(&workspace));
        node.or(&flow_level)
    }

    /// Every closed day among `names` from `from` to `to` (inclusive), with why.
    pub fn closed_between(
        &self,
        names: &[String],
        country: Option<&str>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> BTreeMap<NaiveDate, String> {
        let mut out = BTreeMap::new();
        for name in names.iter().rev() {
            if name == PUBLIC {
                for (day, holiday) in country
                    .into_iter()
                    .flat_map(|c| crate::geo::public_holidays_between(c, from, to).map(move |(d, h)| (c, d, h)))
                    .map(|(c, d, h)| (d, format!("public holiday in {}: {h}", c.trim().to_ascii_uppercase())))
                {
                    out.insert(day, holiday);
                }
            } else if let Some(days) = self.calendars.get(name) {
                for day in days.range(from..=to) {
                    out.insert(*day, format!("closed day in calendar '{name}'"));
                }
            }
        }
        out
    }

    /// Why `day` is closed under the calendars `names` (the first that has it), if it is.
    pub fn closed(&self, names: &[String], country: Option<&str>, day: NaiveDate) -> Option<String> {
        self.closed_between(names, country, day, day).remove(&day)
    }
}

/// When sending is allowed for one contact: their zone, a window, and closed days.
pub struct OpenTime<'a> {
    pub zone: Tz,
    pub window: Option<&'a SendWindow>,
    /// Why a local day is closed, if it is.
    pub closed: &'a dyn Fn(NaiveDate) -> Option<String>,
}

/// Where `now` stands against the open time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Openness {
    Open,
    /// Closed until `until`, for `reason`.
    Closed {
        until: DateTime<Utc>,
        reason: String,
    },
    /// No open time within [`HORIZON_DAYS`].
    Never {
        reason: String,
    },
}

impl OpenTime<'_> {
    /// The open spans from `now` on, in order, clipped to start no earlier than `now`.
    fn spans(&self, now: DateTime<Utc>) -> impl Iterator<Item = (NaiveDate, DateTime<Utc>, DateTime<Utc>)> + '_ {
        let today = now.with_timezone(&self.zone).date_naive();
        let first = today.pred_opt().unwrap_or(today);
        (0..HORIZON_DAYS + 1).filter_map(move |i| {
            let day = first + TimeDelta::days(i);
            if (self.closed)(day).is_some() {
                return None;
            }
            let (start, end) = match self.window {
                Some(w) if !w.opens_on(day) => return None,
                Some(w) => w.span(self.zone, day, &|d| (self.closed)(d).is_some()),
                None => (
                    resolve_local(self.zone, day.and_time(chrono::NaiveTime::MIN)),
                    resolve_local(self.zone, (day + TimeDelta::days(1)).and_time(chrono::NaiveTime::MIN)),
                ),
            };
            (end > now && end > start).then_some((day, start.max(now), end))
        })
    }

    pub fn check(&self, now: DateTime<Utc>) -> Openness {
        let local_day = now.with_timezone(&self.zone).date_naive();
        match self.spans(now).next() {
            Some((_, start, _)) if start <= now => Openness::Open,
            Some((_, start, _)) => {
                let reason = match ((self.closed)(local_day), self.window) {
                    (Some(why), _) => why,
                    (None, Some(w)) => format!("outside the window {w}"),
                    (None, None) => "closed".into(),
                };
                Openness::Closed { until: start, reason }
            }
            None => Openness::Never {
                reason: format!("no open time within {HORIZON_DAYS} days"),
            },
        }
    }

    /// The instant `fraction` (0 ≤ f < 1) of the way through the open time of a pace, from `now`.
    pub fn paced(&self, now: DateTime<Utc>, pace: &Pace, fraction: f64) -> Option<DateTime<Utc>> {
        let spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = match (&pace.over, pace.days) {
            (Some(over), _) => {
                // The span starts now, or at the next opening when nothing is open before then.
                let begin = match self.spans(now).next() {
                    Some((_, start, _)) if start >= now + over.to_chrono() => start,
                    Some(_) => now,
                    None => return None,
                };
                let until = begin + over.to_chrono();
                self.spans(begin)
                    .take_while(|(_, start, _)| *start < until)
                    .map(|(_, s, e)| (s, e.min(until)))
                    .collect()
            }
            (None, Some(days)) => {
                let mut seen = Vec::new();
                let mut out = Vec::new();
                for (day, s, e) in self.spans(now) {
                    if !seen.contains(&day) {
                        if seen.len() == days as usize {
                            break;
                        }
                        seen.push(day);
                    }
                    out.push((s, e));
                }
                out
            }
            (None, None) => return Some(now),
        };
        let total: i64 = spans.iter().map(|(s, e)| (*e - *s).num_seconds()).sum();
        if total <= 0 {
            return None;
        }
        let mut offset = ((total as f64) * fraction.clamp(0.0, 1.0)) as i64;
        for (s, e) in spans {
            let len = (e - s).num_seconds();
            if offset < len {
                return Some(s + TimeDelta::seconds(offset));
            }
            offset -= len;
        }
        None
    }
}

/// What delivery must still respect when it sends: the message's open time (the days closed
/// within the horizon are listed, so no calendar data travels) and its throttles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guard {
    pub zone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<SendWindow>,
    /// Closed local days from the day of the send on, with why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub closed: BTreeMap<NaiveDate, String>,
    /// Throttles to pass, by limiter key (`channel:sms`, `flow:Welcome:sms`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub throttles: Vec<(String, Rate)>,
}

impl Guard {
    /// Where `now` stands against the message's open time.
    pub fn check(&self, now: DateTime<Utc>) -> Openness {
        let zone: Tz = self.zone.parse().unwrap_or(chrono_tz::UTC);
        let closed = |day: NaiveDate| self.closed.get(&day).cloned();
        OpenTime {
            zone,
            window: self.window.as_ref(),
            closed: &closed,
        }
        .check(now)
    }

    /// Whether the time part of this guard restricts anything.
    pub fn restricts_time(&self) -> bool {
        self.window.is_some() || !self.closed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }
    fn window(start: &str, end: &str, days: Option<Vec<Weekday>>) -> SendWindow {
        SendWindow {
            start: start.parse().unwrap(),
            end: end.parse().unwrap(),
            days,
        }
    }
    fn open(tz: &str, w: &SendWindow, now: &str) -> Openness {
        let none = |_: NaiveDate| None;
        OpenTime {
            zone: tz.parse().unwrap(),
            window: Some(w),
            closed: &none,
        }
        .check(utc(now))
    }
    fn until(o: Openness) -> DateTime<Utc> {
        match o {
            Openness::Closed { until, .. } => until,
            other => panic!("expected closed, got {other:?}"),
        }
    }

    #[test]
    fn inside_the_window_is_open_and_outside_waits_for_the_next_opening() {
        let w = window("10:00", "20:00", None);
        // Tallinn is UTC+2 in winter: 08:30Z is 10:30 local.
        assert_eq!(open("Europe/Tallinn", &w, "2026-12-01T08:30:00Z"), Openness::Open);
        assert_eq!(
            until(open("Europe/Tallinn", &w, "2026-12-01T07:00:00Z")),
            utc("2026-12-01T08:00:00Z")
        );
        // 20:00 local is the end: closed, next opening tomorrow 10:00.
        assert_eq!(
            until(open("Europe/Tallinn", &w, "2026-12-01T18:00:00Z")),
            utc("2026-12-02T08:00:00Z")
        );
    }

    #[test]
    fn days_skip_to_the_next_allowed_weekday() {
        use Weekday::*;
        let w = window("10:00", "20:00", Some(vec![Mon, Tue, Wed, Thu, Fri, Sat]));
        // Saturday 2026-12-05 21:00 local → Monday 10:00.
        assert_eq!(
            until(open("Europe/Tallinn", &w, "2026-12-05T19:00:00Z")),
            utc("2026-12-07T08:00:00Z")
        );
    }

    #[test]
    fn windows_follow_daylight_saving_in_three_zones() {
        let w = window("10:00", "20:00", None);
        // New York springs forward on 2026-03-08: 10:00 EDT is 14:00Z (15:00Z the day before).
        assert_eq!(
            until(open("America/New_York", &w, "2026-03-07T02:00:00Z")),
            utc("2026-03-07T15:00:00Z")
        );
        assert_eq!(
            until(open("America/New_York", &w, "2026-03-08T02:00:00Z")),
            utc("2026-03-08T14:00:00Z")
        );
        // Tallinn falls back on 2026-10-25: 10:00 is 07:00Z before, 08:00Z after.
        assert_eq!(
            until(open("Europe/Tallinn", &w, "2026-10-24T01:00:00Z")),
            utc("2026-10-24T07:00:00Z")
        );
        assert_eq!(
            until(open("Europe/Tallinn", &w, "2026-10-25T01:00:00Z")),
            utc("2026-10-25T08:00:00Z")
        );
        // Adelaide (+10:30 / +9:30) leaves DST on 2026-04-05: 10:00 is 23:30Z then 00:30Z.
        assert_eq!(
            until(open("Australia/Adelaide", &w, "2026-04-03T20:00:00Z")),
            utc("2026-04-03T23:30:00Z")
        );
        assert_eq!(
            until(open("Australia/Adelaide", &w, "2026-04-05T20:00:00Z")),
            utc("2026-04-06T00:30:00Z")
        );
        // Kolkata (+5:30, no DST).
        assert_eq!(
            until(open("Asia/Kolkata", &w, "2026-06-01T00:00:00Z")),
            utc("2026-06-01T04:30:00Z")
        );
    }

    #[test]
    fn a_window_edge_in_the_spring_gap_opens_when_the_clock_resumes() {
        // 02:00–04:00 in New York on the spring-forward night: 02:00 does not exist; opens 03:00 EDT.
        let w = window("02:30", "04:00", None);
        assert_eq!(
            until(open("America/New_York", &w, "2026-03-08T05:00:00Z")),
            utc("2026-03-08T07:00:00Z")
        );
    }

    #[test]
    fn an_overlap_never_opens_on_a_wall_time_outside_the_window() {
        // New York, 2026-11-01: 01:00–02:00 happens twice (EDT 05:00–06:00Z, EST 06:00–07:00Z).
        // 00:30–01:30 ends at the first 01:30; the repeated 01:00–01:30 stays closed.
        let w = window("00:30", "01:30", None);
        assert_eq!(open("America/New_York", &w, "2026-11-01T05:15:00Z"), Openness::Open);
        assert_eq!(
            until(open("America/New_York", &w, "2026-11-01T06:15:00Z")),
            utc("2026-11-02T05:30:00Z")
        );
        // 01:30–09:00 opens at the second 01:30, so the repeated 01:00–01:30 is not open.
        let w = window("01:30", "09:00", None);
        assert_eq!(
            until(open("America/New_York", &w, "2026-11-01T05:45:00Z")),
            utc("2026-11-01T06:30:00Z")
        );
        assert_eq!(
            until(open("America/New_York", &w, "2026-11-01T06:15:00Z")),
            utc("2026-11-01T06:30:00Z")
        );
    }

    #[test]
    fn an_overnight_window_stops_at_midnight_before_a_closed_day() {
        let w = window("22:00", "06:00", None);
        let closed =
            |d: NaiveDate| (d == NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()).then(|| "holiday".to_string());
        let t = OpenTime {
            zone: chrono_tz::UTC,
            window: Some(&w),
            closed: &closed,
        };
        assert_eq!(t.check(utc("2026-12-24T23:00:00Z")), Openness::Open);
        assert_eq!(
            t.check(utc("2026-12-25T01:00:00Z")),
            Openness::Closed {
                until: utc("2026-12-26T22:00:00Z"),
                reason: "holiday".into()
            }
        );
    }

    #[test]
    fn pacing_over_a_span_without_open_time_starts_at_the_next_opening() {
        let w = window("10:00", "20:00", None);
        let none = |_: NaiveDate| None;
        let t = OpenTime {
            zone: chrono_tz::UTC,
            window: Some(&w),
            closed: &none,
        };
        let pace = Pace {
            over: Some("2h".parse().unwrap()),
            days: None,
        };
        // 21:00: nothing open until 10:00 tomorrow, so the two hours are 10:00–12:00.
        let now = utc("2026-12-01T21:00:00Z");
        assert_eq!(t.paced(now, &pace, 0.0), Some(utc("2026-12-02T10:00:00Z")));
        assert_eq!(t.paced(now, &pace, 0.5), Some(utc("2026-12-02T11:00:00Z")));
    }

    #[test]
    fn an_overnight_window_runs_past_midnight() {
        let w = window("22:00", "06:00", None);
        assert_eq!(open("UTC", &w, "2026-12-01T23:00:00Z"), Openness::Open);
        assert_eq!(open("UTC", &w, "2026-12-02T05:00:00Z"), Openness::Open);
        assert_eq!(
            until(open("UTC", &w, "2026-12-02T07:00:00Z")),
            utc("2026-12-02T22:00:00Z")
        );
    }

    #[test]
    fn closed_days_move_the_opening_to_the_next_open_day() {
        let w = window("09:00", "17:00", None);
        let closed = |d: NaiveDate| (d == NaiveDate::from_ymd_opt(2026, 12, 24).unwrap()).then(|| "closed".to_string());
        let t = OpenTime {
            zone: chrono_tz::UTC,
            window: Some(&w),
            closed: &closed,
        };
        assert_eq!(
            t.check(utc("2026-12-24T10:00:00Z")),
            Openness::Closed {
                until: utc("2026-12-25T09:00:00Z"),
                reason: "closed".into()
            }
        );
    }

    #[test]
    fn pacing_spreads_over_the_open_time_only() {
        let w = window(
            "10:00",
            "18:00",
            Some(vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ]),
        );
        let none = |_: NaiveDate| None;
        let t = OpenTime {
            zone: chrono_tz::UTC,
            window: Some(&w),
            closed: &none,
        };
        // Friday 2026-12-04 12:00: the next 2 working days' open time is Fri 12–18 and Mon 10–18 (14 h).
        let pace = Pace {
            over: None,
            days: Some(2),
        };
        let now = utc("2026-12-04T12:00:00Z");
        assert_eq!(t.paced(now, &pace, 0.0), Some(now));
        assert_eq!(t.paced(now, &pace, 0.5), Some(utc("2026-12-07T11:00:00Z")));
        assert_eq!(t.paced(now, &pace, 0.999), Some(utc("2026-12-07T17:59:09Z")));
    }

    #[test]
    fn rules_merge_node_over_flow_over_workspace() {
        let mut policy = Policy::default();
        policy.channels.insert(
            Channel::Sms,
            SendRules {
                window: Some(window("10:00", "20:00", None)),
                cap: Some(Cap {
                    max: 3,
                    per: "7d".parse().unwrap(),
                    then: CapAction::Skip,
                }),
                ..SendRules::default()
            },
        );
        let flow = SendRules {
            holidays: Some(vec![PUBLIC.into()]),
            ..SendRules::default()
        };
        let node = SendRules {
            window: Some(window("10:00", "12:00", None)),
            ..SendRules::default()
        };
        let r = policy.rules(Channel::Sms, Some(&flow), &node);
        assert_eq!(r.window, Some(window("10:00", "12:00", None)));
        assert_eq!(r.holidays, Some(vec![PUBLIC.to_string()]));
        assert_eq!(r.cap.map(|c| c.max), Some(3));
    }
}
