//! Every template validates and simulates to the journal committed beside it
//! (`flows/templates/<name>.journal.ndjson`). After an intended change, regenerate with
//! `CAIRN_BLESS=1 cargo test -p tests` and review the diff.

use orchestrator::cli::{SimulateArgs, simulate_files, validate};
use tests::{TEMPLATE_START, repo_root, template_names};

#[test]
fn the_four_required_templates_exist() {
    let names = template_names();
    for required in ["welcome", "abandoned-cart", "re-engagement", "birthday"] {
        assert!(
            names.iter().any(|n| n == required),
            "flows/templates/{required}.json is missing; found {names:?}"
        );
    }
}

#[test]
fn every_template_validates() {
    let dir = repo_root().join("flows/templates");
    let files: Vec<_> = template_names().iter().map(|n| dir.join(format!("{n}.json"))).collect();
    let mut out = Vec::new();
    let ok = validate(&files, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(ok, "{text}");
    assert_eq!(text.lines().count(), files.len());
    assert!(text.lines().all(|l| l.ends_with(": ok")), "{text}");
}

#[test]
fn every_template_simulates_to_its_expected_journal() {
    let dir = repo_root().join("flows/templates");
    let bless = std::env::var_os("CAIRN_BLESS").is_some();
    let mut mismatches = Vec::new();
    for name in template_names() {
        let args = template_args(&name);
        let mut out = Vec::new();
        simulate_files(&args, &mut out).unwrap_or_else(|e| panic!("{name}: {e}"));
        let journal = String::from_utf8(out).unwrap();
        let expected_path = dir.join(format!("{name}.journal.ndjson"));
        if bless {
            std::fs::write(&expected_path, &journal).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!(
                "{} is missing; run CAIRN_BLESS=1 cargo test -p tests",
                expected_path.display()
            )
        });
        if journal != expected {
            let first = journal.lines().zip(expected.lines()).position(|(a, b)| a != b);
            mismatches.push(format!(
                "{name}: journal differs from {} (first differing line: {:?}; got {} lines, expected {})",
                expected_path.display(),
                first.map(|i| i + 1),
                journal.lines().count(),
                expected.lines().count()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// What `cairn simulate` is given for template `name`: the flow and its contacts
/// (`<name>.contacts.ndjson` when tags must remember dates or contacts have records, else
/// `<name>.contacts.csv`), and the optional `<name>.events.ndjson`, `<name>.policy.json` and
/// `<name>.segments.json`, from [`TEMPLATE_START`].
fn template_args(name: &str) -> SimulateArgs {
    let dir = repo_root().join("flows/templates");
    let optional = |suffix: &str| {
        let path = dir.join(format!("{name}.{suffix}"));
        path.exists().then_some(path)
    };
    SimulateArgs {
        flow: dir.join(format!("{name}.json")),
        contacts: optional("contacts.ndjson").unwrap_or_else(|| dir.join(format!("{name}.contacts.csv"))),
        events: optional("events.ndjson"),
        start: Some(TEMPLATE_START.parse().unwrap()),
        span: None,
        default_timezone: None,
        policy: optional("policy.json"),
        segments: optional("segments.json"),
    }
}

/// Spot checks that say in words what the committed journals show.
#[test]
fn the_welcome_journey_sends_sms_only_to_contacts_who_did_not_open_in_time() {
    let journal = journal_of("welcome");
    let sms: Vec<&str> = journal
        .iter()
        .filter(|l| l["channel"] == "sms")
        .map(|l| l["contact"].as_str().unwrap())
        .collect();
    assert_eq!(sms, ["c3"], "c1 and c2 opened within 2 h; c4 has no phone");
    let c2_open = journal
        .iter()
        .find(|l| l["contact"] == "c2" && l["action"] == "event")
        .unwrap();
    assert_eq!(
        c2_open["at"], "2026-12-30T10:00:00Z",
        "an open at the timeout instant counts"
    );
}

#[test]
fn birthday_greetings_go_out_at_nine_in_each_contacts_own_zone() {
    let journal = journal_of("birthday");
    let sent_at = |c: &str| {
        journal
            .iter()
            .find(|l| l["contact"] == c && l["node"] == "greeting")
            .map(|l| l["at"].as_str().unwrap().to_string())
    };
    assert_eq!(
        sent_at("b1").as_deref(),
        Some("2027-01-02T07:00:00Z"),
        "09:00 in Tallinn"
    );
    assert_eq!(sent_at("b2").as_deref(), Some("2027-01-02T00:00:00Z"), "09:00 in Tokyo");
    assert_eq!(
        sent_at("b3").as_deref(),
        Some("2027-02-28T14:00:00Z"),
        "29 Feb celebrated on 28 Feb, 09:00 New York"
    );
    assert_eq!(
        sent_at("b4").as_deref(),
        Some("2026-12-31T03:30:00Z"),
        "09:00 in Kolkata (UTC+5:30)"
    );
    assert_eq!(sent_at("b6"), None, "July is beyond the 90-day horizon");
}

#[test]
fn abandoned_carts_get_a_discount_sms_only_when_big_and_still_not_bought() {
    let journal = journal_of("abandoned-cart");
    let sms: Vec<&str> = journal
        .iter()
        .filter(|l| l["channel"] == "sms")
        .map(|l| l["contact"].as_str().unwrap())
        .collect();
    assert_eq!(sms, ["big"]);
    let reminded: Vec<&str> = journal
        .iter()
        .filter(|l| l["node"] == "reminder")
        .map(|l| l["contact"].as_str().unwrap())
        .collect();
    assert_eq!(reminded, ["later", "big", "small"], "quick bought within the hour");
}

fn journal_of(name: &str) -> Vec<serde_json::Value> {
    let path = repo_root().join(format!("flows/templates/{name}.journal.ndjson"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The worked example of `docs/send-policy.md`: the `sms-window` template over Christmas, whose
/// journal is committed as `docs/examples/sms-window.journal.ndjson`.
const WORKED_EXAMPLE_START: &str = "2026-12-23T17:00:00Z";

#[test]
fn every_sms_of_the_window_example_is_sent_inside_its_contacts_window() {
    use chrono::{Datelike, Timelike};
    let dir = repo_root().join("flows/templates");
    let contacts = orchestrator::service::import::read_contacts(&dir.join("sms-window.contacts.csv")).unwrap();
    for start in [TEMPLATE_START, WORKED_EXAMPLE_START] {
        let args = SimulateArgs {
            flow: dir.join("sms-window.json"),
            contacts: dir.join("sms-window.contacts.csv"),
            events: None,
            start: Some(start.parse().unwrap()),
            span: None,
            default_timezone: None,
            policy: None,
            segments: None,
        };
        let mut out = Vec::new();
        simulate_files(&args, &mut out).unwrap();
        let journal = String::from_utf8(out).unwrap();
        let mut sent = 0;
        for line in journal.lines() {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap();
            if entry["action"] != "sent" {
                continue;
            }
            sent += 1;
            let contact = contacts.iter().find(|c| c.id == entry["contact"]).unwrap();
            let (zone, _) = flows::geo::contact_zone(contact, None, chrono_tz::UTC);
            let at: chrono::DateTime<chrono::Utc> = entry["at"].as_str().unwrap().parse().unwrap();
            let local = at.with_timezone(&zone);
            assert!((10..20).contains(&local.hour()), "{line}: {local}");
            assert_ne!(local.weekday(), chrono::Weekday::Sun, "{line}: {local}");
            let country = flows::geo::contact_country(contact).unwrap();
            assert_eq!(
                flows::geo::public_holiday(&country, local.date_naive()),
                None,
                "{line}: {local}"
            );
        }
        assert_eq!(sent, 2 * contacts.len(), "two SMS per contact from {start}");
        if start == WORKED_EXAMPLE_START {
            let path = repo_root().join("docs/examples/sms-window.journal.ndjson");
            if std::env::var_os("CAIRN_BLESS").is_some() {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &journal).unwrap();
            }
            let expected = std::fs::read_to_string(&path).expect("docs/examples/sms-window.journal.ndjson");
            assert_eq!(
                journal, expected,
                "the worked example in docs/ is stale: CAIRN_BLESS=1 cargo test -p tests"
            );
        }
    }
}
