//! Declared types of related records' fields: a record type may say that its `end_date` is a
//! date and its `amount` a number, and a record written with a field that does not fit is
//! refused, naming the field. Values are normalised as they are checked: a number given as a
//! numeric string becomes a JSON number, a date or a number keeps no surrounding blanks. Fields
//! a type does not declare are free, a declared field may be absent, and `null` fits every type.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Number, Value};

use crate::problem::FieldProblem;
use crate::time::parse_instant;

/// The type a record type declares for one of its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldType {
    /// `YYYY-MM-DD` or an RFC 3339 instant, as conditions read dates.
    Date,
    /// A JSON number, or a string that reads as one.
    Number,
    /// A string.
    Text,
    /// `true` or `false` (also as the strings `"true"` and `"false"`).
    Bool,
}

impl FieldType {
    pub const ALL: [FieldType; 4] = [FieldType::Date, FieldType::Number, FieldType::Text, FieldType::Bool];

    /// The name a declaration uses: `date`, `number`, `text` or `bool`.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Date => "date",
            FieldType::Number => "number",
            FieldType::Text => "text",
            FieldType::Bool => "bool",
        }
    }

    /// The type a declaration names, if it names one.
    pub fn from_name(name: &str) -> Option<FieldType> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The value as it is stored when it fits this type, else what was expected.
    pub fn fit(self, value: Value) -> Result<Value, String> {
        let fitted = match (self, value) {
            (_, Value::Null) => Some(Value::Null),
            (FieldType::Date, Value::String(s)) => parse_instant(&s).map(|_| Value::String(s.trim().to_string())),
            (FieldType::Number, Value::Number(n)) => Some(Value::Number(n)),
            (FieldType::Number, Value::String(s)) => number(s.trim()).map(Value::Number),
            (FieldType::Text, Value::String(s)) => Some(Value::String(s)),
            (FieldType::Bool, Value::Bool(b)) => Some(Value::Bool(b)),
            (FieldType::Bool, Value::String(s)) => match s.trim() {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            _ => None,
        };
        fitted.ok_or_else(|| self.expected().to_string())
    }

    /// What a value of this type looks like, for the message of one that does not fit.
    pub fn expected(self) -> &'static str {
        match self {
            FieldType::Date => "expected a date YYYY-MM-DD or an RFC 3339 instant",
            FieldType::Number => "expected a number (or a string holding one)",
            FieldType::Text => "expected a string",
            FieldType::Bool => "expected true or false",
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A finite number written as text (`42`, `-3.5`, `1e3`), as a JSON number: an integer stays
/// an integer.
fn number(text: &str) -> Option<Number> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(Number::from(i));
    }
    let f: f64 = text.parse().ok()?;
    // `inf` and `NaN` parse as floats and are not numbers JSON can hold.
    Number::from_f64(f).filter(|_| f.is_finite() && text.bytes().any(|b| b.is_ascii_digit()))
}

/// Checks a record's fields against the types declared for them, normalising the values that
/// fit; every field that does not fit is a problem at `fields.<name>`.
pub fn check_fields(declared: &BTreeMap<String, FieldType>, fields: &mut Map<String, Value>) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    for (name, kind) in declared {
        let Some(value) = fields.get_mut(name) else {
            continue;
        };
        match kind.fit(value.take()) {
            Ok(fitted) => *value = fitted,
            Err(message) => problems.push(FieldProblem::new(format!("fields.{name}"), message)),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn declared() -> BTreeMap<String, FieldType> {
        [
            ("end_date", FieldType::Date),
            ("amount", FieldType::Number),
            ("active", FieldType::Bool),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    #[test]
    fn fields_that_fit_are_normalised_and_undeclared_fields_are_free() {
        let mut fields = json!({"end_date": " 2027-01-15 ", "amount": "12.50", "active": "true",
                                "plan": "gold", "seats": "3"})
        .as_object()
        .cloned()
        .unwrap();
        assert_eq!(check_fields(&declared(), &mut fields), Vec::new());
        assert_eq!(
            Value::Object(fields),
            json!({"end_date": "2027-01-15", "amount": 12.5, "active": true, "plan": "gold", "seats": "3"})
        );
    }

    #[test]
    fn every_field_that_does_not_fit_is_named() {
        let mut fields = json!({"end_date": "next week", "amount": "twelve", "active": 1})
            .as_object()
            .cloned()
            .unwrap();
        let problems: Vec<(String, String)> = check_fields(&declared(), &mut fields)
            .into_iter()
            .map(|p| (p.field, p.message))
            .collect();
        assert_eq!(
            problems,
            [
                ("fields.active".to_string(), "expected true or false".to_string()),
                (
                    "fields.amount".to_string(),
                    "expected a number (or a string holding one)".to_string()
                ),
                (
                    "fields.end_date".to_string(),
                    "expected a date YYYY-MM-DD or an RFC 3339 instant".to_string()
                ),
            ]
        );
    }

    #[test]
    fn numbers_are_finite_and_instants_are_dates() {
        assert_eq!(FieldType::Number.fit(json!("42")), Ok(json!(42)));
        assert!(FieldType::Number.fit(json!("inf")).is_err());
        assert!(FieldType::Number.fit(json!("NaN")).is_err());
        assert_eq!(
            FieldType::Date.fit(json!("2027-01-15T09:00:00+02:00")),
            Ok(json!("2027-01-15T09:00:00+02:00"))
        );
        assert_eq!(FieldType::Text.fit(json!(null)), Ok(json!(null)));
        assert_eq!(FieldType::from_name("number"), Some(FieldType::Number));
        assert_eq!(FieldType::from_name("integer"), None);
    }
}
