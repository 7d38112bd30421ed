//! Reading contacts (CSV with a header, or NDJSON) and events (NDJSON) from files.
//!
//! Every row is checked; problems name the file and line (`contacts.csv:12: …`). Up to
//! [`MAX_REPORTED`] problems are reported at once, and nothing is returned unless all rows are good
//! (`cairn simulate`). [`ContactRows`] reads a file's lines one at a time, for imports that take
//! the good lines and report the bad ones (`service::imports`).

use std::collections::HashSet;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use chrono::{DateTime, Utc};
use flows::{Contact, ContactPatch, Event, FieldProblem};
use serde_json::{Map, Value};

/// Problems beyond this many are summarised as a count.
pub const MAX_REPORTED: usize = 20;

/// Columns (CSV) or keys (NDJSON) with a meaning of their own; any other becomes a contact field.
pub const CONTACT_KEYS: [&str; 7] = ["id", "email", "phone", "timezone", "country", "tags", "lists"];

/// Bad input in a file, by line.
#[derive(Debug, thiserror::Error)]
pub struct ImportError {
    pub file: String,
    /// (line, message); line 0 means the file as a whole.
    pub problems: Vec<(u64, String)>,
    /// Problems found beyond the reported ones.
    pub more: usize,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (line, message)) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            if *line == 0 {
                write!(f, "{}: {message}", self.file)?;
            } else {
                write!(f, "{}:{line}: {message}", self.file)?;
            }
        }
        if self.more > 0 {
            let noun = if self.more == 1 { "problem" } else { "problems" };
            write!(f, "\n{}: … and {} more {noun}", self.file, self.more)?;
        }
        Ok(())
    }
}

struct Collector {
    file: String,
    problems: Vec<(u64, String)>,
    more: usize,
}

impl Collector {
    fn new(file: &str) -> Self {
        Collector {
            file: file.to_string(),
            problems: Vec::new(),
            more: 0,
        }
    }
    fn push(&mut self, line: u64, message: impl Into<String>) {
        if self.problems.len() < MAX_REPORTED {
            self.problems.push((line, message.into()));
        } else {
            self.more += 1;
        }
    }
    fn finish<T>(self, value: T) -> Result<T, ImportError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(ImportError {
                file: self.file,
                problems: self.problems,
                more: self.more,
            })
        }
    }
    fn fail(file: &str, message: impl Into<String>) -> ImportError {
        ImportError {
            file: file.to_string(),
            problems: vec![(0, message.into())],
            more: 0,
        }
    }
}

fn read(path: &Path) -> Result<String, ImportError> {
    std::fs::read_to_string(path).map_err(|e| Collector::fail(&path.display().to_string(), format!("cannot read: {e}")))
}

/// Reads contacts from a `.csv` file, or NDJSON (`.ndjson`, `.jsonl`, or content starting with `{`).
pub fn read_contacts(path: &Path) -> Result<Vec<Contact>, ImportError> {
    let text = read(path)?;
    let name = path.display().to_string();
    match Format::of(path, text.as_bytes()) {
        Format::Ndjson => parse_contacts_ndjson(&name, &text),
        Format::Csv => parse_contacts_csv(&name, &text),
    }
}

/// Reads events from an NDJSON file.
pub fn read_events(path: &Path) -> Result<Vec<Event>, ImportError> {
    parse_events(&path.display().to_string(), &read(path)?)
}

/// Keys whose value is text, where a file may give a number (`"id": 7`) for its text.
const TEXT_KEYS: [&str; 5] = ["id", "email", "phone", "timezone", "country"];

/// A file is read a little more loosely than the API in what it cannot say otherwise: a number
/// stands for its text where text is expected.
pub fn loosen(object: &mut Map<String, Value>) {
    for key in TEXT_KEYS {
        if let Some(Value::Number(n)) = object.get(key) {
            let text = n.to_string();
            object.insert(key.to_string(), Value::String(text));
        }
    }
}

/// Reads one row, given as a contact object, by [`ContactPatch::parse_with_facts`] (the API's
/// rules, and tags may carry their facts and `records` related records), and
/// checks its id is not taken by an earlier row. Files are read a little more loosely than the
/// API ([`loosen`]; the CSV reader leaves blank cells out and splits `tags`/`lists` cells into
/// names). `POST /api/simulate` reads its contacts here too, as a file's lines.
pub fn contact_of(mut object: Map<String, Value>, ids: &mut HashSet<String>) -> Result<Contact, Vec<FieldProblem>> {
    loosen(&mut object);
    let id = object
        .get("id")
        .and_then(Value::as_str)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let parsed = ContactPatch::parse_with_facts(object);
    let mut problems = match &parsed {
        Ok(_) => Vec::new(),
        Err(found) => found.clone(),
    };
    if let Some(id) = id
        && !ids.insert(id.clone())
    {
        problems.push(
            FieldProblem::new("id", format!("'{id}' appears twice")).saying(format!("contact id '{id}' appears twice")),
        );
    }
    match parsed {
        Ok(patch) if problems.is_empty() => Ok(patch.into()),
        _ => Err(problems),
    }
}

fn read_contact(
    object: Map<String, Value>,
    line: u64,
    ids: &mut HashSet<String>,
    out: &mut Collector,
    contacts: &mut Vec<Contact>,
) {
    match contact_of(object, ids) {
        Ok(contact) => contacts.push(contact),
        Err(problems) => problems.into_iter().for_each(|p| out.push(line, p.to_string())),
    }
}

/// A CSV cell as the value of its column: none when blank; names split at `;` or `|` for
/// `tags` and `lists`.
fn cell_value(key: &str, cell: &str) -> Option<Value> {
    if cell.trim().is_empty() {
        return None;
    }
    Some(match key {
        "tags" | "lists" => Value::Array(
            cell.split([';', '|'])
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(|n| Value::String(n.to_string()))
                .collect(),
        ),
        _ => Value::String(cell.to_string()),
    })
}

/// How a contacts file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CSV with a header line.
    Csv,
    /// One JSON object per line.
    Ndjson,
}

impl Format {
    /// By the file's extension (`.csv`; `.ndjson`, `.jsonl`, `.json`), else by its first bytes
    /// (`{`: NDJSON).
    pub fn of(path: &Path, start: &[u8]) -> Format {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let starts_with_brace = start.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if matches!(ext.as_str(), "ndjson" | "jsonl" | "json") || (ext != "csv" && starts_with_brace) {
            Format::Ndjson
        } else {
            Format::Csv
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
        }
    }
}

/// Renames columns (CSV) or keys (NDJSON) before a line is read as a contact:
/// `--map column=field` (`Mail=email`, `Segments=tags`); an empty field leaves the column out.
#[derive(Debug, Clone, Default)]
pub struct Mapping(Vec<(String, String)>);

impl Mapping {
    /// Reads `column=field` items.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Mapping, String> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for item in items {
            let item = item.as_ref();
            let Some((column, field)) = item.split_once('=') else {
                return Err(format!("map '{item}' is not column=field"));
            };
            let (column, field) = (column.trim(), field.trim());
            if column.is_empty() {
                return Err(format!("map '{item}' names no column"));
            }
            if pairs.iter().any(|(c, _)| c == column) {
                return Err(format!("map names column '{column}' twice"));
            }
            let field = match field.to_ascii_lowercase() {
                lower if CONTACT_KEYS.contains(&lower.as_str()) => lower,
                _ => field.to_string(),
            };
            pairs.push((column.to_string(), field));
        }
        Ok(Mapping(pairs))
    }

    /// The field a column becomes; `None` when the mapping leaves it out.
    fn field_of(&self, column: &str) -> Option<String> {
        match self.0.iter().find(|(c, _)| c == column) {
            Some((_, f)) if f.is_empty() => None,
            Some((_, f)) => Some(f.clone()),
            None => Some(column.to_string()),
        }
    }

    /// The column a field came from (for messages).
    pub fn column_of(&self, field: &str) -> String {
        self.0
            .iter()
            .find(|(_, f)| f == field)
            .map_or_else(|| field.to_string(), |(c, _)| c.clone())
    }
}

/// One line of a contacts file: its number, and the contact object it gives or what is wrong
/// with it as a line (CSV fields, JSON).
pub type Row = (u64, Result<Map<String, Value>, String>);

/// The lines of a contacts file as contact objects, one at a time (the file is never held
/// whole): columns or keys renamed by a [`Mapping`], blank CSV cells left out, `tags` and
/// `lists` cells split into names.
pub struct ContactRows<R: Read> {
    inner: Inner<R>,
    mapping: Mapping,
}

enum Inner<R: Read> {
    Csv {
        records: csv::StringRecordsIntoIter<R>,
        /// Each column's field; `None` for a column the mapping leaves out.
        fields: Vec<Option<String>>,
    },
    Ndjson {
        lines: std::io::Lines<BufReader<R>>,
        line: u64,
    },
}

impl<R: Read> ContactRows<R> {
    /// Reads the header of a CSV file; a bad header is the file's problem (line 1), and
    /// nothing can be read.
    pub fn new(format: Format, reader: R, mapping: Mapping) -> Result<Self, (u64, Vec<String>)> {
        let inner = match format {
            Format::Ndjson => Inner::Ndjson {
                lines: BufReader::new(reader).lines(),
                line: 0,
            },
            Format::Csv => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .trim(csv::Trim::All)
                    .from_reader(reader);
                let headers = reader
                    .headers()
                    .map_err(|e| (0, vec![format!("cannot read the header: {e}")]))?
                    .clone();
                let mut problems = Vec::new();
                let mut seen = HashSet::new();
                let mut fields = Vec::new();
                for h in headers.iter().map(str::trim) {
                    // Reserved columns match in any case; other column names are kept as written.
                    let field = mapping.field_of(h).map(|f| {
                        let lower = f.to_ascii_lowercase();
                        if CONTACT_KEYS.contains(&lower.as_str()) {
                            lower
                        } else {
                            f
                        }
                    });
                    match &field {
                        Some(f) if f.is_empty() => problems.push("the header has an empty column name".to_string()),
                        Some(f) if !seen.insert(f.clone()) => {
                            problems.push(format!("the header names column '{f}' twice"))
                        }
                        _ => {}
                    }
                    fields.push(field);
                }
                if !problems.is_empty() {
                    return Err((1, problems));
                }
                Inner::Csv {
                    records: reader.into_records(),
                    fields,
                }
            }
        };
        Ok(ContactRows { inner, mapping })
    }

    /// The fields of a CSV file's columns (none for NDJSON).
    pub fn columns(&self) -> Option<impl Iterator<Item = &str>> {
        match &self.inner {
            Inner::Csv { fields, .. } => Some(fields.iter().flatten().map(String::as_str)),
            Inner::Ndjson { .. } => None,
        }
    }

    /// Says where a field's problem is in this file (a CSV column or an NDJSON key).
    pub fn places(&self) -> Places {
        Places {
            csv: matches!(self.inner, Inner::Csv { .. }),
            mapping: self.mapping.clone(),
        }
    }
}

/// Where a field's problem is in a file: `column 'Mail'` (CSV) or `key 'email'` (NDJSON), by
/// the name the file gives it.
#[derive(Debug, Clone)]
pub struct Places {
    csv: bool,
    mapping: Mapping,
}

impl Places {
    pub fn of(&self, field: &str) -> String {
        let what = if self.csv { "column" } else { "key" };
        format!("{what} '{}'", self.mapping.column_of(field))
    }
}

impl<R: Read> Iterator for ContactRows<R> {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        match &mut self.inner {
            Inner::Csv { records, fields } => {
                let record = match records.next()? {
                    Ok(r) => r,
                    Err(e) => {
                        let line = e.position().map(|p| p.line()).unwrap_or(0);
                        return Some((line, Err(csv_message(&e))));
                    }
                };
                let line = record.position().map(|p| p.line()).unwrap_or(0);
                let object = fields
                    .iter()
                    .zip(record.iter())
                    .filter_map(|(key, cell)| {
                        let key = key.as_ref()?;
                        Some((key.clone(), cell_value(key, cell)?))
                    })
                    .collect();
                Some((line, Ok(object)))
            }
            Inner::Ndjson { lines, line } => loop {
                let raw = lines.next()?;
                *line += 1;
                let raw = match raw {
                    Ok(raw) => raw,
                    Err(e) => return Some((*line, Err(format!("cannot read: {e}")))),
                };
                match json_object_line(&raw) {
                    None => continue,
                    Some(Err(message)) => return Some((*line, Err(message))),
                    Some(Ok(mut object)) => {
                        if !self.mapping.0.is_empty() {
                            object = object
                                .into_iter()
                                .filter_map(|(k, v)| Some((self.mapping.field_of(&k)?, v)))
                                .collect();
                        }
                        return Some((*line, Ok(object)));
                    }
                }
            },
        }
    }
}

fn parse_contacts_csv(name: &str, text: &str) -> Result<Vec<Contact>, ImportError> {
    let mut out = Collector::new(name);
    let rows = match ContactRows::new(Format::Csv, text.as_bytes(), Mapping::default()) {
        Ok(rows) => rows,
        Err((0, problems)) => return Err(Collector::fail(name, problems.join("; "))),
        Err((line, problems)) => {
            problems.into_iter().for_each(|p| out.push(line, p));
            return out.finish(Vec::new());
        }
    };
    if !rows.columns().is_some_and(|mut c| c.any(|f| f == "id")) {
        out.push(1, "the header has no 'id' column");
        return out.finish(Vec::new());
    }
    read_rows(rows, out)
}

fn read_rows<R: Read>(rows: ContactRows<R>, mut out: Collector) -> Result<Vec<Contact>, ImportError> {
    let mut contacts = Vec::new();
    let mut ids = HashSet::new();
    for (line, object) in rows {
        match object {
            Ok(object) => read_contact(object, line, &mut ids, &mut out, &mut contacts),
            Err(message) => out.push(line, message),
        }
    }
    out.finish(contacts)
}

fn csv_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("has {len} fields but the header has {expected_len}")
        }
        _ => e.to_string(),
    }
}

fn parse_contacts_ndjson(name: &str, text: &str) -> Result<Vec<Contact>, ImportError> {
    let rows = ContactRows::new(Format::Ndjson, text.as_bytes(), Mapping::default())
        .map_err(|(_, problems)| Collector::fail(name, problems.join("; ")))?;
    read_rows(rows, Collector::new(name))
}

/// A non-blank NDJSON line as an object, or what is wrong with it; blank lines give `None`.
fn json_object_line(raw: &str) -> Option<Result<Map<String, Value>, String>> {
    if raw.trim().is_empty() {
        return None;
    }
    Some(match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("each line must be a JSON object".to_string()),
        Err(e) => Err(format!(
            "invalid JSON at column {}: {}",
            e.column(),
            flows::json::json_error_message(&e)
        )),
    })
}

/// Events: `{"at": RFC 3339, "contact": id, "type": name, "message"?, "tag"?, "list"?, "data"?}`;
/// any other key goes into `data`. Each follows [`Event::check`], as the API's events do.
pub fn parse_events(name: &str, text: &str) -> Result<Vec<Event>, ImportError> {
    let mut out = Collector::new(name);
    let mut events = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i as u64 + 1;
        match json_object_line(raw) {
            None => {}
            Some(Ok(object)) => match event_of(object) {
                Ok(event) => events.push(event),
                Err(problems) => problems.into_iter().for_each(|p| out.push(line, p.to_string())),
            },
            Some(Err(message)) => out.push(line, message),
        }
    }
    out.finish(events)
}

/// Reads one event object (a line of an events file, or an event of `POST /api/simulate`);
/// every problem at once, each named by its field.
pub fn event_of(mut object: Map<String, Value>) -> Result<Event, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let mut text_of = |key: &str, required: bool, problems: &mut Vec<FieldProblem>| -> Option<String> {
        match object.remove(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(Value::Number(n)) => Some(n.to_string()),
            None | Some(Value::Null) if !required => None,
            None => {
                problems.push(FieldProblem::new(key, "is missing"));
                None
            }
            Some(_) => {
                problems.push(FieldProblem::new(key, "must be a non-empty string"));
                None
            }
        }
    };
    let at_text = text_of("at", true, &mut problems);
    let contact = text_of("contact", true, &mut problems);
    let kind = text_of("type", true, &mut problems);
    let message = text_of("message", false, &mut problems);
    let tag = text_of("tag", false, &mut problems);
    let list = text_of("list", false, &mut problems);
    let at = at_text.and_then(|t| match DateTime::parse_from_rfc3339(&t) {
        Ok(at) => Some(at.with_timezone(&Utc)),
        Err(_) => {
            problems.push(FieldProblem::new(
                "at",
                format!("is '{t}', not an RFC 3339 time such as 2026-12-30T08:00:00Z"),
            ));
            None
        }
    });
    let mut data = match object.remove("data") {
        Some(Value::Object(m)) => m,
        None | Some(Value::Null) => Map::new(),
        Some(_) => {
            problems.push(FieldProblem::new("data", "must be an object"));
            Map::new()
        }
    };
    data.extend(object);
    match (at, contact, kind) {
        (Some(at), Some(contact), Some(kind)) if problems.is_empty() => {
            let event = Event {
                at,
                contact,
                kind,
                message,
                tag,
                list,
                data,
            };
            event.check().map(|()| event)
        }
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_contacts_keep_known_columns_and_fields() {
        let csv = "ID,Email,phone,timezone,country,tags,firstName\nc1,a@x.ee,+3725555,Europe/Tallinn,ee,vip;new,Ann\nc2,,,,,,\n";
        let contacts = parse_contacts_csv("c.csv", csv).unwrap();
        assert_eq!(contacts.len(), 2);
        let c1 = &contacts[0];
        assert_eq!(c1.email.as_deref(), Some("a@x.ee"));
        assert_eq!(c1.country.as_deref(), Some("EE"));
        assert_eq!(c1.timezone, Some(chrono_tz::Europe::Tallinn));
        assert!(c1.tags.contains("vip") && c1.tags.contains("new"));
        assert_eq!(c1.fields["firstName"], "Ann", "custom columns keep their case");
        assert!(contacts[1].email.is_none() && contacts[1].fields.is_empty());
    }

    #[test]
    fn csv_problems_name_their_lines() {
        let csv = "id,timezone,country\nc1,Mars/Base,EE\nc1,,Estonia\nc3,UTC\n";
        let err = parse_contacts_csv("c.csv", csv).unwrap_err().to_string();
        assert!(err.contains("c.csv:2: unknown time zone 'Mars/Base'"), "{err}");
        assert!(err.contains("c.csv:3: country 'Estonia'"), "{err}");
        assert!(err.contains("c.csv:3: contact id 'c1' appears twice"), "{err}");
        assert!(err.contains("c.csv:4: has 2 fields but the header has 3"), "{err}");
        let err = parse_contacts_csv("c.csv", "email\na@x\n").unwrap_err().to_string();
        assert_eq!(err, "c.csv:1: the header has no 'id' column");
    }

    #[test]
    fn ndjson_contacts_accept_arrays_and_nested_fields() {
        let text = "{\"id\": 7, \"tags\": [\"vip\"], \"cart\": {\"total\": 12}}\n\n{\"id\": \"c2\"}\n";
        let contacts = parse_contacts_ndjson("c.ndjson", text).unwrap();
        assert_eq!(contacts[0].id, "7");
        assert_eq!(contacts[0].fields["cart"]["total"], 12);
        let err = parse_contacts_ndjson("c.ndjson", "{\"email\": \"a\"}\n[1]\n{bad\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.ndjson:1: 'id' is missing"), "{err}");
        assert!(err.contains("c.ndjson:2: each line must be a JSON object"), "{err}");
        assert!(err.contains("c.ndjson:3: invalid JSON at column 2"), "{err}");
    }

    #[test]
    fn events_are_checked_line_by_line() {
        let text = "{\"at\": \"2026-12-30T10:00:00Z\", \"contact\": \"c1\", \"type\": \"opened\", \"message\": \"hello\"}\n\
                    {\"at\": \"yesterday\", \"contact\": \"c1\", \"type\": \"opened\"}\n\
                    {\"at\": \"2026-12-30T10:00:00Z\", \"type\": \"order\", \"total\": 5}\n";
        let err = parse_events("e.ndjson", text).unwrap_err().to_string();
        assert!(err.contains("e.ndjson:2: 'at' is 'yesterday'"), "{err}");
        assert!(err.contains("e.ndjson:3: 'contact' is missing"), "{err}");
        let ok = parse_events(
            "e.ndjson",
            "{\"at\": \"2026-12-30T10:00:00+02:00\", \"contact\": 1, \"type\": \"order\", \"total\": 5}",
        )
        .unwrap();
        assert_eq!(ok[0].at.to_rfc3339(), "2026-12-30T08:00:00+00:00");
        assert_eq!(ok[0].data["total"], 5);
    }

    #[test]
    fn ndjson_contacts_may_carry_tag_facts_and_records() {
        let text = "{\"id\": \"c1\", \"tags\": [\"vip\", {\"tag\": \"pricing\", \"count\": 2, \
                    \"first_added_at\": \"2026-05-01T10:00:00Z\", \"last_added_at\": \"2026-06-12\", \
                    \"source\": {\"kind\": \"import\", \"ref\": \"crm\"}}], \
                    \"records\": {\"contract\": [{\"id\": \"k1\", \"status\": \"active\", \"end_date\": \"2027-01-15\"}]}}\n";
        let contacts = parse_contacts_ndjson("c.ndjson", text).unwrap();
        let c = &contacts[0];
        let pricing = c.tags.get("pricing").unwrap();
        assert_eq!((pricing.count, pricing.active), (2, true));
        assert_eq!(pricing.last_added_at.unwrap().to_rfc3339(), "2026-06-12T00:00:00+00:00");
        assert_eq!(pricing.source.as_ref().unwrap().to_string(), "import:crm");
        assert_eq!(c.tags.get("vip").unwrap().count, 1);
        assert_eq!(c.records["contract"][0].fields["end_date"], "2027-01-15");
        assert!(!c.fields.contains_key("records"));
        let bad = "{\"id\": \"c1\", \"tags\": [{\"tag\": \"p\", \"cuont\": 2, \"last_added_at\": \"soon\"}], \
                   \"records\": {\"contract\": [{\"status\": \"active\"}]}}\n";
        let err = parse_contacts_ndjson("c.ndjson", bad).unwrap_err().to_string();
        assert!(
            err.contains("c.ndjson:1: 'tags[0].last_added_at' must be an RFC 3339 instant"),
            "{err}"
        );
        assert!(err.contains("c.ndjson:1: 'tags[0].cuont' is not a tag fact"), "{err}");
        assert!(
            err.contains("c.ndjson:1: 'records.contract[0].id' is required"),
            "{err}"
        );
    }

    #[test]
    fn rows_are_read_one_at_a_time_with_columns_renamed_or_left_out() {
        let mapping = Mapping::parse(&["Mail=EMAIL", "Notes="]).unwrap();
        let csv = "id,Mail,Notes,Tags\nc1,a@x.ee,skip,vip;new\nc2,b@x.ee\n";
        let rows = ContactRows::new(Format::Csv, csv.as_bytes(), mapping.clone()).unwrap();
        assert_eq!(rows.places().of("email"), "column 'Mail'");
        let read: Vec<Row> = rows.collect();
        let first = read[0].1.as_ref().unwrap();
        assert_eq!(first["email"], "a@x.ee");
        assert_eq!(
            first["tags"],
            serde_json::json!(["vip", "new"]),
            "reserved columns match in any case"
        );
        assert!(!first.contains_key("Notes"));
        assert_eq!(read[1], (3, Err("has 2 fields but the header has 4".to_string())));
        let ndjson = "{\"id\": \"c1\", \"Mail\": \"a@x.ee\", \"Notes\": 1}\n\nnot json\n";
        let read: Vec<Row> = ContactRows::new(Format::Ndjson, ndjson.as_bytes(), mapping)
            .unwrap()
            .collect();
        assert_eq!(read[0].1.as_ref().unwrap().keys().collect::<Vec<_>>(), ["email", "id"]);
        assert_eq!(read[1].0, 3, "blank lines are skipped, lines keep their numbers");
        assert_eq!(Mapping::parse(&["Mail"]).unwrap_err(), "map 'Mail' is not column=field");
        assert!(ContactRows::new(Format::Csv, "id,ID\n".as_bytes(), Mapping::default()).is_err());
    }

    #[test]
    fn rows_follow_the_rules_of_the_api() {
        let text = "{\"id\": \"c1\", \"country\": \"ZZ\", \"tags\": \"vip\", \"email\": \"\"}\n";
        let err = parse_contacts_ndjson("c.ndjson", text).unwrap_err().to_string();
        assert!(err.contains("c.ndjson:1: country 'ZZ' is not an ISO 3166"), "{err}");
        assert!(err.contains("c.ndjson:1: 'tags' must be an array of names"), "{err}");
        assert!(err.contains("c.ndjson:1: 'email' is empty"), "{err}");
        let long = "x".repeat(300);
        let err = parse_contacts_csv("c.csv", &format!("id,tags\nc1,vip;{long}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.csv:2: 'tags[1]' must be a non-empty name"), "{err}");
        let text = "{\"at\": \"2026-12-30T10:00:00Z\", \"contact\": \"c1\", \"type\": \"tag_added\"}\n";
        let err = parse_events("e.ndjson", text).unwrap_err().to_string();
        assert_eq!(err, "e.ndjson:1: a tag_added event names its tag");
    }
}
