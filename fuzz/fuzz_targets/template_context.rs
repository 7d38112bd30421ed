//! Any JSON as a contact's data, rendered by fixed templates under each escaping.
#![no_main]

use flows::template::{Escape, FieldSpec, Templates, limits};
use libfuzzer_sys::fuzz_target;

const SOURCES: [&str; 4] = [
    "Hi {{ contact.first_name }}, order {{ data.order_id }}",
    "{% for item in data.items %}{{ item.name | upper }} {{ item.price }}{% endfor %}",
    "{{ data.cart.url }}?ref={{ contact.id }}",
    "{{ data | tojson }} {{ data.a.b.c }} {{ data[0] }}",
];

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let context = minijinja::Value::from_serialize(serde_json::json!({"contact": {"id": "c1"}, "data": value}));
    let mut templates = Templates::default();
    for (i, source) in SOURCES.iter().enumerate() {
        for escape in [Escape::Html, Escape::Json, Escape::Url, Escape::None] {
            let field = format!("{escape:?}");
            let spec = FieldSpec {
                field: &field,
                escape,
                limit: limits::EMAIL_BODY,
            };
            let id = templates.add(&format!("n{i}"), spec, source).expect("fixed templates parse");
            let _ = templates.render(&id, &context);
        }
    }
});
