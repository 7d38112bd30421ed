//! Where a contact is: their time zone (and which source gave it), their country, the public
//! holidays there, and whether their addresses can be sent to.
//!
//! The tables in `flows/data/` are generated, committed, and read once on first use:
//! `phone_zones.tsv` and `phone_regions.tsv` from libphonenumber's data in the PyPI package
//! `phonenumbers` (Apache-2.0, see `NOTICE-phonenumbers.txt`), `country_zones.tsv` from the IANA
//! zone tables, and `holidays.tsv` from the PyPI package `holidays` (MIT, see
//! `NOTICE-holidays.txt`). `scripts/generate-phone-data.py` and `scripts/generate-holidays.py`
//! refresh them.
//!
//! A phone prefix that maps to several zones (e.g. +1 without a known area code) is ambiguous:
//! the zone then comes from the next source, never from a guess.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::contact::Contact;

static PHONE_ZONES: &str = include_str!("../data/phone_zones.tsv");
static PHONE_REGIONS: &str = include_str!("../data/phone_regions.tsv");
static COUNTRY_ZONES: &str = include_str!("../data/country_zones.tsv");
static HOLIDAYS: &str = include_str!("../data/holidays.tsv");

/// Which source gave a contact's zone, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneSource {
    /// The contact's own `timezone` field.
    Contact,
    /// Their phone number's country and area code.
    Phone,
    /// Their `country` field (countries with one zone only).
    Country,
    /// The flow's `timezone`.
    Flow,
    /// The workspace default.
    Default,
}

impl ZoneSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ZoneSource::Contact => "contact",
            ZoneSource::Phone => "phone",
            ZoneSource::Country => "country",
            ZoneSource::Flow => "flow",
            ZoneSource::Default => "default",
        }
    }
}

fn pairs(text: &'static str) -> HashMap<&'static str, &'static str> {
    text.lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

fn phone_zones() -> &'static HashMap<&'static str, &'static str> {
    static T: OnceLock<HashMap<&str, &str>> = OnceLock::new();
    T.get_or_init(|| pairs(PHONE_ZONES))
}

fn phone_regions() -> &'static HashMap<&'static str, &'static str> {
    static T: OnceLock<HashMap<&str, &str>> = OnceLock::new();
    T.get_or_init(|| pairs(PHONE_REGIONS))
}

fn country_zones() -> &'static HashMap<&'static str, &'static str> {
    static T: OnceLock<HashMap<&str, &str>> = OnceLock::new();
    T.get_or_init(|| pairs(COUNTRY_ZONES))
}

/// Public holidays by country, then date.
fn holidays() -> &'static HashMap<&'static str, BTreeMap<NaiveDate, &'static str>> {
    static T: OnceLock<HashMap<&str, BTreeMap<NaiveDate, &str>>> = OnceLock::new();
    T.get_or_init(|| {
        let mut table: HashMap<&str, BTreeMap<NaiveDate, &str>> = HashMap::new();
        for line in HOLIDAYS.lines() {
            let mut parts = line.splitn(3, '\t');
            let (Some(country), Some(date)) = (parts.next(), parts.next()) else {
                continue;
            };
            let Ok(date) = NaiveDate::parse_from_str(date, "%Y-%m-%d") else {
                continue;
            };
            let name = parts.next().unwrap_or("").trim();
            table.entry(country).or_default().insert(date, name);
        }
        table
    })
}

/// The digits of a phone number in international format (`+372 5555 1234`, `00372…`), or why
/// it is not one.
pub fn phone_digits(phone: &str) -> Result<String, String> {
    let trimmed = phone.trim();
    let rest = if let Some(r) = trimmed.strip_prefix('+') {
        r
    } else if let Some(r) = trimmed.strip_prefix("00") {
        r
    } else {
        return Err(format!(
            "phone number '{phone}' is not in international format (+ and the country code)"
        ));
    };
    let mut digits = String::new();
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(format!("phone number '{phone}' contains '{c}'")),
        }
    }
    if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
        return Err(format!(
            "phone number '{phone}' has {} digits after the +; a valid number has 8 to 15 and no leading 0",
            digits.len()
        ));
    }
    Ok(digits)
}

/// The longest prefix of `digits` in `table`.
fn longest(table: &'static HashMap<&'static str, &'static str>, digits: &str) -> Option<&'static str> {
    (1..=digits.len().min(12))
        .rev()
        .find_map(|n| table.get(&digits[..n]).copied())
}

/// What a phone number says about its zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneZone {
    Zone(Tz),
    /// The number's prefix spans several zones.
    Ambiguous,
    /// Not a valid international number, or a prefix without zone data.
    Unknown,
}

pub fn zone_for_phone(phone: &str) -> PhoneZone {
    let Ok(digits) = phone_digits(phone) else {
        return PhoneZone::Unknown;
    };
    match longest(phone_zones(), &digits) {
        Some(zones) if zones.contains(',') => PhoneZone::Ambiguous,
        Some(zone) => zone.parse().map_or(PhoneZone::Unknown, PhoneZone::Zone),
        None => PhoneZone::Unknown,
    }
}

/// The country (ISO 3166 alpha-2) of a phone number, when its prefix says it unambiguously.
pub fn region_for_phone(phone: &str) -> Option<&'static str> {
    longest(phone_regions(), &phone_digits(phone).ok()?)
}

/// The zone of a country with a single zone; `None` for countries with several.
pub fn zone_for_country(country: &str) -> Option<Tz> {
    country_zones()
        .get(country.trim().to_ascii_uppercase().as_str())?
        .parse()
        .ok()
}

/// Whether `country` (ISO 3166 alpha-2, any case) has public holidays in the table.
pub fn is_country(country: &str) -> bool {
    holidays().contains_key(country.trim().to_ascii_uppercase().as_str())
}

/// The name of the public holiday on `day` in `country`, if it is one (years 2025–2031).
pub fn public_holiday(country: &str, day: NaiveDate) -> Option<&'static str> {
    public_holidays_between(country, day, day).next().map(|(_, name)| name)
}

/// The public holidays of `country` from `from` to `to` (inclusive), with their names.
pub fn public_holidays_between(
    country: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> impl Iterator<Item = (NaiveDate, &'static str)> {
    let days = holidays().get(country.trim().to_ascii_uppercase().as_str());
    days.into_iter()
        .flat_map(move |days| days.range(from..=to.max(from)))
        .map(|(d, name)| (*d, if name.is_empty() { "public holiday" } else { *name }))
}

/// Where a contact is, as far as zones and holidays go: their own `timezone`, phone and
/// `country`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Place<'a> {
    pub timezone: Option<Tz>,
    pub phone: Option<&'a str>,
    pub country: Option<&'a str>,
}

impl<'a> Place<'a> {
    pub fn of(contact: &'a Contact) -> Self {
        Place {
            timezone: contact.timezone,
            phone: contact.phone.as_deref(),
            country: contact.country.as_deref(),
        }
    }

    /// The zone and where it came from: their `timezone`; their phone; their `country`; the
    /// flow's zone; the workspace default.
    pub fn zone(&self, flow: Option<Tz>, default: Tz) -> (Tz, ZoneSource) {
        if let Some(tz) = self.timezone {
            return (tz, ZoneSource::Contact);
        }
        if let Some(phone) = self.phone
            && let PhoneZone::Zone(tz) = zone_for_phone(phone)
        {
            return (tz, ZoneSource::Phone);
        }
        if let Some(tz) = self.country.and_then(zone_for_country) {
            return (tz, ZoneSource::Country);
        }
        match flow {
            Some(tz) => (tz, ZoneSource::Flow),
            None => (default, ZoneSource::Default),
        }
    }

    /// The country: the `country` field, else the phone's.
    pub fn country(&self) -> Option<String> {
        self.country
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| !c.is_empty())
            .or_else(|| self.phone.and_then(region_for_phone).map(str::to_string))
    }
}

/// A contact's zone and where it came from (see [`Place::zone`]).
pub fn contact_zone(contact: &Contact, flow: Option<Tz>, default: Tz) -> (Tz, ZoneSource) {
    Place::of(contact).zone(flow, default)
}

/// A contact's country: their `country` field, else their phone's.
pub fn contact_country(contact: &Contact) -> Option<String> {
    Place::of(contact).country()
}

/// The form an address is suppressed under: a lower-case e-mail address, or `+` and the digits
/// of a phone number; `None` for channels whose address is not a person's (push, webhook).
pub fn suppression_key(channel: Channel, address: &str) -> Option<String> {
    match channel {
        Channel::Email => Some(address.trim().to_lowercase()),
        Channel::Sms => phone_digits(address).ok().map(|d| format!("+{d}")),
        Channel::Push | Channel::Webhook => None,
    }
}

/// The suppression keys of a contact's e-mail address and phone number.
pub fn suppression_keys(contact: &Contact) -> impl Iterator<Item = String> + '_ {
    let email = contact
        .email
        .as_deref()
        .and_then(|a| suppression_key(Channel::Email, a));
    let phone = contact.phone.as_deref().and_then(|a| suppression_key(Channel::Sms, a));
    email.into_iter().chain(phone)
}

/// Why an e-mail address cannot be sent to, if it cannot.
pub fn check_email(address: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("e-mail address '{address}' {why}"));
    let a = address.trim();
    let Some((local, domain)) = a.rsplit_once('@') else {
        return bad("has no @");
    };
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return bad("has an invalid part before the @");
    }
    if a.chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
    {
        return bad("contains a space or a character not allowed in an address");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels.iter().any(|l| {
            l.is_empty()
                || l.starts_with('-')
                || l.ends_with('-')
                || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
    {
        return bad("has an invalid domain");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(phone: &str) -> PhoneZone {
        zone_for_phone(phone)
    }
    fn z(name: &str) -> PhoneZone {
        PhoneZone::Zone(name.parse().unwrap())
    }

    #[test]
    fn phone_numbers_give_the_zone_of_their_country_and_area_code() {
        assert_eq!(zone("+372 5555 1234"), z("Europe/Tallinn"));
        assert_eq!(zone("+49 151 12345678"), z("Europe/Berlin"));
        assert_eq!(zone("+1 212 555 1234"), z("America/New_York"));
        assert_eq!(zone("+1 310 555 1234"), z("America/Los_Angeles"));
        assert_eq!(zone("+91 98123 45678"), z("Asia/Kolkata"));
        assert_eq!(zone("+977 981 2345678"), z("Asia/Kathmandu"));
        assert_eq!(zone("+81 3 1234 5678"), z("Asia/Tokyo"));
        assert_eq!(zone("+44 7700 900123"), z("Europe/London"));
        assert_eq!(zone("+33 6 12 34 56 78"), z("Europe/Paris"));
        assert_eq!(zone("+1 416 555 1234"), z("America/Toronto"));
        assert_eq!(zone("0061 2 1234 5678"), z("Australia/Sydney"));
    }

    #[test]
    fn mobile_ranges_used_across_several_zones_give_no_zone() {
        // An Australian mobile may be in Perth or Sydney; a New Zealand one on the Chatham
        // Islands: libphonenumber gives these ranges every zone of their country.
        assert_eq!(zone("+61 412 345 678"), PhoneZone::Ambiguous);
        assert_eq!(zone("+61 499 999 999"), PhoneZone::Ambiguous);
        assert_eq!(zone("+64 21 123 4567"), PhoneZone::Ambiguous);
        assert_eq!(zone("+64 27 123 4567"), PhoneZone::Ambiguous);
        // Landlines keep their area's zone; a territory with one zone keeps it for all numbers.
        assert_eq!(zone("+61 2 9374 4000"), z("Australia/Sydney"));
        assert_eq!(zone("+64 9 300 1234"), z("Pacific/Auckland"));
        assert_eq!(zone("+1 684 633 1234"), z("Pacific/Pago_Pago"));
        assert_eq!(
            zone("+1 684 733 1234"),
            z("Pacific/Pago_Pago"),
            "an American Samoa mobile"
        );
        assert_eq!(zone("+372 5123 4567"), z("Europe/Tallinn"));
        assert_eq!(zone("+372 640 4000"), z("Europe/Tallinn"));
    }

    #[test]
    fn a_contact_with_only_an_australian_mobile_gets_the_flow_or_default_zone() {
        let mut c = Contact::new("c1");
        c.phone = Some("+61 412 345 678".into());
        assert_eq!(
            contact_zone(&c, None, chrono_tz::UTC),
            (chrono_tz::UTC, ZoneSource::Default)
        );
        c.phone = Some("+64 21 123 4567".into());
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            contact_zone(&c, Some(berlin), chrono_tz::UTC),
            (berlin, ZoneSource::Flow)
        );
        c.country = Some("NZ".into()); // two zones: still no guess
        assert_eq!(
            contact_zone(&c, None, chrono_tz::UTC),
            (chrono_tz::UTC, ZoneSource::Default)
        );
    }

    #[test]
    fn ambiguous_or_invalid_numbers_give_no_zone() {
        // Toll-free +1 800 is not tied to a place.
        assert_eq!(zone("+1 800 555 1234"), PhoneZone::Ambiguous);
        assert_eq!(zone("5551234"), PhoneZone::Unknown);
        assert_eq!(zone("+12"), PhoneZone::Unknown);
    }

    #[test]
    fn the_zone_comes_from_the_contact_then_phone_then_country_then_defaults() {
        let utc = chrono_tz::UTC;
        let mut c = Contact::new("c1");
        c.phone = Some("+1 800 555 1234".into());
        c.country = Some("ee".into());
        assert_eq!(
            contact_zone(&c, None, utc),
            ("Europe/Tallinn".parse().unwrap(), ZoneSource::Country)
        );
        c.phone = Some("+91 98123 45678".into());
        assert_eq!(
            contact_zone(&c, None, utc),
            ("Asia/Kolkata".parse().unwrap(), ZoneSource::Phone)
        );
        c.timezone = Some("Asia/Tokyo".parse().unwrap());
        assert_eq!(
            contact_zone(&c, None, utc),
            ("Asia/Tokyo".parse().unwrap(), ZoneSource::Contact)
        );
        let mut us = Contact::new("c2");
        us.country = Some("US".into());
        assert_eq!(contact_zone(&us, None, utc), (utc, ZoneSource::Default));
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(contact_zone(&us, Some(berlin), utc), (berlin, ZoneSource::Flow));
    }

    #[test]
    fn the_country_comes_from_the_field_or_the_phone() {
        let mut c = Contact::new("c1");
        c.phone = Some("+33 6 12 34 56 78".into());
        assert_eq!(contact_country(&c).as_deref(), Some("FR"));
        c.country = Some("de".into());
        assert_eq!(contact_country(&c).as_deref(), Some("DE"));
        let mut gb = Contact::new("c2");
        gb.phone = Some("+44 7400 123456".into());
        assert_eq!(contact_country(&gb).as_deref(), Some("GB"));
        gb.phone = Some("+44 7797 123456".into());
        assert_eq!(contact_country(&gb).as_deref(), Some("JE"), "+44 is shared with Jersey");
        // The drama range is no one's: no country, though its zone is London.
        gb.phone = Some("+44 7700 900123".into());
        assert_eq!(contact_country(&gb), None);
        assert_eq!(zone_for_phone("+44 7700 900123"), z("Europe/London"));
    }

    #[test]
    fn public_holidays_of_three_countries() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert!(
            public_holiday("EE", d("2026-02-24")).is_some(),
            "Estonian Independence Day"
        );
        assert!(public_holiday("EE", d("2026-06-24")).is_some(), "Midsummer Day");
        assert!(public_holiday("US", d("2026-07-04")).is_some() || public_holiday("US", d("2026-07-03")).is_some());
        assert!(public_holiday("US", d("2026-11-26")).is_some(), "Thanksgiving");
        assert!(public_holiday("IN", d("2026-01-26")).is_some(), "Republic Day");
        assert!(public_holiday("ee", d("2026-12-25")).is_some());
        assert_eq!(public_holiday("EE", d("2026-12-01")), None);
    }

    #[test]
    fn addresses_are_checked_before_sending() {
        assert!(check_email("ann@example.com").is_ok());
        assert!(check_email("ann.example.com").is_err());
        assert!(check_email("ann@example").is_err());
        assert!(check_email("ann smith@example.com").is_err());
        assert!(check_email("@example.com").is_err());
        assert!(phone_digits("+372 5555 1234").is_ok());
        assert!(phone_digits("5555 1234").is_err());
        assert!(phone_digits("+372 5555 12a4").is_err());
    }
}
