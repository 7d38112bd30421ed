//! Message templates: `{{contact.first_name}}`, `{{data.order_id}}`, minijinja syntax.
//!
//! Templates are parsed when a flow is compiled, so a flow whose templates do not parse never
//! runs. Templates registered as HTML escape what they interpolate; plain-text ones (subjects,
//! SMS, push) do not. A missing field renders as the empty string.

use minijinja::{AutoEscape, Environment, UndefinedBehavior};

/// The parsed templates of one flow, addressed by [`TemplateId`].
pub struct Templates {
    env: Environment<'static>,
}

/// A handle to one parsed template; only [`Templates::add`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateId(String);

/// Whether interpolated values are HTML-escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    Html,
    None,
}

impl Default for Templates {
    fn default() -> Self {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
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
