//! The graph checks: every node's id once, every edge between known nodes, at least one entry,
//! no cycle, every node reachable from an entry. They see the nodes that did not parse too (by
//! id and type), so one pass reports shape and graph problems together.

use std::collections::HashMap;

use petgraph::algo::tarjan_scc;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::Dfs;

use crate::compiled::Ix;
use crate::definition::{Edge, Node, NodeKind, NodeType};
use crate::problem::Problem;

/// What the graph checks know of a node: its id, and its kind when it parsed. Slots are the
/// definition's nodes in order, then the nodes that did not parse.
pub(super) struct Slot<'a> {
    pub id: &'a str,
    /// Where the node stands in the document (0-based).
    pub position: usize,
    pub kind: Option<&'a NodeKind>,
    /// For nodes that did not parse: whether their `type` names an entry.
    pub entry: bool,
}

/// What reading the document learnt about its nodes beyond the definition.
pub(super) struct NodesRead<'a> {
    /// Where each node of the definition stood in the document.
    pub positions: &'a [usize],
    /// For each node of the definition, the bad fields taken out of it (already reported).
    pub taken_out: &'a [Vec<String>],
    /// (position, id, type) of the nodes that did not parse.
    pub broken: &'a [(usize, String, String)],
}

/// The flow's graph as far as it could be built.
pub(super) struct Graph<'a> {
    /// Node weights are slot (definition) indices; edge weights are the `when` labels.
    pub graph: StableDiGraph<Ix, Option<String>>,
    /// The slot of each id (its first, when an id is given twice).
    pub ids: HashMap<String, Ix>,
    /// Each slot's graph node; `None` for a repeated id.
    pub at: Vec<Option<NodeIndex>>,
    /// Nodes with an edge to a missing node: "no outgoing edge" would only repeat that problem.
    pub dangling: Vec<&'a str>,
}

/// The slots of a document: the nodes of `nodes`, then those that did not parse.
pub(super) fn slots<'a>(nodes: &'a [Node], read: &NodesRead<'a>) -> Vec<Slot<'a>> {
    nodes
        .iter()
        .zip(read.positions)
        .map(|(n, position)| Slot {
            id: &n.id,
            position: *position,
            kind: Some(&n.kind),
            entry: n.kind.is_entry(),
        })
        .chain(read.broken.iter().map(|(position, id, t)| Slot {
            id,
            position: *position,
            kind: None,
            entry: t.parse::<NodeType>().is_ok_and(NodeType::is_entry),
        }))
        .collect()
}

/// Builds the graph of `slots` and `edges`, reporting repeated ids and edges to or from unknown
/// nodes.
pub(super) fn build<'a>(slots: &[Slot<'_>], edges: &'a [Edge], problems: &mut Vec<Problem>) -> Graph<'a> {
    // Duplicates in document order, whether or not the nodes parsed.
    let mut in_order: Vec<&Slot<'_>> = slots.iter().collect();
    in_order.sort_by_key(|s| s.position);
    let mut first_at: HashMap<&str, usize> = HashMap::new();
    for slot in in_order {
        if let Some(first) = first_at.get(slot.id) {
            problems.push(Problem::node(
                slot.id,
                format!("duplicate node id (also node #{})", first + 1),
            ));
        } else {
            first_at.insert(slot.id, slot.position);
        }
    }
    let mut graph: StableDiGraph<Ix, Option<String>> = StableDiGraph::new();
    let mut ids: HashMap<String, Ix> = HashMap::new();
    let mut at: Vec<Option<NodeIndex>> = Vec::with_capacity(slots.len());
    for (i, slot) in slots.iter().enumerate() {
        if ids.contains_key(slot.id) {
            at.push(None);
        } else {
            ids.insert(slot.id.to_string(), i);
            at.push(Some(graph.add_node(i)));
        }
    }
    let gix = |id: &str| ids.get(id).and_then(|i| at[*i]);
    let mut dangling: Vec<&str> = Vec::new();
    for (i, edge) in edges.iter().enumerate() {
        let from = gix(&edge.from);
        let to = gix(&edge.to);
        if from.is_none() {
            problems.push(Problem::at(
                None,
                Some(&format!("edges[{i}].from")),
                format!("edge from unknown node '{}'", edge.from),
            ));
        }
        if to.is_none() {
            let node = from.map(|_| edge.from.as_str());
            dangling.push(&edge.from);
            problems.push(Problem::at(
                node,
                Some(&format!("edges[{i}].to")),
                format!("edge to unknown node '{}'", edge.to),
            ));
        }
        if let (Some(a), Some(b)) = (from, to) {
            graph.add_edge(a, b, edge.when.clone());
        }
    }
    Graph {
        graph,
        ids,
        at,
        dangling,
    }
}

/// Reports a flow without an entry, cycles, and (when there is an entry) unreachable nodes.
pub(super) fn check_shape(slots: &[Slot<'_>], g: &Graph<'_>, problems: &mut Vec<Problem>) {
    let has_entry = slots.iter().any(|s| s.entry);
    if !has_entry {
        problems.push(Problem::at(
            None,
            Some("nodes"),
            format!(
                "the flow has no entry node ({})",
                NodeType::names_where(NodeType::is_entry)
            ),
        ));
    }
    check_cycles(slots, &g.graph, problems);
    if has_entry {
        check_reachable(slots, &g.graph, &g.at, problems);
    }
}

fn check_cycles(slots: &[Slot<'_>], graph: &StableDiGraph<Ix, Option<String>>, problems: &mut Vec<Problem>) {
    let mut cycles: Vec<Vec<Ix>> = tarjan_scc(graph)
        .into_iter()
        .filter(|scc| scc.len() > 1 || graph.find_edge(scc[0], scc[0]).is_some())
        .map(|scc| {
            let mut members: Vec<Ix> = scc.iter().map(|g| graph[*g]).collect();
            members.sort_unstable();
            members
        })
        .collect();
    cycles.sort();
    for members in cycles {
        let names: Vec<String> = members.iter().map(|i| format!("'{}'", slots[*i].id)).collect();
        problems.push(Problem::node(
            slots[members[0]].id,
            format!("is part of a cycle through {}; a journey cannot loop", names.join(", ")),
        ));
    }
}

fn check_reachable(
    slots: &[Slot<'_>],
    graph: &StableDiGraph<Ix, Option<String>>,
    at: &[Option<NodeIndex>],
    problems: &mut Vec<Problem>,
) {
    let mut seen = vec![false; slots.len()];
    for (i, slot) in slots.iter().enumerate() {
        if let (true, Some(g)) = (slot.entry, at[i]) {
            let mut dfs = Dfs::new(graph, g);
            while let Some(n) = dfs.next(graph) {
                seen[graph[n]] = true;
            }
        }
    }
    for (i, slot) in slots.iter().enumerate() {
        if !seen[i] && at[i].is_some() && slot.kind.is_some() {
            problems.push(Problem::node(
                slot.id,
                "is unreachable: no path leads to it from an entry node",
            ));
        }
    }
}
