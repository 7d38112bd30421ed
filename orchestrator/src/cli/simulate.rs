//! `cairn simulate`: what Cairn would do with a flow for a list of contacts (and events), on a
//! virtual clock; the journal as NDJSON, and a summary. The files are read, and the inputs
//! checked, by what `POST /api/simulate` uses too (`service::import`, `service::simulate`).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clap::Args;
use flows::Duration;
use flows::condition::Condition;
use flows::simulate::{Scenario, Summary, simulate};

use super::{CliError, load_flow, load_policy};
use crate::service::import::{ImportError, read_contacts, read_events};
use crate::service::simulate::{check_segments, event_problems, segments_of};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The flow file.
    #[arg(value_name = "FLOW")]
    pub flow: PathBuf,
    /// Contacts: CSV with a header, or NDJSON. Keys id, email, phone, timezone, country,
    /// tags, lists ("a;b" in CSV); any other becomes a contact field.
    #[arg(long, value_name = "FILE")]
    pub contacts: PathBuf,
    /// Events, NDJSON: {"at", "contact", "type", "message"?, "tag"?, "list"?, "data"?}.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Simulated start time, RFC 3339 (default: now).
    #[arg(long, value_name = "RFC3339")]
    pub start: Option<DateTime<Utc>>,
    /// How long to simulate, e.g. 14d (default: until every journey ends, at most 90d).
    #[arg(long = "for", value_name = "DURATION")]
    pub span: Option<Duration>,
    /// Zone for contacts whose zone comes from nowhere else (overrides the policy file's).
    #[arg(long, value_name = "ZONE")]
    pub default_timezone: Option<chrono_tz::Tz>,
    /// Send policy file (JSON), as for `cairn serve --policy`.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Saved segments the flow's audiences name, JSON: {"<name>": <condition>, ...}.
    #[arg(long, value_name = "FILE")]
    pub segments: Option<PathBuf>,
}

pub use crate::service::simulate::DEFAULT_HORIZON_DAYS;

/// `cairn simulate`: writes the journal as NDJSON to `out`, returns the summary.
pub fn simulate_files(args: &SimulateArgs, out: &mut dyn Write) -> Result<Summary, CliError> {
    let flow = load_flow(&args.flow)?;
    let contacts = read_contacts(&args.contacts)?;
    let start = args.start.unwrap_or_else(Utc::now);
    let span = args
        .span
        .map(Duration::to_chrono)
        .unwrap_or_else(|| chrono::TimeDelta::days(DEFAULT_HORIZON_DAYS));
    let end = start.checked_add_signed(span).ok_or_else(|| CliError::Argument {
        message: format!(
            "--start {} plus the simulated span is beyond the calendar chrono supports",
            start.to_rfc3339()
        ),
    })?;
    let events = match &args.events {
        Some(path) => {
            let events = read_events(path)?;
            check_events(path, &events, &contacts, start)?;
            events
        }
        None => Vec::new(),
    };
    let policy = load_policy(args.policy.as_deref(), args.default_timezone)?;
    policy.check_flow(&flow).map_err(|problems| CliError::Flow {
        file: args.flow.display().to_string(),
        problems,
    })?;
    let segments = match &args.segments {
        Some(path) => read_segments(path)?,
        None => BTreeMap::new(),
    };
    let missing = match &args.segments {
        Some(path) => format!("is not in {}", path.display()),
        None => "is not given (use --segments FILE)".to_string(),
    };
    check_segments(&flow, &segments, &missing).map_err(|problems| CliError::Flow {
        file: args.flow.display().to_string(),
        problems,
    })?;
    let scenario = Scenario {
        contacts,
        events,
        start,
        end,
        segments,
    };
    let mut writer = io::BufWriter::with_capacity(1 << 16, out);
    let mut failure: Option<io::Error> = None;
    let summary = simulate(&flow, &policy, scenario, &mut |entry| {
        if failure.is_none() {
            let result = serde_json::to_writer(&mut writer, entry)
                .map_err(io::Error::from)
                .and_then(|()| writer.write_all(b"\n"));
            if let Err(e) = result {
                failure = Some(e);
            }
        }
    });
    if let Some(e) = failure {
        return Err(e.into());
    }
    writer.flush()?;
    Ok(summary)
}

/// The saved segments of `--segments`: a JSON object of conditions by segment name, each read
/// strictly (as a segment's condition is by the API).
fn read_segments(path: &Path) -> Result<BTreeMap<String, Condition>, CliError> {
    let argument = |message: String| CliError::Argument {
        message: format!("{}: {message}", path.display()),
    };
    let text = std::fs::read_to_string(path).map_err(|e| argument(format!("cannot read: {e}")))?;
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| argument(format!("not a JSON object of conditions by segment name: {e}")))?;
    segments_of(object)
        .map_err(|problems| argument(problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")))
}

/// Events must name known contacts and happen no earlier than `start`; problems name the lines.
fn check_events(
    path: &Path,
    events: &[flows::Event],
    contacts: &[flows::Contact],
    start: DateTime<Utc>,
) -> Result<(), CliError> {
    let found = event_problems(events, contacts, start);
    if found.is_empty() {
        return Ok(());
    }
    // Lines of non-blank events, to name them in errors.
    let text = std::fs::read_to_string(path)?;
    let lines: Vec<u64> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, _)| i as u64 + 1)
        .collect();
    let max = crate::service::import::MAX_REPORTED;
    let more = found.len().saturating_sub(max);
    let problems = found
        .into_iter()
        .take(max)
        .map(|(i, p)| (lines.get(i).copied().unwrap_or(0), p.to_string()))
        .collect();
    Err(ImportError {
        file: path.display().to_string(),
        problems,
        more,
    }
    .into())
}

/// The human summary `cairn simulate` prints to stderr.
pub fn render_summary(summary: &Summary, elapsed: std::time::Duration) -> String {
    let mut out = String::new();
    let id_width = summary.nodes.iter().map(|n| n.id.len()).max().unwrap_or(4).max(4);
    let type_width = summary
        .nodes
        .iter()
        .map(|n| n.type_name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    out.push_str(&format!("{:id_width$}  {:type_width$}  counts\n", "node", "type"));
    for n in &summary.nodes {
        let mut parts: Vec<String> = n.actions.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if n.waiting_at_end > 0 {
            parts.push(format!("still_here={}", n.waiting_at_end));
        }
        if parts.is_empty() {
            parts.push("-".into());
        }
        out.push_str(&format!(
            "{:id_width$}  {:type_width$}  {}\n",
            n.id,
            n.type_name,
            parts.join(" ")
        ));
    }
    out.push_str(&format!(
        "{} contacts, {} journeys ({} still running), {} journal lines, {:.3} s",
        summary.contacts,
        summary.tokens,
        summary.active,
        summary.journal_lines,
        elapsed.as_secs_f64()
    ));
    if let Some(last) = summary.last_activity {
        out.push_str(&format!(", last activity {}", last.to_rfc3339()));
    }
    out.push('\n');
    out
}
