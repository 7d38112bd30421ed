//! Databases written by earlier versions read the same after the upgrade: stats once per-node
//! counts exist (filled from the journal and the running journeys), and journals once a row
//! holds a whole step.

use migrations::{Migrator, MigratorTrait};
use orchestrator::db::exec;
use orchestrator::store::{counts, journal, outbox};

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
    let stats = counts::stats(&db, 7).await.unwrap();
    assert_eq!(stats["start"].actions["entered"], 3);
    assert_eq!(stats["mail"].actions["sent"], 1);
    assert_eq!(stats["wait"].here, 2);
    assert_eq!(stats["mail"].here, 1);
    assert!(!stats.contains_key("done"), "finished journeys are nowhere: {stats:?}");
    assert_eq!(counts::stats(&db, 8).await.unwrap()["start"].actions["entered"], 1);
    db.close().await.unwrap();
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_journal_written_line_by_line_reads_the_same_after_steps_are_stored_whole_and_compact() {
    let (db, path) = database_before("journal", 7).await;
    exec(
        &db,
        "INSERT INTO contacts (id, external_id, fields, created_at, updated_at) VALUES (1, 'c1', '{}', 0, 0)",
        vec![],
    )
    .await
    .unwrap();
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
    let line = |at: &str, node: &str, action| flows::JournalEntry {
        at: at.parse().unwrap(),
        contact: "c1".into(),
        node: node.into(),
        record: None,
        action,
    };
    journal::append_journal(
        &db,
        journal::JournalLines::of(vec![journal::JournalRow {
            contact_id: 1,
            flow_id: 7,
            token_id: 1,
            entries: vec![
                line("2026-12-30T09:00:00Z", "wait", flows::Action::Entered),
                line("2026-12-30T09:00:00.25Z", "done", flows::Action::Exited),
            ],
        }]),
    )
    .await
    .unwrap();
    let journal = journal::journal_of(&db, 1).await.unwrap();
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
    // Stored without what the row holds (contact, flow, the row's time), read back whole.
    assert_eq!(
        journal[2],
        serde_json::json!({"at": "2026-12-30T09:00:00Z", "contact": "c1", "node": "wait", "action": "entered", "flow": 7})
    );
    assert_eq!(journal[3]["at"], "2026-12-30T09:00:00.250Z");
    assert_eq!(journal[3]["contact"], "c1");
    let stored: String = orchestrator::db::col(
        &orchestrator::db::one(&db, "SELECT entry FROM journal ORDER BY id DESC LIMIT 1", vec![])
            .await
            .unwrap()
            .unwrap(),
        0,
    )
    .unwrap();
    assert!(!stored.contains("c1"), "the contact is the row's: {stored}");
    db.close().await.unwrap();
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn tags_lists_and_messages_read_the_same_after_sqlite_drops_their_extra_btrees() {
    let (db, path) = database_before("btrees", 8).await;
    for sql in [
        "INSERT INTO contacts (id, external_id, fields, created_at, updated_at) VALUES (1, 'c1', '{}', 0, 0)",
        "INSERT INTO contact_tags (contact_id, tag, present, times_added, first_added_at, last_added_at, source) \
         VALUES (1, 'vip', 1, 2, 0, 5, 'flow 7'), (1, 'gone', 0, 1, 0, 0, 'api')",
        "INSERT INTO contact_lists (contact_id, list, added_at) VALUES (1, 'newsletter', 0)",
        "INSERT INTO messages (id, token_id, contact_id, flow_id, node, channel, recipient, content, status, created_at, updated_at) \
         VALUES ('1.first', 1, 1, 7, 'first', 'email', 'a@example.com', '{}', 'sent', 10, 10), \
                ('1.second', 1, 1, 7, 'second', 'sms', '+33600000000', '{}', 'queued', 20, 20)",
    ] {
        exec(&db, sql, vec![]).await.unwrap();
    }

    Migrator::up(&db, None).await.unwrap();
    let now = chrono::DateTime::from_timestamp_millis(30).unwrap();
    orchestrator::store::contacts::add_tag(&db, 1, "vip", "flow 8", now)
        .await
        .unwrap();
    orchestrator::store::contacts::add_to_list(&db, 1, "newsletter", now)
        .await
        .unwrap();
    orchestrator::store::contacts::add_to_list(&db, 1, "promos", now)
        .await
        .unwrap();
    let contact = &orchestrator::store::contacts::load(&db, &[1]).await.unwrap()[&1];
    assert_eq!(contact.tags.iter().collect::<Vec<_>>(), ["vip"]);
    assert_eq!(contact.lists.iter().collect::<Vec<_>>(), ["newsletter", "promos"]);
    let times = orchestrator::db::one(&db, "SELECT times_added FROM contact_tags WHERE tag = 'vip'", vec![])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(orchestrator::db::col::<i64>(&times, 0).unwrap(), 3);
    let listed: Vec<String> = outbox::messages(&db, 10, None)
        .await
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ["1.second", "1.first"], "newest first");
    db.close().await.unwrap();
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn an_outbox_written_before_sqlite_drops_its_due_index_is_leased_in_order_when_due() {
    let (db, path) = database_before("outbox", 9).await;
    for sql in [
        "INSERT INTO contacts (id, external_id, fields, created_at, updated_at) VALUES (1, 'c1', '{}', 0, 0)",
        "INSERT INTO messages (id, token_id, contact_id, flow_id, node, channel, recipient, content, status, created_at, updated_at) \
         VALUES ('1.later', 1, 1, 7, 'later', 'sms', '+33600000000', '{\"kind\":\"sms\",\"text\":\"later\"}', 'queued', 10, 10), \
                ('1.first', 1, 1, 7, 'first', 'sms', '+33600000000', '{\"kind\":\"sms\",\"text\":\"first\"}', 'queued', 10, 10), \
                ('1.second', 1, 1, 7, 'second', 'sms', '+33600000000', '{\"kind\":\"sms\",\"text\":\"second\"}', 'queued', 10, 10)",
        "INSERT INTO outbox (message_id, created_at, not_before) VALUES ('1.later', 10, 5000), ('1.first', 10, 0), ('1.second', 10, 20)",
    ] {
        exec(&db, sql, vec![]).await.unwrap();
    }

    Migrator::up(&db, None).await.unwrap();
    let index = orchestrator::db::one(&db, "SELECT 1 FROM sqlite_master WHERE name = 'outbox_due'", vec![])
        .await
        .unwrap();
    assert!(index.is_none(), "outbox_due is dropped on SQLite");
    let lease = async |now_ms, until_ms| -> Vec<String> {
        let at = |ms| chrono::DateTime::from_timestamp_millis(ms).unwrap();
        outbox::lease_outbox(&db, at(now_ms), at(until_ms), 10)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.message.id)
            .collect()
    };
    assert_eq!(
        lease(30, 90_000).await,
        ["1.first", "1.second"],
        "due rows in the order they were queued"
    );
    assert_eq!(
        lease(5000, 95_000).await,
        ["1.later"],
        "the others are leased until 90 s"
    );
    db.close().await.unwrap();
    let _ = std::fs::remove_file(&path);
}
