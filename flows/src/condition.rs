//! Branch conditions: the format ([`Condition`]) and its evaluation against a contact, the
//! journey's entry data and the contact's tags and lists.
//!
//! Values from CSV imports arrive as strings, so comparisons coerce: `"120"` equals `120` and
//! is greater than `100`. A missing field equals nothing, so `eq` is false and `ne` is true.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contact::Facts;

/// A condition, written as an object with one key:
/// `{"all": [...]}`, `{"any": [...]}`, `{"not": {...}}`, `{"has_tag": "vip"}`,
/// `{"in_list": "newsletter"}` or `{"field": {"path": "contact.country", "op": "eq", "value": "EE"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    HasTag(String),
    InList(String),
    Field(FieldTest),
}

/// A test on one field. `path` is `contact.<name>` (also `email`, `phone`, `country`,
/// `timezone`, `id`), `data.<name>` (the entry data, dotted for nesting) or a bare contact field.
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
}

impl Condition {
    /// Problems with the condition's shape, as (field path, message) pairs.
    pub fn check(&self, at: &str, out: &mut Vec<(String, String)>) {
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
                    c.check(&format!("{at}.{key}[{i}]"), out);
                }
            }
            Condition::Not(inner) => inner.check(&format!("{at}.not"), out),
            Condition::HasTag(name) | Condition::InList(name) => {
                if name.trim().is_empty() {
                    out.push((at.to_string(), "names no tag or list".into()));
                }
            }
            Condition::Field(test) => test.check(&format!("{at}.field"), out),
        }
    }

    /// Whether the facts satisfy the condition.
    pub fn holds(&self, facts: &Facts<'_>) -> bool {
        match self {
            Condition::All(items) => items.iter().all(|c| c.holds(facts)),
            Condition::Any(items) => items.iter().any(|c| c.holds(facts)),
            Condition::Not(inner) => !inner.holds(facts),
            Condition::HasTag(tag) => facts.has_tag(tag),
            Condition::InList(list) => facts.in_list(list),
            Condition::Field(test) => test.holds(facts),
        }
    }
}

impl FieldTest {
    fn check(&self, at: &str, out: &mut Vec<(String, String)>) {
        if let Some(message) = path_problem(&self.path) {
            out.push((format!("{at}.path"), message));
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
            _ => {}
        }
    }

    fn holds(&self, facts: &Facts<'_>) -> bool {
        let actual = facts.lookup(&self.path);
        let actual = actual.as_ref().filter(|v| !is_empty(v));
        let expected = self.value.as_ref().unwrap_or(&Value::Null);
        match self.op {
            Op::Exists => actual.is_some(),
            Op::Missing => actual.is_none(),
            Op::Eq => actual.is_some_and(|a| loosely_equal(a, expected)),
            Op::Ne => !actual.is_some_and(|a| loosely_equal(a, expected)),
            Op::Gt => order(actual, expected).is_some_and(|o| o.is_gt()),
            Op::Gte => order(actual, expected).is_some_and(|o| o.is_ge()),
            Op::Lt => order(actual, expected).is_some_and(|o| o.is_lt()),
            Op::Lte => order(actual, expected).is_some_and(|o| o.is_le()),
            Op::Contains => match actual {
                Some(Value::String(s)) => expected.as_str().is_some_and(|e| s.contains(e)),
                Some(Value::Array(items)) => items.iter().any(|i| loosely_equal(i, expected)),
                _ => false,
            },
            Op::In => match (actual, expected) {
                (Some(a), Value::Array(options)) => options.iter().any(|o| loosely_equal(a, o)),
                _ => false,
            },
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
    }
}

fn is_empty(v: &Value) -> bool {
    matches!(v, Value::Null) || v.as_str().is_some_and(|s| s.is_empty())
}

/// A JSON number, or a string holding a plain decimal (`12`, `-3.5`; not `1e3`, `inf`, `nan`).
fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let t = s.trim();
            let digits = t.strip_prefix('-').unwrap_or(t);
            let mut parts = digits.splitn(2, '.');
            let whole = parts.next().unwrap_or("");
            let plain = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            let ok = plain(whole) && parts.next().is_none_or(plain);
            if ok { t.parse().ok() } else { None }
        }
        _ => None,
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Equality that lets CSV strings meet JSON numbers and booleans.
fn loosely_equal(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    if let (Some(x), Some(y)) = (as_number(a), as_number(b)) {
        return x == y;
    }
    match (a, b) {
        (Value::Number(_), _) | (_, Value::Number(_)) => false,
        (Value::Bool(_), _) | (_, Value::Bool(_)) => {
            matches!((as_bool(a), as_bool(b)), (Some(x), Some(y)) if x == y)
        }
        _ => false,
    }
}

/// Numeric order when both sides read as numbers, else string order (ISO dates sort right).
fn order(actual: Option<&Value>, expected: &Value) -> Option<std::cmp::Ordering> {
    let actual = actual?;
    if let (Some(x), Some(y)) = (as_number(actual), as_number(expected)) {
        return x.partial_cmp(&y);
    }
    match (actual, expected) {
        (Value::String(x), Value::String(y)) => Some(x.as_str().cmp(y.as_str())),
        _ => None,
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
