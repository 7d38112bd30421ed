//! The `cairn` binary as a user runs it: exit codes, stdout and stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cairn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .output()
        .expect("cairn runs")
}

fn templates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows/templates")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A scratch directory unique to one test, removed when dropped.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("cairn-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

#[test]
fn validate_prints_ok_per_valid_file_and_exits_zero() {
    let welcome = templates().join("welcome.json");
    let birthday = templates().join("birthday.json");
    let o = cairn(&[
        "flows",
        "validate",
        welcome.to_str().unwrap(),
        birthday.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!("{}: ok\n{}: ok\n", welcome.display(), birthday.display())
    );
}

#[test]
fn validate_prints_one_line_per_problem_and_exits_non_zero() {
    let dir = scratch("validate");
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"format": "cairn.flow/v1", "name": "Bad",
            "nodes": [{"id": "start", "type": "webhook_entry"},
                      {"id": "read", "type": "wait_for_event", "event": "opened", "timeout": "2x"},
                      {"id": "done", "type": "exit"}],
            "edges": [{"from": "start", "to": "read"}, {"from": "read", "to": "done", "when": "event"}]}"#,
    )
    .unwrap();
    let syntax = dir.join("syntax.json");
    std::fs::write(&syntax, "{\n  \"format\": \"cairn.flow/v1\",\n  \"nodes\": [,]\n}").unwrap();
    let good = templates().join("welcome.json");
    let o = cairn(&[
        "flows",
        "validate",
        bad.to_str().unwrap(),
        good.to_str().unwrap(),
        syntax.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with(&format!(
            "{}: node 'read': field 'timeout': invalid duration '2x'",
            bad.display()
        )),
        "{out}"
    );
    assert_eq!(lines[1], format!("{}: ok", good.display()));
    assert!(
        lines[2].starts_with(&format!("{}: line 3, column 13: invalid JSON", syntax.display())),
        "{out}"
    );
}

#[test]
fn validate_reports_an_unreadable_file() {
    let o = cairn(&["flows", "validate", "/nonexistent/flow.json"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with("/nonexistent/flow.json: cannot read:"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn simulate_prints_the_journal_on_stdout_and_a_summary_on_stderr() {
    let t = templates();
    let o = cairn(&[
        "simulate",
        t.join("welcome.json").to_str().unwrap(),
        "--contacts",
        t.join("welcome.contacts.csv").to_str().unwrap(),
        "--events",
        t.join("welcome.events.ndjson").to_str().unwrap(),
        "--start",
        "2026-12-30T08:00:00Z",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let expected = std::fs::read_to_string(t.join("welcome.journal.ndjson")).unwrap();
    assert_eq!(stdout(&o), expected);
    let summary = stderr(&o);
    assert!(summary.contains("hello  send_email      failed=1 sent=3"), "{summary}");
    assert!(
        summary.contains("4 contacts, 4 journeys (0 still running), 22 journal lines"),
        "{summary}"
    );
}

#[test]
fn simulate_for_a_short_span_leaves_journeys_waiting() {
    let t = templates();
    let o = cairn(&[
        "simulate",
        t.join("welcome.json").to_str().unwrap(),
        "--contacts",
        t.join("welcome.contacts.csv").to_str().unwrap(),
        "--start",
        "2026-12-30T08:00:00Z",
        "--for",
        "1h",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("timed_out"));
    assert!(stderr(&o).contains("4 journeys (4 still running)"), "{}", stderr(&o));
}

#[test]
fn simulate_reports_bad_contact_rows_by_line_and_writes_no_journal() {
    let dir = scratch("contacts");
    let contacts = dir.join("contacts.csv");
    std::fs::write(
        &contacts,
        "id,email,timezone\nc1,a@example.com,Europe/Tallinn\nc2,b@example.com,Moon/Base\n",
    )
    .unwrap();
    let o = cairn(&[
        "simulate",
        templates().join("welcome.json").to_str().unwrap(),
        "--contacts",
        contacts.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    assert!(
        stderr(&o).contains(&format!("{}:3: unknown time zone 'Moon/Base'", contacts.display())),
        "{}",
        stderr(&o)
    );
}

#[test]
fn simulate_refuses_events_for_unknown_contacts_or_before_the_start() {
    let dir = scratch("events");
    let events = dir.join("events.ndjson");
    std::fs::write(
        &events,
        "{\"at\": \"2026-12-30T09:00:00Z\", \"contact\": \"c1\", \"type\": \"opened\"}\n\n{\"at\": \"2026-12-30T09:00:00Z\", \"contact\": \"zz\", \"type\": \"opened\"}\n",
    )
    .unwrap();
    let t = templates();
    let flow = t.join("welcome.json");
    let contacts = t.join("welcome.contacts.csv");
    let run = |start: &str| {
        cairn(&[
            "simulate",
            flow.to_str().unwrap(),
            "--contacts",
            contacts.to_str().unwrap(),
            "--events",
            events.to_str().unwrap(),
            "--start",
            start,
        ])
    };
    let o = run("2026-12-30T08:00:00Z");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!(
            "{}:3: contact 'zz' is not in the contacts file",
            events.display()
        )),
        "{}",
        stderr(&o)
    );
    let o = run("2026-12-30T10:00:00Z");
    assert!(
        stderr(&o).contains(&format!(
            "{}:1: event at 2026-12-30T09:00:00+00:00 is before the simulation starts",
            events.display()
        )),
        "{}",
        stderr(&o)
    );
}

#[test]
fn simulate_refuses_an_invalid_flow_with_its_problems() {
    let dir = scratch("flow");
    let flow = dir.join("flow.json");
    std::fs::write(
        &flow,
        r#"{"format": "cairn.flow/v1", "name": "X", "nodes": [{"id": "done", "type": "exit"}]}"#,
    )
    .unwrap();
    let o = cairn(&[
        "simulate",
        flow.to_str().unwrap(),
        "--contacts",
        templates().join("welcome.contacts.csv").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("field 'nodes': the flow has no entry node"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_arguments_get_a_usage_error() {
    let o = cairn(&["simulate", "x.json", "--contacts", "c.csv", "--for", "forever"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("invalid duration 'forever'"), "{}", stderr(&o));
}

#[test]
fn a_start_at_the_end_of_the_calendar_is_refused_not_a_crash() {
    let t = templates();
    let o = cairn(&[
        "simulate",
        t.join("welcome.json").to_str().unwrap(),
        "--contacts",
        t.join("welcome.contacts.csv").to_str().unwrap(),
        "--start",
        "+262142-12-01T00:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("beyond the calendar"), "{}", stderr(&o));
}

#[test]
fn schema_prints_the_published_json_schema() {
    let o = cairn(&["flows", "schema"]);
    assert!(o.status.success());
    let published =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/cairn.flow.v1.schema.json"))
            .unwrap();
    assert_eq!(
        stdout(&o),
        published,
        "docs/cairn.flow.v1.schema.json is stale: run `cargo run -- flows schema > docs/cairn.flow.v1.schema.json`"
    );
}

#[test]
fn a_bad_webhook_allow_list_entry_is_named_and_nothing_starts() {
    for command in ["serve", "worker"] {
        let out = cairn(&[command, "--webhook-allow", "10.0.0.0/8, 10.0.0.0/33"]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        let err = stderr(&out);
        assert!(
            err.contains(
                "'10.0.0.0/33' is not a CIDR (10.0.0.0/8), an IP address or a host name: the prefix length must be 0 to 32"
            ),
            "{command}: {err}"
        );
    }
}

#[test]
fn simulate_branches_on_tag_facts_and_records_from_the_contacts_file() {
    let dir = scratch("facts");
    let flow = dir.join("flow.json");
    std::fs::write(
        &flow,
        r#"{"format": "cairn.flow/v1", "name": "Renewals", "nodes": [
            {"id": "start", "type": "webhook_entry"},
            {"id": "check", "type": "branch", "condition": {"all": [
                {"tag": {"name": "pricing", "last_added": {"within": "7d"}, "count": {"gte": 2}}},
                {"records": {"type": "contract", "any": {"all": [
                    {"field": {"path": "status", "op": "eq", "value": "active"}},
                    {"field": {"path": "end_date", "op": "within_next", "value": "30d"}}]}}},
                {"not": {"list": {"name": "customers"}}}]}},
            {"id": "hot", "type": "add_tag", "tag": "hot"},
            {"id": "hot_again", "type": "branch", "condition": {"tag": {"name": "hot", "count": {"eq": 1}, "last_added": {"within": "0s"}}}},
            {"id": "done", "type": "exit"}, {"id": "odd", "type": "exit"}, {"id": "cold", "type": "exit"}],
          "edges": [{"from": "start", "to": "check"}, {"from": "check", "to": "hot", "when": "yes"},
                    {"from": "check", "to": "cold", "when": "no"}, {"from": "hot", "to": "hot_again"},
                    {"from": "hot_again", "to": "done", "when": "yes"}, {"from": "hot_again", "to": "odd", "when": "no"}]}"#,
    )
    .unwrap();
    let contacts = dir.join("contacts.ndjson");
    std::fs::write(
        &contacts,
        concat!(
            r#"{"id": "ann", "tags": [{"tag": "pricing", "count": 2, "first_added_at": "2026-11-01T00:00:00Z", "last_added_at": "2026-12-28T10:00:00Z"}], "records": {"contract": [{"id": "k1", "status": "active", "end_date": "2027-01-15"}]}}"#,
            "\n",
            r#"{"id": "bob", "tags": ["pricing"], "records": {"contract": [{"id": "k2", "status": "active", "end_date": "2027-01-15"}]}}"#,
            "\n",
            r#"{"id": "cy", "tags": [{"tag": "pricing", "count": 3, "last_added_at": "2026-12-29T10:00:00Z"}], "lists": ["customers"], "records": {"contract": [{"id": "k3", "status": "active", "end_date": "2027-01-15"}]}}"#,
            "\n"
        ),
    )
    .unwrap();
    let o = cairn(&[
        "simulate",
        flow.to_str().unwrap(),
        "--contacts",
        contacts.to_str().unwrap(),
        "--start",
        "2026-12-30T08:00:00Z",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let exits: Vec<(String, String)> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["action"] == "exited")
        .map(|l| {
            (
                l["contact"].as_str().unwrap().to_string(),
                l["node"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [("ann", "done"), ("bob", "cold"), ("cy", "cold")];
    assert_eq!(exits, expected.map(|(c, n)| (c.to_string(), n.to_string())), "{out}");
}

/// A campaign for the members of the saved segment "VIPs" who are not "Bounced".
const VIP_CAMPAIGN: &str = r#"{"format": "cairn.flow/v1", "name": "VIPs", "nodes": [
    {"id": "vips", "type": "segment_entry", "segments": ["VIPs"], "exclude_segments": ["Bounced"]},
    {"id": "done", "type": "exit"}],
  "edges": [{"from": "vips", "to": "done"}]}"#;

fn simulate_vip_campaign(dir: &Path, segments: &str) -> Output {
    let flow = dir.join("flow.json");
    std::fs::write(&flow, VIP_CAMPAIGN).unwrap();
    let contacts = dir.join("contacts.csv");
    std::fs::write(&contacts, "id,tags\nann,vip\nbob,\ncy,vip;bounced\n").unwrap();
    let file = dir.join("segments.json");
    std::fs::write(&file, segments).unwrap();
    cairn(&[
        "simulate",
        flow.to_str().unwrap(),
        "--contacts",
        contacts.to_str().unwrap(),
        "--segments",
        file.to_str().unwrap(),
        "--start",
        "2026-12-30T08:00:00Z",
    ])
}

#[test]
fn simulate_admits_the_audience_of_the_saved_segments_given_by_file() {
    let dir = scratch("segments");
    let o = simulate_vip_campaign(
        &dir,
        r#"{"VIPs": {"has_tag": "vip"}, "Bounced": {"has_tag": "bounced"}}"#,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let entered: Vec<String> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["action"] == "entered")
        .map(|l| l["contact"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(entered, ["ann"], "bob is no VIP, cy bounced");
}

#[test]
fn simulate_refuses_an_audience_naming_a_segment_the_file_lacks() {
    let dir = scratch("missing-segment");
    let o = simulate_vip_campaign(&dir, r#"{"VIPs": {"has_tag": "vip"}}"#);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!(
            "node 'vips': field 'exclude_segments[0]': segment 'Bounced' is not in {}",
            dir.join("segments.json").display()
        )),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty(), "no journal is written");
    let o = simulate_vip_campaign(
        &dir,
        r#"{"VIPs": {"has_tag": "vip"}, "Bounced": {"tag": {"nme": "x"}}}"#,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("segment 'Bounced'"), "{}", stderr(&o));
}

/// `cairn serve` with these arguments and none of the account variables from the environment.
fn serve(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("serve")
        .args(args)
        .env_remove("CAIRN_API_TOKEN")
        .env_remove("CAIRN_ADMIN_EMAIL")
        .env_remove("CAIRN_ADMIN_PASSWORD")
        .env_remove("CAIRN_LISTEN")
        .output()
        .expect("cairn runs")
}

#[test]
fn serving_beyond_loopback_with_no_account_and_no_token_is_refused_with_what_to_set() {
    let dir = scratch("exposed");
    let db = format!("sqlite://{}/cairn.db?mode=rwc", dir.display());
    let out = serve(&["--listen", "0.0.0.0:0", "--database-url", &db]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    for named in [
        "CAIRN_ADMIN_EMAIL",
        "CAIRN_ADMIN_PASSWORD",
        "CAIRN_API_TOKEN",
        "127.0.0.1",
    ] {
        assert!(err.contains(named), "{err}");
    }
}

#[test]
fn an_admin_password_is_never_printed_even_when_it_is_refused() {
    let dir = scratch("admin");
    let db = format!("sqlite://{}/cairn.db?mode=rwc", dir.display());
    let out = serve(&[
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &db,
        "--admin-email",
        "ann@example.com",
        "--admin-password",
        "tooshort",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("at least 10 characters"), "{err}");
    assert!(!err.contains("tooshort"), "{err}");
    let out = serve(&["--admin-email", "ann@example.com"]);
    assert_eq!(out.status.code(), Some(2), "an e-mail address without its password");
    assert!(stderr(&out).contains("--admin-password"), "{}", stderr(&out));
}
