//! RFC 5545 recurrence rules over dates: the part of `RRULE` a campaign's schedule needs, read
//! and expanded here so the core keeps no clock (the maintained `rrule` crate links chrono's
//! clock and the system's zone lookup).
//!
//! Read: `FREQ` (`DAILY`, `WEEKLY`, `MONTHLY`, `YEARLY`), `INTERVAL`, `COUNT`, `BYDAY` (with
//! ordinals such as `2TH` or `-1FR` for monthly and yearly rules), `BYMONTHDAY` (negative counts
//! from the month's end), `BYMONTH`, `BYSETPOS` and `WKST`. Refused, each with a reason: the
//! time-of-day parts and sub-daily frequencies (the time is the schedule's `at`), `UNTIL` (the
//! schedule's `until`), `BYYEARDAY` and `BYWEEKNO`.
//!
//! Expansion follows RFC 5545: each period (day, week from `WKST`, month, year) of every
//! `INTERVAL`-th one from the start's yields the dates its `BY*` parts select (`BYMONTHDAY` and
//! `BYDAY` together: dates passing both), in order; `BYSETPOS` picks among them; dates before
//! the start are not occurrences, and `COUNT` counts from the start.

use std::collections::VecDeque;

use chrono::{Datelike, Months, NaiveDate, TimeDelta, Weekday};

/// How many periods are looked at, at most, for dates (about a century): a rule that selects
/// no date (the 31st of February) ends instead of looping.
const MAX_PERIODS: u64 = 36_600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freq {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

/// A parsed rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    freq: Freq,
    interval: u32,
    count: Option<u32>,
    /// (ordinal, weekday): `2TH` is (Some(2), Thu).
    by_day: Vec<(Option<i32>, Weekday)>,
    by_month_day: Vec<i32>,
    by_month: Vec<u32>,
    by_set_pos: Vec<i32>,
    week_start: Weekday,
}

fn weekday(text: &str) -> Option<Weekday> {
    Some(match text {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        _ => return None,
    })
}

fn numbers(key: &str, value: &str, range: std::ops::RangeInclusive<i32>) -> Result<Vec<i32>, String> {
    value
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<i32>()
                .ok()
                .filter(|n| *n != 0 && range.contains(n))
                .ok_or_else(|| {
                    format!(
                        "{key}: '{v}' is not a number from {} to {} (not 0)",
                        range.start(),
                        range.end()
                    )
                })
        })
        .collect()
}

impl Rule {
    /// Reads a rule (`RRULE:` prefix optional), naming the part that is wrong.
    pub fn parse(text: &str) -> Result<Rule, String> {
        let text = text.trim();
        let text = text.strip_prefix("RRULE:").unwrap_or(text);
        if text.is_empty() {
            return Err("write a recurrence rule such as FREQ=DAILY or FREQ=MONTHLY;BYMONTHDAY=5".into());
        }
        let mut rule = Rule {
            freq: Freq::Daily,
            interval: 1,
            count: None,
            by_day: Vec::new(),
            by_month_day: Vec::new(),
            by_month: Vec::new(),
            by_set_pos: Vec::new(),
            week_start: Weekday::Mon,
        };
        let mut freq = None;
        for part in text.split(';').filter(|p| !p.trim().is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(format!(
                    "not an RFC 5545 recurrence rule: '{part}' is not KEY=VALUE (write e.g. FREQ=WEEKLY;BYDAY=TH)"
                ));
            };
            let (key, value) = (key.trim().to_ascii_uppercase(), value.trim().to_ascii_uppercase());
            match key.as_str() {
                "FREQ" => {
                    freq = Some(match value.as_str() {
                        "DAILY" => Freq::Daily,
                        "WEEKLY" => Freq::Weekly,
                        "MONTHLY" => Freq::Monthly,
                        "YEARLY" => Freq::Yearly,
                        "HOURLY" | "MINUTELY" | "SECONDLY" => {
                            return Err(
                                "runs are at most daily: use FREQ=DAILY, WEEKLY, MONTHLY or YEARLY, and `at` for the time"
                                    .into(),
                            );
                        }
                        other => return Err(format!("FREQ: '{other}' is not DAILY, WEEKLY, MONTHLY or YEARLY")),
                    })
                }
                "INTERVAL" => {
                    rule.interval = value
                        .parse()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| format!("INTERVAL: '{value}' is not a whole number from 1"))?
                }
                "COUNT" => {
                    rule.count = Some(
                        value
                            .parse()
                            .ok()
                            .filter(|n| *n >= 1)
                            .ok_or_else(|| format!("COUNT: '{value}' is not a whole number from 1"))?,
                    )
                }
                "BYDAY" => {
                    for v in value.split(',') {
                        let v = v.trim();
                        let (ordinal, day) = v.split_at(v.len().saturating_sub(2));
                        let day =
                            weekday(day).ok_or_else(|| format!("BYDAY: '{v}' is not a weekday (MO … SU, e.g. 2TH)"))?;
                        let ordinal = match ordinal {
                            "" => None,
                            o => Some(
                                o.parse::<i32>()
                                    .ok()
                                    .filter(|n| *n != 0 && (-53..=53).contains(n))
                                    .ok_or_else(|| format!("BYDAY: '{v}' has no valid ordinal (e.g. 1MO, -1FR)"))?,
                            ),
                        };
                        rule.by_day.push((ordinal, day));
                    }
                }
                "BYMONTHDAY" => rule.by_month_day = numbers("BYMONTHDAY", &value, -31..=31)?,
                "BYMONTH" => {
                    rule.by_month = numbers("BYMONTH", &value, 1..=12)?
                        .into_iter()
                        .map(|m| m as u32)
                        .collect()
                }
                "BYSETPOS" => rule.by_set_pos = numbers("BYSETPOS", &value, -366..=366)?,
                "WKST" => {
                    rule.week_start = weekday(&value).ok_or_else(|| format!("WKST: '{value}' is not a weekday"))?
                }
                "BYHOUR" | "BYMINUTE" | "BYSECOND" => {
                    return Err("the time of day is `at`: remove BYHOUR, BYMINUTE and BYSECOND".into());
                }
                "UNTIL" => return Err("the last date is the schedule's `until`: remove UNTIL from the rule".into()),
                "BYYEARDAY" | "BYWEEKNO" => {
                    return Err(format!(
                        "{key} is not supported: use BYMONTH with BYMONTHDAY or BYDAY (e.g. FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU)"
                    ));
                }
                other => return Err(format!("not an RFC 5545 recurrence rule part: '{other}'")),
            }
        }
        rule.freq = freq.ok_or("the rule needs FREQ (e.g. FREQ=DAILY)")?;
        if rule.by_day.iter().any(|(o, _)| o.is_some()) && !matches!(rule.freq, Freq::Monthly | Freq::Yearly) {
            return Err("BYDAY: an ordinal such as 2TH is for FREQ=MONTHLY or YEARLY".into());
        }
        Ok(rule)
    }

    /// Whether the dates depend on the first date (an interval or count counts from it; a
    /// weekly rule without `BYDAY` takes its weekday …).
    pub fn needs_start(&self) -> bool {
        let ordinals_only = !self.by_day.is_empty() && self.by_day.iter().all(|(o, _)| o.is_some());
        self.interval > 1
            || self.count.is_some()
            || match self.freq {
                Freq::Daily => false,
                Freq::Weekly => self.by_day.is_empty(),
                Freq::Monthly => self.by_day.is_empty() && self.by_month_day.is_empty(),
                Freq::Yearly => {
                    let in_months =
                        !self.by_month.is_empty() && (!self.by_month_day.is_empty() || !self.by_day.is_empty());
                    !(in_months || (self.by_month.is_empty() && ordinals_only))
                }
            }
    }

    /// The rule's dates from `start` on, in order.
    pub fn dates(&self, start: NaiveDate) -> Dates {
        Dates {
            rule: self.clone(),
            start,
            period: 0,
            pending: VecDeque::new(),
            produced: 0,
        }
    }

    /// The first day of the `k`-th period from the start's.
    fn period_start(&self, start: NaiveDate, k: u64) -> Option<NaiveDate> {
        match self.freq {
            Freq::Daily => start.checked_add_signed(TimeDelta::days(k as i64)),
            Freq::Weekly => {
                let back = (start.weekday().num_days_from_monday() + 7 - self.week_start.num_days_from_monday()) % 7;
                (start - TimeDelta::days(back as i64)).checked_add_signed(TimeDelta::weeks(k as i64))
            }
            Freq::Monthly => start
                .with_day(1)?
                .checked_add_months(Months::new(u32::try_from(k).ok()?)),
            Freq::Yearly => NaiveDate::from_ymd_opt(start.year() + i32::try_from(k).ok()?, 1, 1),
        }
    }

    /// The dates period `first` (its first day) selects, sorted, before `BYSETPOS`.
    fn candidates(&self, first: NaiveDate, start: NaiveDate) -> Vec<NaiveDate> {
        let month_ok = |d: &NaiveDate| self.by_month.is_empty() || self.by_month.contains(&d.month());
        let mut out: Vec<NaiveDate> = match self.freq {
            Freq::Daily => {
                let d = first;
                let day_ok = self.by_day.is_empty() || self.by_day.iter().any(|(_, w)| *w == d.weekday());
                let month_day_ok = self.by_month_day.is_empty() || self.by_month_day.iter().any(|n| month_day(d, *n));
                if day_ok && month_day_ok && month_ok(&d) {
                    vec![d]
                } else {
                    vec![]
                }
            }
            Freq::Weekly => (0..7)
                .filter_map(|i| first.checked_add_signed(TimeDelta::days(i)))
                .filter(|d| {
                    if self.by_day.is_empty() {
                        d.weekday() == start.weekday()
                    } else {
                        self.by_day.iter().any(|(_, w)| *w == d.weekday())
                    }
                })
                .filter(month_ok)
                .collect(),
            Freq::Monthly => {
                if month_ok(&first) {
                    self.in_month(first, start)
                } else {
                    vec![]
                }
            }
            Freq::Yearly => {
                if self.by_month.is_empty() && !self.by_day.is_empty() && self.by_month_day.is_empty() {
                    // Weekdays of the whole year, ordinals counted in the year.
                    let days: Vec<NaiveDate> = first.iter_days().take_while(|d| d.year() == first.year()).collect();
                    by_weekdays(&days, &self.by_day)
                } else {
                    let months: Vec<u32> = if self.by_month.is_empty() {
                        vec![start.month()]
                    } else {
                        self.by_month.clone()
                    };
                    months
                        .into_iter()
                        .filter_map(|m| NaiveDate::from_ymd_opt(first.year(), m, 1))
                        .flat_map(|m| self.in_month(m, start))
                        .collect()
                }
            }
        };
        out.sort();
        out.dedup();
        out
    }

    /// The dates of the month starting `first` that `BYMONTHDAY` and `BYDAY` select (the
    /// start's day of the month when neither is given).
    fn in_month(&self, first: NaiveDate, start: NaiveDate) -> Vec<NaiveDate> {
        let days: Vec<NaiveDate> = first.iter_days().take_while(|d| d.month() == first.month()).collect();
        match (self.by_month_day.is_empty(), self.by_day.is_empty()) {
            (true, true) => days.into_iter().filter(|d| d.day() == start.day()).collect(),
            (false, true) => days
                .into_iter()
                .filter(|d| self.by_month_day.iter().any(|n| month_day(*d, *n)))
                .collect(),
            (true, false) => by_weekdays(&days, &self.by_day),
            (false, false) => by_weekdays(&days, &self.by_day)
                .into_iter()
                .filter(|d| self.by_month_day.iter().any(|n| month_day(*d, *n)))
                .collect(),
        }
    }
}

/// Whether `d` is day `n` of its month (negative: counted from the end, -1 the last).
fn month_day(d: NaiveDate, n: i32) -> bool {
    if n > 0 {
        return d.day() as i32 == n;
    }
    let next = d.with_day(1).and_then(|f| f.checked_add_months(Months::new(1)));
    let last = next.map_or(31, |n| (n - TimeDelta::days(1)).day() as i32);
    d.day() as i32 == last + 1 + n
}

/// Of `days` (a month or a year, in order), those on the weekdays of `by_day`: every one, or
/// the n-th (from the end when negative) of its weekday.
fn by_weekdays(days: &[NaiveDate], by_day: &[(Option<i32>, Weekday)]) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    for (ordinal, weekday) in by_day {
        let of_day: Vec<NaiveDate> = days.iter().copied().filter(|d| d.weekday() == *weekday).collect();
        match ordinal {
            None => out.extend(of_day),
            Some(n) if *n > 0 => out.extend(of_day.get(*n as usize - 1)),
            Some(n) => out.extend(of_day.len().checked_sub(n.unsigned_abs() as usize).map(|i| of_day[i])),
        }
    }
    out
}

/// The dates of a rule from its start, lazily.
pub struct Dates {
    rule: Rule,
    start: NaiveDate,
    /// The next period to expand, counted in periods from the start's.
    period: u64,
    pending: VecDeque<NaiveDate>,
    produced: u32,
}

impl Iterator for Dates {
    type Item = NaiveDate;

    fn next(&mut self) -> Option<NaiveDate> {
        loop {
            if self.rule.count.is_some_and(|c| self.produced >= c) {
                return None;
            }
            if let Some(d) = self.pending.pop_front() {
                self.produced += 1;
                return Some(d);
            }
            if self.period > MAX_PERIODS {
                return None;
            }
            let first = self.rule.period_start(self.start, self.period)?;
            self.period += u64::from(self.rule.interval);
            let candidates = self.rule.candidates(first, self.start);
            let chosen: Vec<NaiveDate> = if self.rule.by_set_pos.is_empty() {
                candidates
            } else {
                let mut picked: Vec<NaiveDate> = self
                    .rule
                    .by_set_pos
                    .iter()
                    .filter_map(|p| {
                        let i = if *p > 0 {
                            usize::try_from(*p - 1).ok()
                        } else {
                            candidates.len().checked_sub(p.unsigned_abs() as usize)
                        };
                        i.and_then(|i| candidates.get(i).copied())
                    })
                    .collect();
                picked.sort();
                picked.dedup();
                picked
            };
            self.pending.extend(chosen.into_iter().filter(|d| *d >= self.start));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dates(rule: &str, start: &str, n: usize) -> Vec<String> {
        Rule::parse(rule)
            .unwrap()
            .dates(start.parse().unwrap())
            .take(n)
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn rules_yield_the_dates_rfc_5545_gives() {
        assert_eq!(
            dates("FREQ=DAILY;INTERVAL=3", "2026-12-30", 3),
            ["2026-12-30", "2027-01-02", "2027-01-05"]
        );
        assert_eq!(
            dates("FREQ=WEEKLY;BYDAY=MO,FR", "2026-12-30", 4),
            ["2027-01-01", "2027-01-04", "2027-01-08", "2027-01-11"]
        );
        assert_eq!(
            dates("FREQ=WEEKLY;INTERVAL=2;BYDAY=TH", "2026-12-03", 3),
            ["2026-12-03", "2026-12-17", "2026-12-31"]
        );
        assert_eq!(dates("FREQ=WEEKLY", "2026-12-30", 2), ["2026-12-30", "2027-01-06"]);
        assert_eq!(
            dates("FREQ=MONTHLY;BYMONTHDAY=5", "2026-12-06", 2),
            ["2027-01-05", "2027-02-05"]
        );
        assert_eq!(
            dates("FREQ=MONTHLY;BYMONTHDAY=-1", "2027-01-01", 2),
            ["2027-01-31", "2027-02-28"]
        );
        assert_eq!(
            dates("FREQ=MONTHLY", "2027-01-31", 3),
            ["2027-01-31", "2027-03-31", "2027-05-31"]
        );
        assert_eq!(
            dates("FREQ=MONTHLY;BYDAY=-1FR", "2027-01-01", 2),
            ["2027-01-29", "2027-02-26"]
        );
        assert_eq!(
            dates("FREQ=MONTHLY;BYDAY=2TH", "2027-01-01", 2),
            ["2027-01-14", "2027-02-11"]
        );
        // The last weekday of the month.
        assert_eq!(
            dates("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "2027-01-01", 2),
            ["2027-01-29", "2027-02-26"]
        );
        // Friday the 13th.
        assert_eq!(
            dates("FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13", "2027-01-01", 2),
            ["2027-08-13", "2028-10-13"]
        );
        assert_eq!(
            dates("FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", "2027-01-01", 2),
            ["2027-03-28", "2028-03-26"]
        );
        assert_eq!(dates("FREQ=YEARLY", "2027-02-14", 2), ["2027-02-14", "2028-02-14"]);
        assert_eq!(
            dates("FREQ=DAILY;COUNT=2", "2027-01-01", 5),
            ["2027-01-01", "2027-01-02"]
        );
        assert!(dates("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=31", "2027-01-01", 1).is_empty());
    }

    #[test]
    fn parts_a_schedule_cannot_take_are_refused_with_a_reason() {
        let problem = |rule: &str| Rule::parse(rule).unwrap_err();
        assert!(problem("FREQ=HOURLY").contains("at most daily"));
        assert!(problem("FREQ=DAILY;BYHOUR=9").contains("BYHOUR"));
        assert!(problem("FREQ=DAILY;UNTIL=20270101T000000Z").contains("until"));
        assert!(problem("FREQ=YEARLY;BYWEEKNO=20").contains("not supported"));
        assert!(problem("EVERY DAY").contains("RFC 5545"));
        assert!(problem("INTERVAL=2").contains("FREQ"));
        assert!(problem("FREQ=WEEKLY;BYDAY=2TH").contains("ordinal"));
        assert!(problem("FREQ=MONTHLY;BYMONTHDAY=32").contains("BYMONTHDAY"));
    }
}
