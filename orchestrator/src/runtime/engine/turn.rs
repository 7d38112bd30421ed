//! Whose turn it is to run the engine on a SQLite file ([`EngineTurn`]), and the
//! [`CommitWatch`] that wakes the engine when another connection commits to the file.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

/// Another process runs the engine on this SQLite file.
#[derive(Debug)]
pub(super) struct NotOurTurn;

/// How often [`CommitWatch`] looks for commits by other connections.
const COMMIT_WATCH: Duration = Duration::from_millis(50);

/// Wakes the engine when another connection commits to its SQLite file, within
/// [`COMMIT_WATCH`]: an entry or event taken by another `cairn serve` on the file (which cannot
/// poke this process's engine) or written by any other program. SQLite changes
/// `PRAGMA data_version`, as one connection sees it, whenever another connection commits; the
/// watch reads it on a connection of its own. This process's own commits wake the engine too,
/// for a pass that finds nothing when they were not entries. Ends when dropped.
pub(super) struct CommitWatch(tokio::task::JoinHandle<()>);

impl CommitWatch {
    /// `None` on PostgreSQL (each process's engine takes its own entries; see `EngineTurn`) and
    /// on an in-memory SQLite database, which no other connection shares.
    pub(super) async fn spawn(db: &DatabaseConnection, wake: Arc<Notify>) -> Option<CommitWatch> {
        use sea_orm::sqlx::Connection;
        if crate::db::is_postgres(db) {
            return None;
        }
        let options = db.get_sqlite_connection_pool().connect_options();
        let file = options.get_filename();
        if file.as_os_str().is_empty() || file.as_os_str() == ":memory:" {
            return None;
        }
        let mut conn = match sea_orm::sqlx::SqliteConnection::connect_with(&options).await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the database for other processes' commits; polling each second");
                return None;
            }
        };
        Some(CommitWatch(tokio::spawn(async move {
            let mut seen: Option<i64> = None;
            loop {
                match crate::db::data_version(&mut conn).await {
                    Ok(version) => {
                        if seen.is_some_and(|v| v != version) {
                            wake.notify_one();
                        }
                        seen = Some(version);
                    }
                    Err(e) => {
                        // Once, not every 50 ms: the one-second poll still finds the work.
                        tracing::warn!(error = %e, "cannot read the database's data_version; polling each second");
                        return;
                    }
                }
                tokio::time::sleep(COMMIT_WATCH).await;
            }
        })))
    }
}

impl Drop for CommitWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One engine at a time on a SQLite file: the pipeline reads outside the write transaction,
/// and counts on nobody else stepping journeys or applying events on the file meanwhile.
/// - In this process, engine passes on one file take turns (a mutex per file, so engines
///   sharing a file in one process, as in the tests, run one after the other).
/// - Across processes, the process that holds an advisory lock on `<file>-engine` runs the
///   engine; another `cairn serve` on the same file serves the API and delivery, and tries the
///   lock on every pass, so it takes over when the holder ends (the kernel releases the lock).
pub struct EngineTurn {
    lock_file: Option<std::path::PathBuf>,
    held: std::sync::Mutex<Option<std::fs::File>>,
    passes: Arc<tokio::sync::Mutex<()>>,
}

impl EngineTurn {
    /// The turn of `db`'s SQLite file, shared by every engine on that file in this process;
    /// `None` on PostgreSQL, where engines share the work through row locks.
    pub fn of(db: &DatabaseConnection) -> Option<Arc<EngineTurn>> {
        type Turns = std::sync::Mutex<HashMap<std::path::PathBuf, Arc<EngineTurn>>>;
        static TURNS: std::sync::LazyLock<Turns> = std::sync::LazyLock::new(Turns::default);
        if crate::db::is_postgres(db) {
            return None;
        }
        let options = db.get_sqlite_connection_pool().connect_options();
        let file = options.get_filename().to_path_buf();
        let in_memory = file.as_os_str().is_empty() || file.as_os_str() == ":memory:";
        let mut turns = TURNS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let turn = turns.entry(file.clone()).or_insert_with(|| {
            Arc::new(EngineTurn {
                lock_file: (!in_memory).then(|| {
                    let mut name = file.into_os_string();
                    name.push("-engine");
                    name.into()
                }),
                held: std::sync::Mutex::new(None),
                passes: Arc::default(),
            })
        });
        Some(turn.clone())
    }

    /// This process's turn for one pass, or `None` while another process holds the file.
    pub(super) async fn take(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        if !self.held_by_this_process() {
            return None;
        }
        Some(self.passes.clone().lock_owned().await)
    }

    pub(super) fn held_by_this_process(&self) -> bool {
        let Some(path) = &self.lock_file else { return true };
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.is_some() {
            return true;
        }
        let file = match std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
        {
            Ok(f) => f,
            Err(e) => {
                // The database's own directory; if even this fails, SQLite's files will too.
                tracing::warn!(path = %path.display(), error = %e, "cannot open the engine lock file; running the engine without it");
                return true;
            }
        };
        match file.try_lock() {
            Ok(()) => {
                tracing::info!(path = %path.display(), "this process runs the engine on this SQLite file");
                *held = Some(file);
                true
            }
            Err(_) => false,
        }
    }
}
