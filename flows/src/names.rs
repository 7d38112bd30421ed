//! Names: the ids and labels a contact or an event carries (a contact id, an entry key, an
//! event type, a tag, a list, an address). A name is not blank, holds no control characters and
//! is at most [`MAX_NAME`] characters long.

use crate::problem::FieldProblem;

/// Characters of a name at most.
pub const MAX_NAME: usize = 256;

/// What is wrong with `value` given as the name in `field`, if anything: blank, too long, or
/// holding control characters.
pub fn name_problem(field: &str, value: &str) -> Option<FieldProblem> {
    let problem = if value.trim().is_empty() {
        "is empty".to_string()
    } else if value.chars().count() > MAX_NAME {
        format!("is {} characters long; at most {MAX_NAME}", value.chars().count())
    } else if value.chars().any(char::is_control) {
        "must not contain control characters".to_string()
    } else {
        return None;
    };
    Some(FieldProblem::new(field, problem))
}
