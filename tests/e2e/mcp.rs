//! The MCP server at `/mcp`, driven by the real Python and TypeScript MCP SDKs.
