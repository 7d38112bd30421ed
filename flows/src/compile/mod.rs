//! From text to a runnable [`CompiledFlow`]: parsing, validation, compilation.
//!
//! "Parse, don't validate": [`compile`] is the only way to get a `CompiledFlow`, and it succeeds
//! only when the whole flow is sound — every node parses, every edge joins known nodes with the
//! labels its source expects, the graph is acyclic, every node is reachable from an entry and
//! every template parses. On failure it returns *all* [`Problems`] at once, each naming the node
//! and field it is about, so an editor can mark them all.
//!
//! `read` is the lenient reader (text → [`Definition`] as far as it goes), `graph` the graph
//! checks, `node` the per-node checks and lowering to the compiled flow's ops. Checking a flow
//! against a workspace policy (the calendars it names) is [`Policy::check_flow`].

use std::collections::BTreeMap;

use petgraph::Direction;
use petgraph::visit::EdgeRef;
use serde_json::Value;

use crate::compiled::{CompiledFlow, Ix, Op};
use crate::condition::Condition;
use crate::definition::{Definition, NodeKind};
use crate::policy::{PUBLIC, Policy};
use crate::problem::{Problem, Problems};
use crate::template::Templates;
use graph::NodesRead;
use node::NodeCheck;

mod graph;
mod node;
mod read;
#[cfg(test)]
mod tests;

/// Reads a `cairn.flow/v1` document from JSON text. Syntax errors carry line and column.
pub fn parse_definition(text: &str) -> Result<Definition, Problems> {
    definition_from_value(read::parse_json(text)?)
}

/// Reads a `cairn.flow/v1` document from a JSON value, reporting every shape problem.
pub fn definition_from_value(value: Value) -> Result<Definition, Problems> {
    let parsed = read::read(value)?;
    if parsed.problems.is_empty() {
        Ok(parsed.definition)
    } else {
        Err(Problems(parsed.problems))
    }
}

/// Parses and compiles a JSON value, reporting shape and graph problems together.
pub fn compile_value(value: Value) -> Result<CompiledFlow, Problems> {
    let parsed = read::read(value)?;
    let nodes = NodesRead {
        positions: &parsed.positions,
        taken_out: &parsed.taken_out,
        broken: &parsed.broken,
    };
    check(parsed.definition, nodes, parsed.problems)
}

/// Validates and compiles a definition, reporting every problem.
pub fn compile(definition: Definition) -> Result<CompiledFlow, Problems> {
    let positions: Vec<usize> = (0..definition.nodes.len()).collect();
    let taken_out = vec![Vec::new(); definition.nodes.len()];
    let nodes = NodesRead {
        positions: &positions,
        taken_out: &taken_out,
        broken: &[],
    };
    check(definition, nodes, Vec::new())
}

impl CompiledFlow {
    /// Parses and compiles JSON text, reporting every problem at once.
    pub fn from_json(text: &str) -> Result<Self, Problems> {
        compile_value(read::parse_json(text)?)
    }
}

impl Policy {
    /// Calendars a flow names that this policy does not have, each located (node and field).
    pub fn check_flow(&self, flow: &CompiledFlow) -> Result<(), Problems> {
        let known = |name: &String| name == PUBLIC || self.calendars.contains_key(name);
        let unknown = |name: &str| format!("unknown calendar '{name}' (use 'public' or a calendar of the policy)");
        let mut problems = Vec::new();
        for (channel, rules) in &flow.definition().policy {
            for name in rules.holidays.iter().flatten().filter(|n| !known(n)) {
                problems.push(Problem::at(
                    None,
                    Some(&format!("policy.{channel}.holidays")),
                    unknown(name),
                ));
            }
        }
        for node in &flow.definition().nodes {
            for name in node.kind.send_rules().holidays.iter().flatten().filter(|n| !known(n)) {
                problems.push(Problem::at(Some(&node.id), Some("holidays"), unknown(name)));
            }
            if let NodeKind::SegmentEntry(e) = &node.kind
                && let Some(schedule) = &e.schedule
            {
                for name in schedule.calendars().filter(|n| !self.calendars.contains_key(*n)) {
                    problems.push(Problem::at(Some(&node.id), Some("schedule.skip"), unknown(name)));
                }
            }
            if let NodeKind::HolidayPause(h) = &node.kind
                && let Some(name) = h.calendar.as_ref().filter(|n| !known(n))
            {
                problems.push(Problem::at(Some(&node.id), Some("calendar"), unknown(name)));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Problems(problems))
        }
    }
}

/// Every check after reading: the graph's, then each node's; the compiled flow when none failed.
fn check(definition: Definition, read: NodesRead<'_>, mut problems: Vec<Problem>) -> Result<CompiledFlow, Problems> {
    let nodes = &definition.nodes;
    let slots = graph::slots(nodes, &read);
    let built = graph::build(&slots, &definition.edges, &mut problems);
    graph::check_shape(&slots, &built, &mut problems);
    let graph::Graph {
        graph,
        ids,
        at,
        dangling,
    } = built;

    let mut templates = Templates::default();
    let mut ops = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let Some(g) = at[i] else { continue };
        let mut out: BTreeMap<Option<String>, Vec<Ix>> = BTreeMap::new();
        for e in graph.edges_directed(g, Direction::Outgoing) {
            out.entry(e.weight().clone()).or_default().push(graph[e.target()]);
        }
        if node.kind.is_entry() && graph.edges_directed(g, Direction::Incoming).next().is_some() {
            problems.push(Problem::node(&node.id, "an entry node cannot have incoming edges"));
        }
        let dangling = dangling.contains(&node.id.as_str());
        let mut cx = NodeCheck {
            node,
            slots: &slots,
            out,
            dangling,
            taken_out: &read.taken_out[i],
            problems: &mut problems,
            templates: &mut templates,
        };
        if let Some(op) = cx.compile(&graph, &ids, &at) {
            ops.push(op);
        }
    }

    if problems.is_empty() {
        let (reads_messages, reads_segments) = branch_reads(&ops);
        Ok(CompiledFlow {
            definition,
            graph,
            ids,
            ops,
            templates,
            reads_messages,
            reads_segments,
        })
    } else {
        Err(Problems(problems))
    }
}

impl CompiledFlow {
    /// This flow with each saved segment its branches name replaced by that segment's
    /// condition as `lookup` (by id or name) gives it now. The version's definition is
    /// unchanged: a branch follows its segment's later edits when resolved again. An unknown
    /// segment, or segments that include each other, is a problem on the branch's `condition`.
    pub fn with_segments(&self, lookup: &impl Fn(&str) -> Option<Condition>) -> Result<CompiledFlow, Problems> {
        let mut flow = compile(self.definition.clone())?;
        let mut problems = Vec::new();
        for (ix, op) in flow.ops.iter_mut().enumerate() {
            let Op::Branch { condition, .. } = op else {
                continue;
            };
            if condition.segments().is_empty() {
                continue;
            }
            match condition.resolve(lookup) {
                Ok(resolved) => *condition = resolved,
                Err(why) => problems.push(Problem::at(Some(&flow.definition.nodes[ix].id), Some("condition"), why)),
            }
        }
        if !problems.is_empty() {
            return Err(Problems(problems));
        }
        (flow.reads_messages, flow.reads_segments) = branch_reads(&flow.ops);
        Ok(flow)
    }
}

/// Whether any `branch` reads message history, and whether any names a saved segment.
fn branch_reads(ops: &[Op]) -> (bool, bool) {
    let conditions = || {
        ops.iter().filter_map(|op| match op {
            Op::Branch { condition, .. } => Some(condition),
            _ => None,
        })
    };
    (
        conditions().any(Condition::reads_messages),
        conditions().any(|c| !c.segments().is_empty()),
    )
}
