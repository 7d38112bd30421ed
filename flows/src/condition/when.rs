//! The date and count tests conditions share: [`DateTest`] (`{"within": "7d"}`, `{"before":
//! "30d"}`, `{"after": "2026-01-01"}`, `{"within_next": "3d"}`), the [`Moment`] a `before` or
//! `after` names, and [`Count`] (`{"gte": 2}`).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::parse_instant;
use crate::values::Duration;

/// An instant a `before` or `after` compares with: a span back from now (`30d`: 30 days ago)
/// or an absolute date (`2026-01-01`, midnight UTC) or RFC 3339 instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    Ago(Duration),
    At(DateTime<Utc>),
}

impl Moment {
    /// The instant meant, read at `now` (a span back needs `now`).
    pub fn instant(self, now: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        match self {
            Moment::Ago(d) => now.map(|n| n - d.to_chrono()),
            Moment::At(at) => Some(at),
        }
    }
}

impl FromStr for Moment {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(at) = parse_instant(text) {
            return Ok(Moment::At(at));
        }
        text.parse::<Duration>().map(Moment::Ago).map_err(|_| {
            format!("'{text}' is neither a span such as '30d' nor a date such as '2026-01-01' (or an RFC 3339 instant)")
        })
    }
}

impl fmt::Display for Moment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Moment::Ago(d) => d.fmt(f),
            Moment::At(at) if *at == at.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() => {
                write!(f, "{}", at.date_naive())
            }
            Moment::At(at) => f.write_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        }
    }
}

impl Serialize for Moment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Moment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Moment {
    fn schema_name() -> Cow<'static, str> {
        "Moment".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A span back from now ('30d': 30 days ago), a date ('2026-01-01', midnight UTC) or an RFC 3339 instant."
        })
    }
}

/// A test on an instant; every key given must hold. Spans count from the instant the
/// condition is evaluated at; bounds of `within` and `within_next` are included, `before`
/// and `after` are strict. An unknown instant passes none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DateTest {
    /// In the last span: `{"within": "7d"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<Duration>,
    /// In the next span: `{"within_next": "3d"}` (for `expires`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_next: Option<Duration>,
    /// Earlier than a span ago (`"30d"`: longer ago than 30 days) or than a date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Moment>,
    /// Later than a span ago or than a date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Moment>,
}

impl DateTest {
    pub(super) fn is_empty(&self) -> bool {
        self.within.is_none() && self.within_next.is_none() && self.before.is_none() && self.after.is_none()
    }

    /// Whether `at` passes at `now`.
    pub fn holds(&self, at: Option<DateTime<Utc>>, now: Option<DateTime<Utc>>) -> bool {
        let Some(at) = at else { return false };
        let within = |span: Option<Duration>, back: bool| match span {
            None => true,
            Some(d) => now.is_some_and(|now| {
                if back {
                    now - d.to_chrono() <= at && at <= now
                } else {
                    now <= at && at <= now + d.to_chrono()
                }
            }),
        };
        let bound = |m: Option<Moment>, earlier: bool| match m {
            None => true,
            Some(m) => m.instant(now).is_some_and(|x| if earlier { at < x } else { at > x }),
        };
        within(self.within, true)
            && within(self.within_next, false)
            && bound(self.before, true)
            && bound(self.after, false)
    }
}

/// A test on a number; every key given must hold: `{"gte": 2}`, `{"gt": 1, "lte": 5}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Count {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<u64>,
}

impl Count {
    pub(super) fn is_empty(&self) -> bool {
        self == &Count::default()
    }

    pub fn holds(&self, n: u64) -> bool {
        self.eq.is_none_or(|v| n == v)
            && self.gt.is_none_or(|v| n > v)
            && self.gte.is_none_or(|v| n >= v)
            && self.lt.is_none_or(|v| n < v)
            && self.lte.is_none_or(|v| n <= v)
    }
}
