// A node on the canvas: React Flow's own node element with its handles — one input on top
// (entries have none), one output per edge label at the bottom (`yes`/`no`, `event`/`timeout`,
// split arms) — the type, the id, what it does, live counts and the problems pinned on it.
import { memo } from "react";
import { Handle, Position, type Node, type NodeProps } from "@xyflow/react";
import type { Problem } from "../api/types";
import { isEntry, KIND, outputLabels, summary, type AnyNode } from "./model";

export interface NodeCounts {
  here: number;
  entered: number;
  sent: number;
  failed: number;
}

export type FlowNodeData = {
  node: AnyNode;
  problems: Problem[];
  counts?: NodeCounts;
  /** On the path of the contact picked in the simulator panel. */
  onPath?: boolean;
  /** Outputs that have an edge (their label is on the edge, not the handle). */
  connected?: string[];
};

export type CanvasNode = Node<FlowNodeData, "cairn">;

function FlowNodeViewInner({ data, selected }: NodeProps<CanvasNode>) {
  const { node, problems, counts, onPath, connected } = data;
  const kind = KIND[node.type];
  const outputs = outputLabels(node);
  const classes = ["flow-node", `group-${kind?.group.toLowerCase() ?? "other"}`];
  if (problems.length) classes.push("has-problems");
  if (selected) classes.push("selected");
  if (onPath) classes.push("on-path");
  return (
    <div className={classes.join(" ")} data-node-id={node.id} data-testid={`node-${node.id}`}>
      {!isEntry(node.type) && <Handle type="target" position={Position.Top} />}
      <div className="flow-node-head">
        <span className="kind-icon" aria-hidden>
          {kind?.icon}
        </span>
        <span className="kind-label">{kind?.label ?? node.type}</span>
        <span className="node-id">{node.id}</span>
      </div>
      <div className="flow-node-summary">{summary(node) || "\u00a0"}</div>
      {counts && (
        <div className="flow-node-counts" aria-label={`Counts of ${node.id}`}>
          {counts.here > 0 && <span className="count here" title="In this step now">{counts.here} here</span>}
          {counts.entered > 0 && <span className="count entered" title="Entered">{counts.entered} entered</span>}
          {counts.sent > 0 && <span className="count sent" title="Sent">{counts.sent} sent</span>}
          {counts.failed > 0 && <span className="count failed" title="Failed">{counts.failed} failed</span>}
        </div>
      )}
      {problems.length > 0 && (
        <div className="pin" role="note" aria-label={`${problems.length} problem${problems.length > 1 ? "s" : ""} on ${node.id}`} title={problems.map((p) => (p.field ? `${p.field}: ${p.message}` : p.message)).join("\n")}>
          {problems.length}
        </div>
      )}
      {problems.length > 0 && <div className="flow-node-problem">{problems[0].field ? `${problems[0].field}: ` : ""}{problems[0].message}</div>}
      {outputs.map((label, i) => (
        <Handle
          key={label ?? "out"}
          id={label}
          type="source"
          position={Position.Bottom}
          style={outputs.length > 1 ? { left: `${((i + 1) / (outputs.length + 1)) * 100}%` } : undefined}
          title={label}
        >
          {label && !connected?.includes(label) && <span className="handle-label">{label}</span>}
        </Handle>
      ))}
    </div>
  );
}

export const FlowNodeView = memo(FlowNodeViewInner);
