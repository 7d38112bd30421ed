//! Every template validates and simulates to the journal committed beside it
//! (`flows/templates/<name>.journal.ndjson`). After an intended change, regenerate with
//! `CAIRN_BLESS=1 cargo test -p tests` and review the diff.

use orchestrator::cli::{SimulateArgs, simulate_files, validate};
use tests::{TEMPLATE_START, repo_root, template_names};

#[test]
fn the_required_templates_exist() {
    let names = template_names();
    let journeys = ["welcome", "abandoned-cart", "re-engagement", "birthday"];
    let campaigns = [
        "recent-interest",
        "monthly-newsletter",
        "contract-renewal",
        "reactivation",
    ];
    for required in journeys.into_iter().chain(campaigns) {
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

/// `(contact, instant)` of each line of `node` with `action`, in journal order.
fn lines_at(journal: &[serde_json::Value], node: &str, action: &str) -> Vec<(String, String)> {
    journal
        .iter()
        .filter(|l| l["node"] == node && l["action"] == action)
        .map(|l| {
            (
                l["contact"].as_str().unwrap().to_string(),
                l["at"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn recent_interest_offers_once_at_ten_local_to_whoever_looked_at_pricing_this_week_and_is_no_customer() {
    let journal = journal_of("recent-interest");
    assert_eq!(
        lines_at(&journal, "offer", "sent"),
        pairs(&[
            ("ana", "2026-12-30T08:00:00Z"),  // 10:00 Tallinn; tagged two days before
            ("dora", "2026-12-30T09:00:00Z"), // 10:00 Berlin
            ("ben", "2027-01-09T15:00:00Z"),  // 10:00 New York, the morning after his new visit
        ]),
        "chen and fay are customers (fay became one before her run), eli never looked; dora's \
         second visit on 20 January gets her nothing more"
    );
}

#[test]
fn the_monthly_newsletter_goes_out_on_the_fifth_at_nine_local_except_on_a_subscribers_public_holiday() {
    let journal = journal_of("monthly-newsletter");
    let issues = |contact: &str| -> Vec<String> {
        lines_at(&journal, "issue", "sent")
            .into_iter()
            .filter(|(c, _)| c == contact)
            .map(|(_, at)| at)
            .collect()
    };
    let tallinn = ["2027-01-05T07:00:00Z", "2027-02-05T07:00:00Z", "2027-03-05T07:00:00Z"];
    assert_eq!(issues("n1"), tallinn, "09:00 in Tallinn every month");
    assert_eq!(
        issues("n2"),
        ["2027-02-05T06:00:00Z", "2027-03-05T06:00:00Z"],
        "5 January is a New Year holiday in Russia"
    );
    assert_eq!(
        issues("n3"),
        ["2027-01-05T01:00:00Z", "2027-03-05T01:00:00Z"],
        "5 February 2027 is Chinese New Year's Eve"
    );
    assert_eq!(
        issues("n4"),
        ["2027-01-05T14:00:00Z", "2027-02-05T14:00:00Z"],
        "left the list on 20 February"
    );
    assert_eq!(issues("n5"), ["2027-03-05T09:00:00Z"], "joined the list on 25 February");
}

#[test]
fn the_contract_renewal_reminds_each_contract_ending_within_30_days_once() {
    let journal = journal_of("contract-renewal");
    let reminders: Vec<(String, String, String)> = journal
        .iter()
        .filter(|l| l["node"] == "reminder" && l["action"] == "sent")
        .map(|l| {
            let field = |k: &str| l[k].as_str().unwrap().to_string();
            (field("contact"), field("record"), field("at"))
        })
        .collect();
    let expected = [
        ("john", "k-201", "2026-12-30T14:00:00Z"), // ends 5 January; 09:00 New York
        ("mari", "k-101", "2026-12-31T07:00:00Z"), // ends 15 January; 09:00 Tallinn (the 30th's run was before the start)
        ("mari", "k-104", "2026-12-31T07:00:00Z"), // ends 25 January: a second journey for Mari
        ("mari", "k-102", "2027-01-21T07:00:00Z"), // ends 20 February: within 30 days from the 21st
        ("john", "k-202", "2027-01-30T14:00:00Z"), // ends 1 March
    ]
    .map(|(c, r, at)| (c.to_string(), r.to_string(), at.to_string()));
    assert_eq!(
        reminders, expected,
        "k-103 is cancelled, k-301 has ended, k-302 ends in September, Olga has no contract"
    );
    assert!(
        journal.iter().all(|l| l["record"].is_string()),
        "every line names its contract"
    );
}

#[test]
fn reactivation_writes_once_to_customers_inactive_for_90_days_and_holds_some_out() {
    let journal = journal_of("reactivation");
    let entered = lines_at(&journal, "inactive", "entered");
    let mut expected: Vec<(&str, &str)> = vec![("r1", "2027-01-04T08:00:00Z")];
    let no_history = ["r6", "r7", "r8", "r9", "r10", "r11", "r12"];
    expected.extend(no_history.iter().map(|c| (*c, "2027-01-04T08:00:00Z")));
    // Bruno's last purchase was on 1 December, Carla's last open on 20 December: each enters
    // at the first Monday run more than 90 days later.
    expected.extend([("r2", "2027-03-01T08:00:00Z"), ("r3", "2027-03-22T08:00:00Z")]);
    assert_eq!(
        entered,
        pairs(&expected),
        "r4 bought on 2 January, before the first run; r5 is not a customer"
    );
    let held_out: Vec<&str> = journal
        .iter()
        .filter(|l| l["action"] == "control_group" && l["held_out"] == true)
        .map(|l| l["contact"].as_str().unwrap())
        .collect();
    assert_eq!(held_out, ["r1"]);
    let written = lines_at(&journal, "win_back", "sent");
    assert_eq!(written.len(), entered.len() - held_out.len());
    assert!(written.iter().all(|(c, _)| c != "r1"), "the control group gets nothing");
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
