//! `cairn import contacts` and `cairn export contacts` as a user runs them: refused lines on
//! stderr by file, line and column, the exit code, the counts on stdout, and a re-run that
//! changes nothing.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{Value, json};

fn cairn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .output()
        .expect("cairn runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A scratch directory with a SQLite database, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("cairn-transfer-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, content: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    }

    fn database(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.0.join("cairn.db").display())
    }
}

/// The counts an import prints on stdout.
fn counts(o: &Output) -> Value {
    let mut v: Value = serde_json::from_str(text(&o.stdout).trim()).expect("one JSON line");
    v.as_object_mut().unwrap().remove("import");
    v
}

const CONTACTS: &str = "id,email,first_name,tags,lists\n\
                        c1,ann@example.com,Ann,vip;new,news\n\
                        c2,bob@example,Bob,vip,\n\
                        c3,cid@example.com,Cid,vip,news;shop\n";

#[test]
fn an_import_takes_the_good_lines_reports_the_bad_one_and_exits_nonzero() {
    let dir = Scratch::new("bad-line");
    let file = dir.file("contacts.csv", CONTACTS);
    let db = dir.database();
    let o = cairn(&["import", "contacts", &file, "--database-url", &db]);
    assert_eq!(o.status.code(), Some(1), "a refused line makes the exit code nonzero");
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!(
            "{file}:3: column 'email': e-mail address 'bob@example' has an invalid domain"
        )),
        "{err}"
    );
    assert_eq!(
        counts(&o),
        json!({"lines_read": 3, "inserted": 2, "updated": 0, "unchanged": 0, "refused": 1})
    );
    let export = cairn(&["export", "contacts", "--database-url", &db]);
    assert!(export.status.success(), "{}", text(&export.stderr));
    assert_eq!(
        text(&export.stdout),
        "id,email,phone,timezone,country,tags,lists,first_name\n\
         c1,ann@example.com,,,,new;vip,news,Ann\n\
         c3,cid@example.com,,,,vip,news;shop,Cid\n"
    );
}

#[test]
fn a_re_run_changes_nothing_and_a_clean_file_exits_zero() {
    let dir = Scratch::new("rerun");
    let good: String = CONTACTS
        .lines()
        .filter(|l| !l.starts_with("c2"))
        .map(|l| format!("{l}\n"))
        .collect();
    let file = dir.file("contacts.csv", &good);
    let db = dir.database();
    let first = cairn(&["import", "contacts", &file, "--database-url", &db, "--name", "crm"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let before = text(&cairn(&["export", "contacts", "--format", "ndjson", "--database-url", &db]).stdout);
    let again = cairn(&["import", "contacts", &file, "--database-url", &db, "--name", "crm"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(
        counts(&again),
        json!({"lines_read": 2, "inserted": 0, "updated": 0, "unchanged": 2, "refused": 0})
    );
    let after = text(&cairn(&["export", "contacts", "--format", "ndjson", "--database-url", &db]).stdout);
    assert_eq!(before, after);
    assert!(
        after.starts_with(
            r#"{"email":"ann@example.com","first_name":"Ann","id":"c1","lists":["news"],"tags":["new","vip"]}"#
        ),
        "{after}"
    );
}

#[test]
fn an_ndjson_export_imports_into_another_database_with_a_mapping() {
    let dir = Scratch::new("ndjson");
    let file = dir.file(
        "people.ndjson",
        "{\"Key\": \"p1\", \"Mail\": \"pat@example.com\", \"Segments\": [\"vip\"], \"Notes\": \"skip me\"}\n",
    );
    let db = dir.database();
    let o = cairn(&[
        "import",
        "contacts",
        &file,
        "--database-url",
        &db,
        "--map",
        "Key=id",
        "--map",
        "Mail=email",
        "--map",
        "Segments=tags",
        "--map",
        "Notes=",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let exported = cairn(&["export", "contacts", "--format", "ndjson", "--database-url", &db]);
    let exported = text(&exported.stdout);
    assert_eq!(
        exported,
        "{\"email\":\"pat@example.com\",\"id\":\"p1\",\"lists\":[],\"tags\":[\"vip\"]}\n"
    );
    let copy = Scratch::new("ndjson-copy");
    let back = copy.file("export.ndjson", &exported);
    let o = cairn(&["import", "contacts", &back, "--database-url", &copy.database()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let again = cairn(&[
        "export",
        "contacts",
        "--format",
        "ndjson",
        "--database-url",
        &copy.database(),
    ]);
    assert_eq!(text(&again.stdout), exported);
}

#[test]
fn a_file_without_the_key_column_imports_nothing() {
    let dir = Scratch::new("no-key");
    let file = dir.file("contacts.csv", "email\nann@example.com\n");
    let o = cairn(&["import", "contacts", &file, "--database-url", &dir.database()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr).trim(),
        format!("{file}:1: the header has no 'id' column (the key that finds each line's contact)")
    );
    let by_email = cairn(&[
        "import",
        "contacts",
        &file,
        "--database-url",
        &dir.database(),
        "--key",
        "email",
    ]);
    assert!(by_email.status.success(), "{}", text(&by_email.stderr));
}

#[test]
fn records_are_imported_per_line_with_a_bad_line_named_and_a_re_run_replacing_them() {
    let scratch = Scratch::new("records");
    let db = scratch.database();
    let contacts = scratch.file("contacts.csv", CONTACTS);
    cairn(&["import", "contacts", &contacts, "--database-url", &db]);
    let contracts = scratch.file(
        "contracts.csv",
        "id,customer_id,status,end_date\n\
         k1,c1,active,2027-01-15\n\
         k2,ghost,active,2027-02-01\n\
         k3,c3,,2026-12-31\n\
         k4,c3,ended,\n",
    );
    let args = [
        "import",
        "records",
        "contract",
        &contracts,
        "--contact-column",
        "customer_id",
        "--database-url",
        &db,
    ];
    let first = cairn(&args);
    assert_eq!(
        first.status.code(),
        Some(1),
        "a line was refused: {}",
        text(&first.stderr)
    );
    assert!(
        text(&first.stderr).contains("contracts.csv:3: no contact with id 'ghost'"),
        "{}",
        text(&first.stderr)
    );
    let counts: Value = serde_json::from_str(text(&first.stdout).trim()).unwrap();
    assert_eq!(
        counts,
        json!({"lines_read": 4, "created": 3, "replaced": 0, "refused": 1})
    );
    let again: Value = serde_json::from_str(text(&cairn(&args).stdout).trim()).unwrap();
    assert_eq!(
        again,
        json!({"lines_read": 4, "created": 0, "replaced": 3, "refused": 1})
    );
    let missing = scratch.file("bad.csv", "id,status\nk1,active\n");
    let refused = cairn(&[
        "import",
        "records",
        "contract",
        &missing,
        "--contact-column",
        "customer_id",
        "--database-url",
        &db,
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("bad.csv:1: the header has no column 'customer_id'"));
}
