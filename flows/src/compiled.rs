//! The compiled flow: what the compiler makes of a sound [`Definition`] and the only thing a
//! step runs. Each node is lowered to an `Op` with its parameters parsed, its templates
//! compiled and its successors resolved to node indices, so a step never searches edges or
//! reads text.

use std::collections::HashMap;

use chrono_tz::Tz;
use petgraph::stable_graph::StableDiGraph;

use crate::channel::Channel;
use crate::condition::Condition;
use crate::definition::{Definition, HttpMethod, Node};
use crate::policy::SendRules;
use crate::template::{TemplateId, Templates};
use crate::values::Duration;

/// Index of a node in its flow's definition order.
pub type Ix = usize;

/// A node ready to run: its parameters parsed and its successors resolved.
#[derive(Debug)]
pub(crate) enum Op {
    Enter {
        next: Ix,
    },
    Send {
        channel: Channel,
        content: ContentTemplates,
        /// The node's own send rules (the flow's and the configuration's apply under them).
        rules: SendRules,
        next: Ix,
    },
    HolidayPause {
        calendar: Option<String>,
        next: Ix,
    },
    Wait {
        duration: Duration,
        next: Ix,
    },
    WaitUntil {
        target: Until,
        next: Ix,
    },
    WaitForEvent {
        event: String,
        message: Option<String>,
        timeout: Duration,
        on_event: Ix,
        on_timeout: Ix,
    },
    Branch {
        condition: Condition,
        yes: Ix,
        no: Ix,
    },
    Split {
        arms: Vec<(String, u32, Ix)>,
        total: u64,
    },
    ControlGroup {
        basis_points: u64,
        next: Ix,
    },
    Tag {
        add: bool,
        tag: String,
        next: Ix,
    },
    List {
        add: bool,
        list: String,
        next: Ix,
    },
    Exit,
}

#[derive(Debug)]
pub(crate) enum ContentTemplates {
    Email {
        subject: TemplateId,
        html: TemplateId,
        text: Option<TemplateId>,
        from: Option<String>,
    },
    Sms {
        text: TemplateId,
    },
    Push {
        title: TemplateId,
        body: TemplateId,
        url: Option<TemplateId>,
    },
    Webhook {
        method: HttpMethod,
        url: TemplateId,
        headers: Vec<(String, TemplateId)>,
        body: Option<TemplateId>,
    },
}

#[derive(Debug)]
pub(crate) enum Until {
    At(chrono::DateTime<chrono::Utc>),
    Field {
        path: String,
        anniversary: bool,
        time: Option<chrono::NaiveTime>,
        zone: Option<Tz>,
    },
    TimeOfDay {
        time: chrono::NaiveTime,
        days: Vec<chrono::Weekday>,
        zone: Option<Tz>,
    },
}

/// A flow that passed validation; the only thing a step runs. Only the compiler builds one
/// (`compile`, `compile_value` or `CompiledFlow::from_json`).
#[derive(Debug)]
pub struct CompiledFlow {
    pub(crate) definition: Definition,
    /// Node weights are definition indices; edge weights are the `when` labels.
    pub(crate) graph: StableDiGraph<Ix, Option<String>>,
    pub(crate) ids: HashMap<String, Ix>,
    pub(crate) ops: Vec<Op>,
    pub(crate) templates: Templates,
    /// Whether a `branch` reads the contact's message history (see [`CompiledFlow::reads_messages`]).
    pub(crate) reads_messages: bool,
    /// Whether a `branch` names a saved segment (see [`CompiledFlow::reads_segments`]).
    pub(crate) reads_segments: bool,
}

impl CompiledFlow {
    pub fn definition(&self) -> &Definition {
        &self.definition
    }
    pub fn name(&self) -> &str {
        &self.definition.name
    }
    /// The flow's default zone, if it sets one.
    pub fn timezone(&self) -> Option<Tz> {
        self.definition.timezone.map(|z| z.0)
    }
    pub fn node_count(&self) -> usize {
        self.definition.nodes.len()
    }
    pub fn node(&self, ix: Ix) -> &Node {
        &self.definition.nodes[ix]
    }
    pub fn index_of(&self, id: &str) -> Option<Ix> {
        self.ids.get(id).copied()
    }
    /// Entry nodes, in definition order.
    pub fn entries(&self) -> impl Iterator<Item = (Ix, &Node)> {
        self.definition
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.kind.is_entry())
    }
    /// Whether a `branch` of the flow tests the contact's message history (`{"message": …}`):
    /// only then must the contacts it steps carry [`crate::Contact::messages`].
    pub fn reads_messages(&self) -> bool {
        self.reads_messages
    }
    /// The graph: node weights are indices into the definition's nodes, edges carry labels.
    pub fn graph(&self) -> &StableDiGraph<Ix, Option<String>> {
        &self.graph
    }

    /// Whether a `branch` names a saved segment (`{"segment": …}`), found once at compile time:
    /// only then must the version be resolved before it runs (`CompiledFlow::with_segments`).
    pub fn reads_segments(&self) -> bool {
        self.reads_segments
    }

    /// The saved segments the flow's `branch` nodes name (`{"segment": …}`), by node id, each
    /// once per node. Such a flow runs only once they are put in place
    /// (`CompiledFlow::with_segments`, in the compiler): an unresolved segment holds for no one.
    pub fn branch_segments(&self) -> Vec<(&str, &str)> {
        self.ops
            .iter()
            .enumerate()
            .filter_map(|(ix, op)| match op {
                Op::Branch { condition, .. } => Some((ix, condition)),
                _ => None,
            })
            .flat_map(|(ix, condition)| {
                let node = self.definition.nodes[ix].id.as_str();
                condition.segments().into_iter().map(move |name| (node, name))
            })
            .collect()
    }
}
