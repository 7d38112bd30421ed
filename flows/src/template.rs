//! Message templates: `{{contact.first_name}}`, `{{data.order_id}}`, minijinja syntax. The
//! context is the contact (`contact`), the entry data (`data`) and the contact's related records
//! by type (`records`: `{% for c in records.contract %}{{ c.id }} {{ c.end_date }}{% endfor %}`,
//! each record its fields plus `id`; a type the contact has none of loops zero times).
//!
//! Templates are parsed when a flow is compiled, so a flow whose templates do not parse never
//! runs. What a template interpolates is escaped for where it goes: HTML in email bodies, JSON
//! in webhook bodies (`{{ contact.name }}` becomes a quoted JSON string), percent-encoding in
//! webhook URLs, nothing in plain text (subjects, SMS, push). A missing field, at any depth
//! (`{{ data.cart.url }}` without a cart), renders as the empty string.
//!
//! Rendering is bounded, because templates are flow data: every render gets [`FUEL`] steps of
//! minijinja's machine (a loop over `range(10000)` inside another runs out), and writes into a
//! buffer that refuses more than its field's [`Limit`] (so an SMS cannot grow to 100 MB).
//! Either way the render fails with a reason, which the step journals as a failed send. What
//! fuel does not bound is the memory of a single operation: minijinja lets one string
//! repetition (`"a" * 100000000`) build up to 100 MB before the output limit sees it.

use minijinja::{AutoEscape, Environment, Error, ErrorKind, Output, State, UndefinedBehavior, Value};

/// Steps of minijinja's machine one render may take (about one per tag, filter, lookup or
/// loop iteration): hundreds of times what a message with a loop over a 100-item cart needs.
pub const FUEL: u64 = 50_000;

/// The most a rendered field may hold, in bytes of UTF-8, and what it is (for the reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub bytes: usize,
    pub what: &'static str,
}

/// The output limit of every field of every channel.
pub mod limits {
    use super::Limit;

    const KIB: usize = 1024;
    pub const EMAIL_SUBJECT: Limit = Limit {
        bytes: KIB,
        what: "an email subject",
    };
    /// `html` and `text` alike.
    pub const EMAIL_BODY: Limit = Limit {
        bytes: 512 * KIB,
        what: "an email body",
    };
    /// Ten concatenated 160-character GSM-7 segments.
    pub const SMS_TEXT: Limit = Limit {
        bytes: 1600,
        what: "an SMS",
    };
    pub const PUSH_TITLE: Limit = Limit {
        bytes: 256,
        what: "a push title",
    };
    /// APNs refuses payloads over 4 KiB.
    pub const PUSH_BODY: Limit = Limit {
        bytes: 4 * KIB,
        what: "a push body",
    };
    pub const URL: Limit = Limit {
        bytes: 8 * KIB,
        what: "a URL",
    };
    pub const WEBHOOK_HEADER: Limit = Limit {
        bytes: 8 * KIB,
        what: "a webhook header",
    };
    /// Also the limit of the default body (the contact and entry data as JSON).
    pub const WEBHOOK_BODY: Limit = Limit {
        bytes: 256 * KIB,
        what: "a webhook body",
    };
}

/// How each part of an email (`subject`, `html`, `text`) is escaped and bounded: one rule for
/// compiled send nodes and for previews.
pub const EMAIL_PARTS: [(&str, Escape, Limit); 3] = [
    ("subject", Escape::None, limits::EMAIL_SUBJECT),
    ("html", Escape::Html, limits::EMAIL_BODY),
    ("text", Escape::None, limits::EMAIL_BODY),
];

/// The parsed templates of one flow, addressed by [`TemplateId`].
pub struct Templates {
    env: Environment<'static>,
}

/// A handle to one parsed template; only [`Templates::add`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateId(Box<Named>);

/// Boxed so that compiled send nodes stay small.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named {
    /// The template's name in the environment: node, field and escape mode.
    name: String,
    field: String,
    limit: Limit,
}

/// What a template is for: its field, how values are escaped, and the output limit.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec<'a> {
    pub field: &'a str,
    pub escape: Escape,
    pub limit: Limit,
}

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
        env.set_fuel(Some(FUEL));
        Templates { env }
    }
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

impl Templates {
    /// Parses `source` as the template of `node`'s field; the error says what and on which line.
    pub fn add(&mut self, node: &str, spec: FieldSpec<'_>, source: &str) -> Result<TemplateId, String> {
        let FieldSpec { field, escape, limit } = spec;
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
        Ok(TemplateId(Box::new(Named {
            name,
            field: field.to_owned(),
            limit,
        })))
    }

    /// Renders a template within [`FUEL`] steps and its field's output limit; the error is the
    /// reason a send fails with.
    pub fn render(&self, id: &TemplateId, context: &minijinja::Value) -> Result<String, String> {
        let id = &id.0;
        let template = self
            .env
            .get_template(&id.name)
            .map_err(|e| describe("template is missing", &e))?;
        let mut out = Bounded {
            buf: Vec::new(),
            max: id.limit.bytes,
            over: false,
        };
        match template.render_captured_to(context, &mut out) {
            Ok(_) => String::from_utf8(out.buf).map_err(|e| format!("template rendered invalid UTF-8: {e}")),
            Err(_) if out.over => Err(over_limit(&id.field, id.limit)),
            Err(e) if e.kind() == ErrorKind::OutOfFuel => Err(format!(
                "template of field '{}' exceeded its work limit ({FUEL} steps)",
                id.field
            )),
            Err(e) => Err(describe("template failed to render", &e)),
        }
    }
}

/// The reason a send fails with when its field renders to more than `limit`.
pub fn over_limit(field: &str, limit: Limit) -> String {
    format!(
        "rendered '{field}' is over {} bytes, the limit for {}",
        limit.bytes, limit.what
    )
}

/// The render's output: refuses the write that would take it past `max` bytes, so the buffer
/// never holds more than `max` (the render then stops with an error).
struct Bounded {
    buf: Vec<u8>,
    max: usize,
    over: bool,
}

impl std::io::Write for Bounded {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + bytes.len() > self.max {
            self.over = true;
            return Err(std::io::Error::other("over the output limit"));
        }
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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

    fn spec(field: &str, escape: Escape) -> FieldSpec<'_> {
        FieldSpec {
            field,
            escape,
            limit: limits::EMAIL_BODY,
        }
    }

    #[test]
    fn html_templates_escape_and_text_templates_do_not() {
        let mut t = Templates::default();
        let html = t
            .add("n", spec("html", Escape::Html), "<p>Hi {{contact.name}}</p>")
            .unwrap();
        let text = t
            .add("n", spec("subject", Escape::None), "Hi {{contact.name}}")
            .unwrap();
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
                spec("body", Escape::Json),
                "{\"name\": {{ contact.name }}, \"n\": {{ contact.n }}}",
            )
            .unwrap();
        let url = t
            .add(
                "n",
                spec("url", Escape::Url),
                "https://x.example/c/{{ contact.name }}?n={{ contact.n }}",
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
        let id = t.add("n", spec("text", Escape::None), "[{{ data.cart.url }}]").unwrap();
        assert_eq!(t.render(&id, &context! { data => context! {} }).unwrap(), "[]");
    }

    #[test]
    fn missing_fields_render_empty_and_defaults_work() {
        let mut t = Templates::default();
        let id = t
            .add(
                "n",
                spec("text", Escape::None),
                "Hi {{contact.first_name}}{{ data.x | default('friend') }}",
            )
            .unwrap();
        let ctx = context! { contact => context! {}, data => context! {} };
        assert_eq!(t.render(&id, &ctx).unwrap(), "Hi friend");
    }

    #[test]
    fn broken_templates_name_the_line() {
        let mut t = Templates::default();
        let err = t
            .add("n", spec("html", Escape::Html), "<p>\n{{ contact.name </p>")
            .unwrap_err();
        assert!(err.starts_with("template does not parse:"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    fn sms(t: &mut Templates, source: &str) -> TemplateId {
        let spec = FieldSpec {
            field: "text",
            escape: Escape::None,
            limit: limits::SMS_TEXT,
        };
        t.add("n", spec, source).unwrap()
    }

    #[test]
    fn a_nested_loop_runs_out_of_fuel_quickly_with_the_field_in_the_reason() {
        let mut t = Templates::default();
        let id = sms(
            &mut t,
            "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
        );
        let started = std::time::Instant::now();
        let err = t.render(&id, &context! {}).unwrap_err();
        let took = started.elapsed();
        eprintln!("a render out of fuel took {took:?}");
        assert_eq!(err, "template of field 'text' exceeded its work limit (50000 steps)");
        assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    }

    #[test]
    fn an_sms_over_1600_bytes_is_refused_whether_repeated_or_looped() {
        let mut t = Templates::default();
        let repeated = sms(&mut t, r#"{{ "a" * 100000000 }}"#);
        let looped = sms(&mut t, "{% for i in range(2000) %}ab{% endfor %}");
        let reason = "rendered 'text' is over 1600 bytes, the limit for an SMS";
        assert_eq!(t.render(&repeated, &context! {}).unwrap_err(), reason);
        assert_eq!(t.render(&looped, &context! {}).unwrap_err(), reason);
    }

    #[test]
    fn an_sms_of_exactly_1600_bytes_is_sent_whole() {
        let mut t = Templates::default();
        let id = sms(&mut t, r#"{{ "é" * 800 }}"#);
        assert_eq!(t.render(&id, &context! {}).unwrap().len(), 1600);
    }
}
