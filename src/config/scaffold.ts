import { z } from "zod";
import { CAPABILITY_DEFAULT_TTL_SECONDS, GRANT_ACTION_MAX_CHARS, STAGE_MAX_GRANTS, WORKFLOW_MAX_STAGES } from "../limits.js";
import type { WorkflowSchema } from "../policy/workflow-schema.js";

/** An MCP tool as `tools/list` describes it: only what the scaffold reads (the rest may be anything). */
const ToolSchema = z.looseObject({
  name: z.string().min(1),
  description: z.string().optional(),
  inputSchema: z.looseObject({
    type: z.literal("object"),
    properties: z.record(z.string(), z.unknown()).optional(),
    required: z.array(z.string()).optional(),
  }),
  annotations: z.looseObject({ readOnlyHint: z.boolean().optional(), destructiveHint: z.boolean().optional() }).optional(),
});
export type McpTool = z.infer<typeof ToolSchema>;

const ToolsList = z.looseObject({ tools: z.array(ToolSchema).max(WORKFLOW_MAX_STAGES * STAGE_MAX_GRANTS) });
/** A saved `tools/list` result: the result itself, or the whole JSON-RPC response around it. */
export const ToolsListSchema = z.preprocess(
  (value) => (typeof value === "object" && value !== null && "result" in value && !("tools" in value) ? value.result : value),
  ToolsList,
);

export interface ScaffoldOptions {
  tools: readonly McpTool[];
  /** The tool id the grants are addressed to (the MCP server's Baton audience). */
  audience: string;
  /** The workflow id; the audience by default. */
  id?: string;
  /** Where the tools came from (a URL or a file), for the description. */
  source: string;
}

/** A `where` condition for one grant, from its tool's input schema, and the parameters it names. */
export interface GrantSuggestion {
  grant: string;
  tool: string;
  where: string;
  params: Record<string, unknown>;
}

export interface Scaffold {
  workflow: z.input<typeof WorkflowSchema>;
  suggestions: GrantSuggestion[];
  skipped: { tool: string; reason: string }[];
}

/**
 * `My Server` → `my-server`: a name as a Baton identifier (tool ids, workflow ids), or null
 * when nothing of it is left.
 */
export function toIdentifier(name: string): string | null {
  const id = name
    .toLowerCase()
    .replace(/[^a-z0-9._:-]+/g, "-")
    .replace(/^[^a-z0-9]+/, "")
    .slice(0, 64)
    .replace(/-+$/, "");
  return id === "" ? null : id;
}

/**
 * A workflow skeleton with one grant per tool, for its author to arrange into stages.
 * It validates as written: a server with more tools than a stage may grant spills into
 * further stages, each behind a placeholder outcome gate on the stage before. Conditions
 * are only suggested (`suggestions`), never written into the grants: a condition the author
 * did not choose would read as a decision someone made.
 */
export function scaffoldWorkflow({ tools, audience, id = audience, source }: ScaffoldOptions): Scaffold {
  const skipped: Scaffold["skipped"] = [];
  const usable = tools.filter((tool) => {
    if (tool.name.length <= GRANT_ACTION_MAX_CHARS) return true;
    skipped.push({ tool: tool.name, reason: `a name longer than ${GRANT_ACTION_MAX_CHARS} characters cannot be an action` });
    return false;
  });
  const chunks: McpTool[][] = [];
  for (let i = 0; i < usable.length; i += STAGE_MAX_GRANTS) chunks.push(usable.slice(i, i + STAGE_MAX_GRANTS));
  if (chunks.length === 0) throw new Error(`${source} lists no tools to grant`);

  const suggestions: GrantSuggestion[] = [];
  const stages = chunks.map((chunk, s) => {
    const grants = chunk.map((tool, g) => {
      const suggestion = suggest(tool);
      if (suggestion) suggestions.push({ grant: `/stages/${s}/grants/${g}`, tool: tool.name, ...suggestion });
      const read = tool.annotations?.readOnlyHint;
      const effect: "read" | "write" | undefined = read === true ? "read" : read === false || tool.annotations?.destructiveHint ? "write" : undefined;
      return { audience, actions: [tool.name], uses: 1, ...(effect ? { effect } : {}) };
    });
    const previous = chunks[s - 1]?.[0]?.name;
    return {
      id: `stage-${s + 1}`,
      description:
        s === 0
          ? "Scaffolded: move each grant to the stage it belongs to, give each stage after the first a gate, and set uses and ttl_seconds."
          : "Scaffolded: more tools than one stage may grant; this placeholder gate waits for the first action of the stage before.",
      ...(previous ? { gate: { outcomes: [{ tool: audience, action: previous }] } } : {}),
      ttl_seconds: CAPABILITY_DEFAULT_TTL_SECONDS,
      grants,
    };
  });
  return {
    workflow: {
      id,
      description: `Scaffolded from the MCP server ${source.slice(0, 500)}: one grant per tool of ${audience}. Arrange the grants into stages and narrow each with a where condition.`,
      params: { type: "object", properties: {}, additionalProperties: false },
      stages,
      complete: { on: "last_use" },
    },
    suggestions,
    skipped,
  };
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A condition per argument the input schema types, pinning it to a parameter of the sequence. */
function suggest(tool: McpTool): { where: string; params: Record<string, unknown> } | null {
  const conditions: string[] = [];
  const params: Record<string, unknown> = {};
  const required = new Set(tool.inputSchema.required ?? []);
  for (const [name, schema] of Object.entries(tool.inputSchema.properties ?? {})) {
    const type = (schema as { type?: unknown } | null)?.type;
    const arg = IDENT.test(name) ? `args.${name}` : `args[${JSON.stringify(name)}]`;
    const param = name.replace(/[^A-Za-z0-9_]+/g, "_").replace(/^([^A-Za-z_])/, "_$1");
    let condition: string;
    if (type === "string" || type === "boolean") {
      condition = `${arg} == params.${param}`;
      params[param] = { type, ...enumOf(schema) };
    } else if (type === "integer" || type === "number") {
      condition = `${arg} <= params.${param}_max`;
      params[`${param}_max`] = { type };
    } else if (type === "array" && (schema as { items?: { type?: unknown } }).items?.type === "string") {
      condition = `${arg}.all(v, v in params.${param})`;
      params[param] = { type: "array", items: { type: "string" } };
    } else {
      continue; // objects and untyped arguments: nothing sensible to pin
    }
    // An optional argument the agent leaves out must not fail the condition.
    const present = IDENT.test(name) ? `has(${arg})` : `(${JSON.stringify(name)} in args)`;
    conditions.push(required.has(name) ? condition : `(!${present} || ${condition})`);
  }
  return conditions.length === 0 ? null : { where: conditions.join(" && "), params };
}

function enumOf(schema: unknown): { enum?: unknown[] } {
  const values = (schema as { enum?: unknown }).enum;
  return Array.isArray(values) ? { enum: values } : {};
}
