//! Request bodies read strictly, so that what is accepted can always be stored and read back:
//! a key given twice is refused (JSON readers disagree on which one wins), and so are bodies
//! nested deeper than [`Limits::depth`], holding more than [`Limits::values`] values, or with a
//! key or string longer than [`Limits::key`] and [`Limits::string`] bytes. Each refusal names
//! the field it is in (`data.items[2].name`); a body that is not JSON at all is a syntax error
//! with its line and column.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// What one body may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Nesting of objects and arrays, the body itself being level 1.
    pub depth: usize,
    /// Values in all (objects, arrays, strings, numbers, booleans, nulls).
    pub values: usize,
    /// Bytes of a key.
    pub key: usize,
    /// Bytes of a string value.
    pub string: usize,
}

/// Entries and events: contact data, entry data, event data.
pub const RECORDS: Limits = Limits {
    depth: 32,
    values: 10_000,
    key: 256,
    string: 65_536,
};

/// Flow documents: bigger (templates of whole emails, many nodes), as deep.
pub const DOCUMENTS: Limits = Limits {
    depth: 32,
    values: 100_000,
    key: 256,
    string: 1 << 20,
};

#[derive(Debug)]
pub enum StrictError {
    /// Not JSON.
    Syntax(serde_json::Error),
    /// JSON, but over a limit or with a repeated key.
    Refused { field: String, message: String },
}

/// Parses `bytes` as one JSON value within `limits`.
pub fn parse(bytes: &[u8], limits: Limits) -> Result<Value, StrictError> {
    let state = RefCell::new(State {
        limits,
        values: 0,
        refused: None,
    });
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let read = Reader {
        state: &state,
        parent: None,
        step: Step::Body,
        depth: 1,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match read {
        Ok(value) => Ok(value),
        Err(e) => match state.into_inner().refused {
            Some((field, message)) => Err(StrictError::Refused { field, message }),
            None => Err(StrictError::Syntax(e)),
        },
    }
}

struct State {
    limits: Limits,
    values: usize,
    /// The first refusal: (field, message).
    refused: Option<(String, String)>,
}

/// Where a value is: under its parent, by key or by index. The path is spelled out only when a
/// value is refused, so reading a body costs no copies of it.
#[derive(Clone, Copy)]
enum Step<'a> {
    Body,
    Key(&'a str),
    Index(usize),
}

/// Reads the value at `step` under `parent`, `depth` levels down.
struct Reader<'a> {
    state: &'a RefCell<State>,
    parent: Option<&'a Reader<'a>>,
    step: Step<'a>,
    depth: usize,
}

impl<'a> Reader<'a> {
    /// `data.items[2].name`; empty for the body itself.
    fn path(&self) -> String {
        let mut steps = Vec::new();
        let mut at = Some(self);
        while let Some(r) = at {
            steps.push(r.step);
            at = r.parent;
        }
        let mut path = String::new();
        for step in steps.into_iter().rev() {
            match step {
                Step::Body => {}
                Step::Key(key) if path.is_empty() => path.push_str(key),
                Step::Key(key) => {
                    path.push('.');
                    path.push_str(key);
                }
                Step::Index(i) => path.push_str(&format!("[{i}]")),
            }
        }
        path
    }

    fn refuse<E: de::Error>(&self, message: String) -> E {
        let path = self.path();
        let field = if path.is_empty() { "(body)".to_string() } else { path };
        let mut state = self.state.borrow_mut();
        let text = format!("field '{field}': {message}");
        state.refused.get_or_insert((field, message));
        E::custom(text)
    }

    /// Counts one more value.
    fn count<E: de::Error>(&self) -> Result<(), E> {
        let (values, max) = {
            let mut state = self.state.borrow_mut();
            state.values += 1;
            (state.values, state.limits.values)
        };
        if values > max {
            return Err(self.refuse(format!("the body holds more than {max} values")));
        }
        Ok(())
    }

    fn nest<E: de::Error>(&self) -> Result<(), E> {
        let max = self.state.borrow().limits.depth;
        if self.depth > max {
            return Err(self.refuse(format!("nests deeper than {max} levels")));
        }
        Ok(())
    }

    fn child<'b>(&'b self, step: Step<'b>) -> Reader<'b> {
        Reader {
            state: self.state,
            parent: Some(self),
            step,
            depth: self.depth + 1,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Reader<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Reader<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.count()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.count()?;
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.count()?;
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.count()?;
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.visit_string(v.to_string())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.count()?;
        let max = self.state.borrow().limits.string;
        if v.len() > max {
            return Err(self.refuse(format!("is {} bytes long; at most {max}", v.len())));
        }
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.count()?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.count()?;
        self.nest()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.child(Step::Index(items.len())))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.count()?;
        self.nest()?;
        let max_key = self.state.borrow().limits.key;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if key.len() > max_key {
                let short: String = key.chars().take(32).collect();
                return Err(self.refuse(format!("key '{short}…' is {} bytes long; at most {max_key}", key.len())));
            }
            if out.contains_key(&key) {
                return Err(self.child(Step::Key(&key)).refuse("is given twice".into()));
            }
            let value = map.next_value_seed(self.child(Step::Key(&key)))?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str, limits: Limits) -> (String, String) {
        match parse(text.as_bytes(), limits) {
            Err(StrictError::Refused { field, message }) => (field, message),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_key_given_twice_is_refused_with_its_place() {
        let (field, message) = refused(r#"{"data": {"a": 1, "a": 2}}"#, RECORDS);
        assert_eq!((field.as_str(), message.as_str()), ("data.a", "is given twice"));
    }

    #[test]
    fn a_body_nested_too_deep_is_refused_where_it_goes_too_deep() {
        let deep = format!("{{\"data\": {}1{}}}", "[".repeat(40), "]".repeat(40));
        let (field, message) = refused(&deep, RECORDS);
        assert!(field.starts_with("data[0][0]"), "{field}");
        assert_eq!(message, "nests deeper than 32 levels");
        let shallow = format!("{{\"data\": {}1{}}}", "[".repeat(30), "]".repeat(30));
        assert!(parse(shallow.as_bytes(), RECORDS).is_ok());
    }

    #[test]
    fn too_many_values_long_keys_and_long_strings_are_refused() {
        let many = format!("[{}]", vec!["1"; 10_001].join(","));
        assert_eq!(refused(&many, RECORDS).1, "the body holds more than 10000 values");
        let key = format!("{{\"{}\": 1}}", "k".repeat(300));
        assert_eq!(refused(&key, RECORDS).0, "(body)");
        let long = format!("{{\"data\": {{\"note\": \"{}\"}}}}", "x".repeat(70_000));
        assert_eq!(
            refused(&long, RECORDS),
            ("data.note".into(), "is 70000 bytes long; at most 65536".into())
        );
    }

    #[test]
    fn numbers_read_back_exactly_as_they_were_accepted() {
        // Found by fuzzing: a 38-digit integer is read as a float, and before floats were read
        // with correct rounding it came back from storage one unit in the last place off.
        for text in [
            "12777777777777777777777777777777777777",
            "4.9999999999999995e90",
            "[0.1, 1e-320, 1.7976931348623157e308, -0.0]",
        ] {
            let value = parse(text.as_bytes(), RECORDS).unwrap();
            let stored = serde_json::to_string(&value).unwrap();
            assert_eq!(parse(stored.as_bytes(), RECORDS).unwrap(), value, "{text}");
        }
    }

    #[test]
    fn syntax_errors_stay_syntax_errors_and_plain_bodies_read_as_serde_json_reads_them() {
        assert!(matches!(parse(b"{\"a\": ", RECORDS), Err(StrictError::Syntax(_))));
        assert!(matches!(parse(b"{} {}", RECORDS), Err(StrictError::Syntax(_))));
        let text = r#"{"a": [1, -2, 3.5, "x", null, true, {"b": {}}]}"#;
        assert_eq!(
            parse(text.as_bytes(), RECORDS).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }
}
