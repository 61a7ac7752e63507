//! Holt's MCP tools (being written).

use holt_plugin_sdk::{Plugin, Tool, ToolResult, context, register_plugin};

struct McpTools;

impl Plugin for McpTools {
    fn new() -> Self {
        McpTools
    }

    fn list_tools(&self) -> Vec<Tool> {
        vec![Tool {
            name: "whoami".into(),
            description: "Who you are on this wiki".into(),
            input_schema: "{\"type\":\"object\",\"properties\":{}}".into(),
            writes: false,
        }]
    }

    fn call_tool(&self, name: &str, _arguments: &str) -> ToolResult {
        match name {
            "whoami" => ToolResult {
                content: format!("You are {}.", context::whoami().name),
                is_error: false,
            },
            _ => ToolResult {
                content: format!("unknown tool '{name}'"),
                is_error: true,
            },
        }
    }
}

register_plugin!(McpTools);
