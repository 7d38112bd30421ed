//! Problems, located: [`Problem`] with a flow (node, field, line and column), what reading,
//! compiling and checking a flow against a policy report, all at once; and [`FieldProblem`] with
//! a record such as a contact or an event, named by its field.

use std::fmt;

use serde::Serialize;

/// One thing wrong with a flow, located as precisely as the input allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The node the problem is about, by id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The field, as a path inside the node (`timeout`, `condition.all[0].field.op`) or the
    /// document (`format`, `edges[3].to`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
    /// Position of a JSON syntax error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl Problem {
    pub(crate) fn at(node: Option<&str>, field: Option<&str>, message: impl Into<String>) -> Self {
        Problem {
            node: node.map(str::to_string),
            field: field.map(str::to_string),
            message: message.into(),
            line: None,
            column: None,
        }
    }
    pub(crate) fn node(node: &str, message: impl Into<String>) -> Self {
        Self::at(Some(node), None, message)
    }
    pub(crate) fn field(node: &str, field: &str, message: impl Into<String>) -> Self {
        Self::at(Some(node), Some(field), message)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, "line {line}, column {column}: ")?;
        }
        if let Some(node) = &self.node {
            write!(f, "node '{node}': ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "field '{field}': ")?;
        }
        f.write_str(&self.message)
    }
}

/// Everything wrong with a flow; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl From<Problem> for Problems {
    fn from(p: Problem) -> Self {
        Problems(vec![p])
    }
}

/// One thing wrong with a record (a contact, an event), named by its field. It reads two ways:
/// `message` is said of the field, for reports that name the field beside it (the API's
/// `{"field": "contact.country", "message": …}`); [`fmt::Display`] says it on its own, for
/// reports that give only a sentence (an import's `contacts.csv:3: …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field, relative to the record (`country`, `tags[2]`); empty for the whole record.
    pub field: String,
    /// What is wrong, said of the field: `is empty`, `must be a string`.
    pub message: String,
    /// The problem said on its own, when `'field' message` would not read well.
    sentence: Option<String>,
}

impl FieldProblem {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldProblem {
            field: field.into(),
            message: message.into(),
            sentence: None,
        }
    }

    /// The same problem, said on its own as `sentence`.
    pub fn saying(mut self, sentence: impl Into<String>) -> Self {
        self.sentence = Some(sentence.into());
        self
    }
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sentence {
            Some(sentence) => f.write_str(sentence),
            None => write!(f, "'{}' {}", self.field, self.message),
        }
    }
}
