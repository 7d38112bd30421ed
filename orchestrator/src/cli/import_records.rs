//! `cairn import records TYPE FILE --contact-column customer_id`: related records from a CSV
//! file with a header, or NDJSON, one record per line, each written whole as `PUT
//! /api/contacts/{id}/records/{type}/{record_id}` writes it (the same use case, so declared
//! field types, names and limits are checked alike). A bad line is reported as
//! `FILE:LINE: column 'end_date': …` and skipped while the good lines go in; running the file
//! again writes the same records again, so a re-run changes nothing.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::Args;
use serde_json::{Map, Value};

use super::CliError;
use crate::service::records::{self, Named};
use crate::service::{Error, Services};

#[derive(Debug, Args)]
pub struct ImportRecordsArgs {
    /// The record type (`contract`, `order`…).
    pub kind: String,
    /// The file (`.csv`; `.ndjson`/`.jsonl`, or any file starting with `{`, is NDJSON).
    pub file: PathBuf,
    /// The column (or key) holding the contact's id.
    #[arg(long, value_name = "COLUMN")]
    pub contact_column: String,
    /// The column (or key) holding the record's id.
    #[arg(long, value_name = "COLUMN", default_value = "id")]
    pub id_column: String,
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://cairn.db?mode=rwc",
        hide_env_values = true
    )]
    pub database_url: String,
}

/// Counts printed as one JSON line at the end.
#[derive(Debug, Default, serde::Serialize)]
struct Counts {
    lines_read: u64,
    created: u64,
    replaced: u64,
    refused: u64,
}

/// Imports the file; returns whether every line went in.
pub fn import_records(args: &ImportRecordsArgs, out: &mut dyn Write) -> Result<bool, CliError> {
    let file = args.file.display().to_string();
    let lines = read_lines(args).map_err(|message| CliError::Argument { message })?;
    let runtime = tokio::runtime::Runtime::new()?;
    let counts = runtime.block_on(async {
        let s = super::transfer::services_for(&args.database_url)
            .await
            .map_err(|e| CliError::Argument {
                message: format!("cannot open the database: {e}"),
            })?;
        let mut counts = Counts::default();
        for (line, fields) in lines {
            counts.lines_read += 1;
            let written = match fields {
                Ok(fields) => write(&s, args, fields).await,
                Err(problem) => Err(problem),
            };
            match written {
                Ok(true) => counts.created += 1,
                Ok(false) => counts.replaced += 1,
                Err(problem) => {
                    counts.refused += 1;
                    eprintln!("{file}:{line}: {problem}");
                }
            }
        }
        Ok::<_, CliError>(counts)
    })?;
    writeln!(
        out,
        "{}",
        serde_json::to_string(&counts).map_err(std::io::Error::other)?
    )?;
    Ok(counts.refused == 0)
}

/// Writes one line's record; `true` when it was created. A problem is worded for the file.
async fn write(s: &Services, args: &ImportRecordsArgs, mut fields: Map<String, Value>) -> Result<bool, String> {
    let mut take = |column: &str| match fields.remove(column) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.trim().to_string()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(format!("column '{column}': is empty")),
    };
    let contact = take(&args.contact_column)?;
    let id = take(&args.id_column)?;
    let named = Named {
        kind: &args.kind,
        id: &id,
    };
    match records::put(s, &contact, named, Value::Object(fields)).await {
        Ok((_, created)) => Ok(created),
        Err(Error::Fields(problems)) => Err(problems
            .iter()
            .map(|(field, message)| match field.strip_prefix("fields.") {
                Some(column) => format!("column '{column}': {message}"),
                None => format!("'{field}': {message}"),
            })
            .collect::<Vec<_>>()
            .join("; ")),
        Err(e) => Err(e.to_string()),
    }
}

/// A line's number and its fields, or what is wrong with it.
type Line = (u64, Result<Map<String, Value>, String>);

/// The file's lines: CSV cells as strings (empty cells left out), NDJSON objects as they are.
fn read_lines(args: &ImportRecordsArgs) -> Result<Vec<Line>, String> {
    let file = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file).map_err(|e| format!("{file}: cannot read: {e}"))?;
    let ndjson = matches!(args.file.extension().and_then(|e| e.to_str()), Some("ndjson" | "jsonl"))
        || text.trim_start().starts_with('{');
    let mut out = Vec::new();
    if ndjson {
        for (i, line) in text.as_bytes().lines().enumerate() {
            let line = line.map_err(|e| format!("{file}:{}: {e}", i + 1))?;
            if line.trim().is_empty() {
                continue;
            }
            let fields = match serde_json::from_str::<Value>(&line) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err("not a JSON object".to_string()),
                Err(e) => Err(format!("not JSON: {e}")),
            };
            out.push((i as u64 + 1, fields));
        }
        return Ok(out);
    }
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("{file}:1: {e}"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    for column in [&args.contact_column, &args.id_column] {
        if !header.contains(column) {
            return Err(format!("{file}:1: the header has no column '{column}'"));
        }
    }
    for row in reader.records() {
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                out.push((line, Err(format!("not a CSV line of the header's shape: {e}"))));
                continue;
            }
        };
        let line = row.position().map_or(0, |p| p.line());
        let map = header
            .iter()
            .zip(row.iter())
            .filter(|(_, cell)| !cell.is_empty())
            .map(|(name, cell)| (name.clone(), Value::String(cell.to_string())))
            .collect();
        out.push((line, Ok(map)));
    }
    Ok(out)
}
