//! Holt's MCP tools: what an AI assistant connected to a wiki's `/mcp` can do with its notes.
//!
//! - `catalog`: every tool's name, description, parameters (→ JSON Schema) and handler;
//! - `args`: checking a call's arguments against those parameters;
//! - `tools::*`: the tools, by group (notes, browse, changes, attachments, account);
//! - `sections`: Markdown sections by heading path; `time`: RFC 3339; `fail`: advice on errors.
//!
//! Every host call acts with the caller's permissions, so the tools never check permissions
//! themselves: the host hides the writing tools from read-only tokens and refuses what the
//! caller may not do. The tool list does not depend on the caller (the host caches it).

mod args;
mod catalog;
mod fail;
mod sections;
mod time;
mod tools;

use holt_plugin_sdk::{Plugin, Tool, ToolResult, register_plugin};

struct McpTools;

impl Plugin for McpTools {
    fn new() -> Self {
        McpTools
    }

    fn list_tools(&self) -> Vec<Tool> {
        catalog::TOOLS
            .iter()
            .map(|tool| Tool {
                name: tool.name.into(),
                description: tool.description.into(),
                input_schema: tool.schema().to_string(),
                writes: tool.writes,
            })
            .collect()
    }

    fn call_tool(&self, name: &str, arguments: &str) -> ToolResult {
        let outcome = match catalog::find(name) {
            None => Err(format!(
                "There is no tool '{name}'; call tools/list to see the tools."
            )),
            Some(tool) => args::parse(tool, arguments).and_then(|args| (tool.run)(&args)),
        };
        match outcome {
            Ok(content) => ToolResult {
                content,
                is_error: false,
            },
            Err(content) => ToolResult {
                content,
                is_error: true,
            },
        }
    }
}

register_plugin!(McpTools);
