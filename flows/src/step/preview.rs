//! A message rendered outside any journey, for the editor's preview: the same templates,
//! escaping, output limits and context as a send ([`super::send`]'s `context_json`), with no
//! entry data and no journey record.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::contact::{Changes, Contact, Facts};
use crate::problem::FieldProblem;
use crate::template::{EMAIL_PARTS, FieldSpec, Templates};

/// The parts of an email to render; any may be left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub subject: Option<String>,
    pub html: Option<String>,
    pub text: Option<String>,
}

/// Renders each part given for `contact` at `now` (a send's `now`: tag facts such as "added
/// within 7d" read it). Every part's problem at once, named by its field (`subject`), whether
/// it does not parse or does not render.
pub fn render_email(message: &Message, contact: &Contact, now: DateTime<Utc>) -> Result<Message, Vec<FieldProblem>> {
    let data = Map::new();
    let changes = Changes::default();
    let facts = Facts::new(contact, &data, &changes).at(now);
    let context = minijinja::Value::from_serialize(super::send::context_json(&facts, Value::Null));
    let mut templates = Templates::default();
    let mut problems = Vec::new();
    let mut rendered = [None, None, None];
    let sources = [&message.subject, &message.html, &message.text];
    for (i, ((field, escape, limit), source)) in EMAIL_PARTS.into_iter().zip(sources).enumerate() {
        let Some(source) = source else { continue };
        let spec = FieldSpec { field, escape, limit };
        match templates
            .add("preview", spec, source)
            .and_then(|id| templates.render(&id, &context))
        {
            Ok(text) => rendered[i] = Some(text),
            Err(message) => problems.push(FieldProblem::new(field, message)),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let [subject, html, text] = rendered;
    Ok(Message { subject, html, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_shows_the_contacts_fields_escaped_as_a_send_would() {
        let mut ann = Contact::new("ann");
        ann.fields.insert("first_name".into(), Value::String("Ann <3".into()));
        let message = Message {
            subject: Some("Hi {{ contact.first_name }}".into()),
            html: Some("<p>{{ contact.first_name }}</p>".into()),
            text: None,
        };
        let shown = render_email(&message, &ann, DateTime::UNIX_EPOCH).unwrap();
        assert_eq!(shown.subject.as_deref(), Some("Hi Ann <3"));
        assert_eq!(shown.html.as_deref(), Some("<p>Ann &lt;3</p>"));
        assert_eq!(shown.text, None);
    }

    #[test]
    fn a_template_that_does_not_parse_is_named_by_its_field() {
        let message = Message {
            subject: Some("Hi {{ contact.first_name".into()),
            ..Message::default()
        };
        let problems = render_email(&message, &Contact::new("ann"), DateTime::UNIX_EPOCH).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "subject");
    }
}
