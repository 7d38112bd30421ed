//! Any template text, parsed under each escaping and rendered against a fixed contact.
#![no_main]

use flows::template::{Escape, FieldSpec, Templates, limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    let context = minijinja::Value::from_serialize(serde_json::json!({
        "contact": {"id": "c1", "first_name": "Ann", "email": "ann@example.com", "tags": ["vip"]},
        "data": {"order_id": 123, "cart": {"url": "https://shop.example/cart?x=1&y=2", "items": [1, 2, 3]}}
    }));
    let mut templates = Templates::default();
    for escape in [Escape::Html, Escape::Json, Escape::Url, Escape::None] {
        let spec = FieldSpec {
            field: "field",
            escape,
            limit: limits::EMAIL_BODY,
        };
        if let Ok(id) = templates.add("node", spec, source) {
            let _ = templates.render(&id, &context);
        }
    }
});
