//! Small value types of the flow format that are parsed, never validated later:
//! [`Duration`] (`90s`, `2h`, `1h 30m`), [`LocalTime`] (`09:30`), [`Zone`] (an IANA zone name)
//! and [`Weekday`] (`mon`). Each one is built only from text that is correct, so a compiled
//! flow never carries an unparsed duration, time or zone. Also `is_http_url`, the one check of
//! an http(s) URL that compiling a webhook node and rendering its URL share.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveTime;
use chrono_tz::Tz;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative span of time written as a human string: `90s`, `15m`, `2h`, `3d`, `1w`,
/// `1h 30m`. Stored in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    seconds: i64,
}

/// Units accepted in a duration, largest first (the order [`Duration`]'s `Display` uses).
const UNITS: [(&str, i64); 5] = [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];

/// Durations longer than this are refused: nothing in a journey waits ten years.
const MAX_SECONDS: i64 = 10 * 366 * 86_400;

impl Duration {
    pub const fn from_seconds(seconds: i64) -> Self {
        Self { seconds }
    }
    pub const fn seconds(self) -> i64 {
        self.seconds
    }
    pub fn to_chrono(self) -> chrono::TimeDelta {
        chrono::TimeDelta::seconds(self.seconds)
    }
}

impl FromStr for Duration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("invalid duration '{text}': {why} (write e.g. '90s', '2h', '3d' or '1h 30m')");
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(bad("it is empty"));
        }
        let mut total: i64 = 0;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            if digits == 0 {
                return Err(bad("expected a number"));
            }
            let number: i64 = rest[..digits].parse().map_err(|_| bad("number too large"))?;
            rest = rest[digits..].trim_start();
            let unit_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            let Some((_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
                return Err(if unit.is_empty() {
                    bad("a number needs a unit (s, m, h, d or w)")
                } else {
                    bad(&format!("unknown unit '{unit}' (use s, m, h, d or w)"))
                });
            };
            total = number
                .checked_mul(*scale)
                .and_then(|v| v.checked_add(total))
                .filter(|v| *v <= MAX_SECONDS)
                .ok_or_else(|| bad("longer than ten years"))?;
            rest = rest[unit_len..].trim_start();
        }
        Ok(Self { seconds: total })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.seconds == 0 {
            return f.write_str("0s");
        }
        let mut left = self.seconds;
        let mut first = true;
        for (name, scale) in UNITS {
            if left >= scale {
                if !first {
                    f.write_str(" ")?;
                }
                write!(f, "{}{name}", left / scale)?;
                left %= scale;
                first = false;
            }
        }
        Ok(())
    }
}

/// A wall-clock time of day, `HH:MM` (24-hour), read in the contact's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalTime(pub NaiveTime);

impl FromStr for LocalTime {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        NaiveTime::parse_from_str(text.trim(), "%H:%M")
            .map(LocalTime)
            .map_err(|_| format!("invalid time of day '{text}': write HH:MM, e.g. '09:30'"))
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%H:%M"))
    }
}

/// An IANA time zone such as `Europe/Tallinn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Zone(pub Tz);

impl FromStr for Zone {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        text.trim()
            .parse::<Tz>()
            .map(Zone)
            .map_err(|_| format!("unknown time zone '{text}' (use an IANA name such as 'Europe/Tallinn')"))
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

/// A day of the week, written `mon` … `sun`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub fn to_chrono(self) -> chrono::Weekday {
        match self {
            Weekday::Mon => chrono::Weekday::Mon,
            Weekday::Tue => chrono::Weekday::Tue,
            Weekday::Wed => chrono::Weekday::Wed,
            Weekday::Thu => chrono::Weekday::Thu,
            Weekday::Fri => chrono::Weekday::Fri,
            Weekday::Sat => chrono::Weekday::Sat,
            Weekday::Sun => chrono::Weekday::Sun,
        }
    }
}

/// Serde and JSON Schema for the string-backed types above: they travel as their text form.
macro_rules! string_backed {
    ($ty:ty, $schema_name:literal, $schema:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = Cow::<str>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                $schema_name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $schema
            }
        }
    };
}

string_backed!(
    Duration,
    "Duration",
    json_schema!({
        "type": "string",
        "description": "A duration: numbers with units s, m, h, d, w, e.g. '90s', '2h', '1h 30m'.",
        "pattern": "^\\s*(\\d+\\s*[smhdw]\\s*)+$"
    })
);
string_backed!(
    LocalTime,
    "LocalTime",
    json_schema!({
        "type": "string",
        "description": "A time of day in the contact's zone, HH:MM (24-hour).",
        "pattern": "^([01]\\d|2[0-3]):[0-5]\\d$"
    })
);
string_backed!(
    Zone,
    "TimeZone",
    json_schema!({
        "type": "string",
        "description": "An IANA time zone name, e.g. 'Europe/Tallinn'."
    })
);

/// Whether `url` is an absolute http(s) URL, as written (no surrounding whitespace).
pub(crate) fn is_http_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://")) && !url.contains(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        let d = |s: &str| s.parse::<Duration>().unwrap().seconds();
        assert_eq!(d("90s"), 90);
        assert_eq!(d("2h"), 7200);
        assert_eq!(d("3d"), 259_200);
        assert_eq!(d("1h 30m"), 5400);
        assert_eq!(d("1h30m"), 5400);
        assert_eq!(d(" 1w "), 604_800);
        assert_eq!(d("0s"), 0);
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        let e = |s: &str| s.parse::<Duration>().unwrap_err();
        assert!(e("").contains("empty"));
        assert!(e("2").contains("needs a unit"));
        assert!(e("2x").contains("unknown unit 'x'"));
        assert!(e("h").contains("expected a number"));
        assert!(e("-2h").contains("expected a number"));
        assert!(e("99999999999d").contains("ten years"));
    }

    #[test]
    fn durations_print_in_their_canonical_form() {
        assert_eq!("90m".parse::<Duration>().unwrap().to_string(), "1h 30m");
        assert_eq!("3d".parse::<Duration>().unwrap().to_string(), "3d");
        assert_eq!(Duration::from_seconds(0).to_string(), "0s");
    }

    #[test]
    fn times_of_day_and_zones_are_checked() {
        assert_eq!("09:30".parse::<LocalTime>().unwrap().to_string(), "09:30");
        assert!("9.30".parse::<LocalTime>().unwrap_err().contains("HH:MM"));
        assert!("25:00".parse::<LocalTime>().is_err());
        assert_eq!("Asia/Kolkata".parse::<Zone>().unwrap().to_string(), "Asia/Kolkata");
        assert!(
            "Mars/Olympus"
                .parse::<Zone>()
                .unwrap_err()
                .contains("unknown time zone 'Mars/Olympus'")
        );
    }
}
