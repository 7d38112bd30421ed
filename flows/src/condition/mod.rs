//! Conditions: the format ([`Condition`]), its strict reading with located problems
//! ([`parse_condition`], [`Condition::check`]) and its one evaluator, shared by `branch` nodes
//! and segments, against a contact's facts (fields, tags and what they remember, lists,
//! related records), the journey's entry data and the instant it is evaluated at.
//!
//! Values from CSV imports arrive as strings, so comparisons coerce: `"120"` equals `120` and
//! is greater than `100`. A missing field equals nothing, so `eq` is false and `ne` is true.
//! Dates in field values are `YYYY-MM-DD` (midnight UTC) or RFC 3339 instants; a value that is
//! not a date passes no date test.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contact::{Contact, Facts};
use crate::json::typed_at;
use crate::problem::FieldProblem;
use crate::values::Duration;

pub use eval::{Known, equals_only_itself};
pub use when::{Count, DateTest, Moment};

mod eval;
mod when;

/// A condition, written as an object with one key:
/// `{"all": [...]}`, `{"any": [...]}`, `{"not": {...}}`,
/// `{"tag": {"name": "pricing", "count": {"gte": 2}, "last_added": {"within": "7d"}}}`,
/// `{"list": {"name": "customers"}}`, `{"records": {"type": "contract", "any": {...}}}`,
/// `{"field": {"path": "contact.country", "op": "eq", "value": "EE"}}`,
/// `{"message": {"event": "opened", "channel": "email", "when": {"within": "7d"}}}`,
/// `{"segment": "recent interest"}` (a saved segment, by id or name), and the short forms
/// `{"has_tag": "vip"}` (the tag is active) and `{"in_list": "newsletter"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    HasTag(String),
    InList(String),
    Field(FieldTest),
    Tag(TagTest),
    List(ListTest),
    Records(RecordsTest),
    Message(MessageTest),
    /// A saved segment's condition, by the segment's id or name. Whoever keeps segments
    /// resolves it ([`Condition::resolve`]); left unresolved, it holds for no one.
    Segment(String),
}

/// A test on the messages sent to the contact: at least one (or `count` of them) was `sent`,
/// `opened` or `clicked`, by the named flow, node and channel when given, at an instant that
/// passes `when` (the last open or click of a message counts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageTest {
    pub event: MessageEvent,
    /// The flow's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// The send node's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<crate::channel::Channel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<DateTest>,
    /// How many messages must pass (at least one without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Count>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageEvent {
    Sent,
    Opened,
    Clicked,
}

/// A test on what a tag remembers. The contact must have been given the tag at least once;
/// `active` (default `true`) says whether they must have it now (`false`: had it, no longer).
/// Every other key given must hold too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagTest {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Times the tag was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Count>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_added: Option<DateTest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_added: Option<DateTest>,
    /// When the tag runs out (a tag without a lifetime passes no `expires` test).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<DateTest>,
}

/// Membership of a list, and when it began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTest {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added: Option<DateTest>,
}

/// A test on the contact's related records of one type. Inside, conditions test the record's
/// own fields by their bare names (`status`, `end_date`, `id`). `any`: at least one record
/// passes; `all`: there is at least one record and every one passes; `none`: no record passes.
/// `count` counts the records that pass `any` (every record of the type without `any`).
/// With neither, the contact has at least one record of the type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordsTest {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any: Option<Box<Condition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<Box<Condition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub none: Option<Box<Condition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Count>,
}

/// A test on one field. `path` is `contact.<name>` (also `email`, `phone`, `country`,
/// `timezone`, `id`), `data.<name>` (the entry data, dotted for nesting) or a bare contact field;
/// inside `records`, the record's own field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldTest {
    pub path: String,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    /// Substring of a string, or element of an array.
    Contains,
    /// The field's value is one of `value` (an array).
    In,
    /// The field is present and not empty; takes no `value`.
    Exists,
    /// The field is absent or empty; takes no `value`.
    Missing,
    /// A date in the next span (`value` e.g. `"30d"`), bounds included.
    WithinNext,
    /// A date in the last span (`value` e.g. `"30d"`), bounds included.
    WithinLast,
    /// A date earlier than `value`: a span ago (`"30d"`) or a date (`"2026-01-01"`).
    Before,
    /// A date later than `value`: a span ago (`"30d"`) or a date (`"2026-01-01"`).
    After,
}

/// Reads a condition strictly: misspelled keys, unknown forms and operators, and values that do
/// not fit are refused, each problem named by its field from `condition` (e.g.
/// `condition.all[1].tag.count.gte`). Names of tags, lists and record types need not exist.
pub fn parse_condition(value: Value) -> Result<Condition, Vec<FieldProblem>> {
    let condition: Condition = typed_at(value).map_err(|e| {
        let mut field = if e.path.is_empty() {
            "condition".to_string()
        } else {
            format!("condition.{}", e.path)
        };
        if let Some(rest) = e.message.strip_prefix("unknown field `")
            && let Some(end) = rest.find('`')
            && !field.ends_with(&format!(".{}", &rest[..end]))
        {
            field = format!("{field}.{}", &rest[..end]);
        }
        vec![FieldProblem::new(field, e.message)]
    })?;
    let mut found = Vec::new();
    condition.check("condition", &mut found);
    if found.is_empty() {
        Ok(condition)
    } else {
        Err(found.into_iter().map(|(f, m)| FieldProblem::new(f, m)).collect())
    }
}

impl Condition {
    /// Problems with the condition's shape, as (field path, message) pairs.
    pub fn check(&self, at: &str, out: &mut Vec<(String, String)>) {
        self.check_in(at, false, out);
    }

    fn check_in(&self, at: &str, in_record: bool, out: &mut Vec<(String, String)>) {
        let not_here = |key: &str, out: &mut Vec<(String, String)>| {
            out.push((
                format!("{at}.{key}"),
                "inside 'records', conditions test the record's fields: use 'field', 'all', 'any' or 'not'".into(),
            ));
        };
        match self {
            Condition::All(items) | Condition::Any(items) => {
                let key = if matches!(self, Condition::All(_)) {
                    "all"
                } else {
                    "any"
                };
                if items.is_empty() {
                    out.push((format!("{at}.{key}"), "needs at least one condition".into()));
                }
                for (i, c) in items.iter().enumerate() {
                    c.check_in(&format!("{at}.{key}[{i}]"), in_record, out);
                }
            }
            Condition::Not(inner) => inner.check_in(&format!("{at}.not"), in_record, out),
            Condition::HasTag(_) if in_record => not_here("has_tag", out),
            Condition::InList(_) if in_record => not_here("in_list", out),
            Condition::HasTag(name) | Condition::InList(name) => {
                if name.trim().is_empty() {
                    out.push((at.to_string(), "names no tag or list".into()));
                }
            }
            Condition::Field(test) => test.check(&format!("{at}.field"), in_record, out),
            Condition::Tag(_) if in_record => not_here("tag", out),
            Condition::List(_) if in_record => not_here("list", out),
            Condition::Records(_) if in_record => not_here("records", out),
            Condition::Message(_) if in_record => not_here("message", out),
            Condition::Segment(_) if in_record => not_here("segment", out),
            Condition::Segment(name) => {
                if name.trim().is_empty() {
                    out.push((format!("{at}.segment"), "names no segment".into()));
                }
            }
            Condition::Message(m) => {
                let at = format!("{at}.message");
                for (key, name) in [("flow", &m.flow), ("node", &m.node)] {
                    if name.as_ref().is_some_and(|n| n.trim().is_empty()) {
                        out.push((format!("{at}.{key}"), format!("names no {key}")));
                    }
                }
                check_count(&at, m.count.as_ref(), out);
                check_dates(&format!("{at}.when"), m.when.as_ref(), out);
            }
            Condition::Tag(t) => {
                let at = format!("{at}.tag");
                if t.name.trim().is_empty() {
                    out.push((format!("{at}.name"), "names no tag".into()));
                }
                check_count(&at, t.count.as_ref(), out);
                for (key, test) in [
                    ("first_added", &t.first_added),
                    ("last_added", &t.last_added),
                    ("expires", &t.expires),
                ] {
                    check_dates(&format!("{at}.{key}"), test.as_ref(), out);
                }
            }
            Condition::List(l) => {
                let at = format!("{at}.list");
                if l.name.trim().is_empty() {
                    out.push((format!("{at}.name"), "names no list".into()));
                }
                check_dates(&format!("{at}.added"), l.added.as_ref(), out);
            }
            Condition::Records(r) => {
                let at = format!("{at}.records");
                if r.kind.trim().is_empty() {
                    out.push((format!("{at}.type"), "names no record type".into()));
                }
                let given: Vec<(&str, &Condition)> = [("any", &r.any), ("all", &r.all), ("none", &r.none)]
                    .into_iter()
                    .filter_map(|(k, c)| c.as_deref().map(|c| (k, c)))
                    .collect();
                if given.len() > 1 {
                    out.push((at.clone(), "takes one of 'any', 'all' and 'none'".into()));
                }
                for (key, inner) in given {
                    inner.check_in(&format!("{at}.{key}"), true, out);
                }
                check_count(&at, r.count.as_ref(), out);
            }
        }
    }

    /// Whether the facts satisfy the condition, at the instant they are read at
    /// ([`Facts::at`]; without one, tests relative to now pass nothing).
    pub fn holds(&self, facts: &Facts<'_>) -> bool {
        self.holds_for(facts)
    }

    /// Whether facts kept anywhere ([`Known`]) satisfy the condition: the one evaluator.
    pub fn holds_for<K: Known + ?Sized>(&self, facts: &K) -> bool {
        eval::holds(self, &eval::Subject::Contact(facts))
    }

    /// The saved segments this condition names, in order, each once.
    pub fn segments(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.visit(&mut |c| {
            if let Condition::Segment(name) = c
                && !out.contains(&name.as_str())
            {
                out.push(name.as_str());
            }
        });
        out
    }

    /// Whether the condition reads the contact's message history (a `message` test anywhere
    /// in it): whoever evaluates it must have loaded [`Contact::messages`].
    pub fn reads_messages(&self) -> bool {
        let mut found = false;
        self.visit(&mut |c| found |= matches!(c, Condition::Message(_)));
        found
    }

    /// Calls `f` on this condition and every condition inside it, outermost first.
    pub fn visit<'c>(&'c self, f: &mut impl FnMut(&'c Condition)) {
        f(self);
        match self {
            Condition::All(items) | Condition::Any(items) => items.iter().for_each(|c| c.visit(f)),
            Condition::Not(inner) => inner.visit(f),
            Condition::Records(r) => {
                for c in [&r.any, &r.all, &r.none].into_iter().flatten() {
                    c.visit(f);
                }
            }
            _ => {}
        }
    }

    /// The condition with every `{"segment": …}` replaced by the saved segment's condition
    /// (`lookup` by id or name), itself resolved. An unknown segment or a segment that
    /// includes itself is an error naming it.
    pub fn resolve(&self, lookup: &impl Fn(&str) -> Option<Condition>) -> Result<Condition, String> {
        self.resolve_in(lookup, &mut Vec::new())
    }

    fn resolve_in(
        &self,
        lookup: &impl Fn(&str) -> Option<Condition>,
        path: &mut Vec<String>,
    ) -> Result<Condition, String> {
        let each = |items: &[Condition], path: &mut Vec<String>| {
            items
                .iter()
                .map(|c| c.resolve_in(lookup, path))
                .collect::<Result<Vec<_>, _>>()
        };
        let boxed = |c: &Option<Box<Condition>>, path: &mut Vec<String>| {
            c.as_deref()
                .map(|c| c.resolve_in(lookup, path).map(Box::new))
                .transpose()
        };
        Ok(match self {
            Condition::All(items) => Condition::All(each(items, path)?),
            Condition::Any(items) => Condition::Any(each(items, path)?),
            Condition::Not(inner) => Condition::Not(Box::new(inner.resolve_in(lookup, path)?)),
            Condition::Records(r) => Condition::Records(RecordsTest {
                any: boxed(&r.any, path)?,
                all: boxed(&r.all, path)?,
                none: boxed(&r.none, path)?,
                ..r.clone()
            }),
            Condition::Segment(name) => {
                if path.contains(name) || path.len() >= 16 {
                    path.push(name.clone());
                    return Err(format!("segments include each other: {}", path.join(" → ")));
                }
                let inner = lookup(name).ok_or_else(|| format!("no segment is named or numbered '{name}'"))?;
                path.push(name.clone());
                let resolved = inner.resolve_in(lookup, path)?;
                path.pop();
                resolved
            }
            other => other.clone(),
        })
    }

    /// Whether a stored contact satisfies the condition at `now` (no entry data, no pending
    /// changes): what a segment asks of each contact.
    pub fn matches(&self, contact: &Contact, now: chrono::DateTime<chrono::Utc>) -> bool {
        let data = serde_json::Map::new();
        let changes = crate::contact::Changes::default();
        self.holds(&Facts::new(contact, &data, &changes).at(now))
    }
}

fn check_count(at: &str, count: Option<&Count>, out: &mut Vec<(String, String)>) {
    if count.is_some_and(Count::is_empty) {
        out.push((
            format!("{at}.count"),
            "needs at least one of 'eq', 'gt', 'gte', 'lt', 'lte'".into(),
        ));
    }
}

fn check_dates(at: &str, test: Option<&DateTest>, out: &mut Vec<(String, String)>) {
    if test.is_some_and(DateTest::is_empty) {
        out.push((
            at.to_string(),
            "needs at least one of 'within', 'within_next', 'before', 'after'".into(),
        ));
    }
}

impl FieldTest {
    fn check(&self, at: &str, in_record: bool, out: &mut Vec<(String, String)>) {
        if let Some(message) = path_problem(&self.path) {
            out.push((format!("{at}.path"), message));
        } else if in_record && (self.path.starts_with("contact.") || self.path.starts_with("data.")) {
            out.push((
                format!("{at}.path"),
                format!(
                    "inside 'records', paths name the record's own fields (e.g. 'end_date'), not '{}'",
                    self.path
                ),
            ));
        }
        match (self.op, &self.value) {
            (Op::Exists | Op::Missing, Some(_)) => {
                out.push((format!("{at}.value"), format!("'{}' takes no value", op_name(self.op))))
            }
            (Op::Exists | Op::Missing, None) => {}
            (_, None) => out.push((format!("{at}.value"), format!("'{}' needs a value", op_name(self.op)))),
            (Op::In, Some(v)) if !v.is_array() => {
                out.push((format!("{at}.value"), "'in' needs an array of values".into()))
            }
            (Op::Gt | Op::Gte | Op::Lt | Op::Lte, Some(v)) if !(v.is_number() || v.is_string()) => out.push((
                format!("{at}.value"),
                format!("'{}' compares numbers or strings", op_name(self.op)),
            )),
            (Op::WithinNext | Op::WithinLast, Some(v)) => match v.as_str().map(str::parse::<Duration>) {
                Some(Ok(_)) => {}
                Some(Err(e)) => out.push((format!("{at}.value"), format!("'{}': {e}", op_name(self.op)))),
                None => out.push((
                    format!("{at}.value"),
                    format!("'{}' needs a span such as '30d'", op_name(self.op)),
                )),
            },
            (Op::Before | Op::After, Some(v)) => match v.as_str().map(str::parse::<Moment>) {
                Some(Ok(_)) => {}
                Some(Err(e)) => out.push((format!("{at}.value"), format!("'{}': {e}", op_name(self.op)))),
                None => out.push((
                    format!("{at}.value"),
                    format!(
                        "'{}' needs a span such as '30d' or a date such as '2026-01-01'",
                        op_name(self.op)
                    ),
                )),
            },
            _ => {}
        }
    }
}

/// What is wrong with a field path (`contact.x`, `data.a.b`, `x`), if anything.
pub fn path_problem(path: &str) -> Option<String> {
    if path.contains(char::is_whitespace) {
        return Some(format!("'{path}' has spaces; write e.g. 'contact.birthday'"));
    }
    let empty_part = path.split('.').any(str::is_empty);
    if path.is_empty() || empty_part || path == "contact" || path == "data" {
        return Some(format!("'{path}' names no field"));
    }
    None
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Eq => "eq",
        Op::Ne => "ne",
        Op::Gt => "gt",
        Op::Gte => "gte",
        Op::Lt => "lt",
        Op::Lte => "lte",
        Op::Contains => "contains",
        Op::In => "in",
        Op::Exists => "exists",
        Op::Missing => "missing",
        Op::WithinNext => "within_next",
        Op::WithinLast => "within_last",
        Op::Before => "before",
        Op::After => "after",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::{Changes, Contact};
    use serde_json::json;

    fn contact() -> Contact {
        let mut c = Contact::new("c1");
        c.email = Some("ann@example.com".into());
        c.country = Some("EE".into());
        c.fields.insert("orders".into(), json!("12"));
        c.fields.insert("plan".into(), json!("gold"));
        c.fields.insert("signed_up".into(), json!("2026-03-01"));
        c.tags.insert("vip".into());
        c.lists.insert("newsletter".into());
        c
    }

    fn holds(cond: Value) -> bool {
        let c = contact();
        let data = json!({"cart": {"total": 120.5, "items": ["socks", "hat"]}});
        let changes = Changes::default();
        let facts = Facts::new(&c, data.as_object().unwrap(), &changes);
        serde_json::from_value::<Condition>(cond).unwrap().holds(&facts)
    }

    #[test]
    fn field_tests_coerce_csv_strings() {
        assert!(holds(json!({"field": {"path": "orders", "op": "gt", "value": 10}})));
        assert!(holds(
            json!({"field": {"path": "contact.orders", "op": "eq", "value": 12}})
        ));
        assert!(!holds(json!({"field": {"path": "orders", "op": "lt", "value": 12}})));
        assert!(holds(
            json!({"field": {"path": "contact.country", "op": "in", "value": ["EE", "LV"]}})
        ));
        assert!(holds(
            json!({"field": {"path": "signed_up", "op": "gte", "value": "2026-01-01"}})
        ));
        assert!(holds(
            json!({"field": {"path": "email", "op": "contains", "value": "@example."}})
        ));
    }

    #[test]
    fn entry_data_is_reachable_by_dotted_paths() {
        assert!(holds(
            json!({"field": {"path": "data.cart.total", "op": "gte", "value": 100}})
        ));
        assert!(holds(
            json!({"field": {"path": "data.cart.items", "op": "contains", "value": "hat"}})
        ));
        assert!(holds(json!({"field": {"path": "data.cart.coupon", "op": "missing"}})));
    }

    #[test]
    fn missing_fields_equal_nothing() {
        assert!(!holds(json!({"field": {"path": "city", "op": "eq", "value": "Tartu"}})));
        assert!(holds(json!({"field": {"path": "city", "op": "ne", "value": "Tartu"}})));
        assert!(!holds(json!({"field": {"path": "city", "op": "exists"}})));
        assert!(!holds(json!({"field": {"path": "city", "op": "gt", "value": 1}})));
    }

    #[test]
    fn tags_lists_and_combinators() {
        assert!(holds(json!({"all": [{"has_tag": "vip"}, {"in_list": "newsletter"}]})));
        assert!(holds(json!({"any": [{"has_tag": "nope"}, {"in_list": "newsletter"}]})));
        assert!(holds(json!({"not": {"has_tag": "churned"}})));
        assert!(!holds(json!({"all": [{"has_tag": "vip"}, {"has_tag": "churned"}]})));
    }

    #[test]
    fn malformed_conditions_are_reported_with_their_path() {
        let c: Condition = serde_json::from_value(json!({"all": [
            {"field": {"path": "x", "op": "gt"}},
            {"field": {"path": "x", "op": "exists", "value": 1}},
            {"field": {"path": "x", "op": "in", "value": "a"}},
            {"any": []}
        ]}))
        .unwrap();
        let mut out = Vec::new();
        c.check("condition", &mut out);
        let fields: Vec<&str> = out.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "condition.all[0].field.value",
                "condition.all[1].field.value",
                "condition.all[2].field.value",
                "condition.all[3].any"
            ]
        );
    }
}
