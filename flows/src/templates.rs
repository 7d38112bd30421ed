//! The example journeys shipped in `templates/`, embedded: one list for everything that offers
//! them (the editor's template gallery, `cairn serve --demo`). A test holds it equal to the
//! directory, so a template added there is offered everywhere.

/// Every example journey, by name (its file stem), with its `cairn.flow/v1` text.
pub const TEMPLATES: [(&str, &str); 9] = [
    ("welcome", include_str!("../templates/welcome.json")),
    ("abandoned-cart", include_str!("../templates/abandoned-cart.json")),
    ("re-engagement", include_str!("../templates/re-engagement.json")),
    ("birthday", include_str!("../templates/birthday.json")),
    ("recent-interest", include_str!("../templates/recent-interest.json")),
    (
        "monthly-newsletter",
        include_str!("../templates/monthly-newsletter.json"),
    ),
    ("contract-renewal", include_str!("../templates/contract-renewal.json")),
    ("reactivation", include_str!("../templates/reactivation.json")),
    ("sms-window", include_str!("../templates/sms-window.json")),
];

/// The text of the template called `name`.
pub fn template(name: &str) -> Option<&'static str> {
    TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flow_in_the_templates_directory_is_listed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                let stem = name.strip_suffix(".json")?;
                (!stem.contains('.')).then(|| stem.to_string())
            })
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = TEMPLATES.iter().map(|(n, _)| n.to_string()).collect();
        listed.sort();
        assert_eq!(listed, on_disk);
    }

    #[test]
    fn every_template_compiles() {
        for (name, text) in TEMPLATES {
            assert!(crate::CompiledFlow::from_json(text).is_ok(), "{name}");
        }
    }
}
