//! Saved segments and "Load contacts": a segment is a named condition (the one condition
//! language of `flows`); a preview answers how many contacts match it now and who, from the
//! process's segment index, caught up with every committed write first.
//!
//! `{"segment": …}` inside a condition names a saved segment by id or name. It is resolved
//! when the condition is saved (an unknown segment or a loop is a 422) and again, from the
//! segments as they are then, whenever it is evaluated: changing a segment changes every
//! segment that includes it. A segment that others include, or that an active flow's segment
//! entry names, cannot be deleted.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use flows::condition::{Condition, parse_condition};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{Error, Result, Services};
use crate::runtime::segments::{self, Index};
use crate::store::segments::{self as store, Change, Saved};

/// A saved segment as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SavedSegment {
    pub id: i64,
    pub name: String,
    #[schema(value_type = Object)]
    pub condition: Value,
    pub description: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<Saved> for SavedSegment {
    fn from(s: Saved) -> Self {
        SavedSegment {
            id: s.id,
            name: s.name,
            condition: s.condition,
            description: s.description,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// What a segment is given: its name, condition and description.
pub struct Draft {
    pub name: String,
    pub condition: Value,
    pub description: Option<String>,
}

/// How many contacts match and the first of them, each with the facts the condition read.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    pub count: u64,
    #[schema(value_type = Vec<Object>)]
    pub contacts: Vec<Value>,
    /// Time to answer, catching up with recent writes included.
    pub took_ms: f64,
    /// Contacts the index holds, and how many of them the condition had to be evaluated for.
    pub contacts_indexed: u64,
    pub evaluated: u64,
}

pub async fn list(s: &Services) -> Result<Vec<SavedSegment>> {
    Ok(store::list(&s.db).await?.into_iter().map(SavedSegment::from).collect())
}

pub async fn get(s: &Services, key: &str) -> Result<SavedSegment> {
    Ok(existing(s, key).await?.into())
}

pub async fn create(s: &Services, draft: Draft) -> Result<SavedSegment> {
    let condition = checked(s, &draft, None).await?;
    let id = store::insert(
        &s.db,
        &draft.name,
        &condition,
        draft.description.as_deref(),
        s.clock.now(),
    )
    .await?
    .ok_or_else(|| taken(&draft.name))?;
    get(s, &id.to_string()).await
}

pub async fn update(s: &Services, key: &str, draft: Draft) -> Result<SavedSegment> {
    let current = existing(s, key).await?;
    let condition = checked(s, &draft, Some(&current)).await?;
    let change = Change {
        name: &draft.name,
        condition: &condition,
        description: draft.description.as_deref(),
    };
    if !store::update(&s.db, current.id, &change, s.clock.now()).await? {
        return Err(taken(&draft.name));
    }
    get(s, &current.id.to_string()).await
}

pub async fn delete(s: &Services, key: &str) -> Result<()> {
    let current = existing(s, key).await?;
    let keys = [current.id.to_string(), current.name.clone()];
    let users: Vec<String> = store::list(&s.db)
        .await?
        .into_iter()
        .filter(|other| other.id != current.id)
        .filter(|other| {
            parse_condition(other.condition.clone())
                .is_ok_and(|c| c.segments().iter().any(|k| keys.iter().any(|m| m == k)))
        })
        .map(|other| format!("'{}'", other.name))
        .collect();
    if !users.is_empty() {
        return Err(Error::Conflict(format!(
            "segment '{}' is included by {}: change those first",
            current.name,
            users.join(", ")
        )));
    }
    let campaigns = active_flows_naming(s, &keys).await?;
    if !campaigns.is_empty() {
        return Err(Error::Conflict(format!(
            "segment '{}' is used by active {}: pause them or change their entries and branches first",
            current.name,
            campaigns.join(", ")
        )));
    }
    store::delete(&s.db, current.id).await?;
    Ok(())
}

/// The active flows (as `flow 'name'`) whose active version names the segment by one of `keys`
/// (its id or name): a segment entry's `segments`, `exclude_segments` or `condition`, or a
/// branch's condition.
async fn active_flows_naming(s: &Services, keys: &[String]) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for (flow, version) in crate::store::flows::active(&s.db).await? {
        let compiled = s.flows.get(&s.db, flow, version).await?;
        let names = flows::entry::audiences(&compiled)
            .any(|a| a.condition().segments().iter().any(|k| keys.iter().any(|m| m == k)))
            || compiled
                .branch_segments()
                .iter()
                .any(|(_, k)| keys.iter().any(|m| m == k));
        if names {
            found.push(format!("flow '{}'", compiled.name()));
        }
    }
    Ok(found)
}

/// "Load contacts" for a condition as given.
pub async fn preview(s: &Services, condition: Value, limit: usize) -> Result<Preview> {
    let started = Instant::now();
    let condition = parse_condition(condition).map_err(super::contacts::problems)?;
    let resolved = resolve(s, &condition, None).await?;
    answer(s, &resolved, limit, started).await
}

/// "Load contacts" for a saved segment.
pub async fn preview_saved(s: &Services, key: &str, limit: usize) -> Result<Preview> {
    let started = Instant::now();
    let saved = existing(s, key).await?;
    let condition = parse_condition(saved.condition).map_err(|p| Error::Inconsistent {
        what: format!("the stored condition of segment {} does not read: {p:?}", saved.id),
        source: None,
    })?;
    let resolved = resolve(s, &condition, None).await?;
    answer(s, &resolved, limit, started).await
}

/// The internal ids of the contacts a saved segment matches now.
pub async fn members(s: &Services, key: &str) -> Result<roaring::RoaringBitmap> {
    let saved = existing(s, key).await?;
    let condition = parse_condition(saved.condition).map_err(|p| Error::Inconsistent {
        what: format!("the stored condition of segment {} does not read: {p:?}", saved.id),
        source: None,
    })?;
    let resolved = resolve(s, &condition, None).await?;
    let index = s.segments.fresh(&s.db).await?;
    let found = segments::answer(&index, &resolved, s.clock.now(), usize::MAX);
    Ok(found.first.into_iter().collect())
}

async fn answer(s: &Services, condition: &Condition, limit: usize, started: Instant) -> Result<Preview> {
    let index = s.segments.fresh(&s.db).await?;
    let now = s.clock.now();
    let found = segments::answer(&index, condition, now, limit);
    let read = Read::of(condition);
    let contacts = found
        .first
        .iter()
        .filter_map(|id| shown(&index, *id, &read, now))
        .collect();
    Ok(Preview {
        count: found.count,
        contacts,
        took_ms: started.elapsed().as_secs_f64() * 1000.0,
        contacts_indexed: index.len(),
        evaluated: found.evaluated,
    })
}

async fn existing(s: &Services, key: &str) -> Result<Saved> {
    store::get(&s.db, key)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no segment is named or numbered '{key}'")))
}

fn taken(name: &str) -> Error {
    Error::Conflict(format!("a segment named '{name}' exists already"))
}

/// The draft's condition, read strictly, with the segments it names resolvable; as JSON.
async fn checked(s: &Services, draft: &Draft, current: Option<&Saved>) -> Result<Value> {
    if let Some(problem) = super::contact::name_problem("name", &draft.name) {
        return Err(Error::Fields(vec![problem]));
    }
    if draft.name.parse::<i64>().is_ok() {
        return Err(Error::field(
            "name",
            "must not be a number: numbers name segments by id",
        ));
    }
    let condition = parse_condition(draft.condition.clone()).map_err(super::contacts::problems)?;
    let draft_as_saved = current.map(|c| (c.id, draft.name.as_str(), &condition));
    resolve(s, &condition, draft_as_saved).await?;
    Ok(serde_json::to_value(&condition).expect("a condition serialises"))
}

/// `condition` with every saved segment it names put in its place; a name no segment has is
/// a problem of the field `condition`.
pub async fn resolve_saved(s: &Services, condition: &Condition) -> Result<Condition> {
    resolve(s, condition, None).await
}

/// `condition` with every saved segment it names put in its place. `draft` stands for a
/// segment being changed (its id, new name and condition), so loops through it are found.
async fn resolve(s: &Services, condition: &Condition, draft: Option<(i64, &str, &Condition)>) -> Result<Condition> {
    if condition.segments().is_empty() {
        return Ok(condition.clone());
    }
    let mut by_key: HashMap<String, Condition> = HashMap::new();
    for saved in store::list(&s.db).await? {
        if draft.is_some_and(|(id, _, _)| id == saved.id) {
            continue;
        }
        if let Ok(c) = parse_condition(saved.condition) {
            by_key.insert(saved.id.to_string(), c.clone());
            by_key.insert(saved.name, c);
        }
    }
    if let Some((id, name, c)) = draft {
        by_key.insert(id.to_string(), c.clone());
        by_key.insert(name.to_string(), c.clone());
    }
    condition
        .resolve(&|key| by_key.get(key).cloned())
        .map_err(|message| Error::field("condition", message))
}

/// What a condition reads of a contact: the tags, lists, record types and fields it names.
#[derive(Default)]
struct Read {
    tags: BTreeSet<String>,
    lists: BTreeSet<String>,
    records: BTreeSet<String>,
    fields: BTreeSet<String>,
    messages: bool,
}

impl Read {
    fn of(condition: &Condition) -> Read {
        let mut read = Read::default();
        read.add(condition);
        read
    }

    fn add(&mut self, c: &Condition) {
        match c {
            Condition::All(items) | Condition::Any(items) => items.iter().for_each(|c| self.add(c)),
            Condition::Not(inner) => self.add(inner),
            Condition::HasTag(t) => drop(self.tags.insert(t.clone())),
            Condition::Tag(t) => drop(self.tags.insert(t.name.clone())),
            Condition::InList(l) => drop(self.lists.insert(l.clone())),
            Condition::List(l) => drop(self.lists.insert(l.name.clone())),
            Condition::Records(r) => drop(self.records.insert(r.kind.clone())),
            Condition::Field(f) => drop(self.fields.insert(f.path.clone())),
            Condition::Message(_) => self.messages = true,
            Condition::Segment(_) => {}
        }
    }
}

/// A matching contact as a preview shows it: who, and the facts the condition read.
fn shown(index: &Index, id: u32, read: &Read, now: chrono::DateTime<chrono::Utc>) -> Option<Value> {
    use flows::condition::Known;
    let view = index.view(id, now)?;
    let entry = view.entry;
    let tags: Vec<Value> = read
        .tags
        .iter()
        .filter_map(|t| view.tag(t).map(|f| (t, f)))
        .map(|(t, f)| {
            json!({"tag": t, "count": f.count, "first_added_at": f.first_added_at,
                   "last_added_at": f.last_added_at, "expires_at": f.expires_at, "active": f.active})
        })
        .collect();
    let lists: Vec<Value> = read
        .lists
        .iter()
        .filter_map(|l| view.list(l).map(|f| json!({"list": l, "added_at": f.added_at})))
        .collect();
    let records: Map<String, Value> = read
        .records
        .iter()
        .map(|kind| {
            let items = view.records(kind).iter().map(|r| {
                let mut object = r.fields.clone();
                object.insert("id".into(), Value::String(r.id.clone()));
                Value::Object(object)
            });
            (kind.clone(), Value::Array(items.collect()))
        })
        .collect();
    let fields: Map<String, Value> = read
        .fields
        .iter()
        .filter_map(|path| view.lookup(path).map(|v| (path.clone(), v.into_owned())))
        .collect();
    let mut matched = json!({"tags": tags, "lists": lists, "records": records, "fields": fields});
    if read.messages {
        let mut sent = Vec::new();
        view.messages(&mut |m| {
            sent.push(
                json!({"flow": m.flow, "node": m.node, "channel": m.channel, "sent_at": m.sent_at,
                             "opened_at": m.opened_at, "clicked_at": m.clicked_at}),
            )
        });
        matched["messages"] = Value::Array(sent);
    }
    Some(json!({
        "id": entry.external_id(),
        "email": entry.email(),
        "phone": entry.phone(),
        "matched": matched,
    }))
}
