//! Page routes: `/{page}` and `/{page}/-/{action}` (view, edit, history, diff, blame, ...).
//!
//! Actions follow the page path after a `/-/` separator, which no page name may contain, so
//! `/Guides/History` is a page and `/Guides/-/history` its history.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::attachments;
use super::error::AppError;
use super::plugins::{PluginHooks, base_url};
use super::{AppState, Site, blocking, theme};
use crate::index::{PageRow, Revision};
use crate::render::Heading;
use crate::render::links::page_url;
use crate::store::PagePath;
use crate::tenancy::{Permission, RequestContext};
use crate::wiki::{BlameLine, DiffLine, HOME, WikiError, short};

/// Entries per history page.
const HISTORY_PAGE: u32 = 100;

/// A parsed `/{page}/-/{action}` URL.
struct PageRoute {
    page: PagePath,
    action: String,
    args: Vec<String>,
}

fn parse_route(path: &str) -> Result<PageRoute, AppError> {
    let (page, rest) = match path.split_once("/-/") {
        Some((page, rest)) => (page, rest),
        None => (path.trim_end_matches('/'), ""),
    };
    if page == "-" || page.starts_with("-/") {
        return Err(AppError::NotFound(format!("There is no page at /{path}.")));
    }
    let page = PagePath::parse(page)?;
    if rest.split('/').any(|s| s == ".." || s == ".") {
        return Err(AppError::BadRequest(
            "A URL may not contain '.' or '..' segments.".into(),
        ));
    }
    let mut parts = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let action = parts.next().unwrap_or_default();
    Ok(PageRoute {
        page,
        action,
        args: parts.collect(),
    })
}

/// Breadcrumb links for the folders of a page.
#[derive(Debug, Serialize)]
struct Crumb {
    name: String,
    url: String,
}

/// The folders a page is in, outermost first.
fn crumbs(page: &PagePath) -> Vec<Crumb> {
    let mut out = Vec::new();
    let mut prefix = String::new();
    for segment in page.parent().into_iter().flat_map(|dir| dir.split('/')) {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(segment);
        out.push(Crumb {
            name: segment.to_string(),
            url: page_url(&prefix),
        });
    }
    out
}

/// What every page-scoped template gets.
#[derive(Debug, Serialize)]
pub(super) struct PageInfo {
    path: String,
    url: String,
    title: String,
    crumbs: Vec<Crumb>,
}

pub(super) fn page_info(page: &PagePath, title: Option<&str>) -> PageInfo {
    PageInfo {
        path: page.as_str().to_string(),
        url: page_url(page.as_str()),
        title: title
            .map(str::to_string)
            .unwrap_or_else(|| page.name().to_string()),
        crumbs: crumbs(page),
    }
}

pub async fn home(
    State(state): State<AppState>,
    ctx: RequestContext,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    view(&state, ctx, PagePath::parse(HOME)?, base_url(&headers)).await
}

pub async fn get(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(path): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let route = parse_route(&path)?;
    let arg = |i: usize| route.args.get(i).cloned();
    match (route.action.as_str(), route.args.len()) {
        ("", 0) => view(&state, ctx, route.page, base_url(&headers)).await,
        ("view", 1) => view_at(&state, ctx, route.page, arg(0).unwrap_or_default()).await,
        ("source", 0 | 1) if query.contains_key("raw") => raw(ctx, route.page, arg(0)).await,
        ("raw", 0 | 1) => raw(ctx, route.page, arg(0)).await,
        ("source", 0 | 1) => source(&state, ctx, route.page, arg(0)).await,
        ("history", 0) => history(&state, ctx, route.page, &query).await,
        ("compare", 0) => compare(route.page, &query),
        ("diff", 2) => {
            diff(
                &state,
                ctx,
                route.page,
                arg(0).unwrap_or_default(),
                arg(1).unwrap_or_default(),
            )
            .await
        }
        ("blame", 0 | 1) => blame(&state, ctx, route.page, arg(0)).await,
        ("edit", 0 | 1) => edit_form(&state, ctx, route.page, arg(0)).await,
        ("rename", 0) => rename_form(&state, ctx, route.page).await,
        ("delete", 0) => delete_form(&state, ctx, route.page).await,
        ("attachments", 0) => attachments::list(&state, ctx, route.page).await,
        ("a", 1) => {
            attachments::download(
                ctx,
                route.page,
                arg(0).unwrap_or_default(),
                query.get("rev").cloned(),
            )
            .await
        }
        _ => Err(AppError::NotFound(format!(
            "There is no page action '{}'.",
            route.action
        ))),
    }
}

pub async fn post(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(path): Path<String>,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    let route = parse_route(&path)?;
    let base = base_url(request.headers());
    match (route.action.as_str(), route.args.as_slice()) {
        ("attachments", []) => {
            let multipart = Multipart::from_request(request, &state)
                .await
                .map_err(|e| AppError::BadRequest(format!("Expected a file upload form: {e}")))?;
            attachments::upload(&state, ctx, route.page, multipart).await
        }
        ("a", [name, delete]) if delete == "delete" => {
            let form = form::<MessageForm>(request, &state).await?;
            attachments::delete(ctx, route.page, name.clone(), form.message).await
        }
        ("edit", []) => save(&state, ctx, route.page, form(request, &state).await?).await,
        ("preview", []) => {
            preview(&state, ctx, route.page, base, form(request, &state).await?).await
        }
        ("rename", []) => rename(ctx, route.page, form(request, &state).await?).await,
        ("delete", []) => delete(ctx, route.page, form(request, &state).await?).await,
        _ => Err(AppError::NotFound(format!(
            "There is no page action '{}'.",
            route.action
        ))),
    }
}

use axum::extract::FromRequest;

/// Extracts a URL-encoded form, turning a body over the limit into a 413.
async fn form<T: serde::de::DeserializeOwned>(
    request: axum::extract::Request,
    state: &AppState,
) -> Result<T, AppError> {
    match Form::<T>::from_request(request, state).await {
        Ok(Form(value)) => Ok(value),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(
            AppError::TooLarge("The request body is larger than the server accepts.".into()),
        ),
        Err(rejection) => Err(AppError::BadRequest(format!(
            "Invalid form: {}",
            rejection.body_text()
        ))),
    }
}

#[derive(Serialize)]
struct ViewContext<'a> {
    site: Site,
    page: PageInfo,
    row: &'a PageRow,
    html: &'a str,
    toc: &'a [Heading],
    has_math: bool,
    has_mermaid: bool,
    /// The page opens with its own level-1 heading, so the view shows no separate title.
    titled: bool,
    backlinks: Vec<Link>,
    old_revision: Option<&'a Revision>,
    fragments: Fragments,
}

#[derive(Serialize)]
struct Link {
    path: String,
    title: String,
}

async fn view(
    state: &AppState,
    ctx: RequestContext,
    page: PagePath,
    base: String,
) -> Result<Response, AppError> {
    ctx.require(Permission::Read)?;
    let wiki = ctx.wiki.clone();
    let lookup = page.clone();
    let hooks = PluginHooks::new(state.plugins.clone(), ctx.clone(), base.clone());
    let found = blocking(move || match wiki.view_with(&lookup, &hooks) {
        Ok(view) => {
            let backlinks = wiki
                .index()
                .backlinks(&view.row.path)
                .map_err(WikiError::from)?;
            Ok(Some((view, backlinks)))
        }
        Err(WikiError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    })
    .await?;
    let Some((view, backlinks)) = found else {
        return missing(state, &ctx, &page);
    };
    let shown = PagePath::parse(&view.row.path).unwrap_or(page);
    let fragments = Fragments::gather(state, &ctx, &base, &shown).await;
    let context = ViewContext {
        site: state.site(&ctx),
        page: page_info(&shown, Some(&view.row.title)),
        row: &view.row,
        html: &view.rendered.html,
        toc: &view.rendered.toc,
        has_math: view.rendered.has_math,
        has_mermaid: view.rendered.has_mermaid,
        titled: opens_with_title(&view.rendered.toc),
        backlinks: backlinks
            .into_iter()
            .map(|(path, title)| Link { path, title })
            .collect(),
        old_revision: None,
        fragments,
    };
    state.html(StatusCode::OK, "page.html", &context)
}

/// Plugins' HTML for the slots around a page, sanitized.
#[derive(Serialize, Default)]
struct Fragments {
    sidebar: Vec<String>,
    before: Vec<String>,
    after: Vec<String>,
}

impl Fragments {
    async fn gather(
        state: &AppState,
        ctx: &RequestContext,
        base: &str,
        page: &PagePath,
    ) -> Fragments {
        let mut out = Fragments::default();
        for (slot, html) in state.plugins.fragments(ctx, base, page.as_str()).await {
            let html = ctx.wiki.renderer().clean(&html);
            match slot.as_str() {
                "sidebar" => out.sidebar.push(html),
                "before-content" => out.before.push(html),
                "after-content" => out.after.push(html),
                other => tracing::debug!(
                    slot = other,
                    "a plugin fragment for an unknown slot was dropped"
                ),
            }
        }
        out
    }
}

fn opens_with_title(toc: &[Heading]) -> bool {
    toc.first().is_some_and(|h| h.level == 1)
}

/// The friendly 404 for a page that does not exist yet.
fn missing(state: &AppState, ctx: &RequestContext, page: &PagePath) -> Result<Response, AppError> {
    #[derive(Serialize)]
    struct Missing {
        site: Site,
        page: PageInfo,
    }
    let context = Missing {
        site: state.site(ctx),
        page: page_info(page, None),
    };
    state.html(StatusCode::NOT_FOUND, "missing.html", &context)
}

async fn view_at(
    state: &AppState,
    ctx: RequestContext,
    page: PagePath,
    rev: String,
) -> Result<Response, AppError> {
    ctx.require(Permission::Read)?;
    let wiki = ctx.wiki.clone();
    let lookup = page.clone();
    let (at, rendered, row) = blocking(move || {
        let at = wiki.at_revision(&lookup, &rev)?;
        let rendered = wiki.render(&at.content);
        let row = PageRow {
            path: lookup.to_string(),
            title: wiki
                .renderer()
                .analyze(&lookup, &at.content)
                .title
                .unwrap_or_else(|| lookup.name().to_string()),
            size: at.content.len() as u64,
            blob: at.revision.blob.clone().unwrap_or_default(),
            revision: at.revision.commit.id.clone(),
            updated: at.revision.commit.time,
            headings: rendered.toc.clone(),
            tags: Vec::new(),
        };
        Ok((at, rendered, row))
    })
    .await?;
    let context = ViewContext {
        site: state.site(&ctx),
        page: page_info(&page, Some(&row.title)),
        row: &row,
        html: &rendered.html,
        toc: &rendered.toc,
        has_math: rendered.has_math,
        has_mermaid: rendered.has_mermaid,
        titled: opens_with_title(&rendered.toc),
        backlinks: Vec::new(),
        old_revision: Some(&at.revision),
        fragments: Fragments::default(),
    };
    state.html(StatusCode::OK, "page.html", &context)
}

async fn raw(
    ctx: RequestContext,
    page: PagePath,
    rev: Option<String>,
) -> Result<Response, AppError> {
    ctx.require(Permission::Read)?;
    let wiki = ctx.wiki.clone();
    let content = blocking(move || match rev {
        Some(rev) => Ok(wiki.at_revision(&page, &rev)?.content),
        None => Ok(wiki.source(&page)?.1),
    })
    .await?;
    let mut response = content.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}

async fn source(
    state: &AppState,
    ctx: RequestContext,
    page: PagePath,
    rev: Option<String>,
) -> Result<Response, AppError> {
    ctx.require(Permission::Read)?;
    let wiki = ctx.wiki.clone();
    let lookup = page.clone();
    let (content, revision) = blocking(move || match rev {
        Some(rev) => {
            let at = wiki.at_revision(&lookup, &rev)?;
            Ok((at.content, at.revision.commit.id))
        }
        None => {
            let (row, content) = wiki.source(&lookup)?;
            Ok((content, row.revision))
        }
    })
    .await?;
    let mut highlighted = String::new();
    use comrak::adapters::SyntaxHighlighterAdapter;
    let _ = crate::render::highlight::Highlighter.write_highlighted(
        &mut highlighted,
        Some("markdown"),
        &content,
    );
    #[derive(Serialize)]
    struct Source {
        site: Site,
        page: PageInfo,
        revision: String,
        highlighted: String,
    }
    let context = Source {
        site: state.site(&ctx),
        page: page_info(&page, None),
        revision,
        highlighted,
    };
    state.html(StatusCode::OK, "source.html", &context)
}

async fn history(
    state: &AppState,
    ctx: RequestContext,
    page: PagePath,
    query: &HashMap<String, String>,
) -> Result<Response, AppError> {
    ctx.require(Permission::Read)?;
    let number: u32 = query
        .get("page")
        .and_then(|p| p.parse().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let wiki = ctx.wiki.clone();
    let lookup = page.clone();
    let (entries, total) =
        blocking(move || Ok(wiki.history(&lookup, HISTORY_PAGE, (number - 1) * HISTORY_PAGE)?))
            .await?;
    #[derive(Serialize)]
    struct History {
        site: Site,
        page: PageInfo,
        entries: Vec<HistoryRow>,
        total: u64,
        number: u32,
        has_more: bool,
    }
    let has_more = u64::from(number * HISTORY_PAGE) < total;
    let context = History {
        site: state.site(&ctx),
        page: page_info(&page, None),
        entries: entries.into_iter().map(HistoryRow::from).collect(),
        total,
        number,
        has_more,
    };
    state.html(StatusCode::OK, "history.html", &context)
}

/// One row of the history table, flat and with what it shows worked out once: the table is
/// the longest loop of any template, and each dotted lookup or filter in it costs per row.
#[derive(Serialize)]
struct HistoryRow {
    id: String,
    /// The id as shown (`short`).
    short: String,
    /// Seconds since the epoch, and the same as a `<time datetime>` and as shown.
    time: i64,
    datetime: String,
    date: String,
    author: String,
    /// The message's first line.
    summary: String,
    kind: String,
    path: String,
    old_path: Option<String>,
    /// Whether the page exists at this revision (not a deletion).
    viewable: bool,
}

impl From<Revision> for HistoryRow {
    fn from(r: Revision) -> Self {
        let c = r.commit;
        let (datetime, date) = theme::utc_datetime_and_date(c.time);
        HistoryRow {
            short: short(&c.id).to_string(),
            id: c.id,
            time: c.time,
            datetime,
            date,
            author: c.author_name,
            summary: c.message.lines().next().unwrap_or_default().to_string(),
            kind: r.kind,
            path: r.path,
            old_path: r.old_path,
            viewable: r.blob.is_some(),
        }
    }
}

/// The history page's "compare" form: redirects to the diff of the two chosen revisions.
fn compare(page: PagePath, query: &HashMap<String, String>) -> Result<Response, AppError> {
    let (Some(a), Some(b)) = (query.get("a"), query.get("b")) else {
        return Err(AppError::BadRequest(
            "Choose two revisions to compare.".into(),
        ));
    };
    let hex = |s: &str| !s.is_empty() && s.len() <= 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(a) || !hex(b) {
        return Err(AppError::BadRequest(
            "Revisions are commit ids (hexadecimal).".into(),
        ));
    }
    Ok(Redirect::to(&format!("{}/-/diff/{a}/{b}", page_url(page.as_str()))).into_response())
}

async fn diff(
    state: &AppState,
    ctx: RequestContext,
    page: PagePath,
    a: String,
    b: String,
) -> Result<Response, AppError> {
    ctx.require(Permission::Read)?;
    let wiki = ctx.wiki.clone();
    let lookup = page.clone();
    let (a, b, lines) = blocking(move || Ok(wiki.diff(&lookup, &a, &b)?)).await?;
    #[derive(Serialize)]
    struct Diff {
        site: Site,
        page: PageInfo,
        a: crate::index::CommitRow,
        b: crate::index::CommitRow,
        lines: Vec<DiffLine>,
    }
    let context = Diff {
        site: state.site(&ctx),
        page: page_info(&page, None),
        a,
        b,
        lines,
    };
    state.html(StatusCode::OK, "diff.html", &context)
}

async fn blame(
    state: &AppState,
    ctx: RequestContext,
    page: PagePath,
    rev: Option<String>,
) -> Result<Response, AppError> {
    ctx.require(Permission::Read)?;
    let wiki = ctx.wiki.clone();
    let lookup = page.clone();
    let lines = blocking(move || Ok(wiki.blame(&lookup, rev.as_deref())?)).await?;
    #[derive(Serialize)]
    struct Blame {
        site: Site,
        page: PageInfo,
        lines: Vec<BlameLine>,
    }
    let context = Blame {
        site: state.site(&ctx),
        page: page_info(&page, None),
        lines,
    };
    state.html(StatusCode::OK, "blame.html", &context)
}

/// What the editor template gets.
#[derive(Serialize, Default)]
struct EditContext {
    site: Option<Site>,
    page: Option<PageInfo>,
    content: String,
    base: String,
    message: String,
    is_new: bool,
    preview: Option<String>,
    error: Option<String>,
    /// The revision the page moved on to, when the save conflicted.
    current: Option<String>,
}

async fn edit_form(
    state: &AppState,
    ctx: RequestContext,
    page: PagePath,
    rev: Option<String>,
) -> Result<Response, AppError> {
    ctx.require(Permission::Write)?;
    let wiki = ctx.wiki.clone();
    let lookup = page.clone();
    let (content, base, is_new) = blocking(move || {
        let current = match wiki.source(&lookup) {
            Ok((row, content)) => Some((row.revision, content)),
            Err(WikiError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        match (rev, current) {
            (Some(rev), Some((head_rev, _))) => {
                Ok((wiki.at_revision(&lookup, &rev)?.content, head_rev, false))
            }
            (None, Some((head_rev, content))) => Ok((content, head_rev, false)),
            (_, None) => Ok((format!("# {}\n\n", lookup.name()), String::new(), true)),
        }
    })
    .await?;
    let context = EditContext {
        site: Some(state.site(&ctx)),
        page: Some(page_info(&page, None)),
        content,
        base,
        is_new,
        ..Default::default()
    };
    state.html(StatusCode::OK, "edit.html", &context)
}

#[derive(Deserialize)]
pub struct SaveForm {
    content: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    base: String,
    /// Set by the "Preview" button: render the preview instead of saving.
    #[serde(default)]
    preview: Option<String>,
}

async fn save(
    state: &AppState,
    ctx: RequestContext,
    page: PagePath,
    form: SaveForm,
) -> Result<Response, AppError> {
    ctx.require(Permission::Write)?;
    // Browsers submit textarea line breaks as CRLF; pages are stored with LF.
    let content = form.content.replace("\r\n", "\n");
    let base = Some(form.base.trim())
        .filter(|b| !b.is_empty())
        .map(str::to_string);
    let is_new = base.is_none();
    let mut context = EditContext {
        site: Some(state.site(&ctx)),
        page: Some(page_info(&page, None)),
        base: base.clone().unwrap_or_default(),
        message: form.message.clone(),
        is_new,
        ..Default::default()
    };
    if form.preview.is_some() {
        let wiki = ctx.wiki.clone();
        let markdown = content.clone();
        context.preview = Some(blocking(move || Ok(wiki.render(&markdown).html)).await?);
        context.content = content;
        return state.html(StatusCode::OK, "edit.html", &context);
    }
    let wiki = ctx.wiki.clone();
    let author = ctx.author();
    let target = page.clone();
    let text = content.clone();
    let outcome =
        blocking(move || Ok(wiki.save(&target, &text, base.as_deref(), &author, &form.message)))
            .await?;
    match outcome {
        Ok(_) => Ok(Redirect::to(&page_url(page.as_str())).into_response()),
        // The editor comes back with the user's text, so nothing typed is lost.
        Err(
            err @ (WikiError::Conflict { .. }
            | WikiError::TooLarge { .. }
            | WikiError::Invalid(_)
            | WikiError::Limit(_)),
        ) => {
            let status = match &err {
                WikiError::Conflict { .. } => StatusCode::CONFLICT,
                WikiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                WikiError::Limit(_) => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            if let WikiError::Conflict { current, .. } = &err {
                context.current = current.clone();
            }
            context.error = Some(err.to_string());
            context.content = content;
            state.html(status, "edit.html", &context)
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
pub struct PreviewForm {
    content: String,
}

/// Live preview for the editor: the rendered HTML fragment.
async fn preview(
    state: &AppState,
    ctx: RequestContext,
    page: PagePath,
    base: String,
    form: PreviewForm,
) -> Result<Response, AppError> {
    ctx.require(Permission::Read)?;
    let wiki = ctx.wiki.clone();
    let content = form.content.replace("\r\n", "\n");
    let hooks = PluginHooks::new(state.plugins.clone(), ctx.clone(), base);
    let html = blocking(move || Ok(wiki.render_with(&page, &content, &hooks).html)).await?;
    Ok(axum::response::Html(html).into_response())
}

#[derive(Serialize)]
struct FormContext {
    site: Site,
    page: PageInfo,
    backlinks: usize,
    attachments: usize,
    error: Option<String>,
}

async fn rename_form(
    state: &AppState,
    ctx: RequestContext,
    page: PagePath,
) -> Result<Response, AppError> {
    form_page(state, ctx, page, "rename.html").await
}

async fn delete_form(
    state: &AppState,
    ctx: RequestContext,
    page: PagePath,
) -> Result<Response, AppError> {
    form_page(state, ctx, page, "delete.html").await
}

async fn form_page(
    state: &AppState,
    ctx: RequestContext,
    page: PagePath,
    template: &str,
) -> Result<Response, AppError> {
    ctx.require(Permission::Write)?;
    let wiki = ctx.wiki.clone();
    let lookup = page.clone();
    let (title, backlinks, attachments) = blocking(move || {
        let row = wiki.page(&lookup)?;
        let backlinks = wiki
            .index()
            .backlinks(&row.path)
            .map_err(WikiError::from)?
            .len();
        let attachments = wiki.attachments(&lookup, None)?.len();
        Ok((row.title, backlinks, attachments))
    })
    .await?;
    let context = FormContext {
        site: state.site(&ctx),
        page: page_info(&page, Some(&title)),
        backlinks,
        attachments,
        error: None,
    };
    state.html(StatusCode::OK, template, &context)
}

#[derive(Deserialize)]
pub struct RenameForm {
    new_path: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    update_links: Option<String>,
}

async fn rename(
    ctx: RequestContext,
    page: PagePath,
    form: RenameForm,
) -> Result<Response, AppError> {
    ctx.require(Permission::Write)?;
    let to = PagePath::parse(form.new_path.trim())?;
    let wiki = ctx.wiki.clone();
    let author = ctx.author();
    let target = to.clone();
    blocking(move || {
        Ok(wiki.rename(
            &page,
            &target,
            form.update_links.is_some(),
            &author,
            &form.message,
        )?)
    })
    .await?;
    Ok(Redirect::to(&page_url(to.as_str())).into_response())
}

#[derive(Deserialize)]
pub struct MessageForm {
    #[serde(default)]
    pub message: String,
}

async fn delete(
    ctx: RequestContext,
    page: PagePath,
    form: MessageForm,
) -> Result<Response, AppError> {
    ctx.require(Permission::Write)?;
    let wiki = ctx.wiki.clone();
    let author = ctx.author();
    let revision = blocking(move || Ok(wiki.delete(&page, &author, &form.message)?)).await?;
    Ok(Redirect::to(&format!("/-/commit/{}", short(&revision))).into_response())
}
