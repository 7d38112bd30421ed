//! The `contact` object of an entry, read into a [`ContactInput`] by
//! [`flows::ContactPatch::parse`]: `id` plus the keys Cairn knows (`email`, `phone`, `timezone`,
//! `country`, and `tags` and `lists` as arrays of names, as in `cairn simulate`'s contacts); any
//! other key is a contact field. Every problem is reported at once, each with its field
//! (`contact.country`), and nothing is written when there is one.

use flows::{ContactPatch, FieldProblem};
use serde_json::Value;

use super::Error;
use crate::store::contacts::ContactInput;

/// What is wrong with a name given for `field`, if anything: blank, too long, or holding
/// control characters ([`flows::names::name_problem`]).
pub fn name_problem(field: &str, value: &str) -> Option<(String, String)> {
    flows::names::name_problem(field, value).map(|p| (p.field, p.message))
}

pub fn contact_input(value: Option<Value>) -> Result<ContactInput, Error> {
    let Some(Value::Object(map)) = value else {
        return Err(Error::field("contact", "is required: an object with at least an 'id'"));
    };
    let patch = ContactPatch::parse(map).map_err(|found| Error::Fields(found.into_iter().map(in_contact).collect()))?;
    Ok(patch.into())
}

impl From<ContactPatch> for ContactInput {
    fn from(patch: ContactPatch) -> Self {
        ContactInput {
            id: patch.id,
            email: patch.email,
            phone: patch.phone,
            timezone: patch.timezone,
            country: patch.country,
            fields: patch.fields,
            tags: patch.tags,
            lists: patch.lists,
        }
    }
}

/// A problem of the contact object as (field, message), its field inside `contact`.
fn in_contact(p: FieldProblem) -> (String, String) {
    let field = if p.field.is_empty() {
        "contact".to_string()
    } else {
        format!("contact.{}", p.field)
    };
    (field, p.message)
}
