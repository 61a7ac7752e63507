//! The MCP server of every wiki: Streamable HTTP at `/mcp` (rmcp, stateless), whose tools come
//! from the enabled plugins exporting `mcp-tools`.
//!
//! The transport, the protocol and the caller's permissions are the host's; what the tools do is
//! the plugins'. A caller is whoever the `TenantResolver` made of the request (a wiki token today,
//! an OAuth token later): this module reads no credentials. Tools that write are hidden from
//! callers who may only read, refused if called anyway, and count against the write rate limit.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, CustomRequest,
    CustomResult, ErrorCode, Implementation, JsonObject, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext as McpContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};

use crate::plugins::{McpTool, PluginError, PluginHost};
use crate::tenancy::RequestContext;
use crate::web::{AppState, RateLimiter};

/// Where a wiki's MCP server is served.
pub const PATH: &str = "/mcp";

/// Serves one MCP request (a JSON-RPC message, or a batch) for the resolved wiki and caller.
pub async fn serve(
    State(state): State<AppState>,
    ctx: RequestContext,
    request: Request,
) -> Response {
    if let Some(refusal) = refusal(&ctx) {
        return crate::web::answered_early(request, refusal).await;
    }
    let body_limit = state.settings.limits.max_attachment_bytes as usize * 4 / 3 + (1 << 20);
    let request = match parsed(request, body_limit).await {
        Ok(request) => request,
        Err(refusal) => return *refusal,
    };
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_sse_retry(None)
        .with_allowed_hosts(allowed_hosts(&state, &ctx))
        .with_max_request_body_bytes(body_limit);
    let server = WikiServer {
        plugins: state.plugins.clone(),
        rate: state.rate.clone(),
        rate_limited: state.resolver.is_platform(),
        base_url: ctx.url.clone(),
        name: state.site_name(&ctx),
        ctx,
    };
    let service = StreamableHttpService::new(move || Ok(server.clone()), never_sessions(), config);
    service.handle(request).await.into_response()
}

/// Buffers a POST's body and checks that it is JSON, answering a JSON-RPC parse error (400) if
/// not; the transport alone would answer 415 to a malformed body.
async fn parsed(request: Request, limit: usize) -> Result<Request, Box<Response>> {
    if request.method() != axum::http::Method::POST {
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        Box::new(rpc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            -32600,
            format!("The request is larger than this server accepts ({limit} bytes)."),
        ))
    })?;
    if let Err(err) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
        return Err(Box::new(rpc_error(
            StatusCode::BAD_REQUEST,
            -32700,
            format!("Parse error: the body is not JSON ({err})."),
        )));
    }
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

fn rpc_error(status: StatusCode, code: i32, message: String) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": code, "message": message},
    });
    (status, axum::Json(body)).into_response()
}

/// Stateless mode keeps no sessions; the manager is only a type the transport needs.
fn never_sessions() -> Arc<NeverSessionManager> {
    static SESSIONS: OnceLock<Arc<NeverSessionManager>> = OnceLock::new();
    SESSIONS.get_or_init(Default::default).clone()
}

/// Why the request may not use the MCP server, if it may not. On a platform a wiki token or
/// an OAuth access token is required (a missing one is a 401 challenge naming the resource
/// metadata, where clients start the OAuth flow); a single wiki without accounts lets in
/// whoever its anonymous access allows.
fn refusal(ctx: &RequestContext) -> Option<Response> {
    let hosted = ctx.record.is_some();
    if hosted && !ctx.credential.is_bearer() {
        let mut response = (
            StatusCode::UNAUTHORIZED,
            format!(
                "This MCP server needs authorization: connect with OAuth (an MCP client does \
                 this by itself), or make a wiki token in the wiki's admin panel ({}/-/admin) \
                 and send it as `Authorization: Bearer <token>`.\n",
                ctx.url
            ),
        )
            .into_response();
        if let Ok(value) = HeaderValue::from_str(&challenge(&ctx.url, None)) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        return Some(response);
    }
    if !ctx.permissions.read {
        let message = if hosted {
            "This token does not give access to this wiki (a token works on its own wiki only).\n"
        } else {
            "This wiki is not open to MCP clients (its anonymous access is 'none').\n"
        };
        return Some((StatusCode::FORBIDDEN, message).into_response());
    }
    None
}

/// The `WWW-Authenticate` challenge of wiki `wiki_url`'s MCP endpoint (RFC 9728 §5.1),
/// with the error of a bad token if there was one.
pub fn challenge(wiki_url: &str, error: Option<&str>) -> String {
    let mut value = format!(
        "Bearer realm=\"Holt\", resource_metadata=\"{wiki_url}{}\", scope=\"read write\"",
        crate::oauth::RESOURCE_METADATA_PATH
    );
    if let Some(description) = error {
        let description: String = description
            .chars()
            .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
            .collect();
        value.push_str(&format!(
            ", error=\"invalid_token\", error_description=\"{description}\""
        ));
    }
    value
}

/// The Host names the transport accepts (it refuses others, against DNS rebinding): the wiki's
/// own host from the configured public URL, and on a single wiki also the loopback names.
fn allowed_hosts(state: &AppState, ctx: &RequestContext) -> Vec<String> {
    let urls = state.resolver.urls();
    match &ctx.record {
        Some(record) => vec![format!("{}.{}", record.slug, urls.domain())],
        None => {
            let mut hosts = vec![urls.domain().to_string()];
            for loopback in ["localhost", "127.0.0.1", "::1"] {
                if !hosts.iter().any(|h| h == loopback) {
                    hosts.push(loopback.to_string());
                }
            }
            hosts
        }
    }
}

/// One request's MCP server: the wiki and caller it acts for, and the plugins with tools.
#[derive(Clone)]
struct WikiServer {
    plugins: Arc<PluginHost>,
    rate: Arc<RateLimiter>,
    rate_limited: bool,
    ctx: RequestContext,
    base_url: String,
    name: String,
}

impl WikiServer {
    /// The tools this caller may use.
    async fn tools(&self) -> Vec<McpTool> {
        let may_write = self.ctx.permissions.write;
        let mut tools = self.plugins.mcp_tools(&self.ctx, &self.base_url).await;
        tools.retain(|t| may_write || !t.writes);
        tools
    }
}

impl ServerHandler for WikiServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("holt", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "The wiki '{}' at {}: Markdown notes in git, each change a commit. Read a note \
                 before changing it and pass the revision you read; a stale revision is refused \
                 so nobody's edit is lost.",
                self.name, self.base_url
            ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: McpContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = self.tools().await.into_iter().map(to_rmcp).collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _context: McpContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        Err(ErrorData::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!(
                "there is no method '{}' on this server; it serves tools (tools/list, tools/call)",
                request.method
            ),
            None,
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: McpContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let found = self
            .plugins
            .mcp_tool(&self.ctx, &self.base_url, &request.name)
            .await;
        let Some(tool) = found else {
            return Err(ErrorData::invalid_params(
                format!(
                    "there is no tool '{}' on this wiki; call tools/list to see the tools",
                    request.name
                ),
                None,
            ));
        };
        if tool.writes && !self.ctx.permissions.write {
            return Ok(failure(format!(
                "'{}' changes the wiki, and this token may only read it. Ask the wiki's owner \
                 for a token with write access.",
                tool.name
            )));
        }
        if tool.writes
            && self.rate_limited
            && let Err(wait) = self.rate.take(&self.ctx.rate_key())
        {
            return Ok(failure(format!(
                "Too many changes in a short time; wait {wait} seconds and try again."
            )));
        }
        let arguments = serde_json::Value::Object(request.arguments.unwrap_or_default());
        let result = self
            .plugins
            .mcp_call(&tool, &self.ctx, &self.base_url, &arguments.to_string())
            .await;
        Ok(match result {
            Ok(out) if out.is_error => failure(out.content),
            Ok(out) => CallToolResult::success(vec![ContentBlock::text(out.content)]).into(),
            Err(err) => failure(plugin_failure(&err)),
        })
    }
}

fn failure(message: String) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(message)]).into()
}

/// What an assistant is told when the plugin behind a tool failed.
fn plugin_failure(err: &PluginError) -> String {
    match err {
        PluginError::Timeout { .. } => {
            format!("{err}. Try a smaller request (fewer notes, a lower limit).")
        }
        PluginError::OutputTooLarge { .. } => {
            format!("{err}. Ask for less at once (a section, fewer notes, a lower limit).")
        }
        _ => format!("{err}. The wiki's operator can see the details in the log."),
    }
}

/// An rmcp tool from a plugin's, with hints derived from whether it writes.
fn to_rmcp(tool: McpTool) -> Tool {
    let schema: JsonObject = match serde_json::from_str(&tool.input_schema) {
        Ok(serde_json::Value::Object(schema)) => schema,
        _ => {
            tracing::warn!(plugin = %tool.plugin, tool = %tool.name, "the tool's input schema is not a JSON object; using an empty one");
            let mut schema = JsonObject::new();
            schema.insert("type".into(), "object".into());
            schema
        }
    };
    let annotations = ToolAnnotations::new()
        .read_only(!tool.writes)
        .destructive(tool.writes && tool.name.starts_with("delete"));
    Tool::new(
        Cow::Owned(tool.name),
        Cow::Owned(tool.description),
        Arc::new(schema),
    )
    .with_annotations(annotations)
}
