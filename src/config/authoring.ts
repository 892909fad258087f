/**
 * The workflow author's toolkit (`baton/authoring`), behind `baton lint` and
 * `baton scaffold`: what a workflow cannot do under a configuration, and a skeleton
 * from an MCP server's tools. Pure functions over plain data; web-standard APIs only.
 */
export { type EnvironmentResult, type LintEnvironment, type LintFinding, type LintRule, type Severity, lintEnvironmentOf, lintWorkflow, pointer } from "./lint/index.js";
export { type GrantSuggestion, type McpTool, type Scaffold, type ScaffoldOptions, ToolsListSchema, scaffoldWorkflow, toIdentifier } from "./scaffold.js";
