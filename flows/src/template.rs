//! Message templates: `{{contact.first_name}}`, `{{data.order_id}}`, minijinja syntax.
//!
//! Templates are parsed when a flow is compiled, so a flow whose templates do not parse never
//! runs. What a template interpolates is escaped for where it goes: HTML in email bodies, JSON
//! in webhook bodies (`{{ contact.name }}` becomes a quoted JSON string), percent-encoding in
//! webhook URLs, nothing in plain text (subjects, SMS, push). A missing field, at any depth
//! (`{{ data.cart.url }}` without a cart), renders as the empty string.

use minijinja::{AutoEscape, Environment, Error, Output, State, UndefinedBehavior, Value};

/// The parsed templates of one flow, addressed by [`TemplateId`].
pub struct Templates {
    env: Environment<'static>,
}

/// A handle to one parsed template; only [`Templates::add`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateId(String);

/// How interpolated values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    Html,
    Json,
    Url,
    None,
}

/// The custom auto-escape mode of URL templates.
const URL_ESCAPE: &str = "url";

impl Default for Templates {
    fn default() -> Self {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| match name.rsplit('.').next() {
            Some("html") => AutoEscape::Html,
            Some("json") => AutoEscape::Json,
            Some("url") => AutoEscape::Custom(URL_ESCAPE),
            _ => AutoEscape::None,
        });
        env.set_formatter(format_value);
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        Templates { env }
    }
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

impl Templates {
    /// Parses `source` as the template of `node`'s `field`; the error says what and on which line.
    pub fn add(&mut self, node: &str, field: &str, source: &str, escape: Escape) -> Result<TemplateId, String> {
        let ext = match escape {
            Escape::Html => "html",
            Escape::Json => "json",
            Escape::Url => "url",
            Escape::None => "txt",
        };
        let name = format!("{node}\u{1f}{field}.{ext}");
        self.env
            .add_template_owned(name.clone(), source.to_owned())
            .map_err(|e| describe("template does not parse", &e))?;
        Ok(TemplateId(name))
    }

    pub fn render(&self, id: &TemplateId, context: &minijinja::Value) -> Result<String, String> {
        let template = self
            .env
            .get_template(&id.0)
            .map_err(|e| describe("template is missing", &e))?;
        template
            .render(context)
            .map_err(|e| describe("template failed to render", &e))
    }
}

/// Writes a value: percent-encoded in URL templates, minijinja's own escaping elsewhere.
fn format_value(out: &mut Output<'_>, state: &State<'_, '_>, value: &Value) -> Result<(), Error> {
    use std::fmt::Write as _;
    if state.auto_escape() != AutoEscape::Custom(URL_ESCAPE) {
        return minijinja::escape_formatter(out, state, value);
    }
    if value.is_undefined() || value.is_none() {
        return Ok(());
    }
    let text = value.to_string();
    if value.is_safe() {
        return out.write_str(&text).map_err(Error::from);
    }
    for byte in text.bytes() {
        let unreserved = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~');
        let written = if unreserved {
            out.write_char(char::from(byte))
        } else {
            write!(out, "%{byte:02X}")
        };
        written.map_err(Error::from)?;
    }
    Ok(())
}

fn describe(what: &str, e: &minijinja::Error) -> String {
    let detail = e.detail().map(str::to_string).unwrap_or_else(|| e.kind().to_string());
    match e.line() {
        Some(line) => format!("{what}: {detail} (line {line})"),
        None => format!("{what}: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn html_templates_escape_and_text_templates_do_not() {
        let mut t = Templates::default();
        let html = t.add("n", "html", "<p>Hi {{contact.name}}</p>", Escape::Html).unwrap();
        let text = t.add("n", "subject", "Hi {{contact.name}}", Escape::None).unwrap();
        let ctx = context! { contact => context! { name => "<Ann & Bob>" } };
        assert_eq!(t.render(&html, &ctx).unwrap(), "<p>Hi &lt;Ann &amp; Bob&gt;</p>");
        assert_eq!(t.render(&text, &ctx).unwrap(), "Hi <Ann & Bob>");
    }

    #[test]
    fn json_templates_quote_values_and_url_templates_percent_encode_them() {
        let mut t = Templates::default();
        let json = t
            .add(
                "n",
                "body",
                "{\"name\": {{ contact.name }}, \"n\": {{ contact.n }}}",
                Escape::Json,
            )
            .unwrap();
        let url = t
            .add(
                "n",
                "url",
                "https://x.example/c/{{ contact.name }}?n={{ contact.n }}",
                Escape::Url,
            )
            .unwrap();
        let ctx = context! { contact => context! { name => "Ann \"B\" & Co/1", n => 5 } };
        let body = t.render(&json, &ctx).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["name"], "Ann \"B\" & Co/1");
        assert_eq!(parsed["n"], 5);
        assert_eq!(
            t.render(&url, &ctx).unwrap(),
            "https://x.example/c/Ann%20%22B%22%20%26%20Co%2F1?n=5"
        );
    }

    #[test]
    fn missing_nested_fields_render_empty() {
        let mut t = Templates::default();
        let id = t.add("n", "text", "[{{ data.cart.url }}]", Escape::None).unwrap();
        assert_eq!(t.render(&id, &context! { data => context! {} }).unwrap(), "[]");
    }

    #[test]
    fn missing_fields_render_empty_and_defaults_work() {
        let mut t = Templates::default();
        let id = t
            .add(
                "n",
                "text",
                "Hi {{contact.first_name}}{{ data.x | default('friend') }}",
                Escape::None,
            )
            .unwrap();
        let ctx = context! { contact => context! {}, data => context! {} };
        assert_eq!(t.render(&id, &ctx).unwrap(), "Hi friend");
    }

    #[test]
    fn broken_templates_name_the_line() {
        let mut t = Templates::default();
        let err = t
            .add("n", "html", "<p>\n{{ contact.name </p>", Escape::Html)
            .unwrap_err();
        assert!(err.starts_with("template does not parse:"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }
}
