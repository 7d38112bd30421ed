//! Databases written by earlier versions read the same after the upgrade: stats once per-node
//! counts exist (filled from the journal and the running journeys), and journals once a row
//! holds a whole step.

use migrations::{Migrator, MigratorTrait};
use orchestrator::db::exec;
use orchestrator::store::journeys;

/// A fresh SQLite file with the first `applied` migrations only, and its path.
async fn database_before(name: &str, applied: u32) -> (sea_orm::DatabaseConnection, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("cairn-upgrade-{name}-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let db = sea_orm::Database::connect(orchestrator::db::sqlite_url(&path))
        .await
        .unwrap();
    Migrator::up(&db, Some(applied)).await.unwrap();
    (db, path)
}

#[tokio::test]
async fn stats_of_an_existing_database_survive_the_upgrade_to_node_counts() {
    let (db, path) = database_before("counts", 6).await;
    for (node, action) in [
        ("start", "entered"),
        ("start", "entered"),
        ("mail", "sent"),
        ("start", "entered"),
    ] {
        exec(
            &db,
            "INSERT INTO journal (contact_id, flow_id, token_id, at, node, action, entry) VALUES (1, 7, 1, 0, $1, $2, '{}')",
            vec![node.into(), action.into()],
        )
        .await
        .unwrap();
    }
    exec(
        &db,
        "INSERT INTO journal (contact_id, flow_id, token_id, at, node, action, entry) VALUES (1, 8, 1, 0, 'start', 'entered', '{}')",
        vec![],
    )
    .await
    .unwrap();
    for (node, finished) in [("wait", 0), ("wait", 0), ("done", 1), ("mail", 0)] {
        exec(
            &db,
            "INSERT INTO tokens (flow_id, version, contact_id, node, state, wake_at, finished, created_at, updated_at) \
             VALUES (7, 1, 1, $1, '{}', 0, $2, 0, 0)",
            vec![node.into(), i64::from(finished).into()],
        )
        .await
        .unwrap();
    }

    Migrator::up(&db, None).await.unwrap();
    let stats = journeys::stats(&db, 7).await.unwrap();
    assert_eq!(stats["start"].actions["entered"], 3);
    assert_eq!(stats["mail"].actions["sent"], 1);
    assert_eq!(stats["wait"].here, 2);
    assert_eq!(stats["mail"].here, 1);
    assert!(!stats.contains_key("done"), "finished journeys are nowhere: {stats:?}");
    assert_eq!(journeys::stats(&db, 8).await.unwrap()["start"].actions["entered"], 1);
    db.close().await.unwrap();
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_journal_written_line_by_line_reads_the_same_after_steps_are_stored_whole() {
    let (db, path) = database_before("journal", 7).await;
    for (node, entry) in [
        (
            "start",
            r#"{"at":"2026-12-30T08:00:00Z","contact":"c1","node":"start","action":"entered"}"#,
        ),
        (
            "tag",
            r#"{"at":"2026-12-30T08:00:00Z","contact":"c1","node":"tag","action":"tag_added","tag":"vip"}"#,
        ),
    ] {
        exec(
            &db,
            "INSERT INTO journal (contact_id, flow_id, token_id, at, node, action, entry) VALUES (1, 7, 1, 0, $1, 'x', $2)",
            vec![node.into(), entry.into()],
        )
        .await
        .unwrap();
    }

    Migrator::up(&db, None).await.unwrap();
    let line = |node: &str, action| flows::JournalEntry {
        at: "2026-12-30T09:00:00Z".parse().unwrap(),
        contact: "c1".into(),
        node: node.into(),
        action,
    };
    journeys::append_journal(
        &db,
        vec![journeys::JournalRow {
            contact_id: 1,
            flow_id: 7,
            token_id: 1,
            entries: vec![
                line("wait", flows::Action::Entered),
                line("done", flows::Action::Exited),
            ],
        }],
    )
    .await
    .unwrap();
    let journal = journeys::journal_of(&db, 1).await.unwrap();
    let nodes: Vec<(&str, &str, i64)> = journal
        .iter()
        .map(|l| {
            (
                l["node"].as_str().unwrap(),
                l["action"].as_str().unwrap(),
                l["flow"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        nodes,
        [
            ("start", "entered", 7),
            ("tag", "tag_added", 7),
            ("wait", "entered", 7),
            ("done", "exited", 7)
        ]
    );
    assert_eq!(journal[1]["tag"], "vip");
    db.close().await.unwrap();
    let _ = std::fs::remove_file(&path);
}
