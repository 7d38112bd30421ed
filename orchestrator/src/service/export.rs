//! Exporting contacts (`GET /api/contacts/export`, `cairn export contacts`): every contact
//! with its id, addresses, zone, country, custom fields, active tags and lists, as CSV (tags
//! and lists `;`-joined, one column per custom field in use) or NDJSON (the fields as keys, as
//! an import reads them). Written a page at a time ([`PAGE`] contacts, by internal id), so an
//! export of any size holds one page in memory, and its output imports back as it was. With a
//! saved segment, only the contacts matching it when the export begins are written.

use sea_orm::DatabaseConnection;
use serde_json::{Map, Value};

use super::import::Format;
use super::{Error, Result, Services};
use crate::store::bulk;
use crate::store::directory::{self, ContactRow};

/// Contacts read per page.
pub const PAGE: u64 = 1000;

/// The columns of a CSV export before the custom fields.
const COLUMNS: [&str; 7] = ["id", "email", "phone", "timezone", "country", "tags", "lists"];

/// An export under way: call [`Export::next_chunk`] until it gives `None`.
pub struct Export {
    db: DatabaseConnection,
    format: Format,
    /// The custom fields in use when the export began (CSV columns).
    fields: Vec<String>,
    after: i64,
    /// The segment's members, when the export is of a segment.
    only: Option<roaring::RoaringBitmap>,
    header_written: bool,
    done: bool,
}

/// Begins an export in `format`, of every contact or of a saved segment's (by id or name).
pub async fn begin(s: &Services, format: Format, segment: Option<&str>) -> Result<Export> {
    let only = match segment {
        Some(key) => Some(super::segments::members(s, key).await?),
        None => None,
    };
    let fields = match format {
        Format::Csv => bulk::field_names(&s.db).await?,
        Format::Ndjson => Vec::new(),
    };
    Ok(Export {
        db: s.db.clone(),
        format,
        fields,
        after: 0,
        only,
        header_written: false,
        done: false,
    })
}

impl Export {
    /// The next part of the output (the CSV header with the first page); `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        let page = directory::search(&self.db, None, self.after, PAGE).await?;
        if (page.len() as u64) < PAGE {
            self.done = true;
        }
        let Some(last) = page.last() else {
            return Ok(self.header());
        };
        self.after = last.internal_id;
        let page: Vec<ContactRow> = match &self.only {
            Some(members) => page
                .into_iter()
                .filter(|c| u32::try_from(c.internal_id).is_ok_and(|id| members.contains(id)))
                .collect(),
            None => page,
        };
        let ids: Vec<i64> = page.iter().map(|c| c.internal_id).collect();
        let (tags, lists) = bulk::tags_and_lists(&self.db, &ids).await?;
        let mut out = self.header().unwrap_or_default();
        let none = Vec::new();
        for contact in &page {
            let tags = tags.get(&contact.internal_id).unwrap_or(&none);
            let lists = lists.get(&contact.internal_id).unwrap_or(&none);
            match self.format {
                Format::Csv => self.csv_line(&mut out, contact, (tags, lists))?,
                Format::Ndjson => ndjson_line(&mut out, contact, (tags, lists))?,
            }
        }
        Ok(Some(out))
    }

    /// The CSV header, the first time.
    fn header(&mut self) -> Option<Vec<u8>> {
        if self.header_written || self.format != Format::Csv {
            return None;
        }
        self.header_written = true;
        let mut out = Vec::new();
        let names = COLUMNS.iter().copied().chain(self.fields.iter().map(String::as_str));
        write_record(&mut out, names).ok()?;
        Some(out)
    }

    fn csv_line(&self, out: &mut Vec<u8>, c: &ContactRow, (tags, lists): (&[String], &[String])) -> Result<()> {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let mut cells = vec![
            c.id.clone(),
            text(&c.email),
            text(&c.phone),
            text(&c.timezone),
            text(&c.country),
            tags.join(";"),
            lists.join(";"),
        ];
        for name in &self.fields {
            cells.push(match c.fields.get(name) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            });
        }
        write_record(out, cells.iter().map(String::as_str))
    }
}

fn write_record<'a>(out: &mut Vec<u8>, cells: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(cells).map_err(unwritable)?;
    w.flush().map_err(|e| unwritable(e.into()))
}

fn unwritable(e: csv::Error) -> Error {
    Error::Inconsistent {
        what: "a contact could not be written as CSV".into(),
        source: Some(Box::new(e)),
    }
}

fn ndjson_line(out: &mut Vec<u8>, c: &ContactRow, (tags, lists): (&[String], &[String])) -> Result<()> {
    let mut object = Map::new();
    object.insert("id".into(), c.id.clone().into());
    let known = [
        ("email", &c.email),
        ("phone", &c.phone),
        ("timezone", &c.timezone),
        ("country", &c.country),
    ];
    for (key, value) in known {
        if let Some(v) = value {
            object.insert(key.into(), v.clone().into());
        }
    }
    object.insert("tags".into(), tags.into());
    object.insert("lists".into(), lists.into());
    for (k, v) in &c.fields {
        object.insert(k.clone(), v.clone());
    }
    serde_json::to_writer(&mut *out, &object).map_err(|e| Error::Inconsistent {
        what: format!("contact '{}' could not be written as JSON", c.id),
        source: Some(Box::new(e)),
    })?;
    out.push(b'\n');
    Ok(())
}
