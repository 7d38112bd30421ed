//! `cairn import contacts FILE` and `cairn export contacts`: contacts in and out of a
//! service's database, without the service.
//!
//! An import reports each refused line on stderr as `FILE:LINE: column 'email': …` and goes on;
//! stdout gets one JSON line with its counts. Exit code 0 when every line went in, 1 when any
//! was refused (or the import could not run). On a terminal, stderr also shows a progress bar.

use std::io::{self, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::{Args, Subcommand};
use tokio::sync::Notify;

use super::CliError;
use crate::clock::SystemClock;
use crate::service::Services;
use crate::service::export;
use crate::service::import::{ContactRows, Format, Mapping};
use crate::service::imports::{self, Key, Options, Progress};

const DATABASE_HELP: &str = "Database: a SQLite file (default) or postgres://user:password@host/db.";

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Contacts from a CSV file with a header, or NDJSON: upserted with their tags and lists
    /// (source `import:<name>`); bad lines are reported and skipped.
    Contacts(ImportArgs),
    /// Related records of one type from a CSV file with a header, or NDJSON: each line one
    /// record, written whole; bad lines are reported and skipped.
    Records(super::import_records::ImportRecordsArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file (`.csv`; `.ndjson`/`.jsonl`, or any file starting with `{`, is NDJSON).
    pub file: PathBuf,
    /// Rename a column (CSV) or key (NDJSON): `--map Mail=email --map Segments=tags`; an empty
    /// field (`--map Notes=`) leaves the column out. Repeatable.
    #[arg(long = "map", value_name = "COLUMN=FIELD")]
    pub map: Vec<String>,
    /// What finds each line's contact: its `id`, or its `email` (the oldest contact with that
    /// address; a new contact's id is the `id` column's, else the address).
    #[arg(long, default_value = "id", value_parser = ["id", "email"])]
    pub key: String,
    /// The import's name (source `import:<name>` of what it adds); default: the file's name
    /// without its extension.
    #[arg(long)]
    pub name: Option<String>,
    /// Journal each tag added and list joined and queue it as an event (`tag_added`,
    /// `list_added`), so journeys with an `event_entry` on them start. Off by default.
    #[arg(long)]
    pub events: bool,
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://cairn.db?mode=rwc", hide_env_values = true, help = DATABASE_HELP)]
    pub database_url: String,
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Every contact with its fields, active tags and lists, to stdout.
    Contacts(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// `csv` (tags and lists `;`-joined, a column per custom field) or `ndjson`.
    #[arg(long, default_value = "csv", value_parser = ["csv", "ndjson"])]
    pub format: String,
    /// Only the contacts of this saved segment (id or name), as they match when the export
    /// begins.
    #[arg(long)]
    pub segment: Option<String>,
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://cairn.db?mode=rwc", hide_env_values = true, help = DATABASE_HELP)]
    pub database_url: String,
}

/// The use cases' dependencies for a command that works on the database alone.
async fn services(database_url: &str) -> Result<Services, CliError> {
    services_for(database_url).await.map_err(|e| CliError::Argument {
        message: format!("cannot open the database: {e}"),
    })
}

/// [`services`] for the benchmarks.
pub(crate) async fn services_for(database_url: &str) -> Result<Services, sea_orm::DbErr> {
    let db = crate::db::connect(database_url).await?;
    Ok(Services {
        db,
        clock: Arc::new(SystemClock),
        flows: Arc::default(),
        policy: crate::send_policy::SendPolicy::default_policy(),
        engine: Arc::new(Notify::new()),
        scheduler: Arc::new(Notify::new()),
        segments: crate::runtime::segments::Segments::default(),
    })
}

/// A reader that counts the bytes read through it (for the progress bar).
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn argument(message: String) -> CliError {
    CliError::Argument { message }
}

/// `cairn import contacts`; returns whether every line went in.
pub fn import_contacts(args: &ImportArgs, out: &mut dyn Write) -> Result<bool, CliError> {
    let file = args.file.display().to_string();
    let mut opened = std::fs::File::open(&args.file).map_err(|e| argument(format!("{file}: cannot read: {e}")))?;
    let size = opened.metadata().map(|m| m.len()).unwrap_or(0);
    let mut start = [0u8; 64];
    let n = opened.read(&mut start)?;
    let format = Format::of(&args.file, &start[..n]);
    let read = Arc::new(AtomicU64::new(n as u64));
    let reader = Counted {
        inner: io::Cursor::new(start[..n].to_vec()).chain(io::BufReader::with_capacity(1 << 16, opened)),
        read: read.clone(),
    };
    let mapping = Mapping::parse(&args.map).map_err(argument)?;
    let name = args.name.clone().unwrap_or_else(|| {
        args.file
            .file_stem()
            .map_or_else(|| "file".to_string(), |s| s.to_string_lossy().into_owned())
    });
    let options = Options {
        name,
        format,
        key: Key::parse(&args.key).unwrap_or(Key::Id),
        mapping: mapping.clone(),
        events: args.events,
    };
    let rows = ContactRows::new(format, reader, mapping).map_err(|(line, problems)| {
        let at = if line == 0 {
            file.clone()
        } else {
            format!("{file}:{line}")
        };
        argument(
            problems
                .iter()
                .map(|p| format!("{at}: {p}"))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    let bar = io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(size);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:40} {percent:>3}% {msg} ({elapsed}, about {eta} left)")
        {
            bar.set_style(style);
        }
        bar
    });
    let runtime = tokio::runtime::Runtime::new()?;
    let counts = runtime.block_on(async {
        let s = services(&args.database_url).await?;
        let id = imports::begin(&s, &options, &rows).await.map_err(|e| {
            argument(format!(
                "{file}:1: {}",
                e.to_string().replace("field 'header': ", "the header ")
            ))
        })?;
        let mut report = |p: Progress<'_>| match p {
            Progress::Refused(r) => {
                let line = format!("{file}:{}: {}", r.line, r.message);
                match &bar {
                    Some(bar) => bar.println(line),
                    None => eprintln!("{line}"),
                }
            }
            Progress::Written(counts) => {
                if let Some(bar) = &bar {
                    bar.set_position(read.load(Ordering::Relaxed));
                    bar.set_message(format!("{} lines, {} refused", counts.lines_read, counts.refused));
                }
            }
        };
        let counts = imports::run(&s, id, rows, &options, &mut report)
            .await
            .map_err(|e| argument(format!("{file}: {e}")))?;
        s.db.close()
            .await
            .map_err(|e| argument(format!("closing the database: {e}")))?;
        Ok::<_, CliError>((id, counts))
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let (id, counts) = counts?;
    let mut summary = serde_json::to_value(&counts).map_err(io::Error::other)?;
    summary["import"] = id.into();
    writeln!(out, "{summary}")?;
    eprintln!(
        "{file}: {} lines read; contacts inserted: {}, updated: {}, unchanged: {}; lines refused: {}",
        counts.lines_read, counts.inserted, counts.updated, counts.unchanged, counts.refused
    );
    Ok(counts.refused == 0)
}

/// `cairn export contacts`: writes the export to `out` a page at a time.
pub fn export_contacts(args: &ExportArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let format = if args.format == "ndjson" {
        Format::Ndjson
    } else {
        Format::Csv
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let s = services(&args.database_url).await?;
        let mut export = export::begin(&s, format, args.segment.as_deref())
            .await
            .map_err(|e| argument(format!("export failed: {e}")))?;
        while let Some(chunk) = export
            .next_chunk()
            .await
            .map_err(|e| argument(format!("export failed: {e}")))?
        {
            out.write_all(&chunk)?;
        }
        out.flush()?;
        Ok(())
    })
}
