//! Local-time arithmetic in a contact's zone: the next occurrence of a wall-clock time on
//! allowed weekdays, and the next anniversary of a date. Daylight-saving rules:
//! a wall time that does not exist (spring-forward gap) resolves to the first instant after the
//! gap; a wall time that exists twice (autumn overlap) resolves to the earlier instant.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The instant at which the wall clock in `tz` shows `local`, by the rules above.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    if let Some(t) = tz.from_local_datetime(&local).earliest() {
        return t.with_timezone(&Utc);
    }
    // In a gap: the offset before the gap maps `local` past the transition; the first valid
    // instant is where the wall clock resumes. Walk forward minute by minute (gaps are < 3 h).
    let mut probe = local;
    for _ in 0..(24 * 60) {
        probe += chrono::TimeDelta::minutes(1);
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    Utc.from_utc_datetime(&local)
}

/// The first instant at or after `now` when the clock in `tz` shows `time` on one of `days`
/// (every day when `days` is empty).
pub fn next_local_time(now: DateTime<Utc>, tz: Tz, time: NaiveTime, days: &[chrono::Weekday]) -> DateTime<Utc> {
    let today = now.with_timezone(&tz).date_naive();
    // Start a day early: a gap or overlap can move "today at time" before or after `now`.
    let mut day = today.pred_opt().unwrap_or(today);
    for _ in 0..16 {
        if days.is_empty() || days.contains(&day.weekday()) {
            let at = resolve_local(tz, day.and_time(time));
            if at >= now {
                return at;
            }
        }
        day = day.succ_opt().unwrap_or(day);
    }
    now
}

/// The first instant at or after `now` when it is `date`'s month and day at `time` in `tz`.
/// 29 February is celebrated on 28 February in common years.
pub fn next_anniversary(now: DateTime<Utc>, tz: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let year = now.with_timezone(&tz).year();
    for y in (year - 1)..=(year + 1) {
        let day = NaiveDate::from_ymd_opt(y, date.month(), date.day())
            .or_else(|| NaiveDate::from_ymd_opt(y, date.month(), date.day() - 1))
            .unwrap_or(date);
        let at = resolve_local(tz, day.and_time(time));
        if at >= now {
            return at;
        }
    }
    now
}

/// Reads a date from a field value: `YYYY-MM-DD`, or the date part of an RFC 3339 date-time.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()
}

/// Reads an instant: RFC 3339 (`2026-01-15T09:00:00Z`), or a date (`2026-01-15`) as its
/// midnight UTC.
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }
    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn next_local_time_is_today_or_a_later_allowed_day() {
        let tallinn: Tz = "Europe/Tallinn".parse().unwrap();
        // 2026-12-30 is a Wednesday; 08:00Z = 10:00 in Tallinn (UTC+2).
        let now = utc("2026-12-30T08:00:00Z");
        assert_eq!(
            next_local_time(now, tallinn, hm(11, 0), &[]),
            utc("2026-12-30T09:00:00Z")
        );
        assert_eq!(
            next_local_time(now, tallinn, hm(9, 0), &[]),
            utc("2026-12-31T07:00:00Z")
        );
        assert_eq!(
            next_local_time(now, tallinn, hm(9, 0), &[Mon]),
            utc("2027-01-04T07:00:00Z")
        );
        assert_eq!(next_local_time(now, tallinn, hm(10, 0), &[]), now);
    }

    #[test]
    fn a_time_in_the_spring_gap_moves_to_the_end_of_the_gap() {
        let ny: Tz = "America/New_York".parse().unwrap();
        // 2026-03-08: clocks jump 02:00 -> 03:00 EST->EDT. 02:30 does not exist.
        let now = utc("2026-03-08T05:00:00Z"); // 00:00 EST
        assert_eq!(next_local_time(now, ny, hm(2, 30), &[]), utc("2026-03-08T07:00:00Z")); // 03:00 EDT
    }

    #[test]
    fn a_time_in_the_autumn_overlap_takes_the_first_occurrence() {
        let ny: Tz = "America/New_York".parse().unwrap();
        // 2026-11-01: 01:30 happens twice (EDT then EST); the first is 05:30Z.
        let now = utc("2026-11-01T04:00:00Z");
        assert_eq!(next_local_time(now, ny, hm(1, 30), &[]), utc("2026-11-01T05:30:00Z"));
    }

    #[test]
    fn half_hour_zones_are_exact() {
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        let now = utc("2026-06-01T00:00:00Z"); // 05:30 IST
        assert_eq!(
            next_local_time(now, kolkata, hm(9, 0), &[]),
            utc("2026-06-01T03:30:00Z")
        );
    }

    #[test]
    fn anniversaries_come_round_once_a_year() {
        let tz: Tz = "Europe/Tallinn".parse().unwrap();
        let birthday = NaiveDate::from_ymd_opt(1990, 1, 5).unwrap();
        let now = utc("2026-12-30T08:00:00Z");
        assert_eq!(
            next_anniversary(now, tz, birthday, hm(9, 0)),
            utc("2027-01-05T07:00:00Z")
        );
        let leap = NaiveDate::from_ymd_opt(2000, 2, 29).unwrap();
        assert_eq!(next_anniversary(now, tz, leap, hm(9, 0)), utc("2027-02-28T07:00:00Z"));
        assert_eq!(parse_date("1990-01-05T10:00:00Z"), Some(birthday));
        assert_eq!(parse_date("05.01.1990"), None);
    }
}
