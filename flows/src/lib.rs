//! # flows — Cairn's pure core
//!
//! Everything here is deterministic and free of IO, async and clock reads: time is always a
//! parameter. The service (`orchestrator`) and the workers build on it; it depends on neither.
//!
//! The modules form layers, each referring only to modules below it (a test below fails on any
//! cycle, counting `crate::…` paths in code and in docs):
//!
//! - leaves: [`values`] (durations, local times, zones, weekdays), [`time`] (local-time
//!   arithmetic), [`template`] (message templates), [`countries`], [`channel`] (the delivery
//!   channels), [`problem`] (located problems with a flow or a record), [`json`] (lenient JSON
//!   reading), [`names`] (what an id, a tag or a list name may be);
//! - [`contact`] (contacts, the [`contact::Facts`] a step reads, and reading a contact object),
//!   [`event`] (and the rules an event follows), [`token`];
//!   [`geo`] (contacts' zones, countries, public holidays and address checks from generated
//!   tables) and [`condition`] (branch conditions) on them;
//! - [`policy`]: send windows, holidays, caps, throttles and pacing;
//! - [`schedule`]: when a segment entry runs again (recurrence rules, zones, skipped days);
//! - [`definition`]: the `cairn.flow/v1` format as types, and its JSON Schema;
//! - [`journal`], [`effect`]: what a step records and what it asks the world to do;
//! - [`compiled`]: the compiled flow a step runs; [`compile`](mod@compile): text → [`Definition`] →
//!   [`CompiledFlow`], reporting every problem at once;
//! - [`entry`]: which entry nodes an event, an audience or an HTTP entry starts journeys at;
//! - [`step`](mod@step): the token state machine, `step(flow, token, input, context) -> Transition`;
//! - [`simulate`]: the virtual-clock simulator behind `cairn simulate`;
//! - [`templates`]: the example journeys, embedded.

pub mod channel;
pub mod compile;
pub mod compiled;
pub mod condition;
pub mod contact;
pub mod countries;
pub mod definition;
pub mod effect;
pub mod entry;
pub mod event;
pub mod geo;
pub mod journal;
pub mod json;
pub mod names;
pub mod policy;
pub mod problem;
pub mod schedule;
pub mod simulate;
pub mod step;
pub mod template;
pub mod templates;
pub mod time;
pub mod token;
pub mod values;

pub use channel::Channel;
pub use compile::{compile, parse_definition};
pub use compiled::CompiledFlow;
pub use contact::{Contact, ContactPatch};
pub use definition::{Definition, FORMAT_V1, NodeKind};
pub use effect::{Content, Effect, Outbound};
pub use event::Event;
pub use journal::{Action, JournalEntry};
pub use policy::Policy;
pub use problem::{FieldProblem, Problem, Problems};
pub use step::{Context, History, Input, Transition, step};
pub use token::{Token, TokenState};
pub use values::Duration;

#[cfg(test)]
mod layering {
    //! The modules' references to each other form no cycle. A reference is a `crate::name` path
    //! anywhere in a module's files, docs included; `name` is a module, or an item `lib.rs`
    //! re-exports from one.

    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// The text of every module, by top-level module name (`compile/read.rs` is `compile`).
    fn modules() -> BTreeMap<String, String> {
        fn walk(dir: &Path, top: Option<&str>, out: &mut BTreeMap<String, String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_stem().unwrap().to_str().unwrap().to_string();
                if path.is_dir() {
                    walk(&path, Some(top.unwrap_or(&name)), out);
                } else if path.extension().is_some_and(|e| e == "rs") && !(top.is_none() && name == "lib") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    out.entry(top.unwrap_or(&name).to_string()).or_default().push_str(&text);
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), None, &mut out);
        out
    }

    /// The names `crate::` paths in `text` start with: `crate::a::b` gives `a`, and
    /// `crate::{a, b::c}` gives `a` and `b`.
    fn referred(text: &str) -> BTreeSet<String> {
        let ident = |s: &str| -> String {
            s.trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        };
        let mut out = BTreeSet::new();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let (mut depth, mut start) = (0, 0);
                for (j, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => {
                            out.insert(ident(&group[start..j]));
                            break;
                        }
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            out.insert(ident(&group[start..j]));
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
            } else {
                out.insert(ident(rest));
            }
        }
        out.remove("");
        out
    }

    /// What `lib.rs` re-exports: item name → the module it comes from.
    fn reexports(lib: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for statement in lib.split(';') {
            let Some(path) = statement.trim().strip_prefix("pub use ") else {
                continue;
            };
            let (module, items) = path.split_once("::").expect("pub use module::item");
            let items = items.trim_start_matches('{').trim_end_matches('}');
            for item in items.split(',') {
                let name = item.rsplit("::").next().unwrap().trim();
                if !name.is_empty() {
                    out.insert(name.to_string(), module.trim().to_string());
                }
            }
        }
        out
    }

    /// A cycle in `graph`, as the modules along it with the first repeated at the end.
    fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
        fn visit(
            node: &str,
            graph: &BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(at) = path.iter().position(|n| n == node) {
                let mut found = path[at..].to_vec();
                found.push(node.to_string());
                return Some(found);
            }
            if done.contains(node) {
                return None;
            }
            path.push(node.to_string());
            for next in &graph[node] {
                if let Some(found) = visit(next, graph, path, done) {
                    return Some(found);
                }
            }
            path.pop();
            done.insert(node.to_string());
            None
        }
        let mut done = BTreeSet::new();
        graph
            .keys()
            .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
    }

    #[test]
    fn the_modules_refer_to_each_other_without_a_cycle() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
        let reexported = reexports(&lib);
        let modules = modules();
        assert!(
            modules.len() > 10 && modules.contains_key("compile"),
            "{:?}",
            modules.keys()
        );
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (module, text) in &modules {
            let targets = referred(text)
                .into_iter()
                .map(|name| match reexported.get(&name) {
                    _ if modules.contains_key(&name) => name,
                    Some(home) => home.clone(),
                    None => panic!("module {module} refers to crate::{name}, neither a module nor a re-export"),
                })
                .filter(|target| target != module)
                .collect();
            graph.insert(module.clone(), targets);
        }
        if let Some(found) = cycle(&graph) {
            panic!("the modules refer to each other in a cycle: {}", found.join(" → "));
        }
    }

    #[test]
    fn a_cycle_is_found_and_named() {
        let text = "use crate::{a, b::{C, d}};\n/// [`crate::Thing`]\n";
        let names: Vec<String> = referred(text).into_iter().collect();
        assert_eq!(names, ["Thing", "a", "b"]);
        let lib = "pub use a::{A, b::B};\npub use c::C;\n";
        assert_eq!(reexports(lib).get("B").map(String::as_str), Some("a"));
        let graph: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c"), ("c", "b")]
            .into_iter()
            .map(|(from, to)| (from.to_string(), BTreeSet::from([to.to_string()])))
            .collect();
        assert_eq!(cycle(&graph).unwrap().join(" → "), "b → c → b");
    }
}
