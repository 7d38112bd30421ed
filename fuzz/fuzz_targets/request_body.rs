//! Any bytes as a request body (an entry, an event, a flow document): what the strict reader
//! accepts must read back the same, and a stored row holding it (a token's state, nested a few
//! levels deeper) must still be readable by the engine's JSON reader.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The service's body reader, compiled here on its own (it needs only serde).
#[path = "../../orchestrator/src/http/strict.rs"]
#[allow(dead_code)]
mod strict;

use strict::{DOCUMENTS, RECORDS};

fuzz_target!(|data: &[u8]| {
    for limits in [RECORDS, DOCUMENTS] {
        let Ok(value) = strict::parse(data, limits) else { continue };
        let text = serde_json::to_string(&value).expect("a value prints");
        let again = strict::parse(text.as_bytes(), limits).expect("an accepted body reads back");
        assert_eq!(value, again);
        let row = format!("[[1, 2, {{\"state\": {{\"data\": {text}}}}}]]");
        serde_json::from_str::<serde_json::Value>(&row).expect("a stored row holding it reads back");
    }
});
