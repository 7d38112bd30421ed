//! `cairn bench import`: contact imports on the embedded default, with a ceiling measured in
//! the same run.
//!
//! N contacts (`id`, `email`, `first_name`, two tags and a list each) are written to a CSV file
//! and imported into a fresh SQLite file, as `cairn import contacts` does (parsing and checking
//! each line, finding existing contacts and their tags, batched upserts); then the same file
//! is imported again (every contact found unchanged). The ceiling is the rate at which another
//! fresh SQLite file takes the same contacts, tags and lists as plain batched rows (ids given,
//! nothing parsed or looked up), in transactions of the same size.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::service::import::{ContactRows, Format, Mapping};
use crate::service::imports::{self, BATCH, Key, Options};
use crate::store::bench as bench_store;

/// The figures printed as the last line.
#[derive(Debug, Serialize)]
pub struct ImportFigures {
    pub rows: u64,
    /// The first import: every contact new.
    pub seconds: f64,
    pub rows_per_s: f64,
    /// The same file again: every contact found unchanged.
    pub rerun_seconds: f64,
    pub rerun_rows_per_s: f64,
    /// Plain batched inserts of the same contacts, tags and lists, contacts per second.
    pub ceiling_per_s: f64,
    pub ratio: f64,
    pub tags_per_row: u64,
    pub lists_per_row: u64,
    pub batch: u64,
    pub peak_rss_mb: f64,
}

/// Runs the benchmark with its files in `dir`.
pub async fn import(rows: u64, dir: &Path) -> anyhow::Result<ImportFigures> {
    let pid = std::process::id();
    let csv = dir.join(format!("cairn-bench-import-{pid}.csv"));
    write_file(&csv, rows)?;
    let path = dir.join(format!("cairn-bench-import-{pid}.db"));
    let s = super::super::transfer::services_for(&crate::db::sqlite_url(&path)).await?;
    let options = Options {
        name: "bench".into(),
        format: Format::Csv,
        key: Key::Id,
        mapping: Mapping::default(),
        events: false,
    };
    let run = async || -> anyhow::Result<f64> {
        let file = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(&csv)?);
        let lines = ContactRows::new(Format::Csv, file, Mapping::default())
            .map_err(|(_, p)| anyhow::anyhow!("{}", p.join("; ")))?;
        let timer = Instant::now();
        let id = imports::begin(&s, &options, &lines).await?;
        let counts = imports::run(&s, id, lines, &options, &mut |_| {}).await?;
        let seconds = timer.elapsed().as_secs_f64();
        anyhow::ensure!(counts.refused == 0, "{} lines refused", counts.refused);
        anyhow::ensure!(
            counts.inserted == rows || counts.unchanged == rows,
            "expected {rows} contacts inserted or unchanged, got {counts:?}"
        );
        Ok(seconds)
    };
    let seconds = run().await?;
    eprintln!("imported {rows} contacts in {seconds:.2} s");
    let rerun_seconds = run().await?;
    eprintln!("imported them again (unchanged) in {rerun_seconds:.2} s");
    s.db.close().await?;
    remove_db(&path);
    let _ = std::fs::remove_file(&csv);
    let ceiling_per_s = ceiling(dir, rows).await?;
    let rows_per_s = rows as f64 / seconds;
    Ok(ImportFigures {
        rows,
        seconds,
        rows_per_s,
        rerun_seconds,
        rerun_rows_per_s: rows as f64 / rerun_seconds,
        ceiling_per_s,
        ratio: rows_per_s / ceiling_per_s,
        tags_per_row: 2,
        lists_per_row: 1,
        batch: BATCH as u64,
        peak_rss_mb: super::peak_rss_mb(),
    })
}

fn write_file(path: &Path, rows: u64) -> anyhow::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(w, "id,email,first_name,tags,lists")?;
    for i in 0..rows {
        writeln!(w, "c{i},c{i}@example.com,Name{i},vip;t{},l{}", i % 10, i % 5)?;
    }
    w.flush()?;
    Ok(())
}

fn remove_db(path: &Path) {
    let _ = std::fs::remove_file(path);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Contacts per second for plain batched inserts of the same rows into a fresh file.
async fn ceiling(dir: &Path, rows: u64) -> anyhow::Result<f64> {
    let path = dir.join(format!("cairn-bench-import-ceiling-{}.db", std::process::id()));
    let db = crate::db::connect(&crate::db::sqlite_url(&path)).await?;
    let now = chrono::Utc::now();
    let timer = Instant::now();
    let mut written = 0;
    while written < rows {
        let n = (BATCH as u64).min(rows - written);
        let tx = crate::db::begin_write(&db).await?;
        bench_store::insert_import_ceiling(&tx, written..written + n, now).await?;
        tx.commit().await?;
        written += n;
    }
    let per_s = rows as f64 / timer.elapsed().as_secs_f64();
    db.close().await?;
    remove_db(&path);
    Ok(per_s)
}
