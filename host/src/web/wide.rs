//! Wiki-wide routes under `/-/`: page index, changelog and its feed, search, create, commit,
//! revert, orphans.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::error::{AppError, escape_into};
use super::pages::MessageForm;
use super::{AppState, Site, blocking};
use crate::index::{ChangedFile, CommitRow, PageRow, SearchHit};
use crate::render::links::page_url;
use crate::store::PagePath;
use crate::tenancy::{Permission, RequestContext};
use crate::wiki::{FileDiff, HOME, WikiError, short};

/// Commits per changelog page.
const CHANGELOG_PAGE: u32 = 100;
/// Entries in the Atom feed.
const FEED_ENTRIES: u32 = 50;
/// Hits per search results page.
const SEARCH_PAGE: u32 = 25;
/// Longest accepted search query, in bytes.
const MAX_QUERY_BYTES: usize = 500;

fn page_number(query: &HashMap<String, String>) -> u32 {
    query
        .get("page")
        .and_then(|p| p.parse().ok())
        .filter(|p| (1..=100_000).contains(p))
        .unwrap_or(1)
}

pub async fn page_index(
    State(state): State<AppState>,
    ctx: RequestContext,
) -> Result<Response, AppError> {
    ctx.require(Permission::Read)?;
    let wiki = ctx.wiki.clone();
    let pages = blocking(move || Ok(wiki.index().pages(None).map_err(WikiError::from)?)).await?;
    #[derive(Serialize)]
    struct Index {
        site: Site,
        /// The folders and their pages as HTML: a loop over hundreds of pages and thousands of
        /// headings is where a template engine spends most of a page index's time.
        listing: String,
        total: usize,
    }
    let total = pages.len();
    state.html(
        StatusCode::OK,
        "index.html",
        &Index {
            site: state.site(&ctx),
            listing: index_listing(pages),
            total,
        },
    )
}

/// The page index's body: a section per folder (sorted, case-insensitively), each page linked
/// with its second- and third-level headings.
fn index_listing(pages: Vec<PageRow>) -> String {
    let mut folders: Vec<(String, Vec<PageRow>)> = Vec::new();
    for page in pages {
        let folder = page
            .path
            .rsplit_once('/')
            .map(|(dir, _)| dir.to_string())
            .unwrap_or_default();
        match folders.last_mut() {
            Some((name, pages)) if name.eq_ignore_ascii_case(&folder) => pages.push(page),
            _ => folders.push((folder, vec![page])),
        }
    }
    folders.sort_by_key(|(name, _)| name.to_lowercase());
    let mut html = String::with_capacity(folders.iter().map(|(_, p)| p.len() * 256).sum());
    for (name, pages) in &folders {
        html.push_str("<section class=\"folder\">\n");
        if !name.is_empty() {
            html.push_str("  <h2 class=\"folder-name\">");
            escape_into(&mut html, name);
            html.push_str("/</h2>\n");
        }
        html.push_str("  <ul class=\"page-list\">\n");
        for page in pages {
            let url = page_url(&page.path);
            html.push_str("    <li><a href=\"");
            escape_into(&mut html, &url);
            html.push_str("\">");
            escape_into(&mut html, &page.title);
            html.push_str("</a>");
            if page.title != page.path {
                html.push_str(" <span class=\"muted path\">");
                escape_into(&mut html, &page.path);
                html.push_str("</span>");
            }
            if page.headings.len() > 1 {
                html.push_str("<ul class=\"headings\">");
                for heading in page.headings.iter().filter(|h| (2..4).contains(&h.level)) {
                    html.push_str("<li><a href=\"");
                    escape_into(&mut html, &url);
                    html.push('#');
                    escape_into(&mut html, &heading.anchor);
                    html.push_str("\">");
                    escape_into(&mut html, &heading.text);
                    html.push_str("</a></li>");
                }
                html.push_str("</ul>");
            }
            html.push_str("</li>\n");
        }
        html.push_str("  </ul>\n</section>\n");
    }
    html
}

/// A changelog entry: a commit and the files it changed.
#[derive(Serialize)]
struct Change {
    commit: CommitRow,
    files: Vec<ChangedFile>,
}

fn changes(ctx: &RequestContext, limit: u32, offset: u32) -> Result<Vec<Change>, AppError> {
    let commits = ctx.wiki.changelog(limit, offset)?;
    let mut out = Vec::with_capacity(commits.len());
    for commit in commits {
        let files = ctx
            .wiki
            .index()
            .changed_files(commit.seq)
            .map_err(WikiError::from)?;
        out.push(Change { commit, files });
    }
    Ok(out)
}

pub async fn changelog(
    State(state): State<AppState>,
    ctx: RequestContext,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    ctx.require(Permission::Read)?;
    let number = page_number(&query);
    let worker = ctx.clone();
    let (entries, total) = blocking(move || {
        let entries = changes(&worker, CHANGELOG_PAGE, (number - 1) * CHANGELOG_PAGE)?;
        let total = worker
            .wiki
            .index()
            .commit_count()
            .map_err(WikiError::from)?;
        Ok((entries, total))
    })
    .await?;
    #[derive(Serialize)]
    struct Changelog {
        site: Site,
        entries: Vec<Change>,
        number: u32,
        has_more: bool,
        total: u64,
    }
    let has_more = u64::from(number * CHANGELOG_PAGE) < total;
    state.html(
        StatusCode::OK,
        "changelog.html",
        &Changelog {
            site: state.site(&ctx),
            entries,
            number,
            has_more,
            total,
        },
    )
}

/// The Atom feed of recent changes.
pub async fn feed(
    State(state): State<AppState>,
    ctx: RequestContext,
    headers: axum::http::HeaderMap,
) -> Result<Response, AppError> {
    ctx.require(Permission::Read)?;
    let worker = ctx.clone();
    let entries = blocking(move || changes(&worker, FEED_ENTRIES, 0)).await?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    #[derive(Serialize)]
    struct Feed {
        site: Site,
        base: String,
        updated: i64,
        entries: Vec<Change>,
    }
    let updated = entries.first().map_or(0, |e| e.commit.time);
    let context = Feed {
        site: state.site(&ctx),
        base: format!("http://{host}"),
        updated,
        entries,
    };
    let body = state.theme.render("feed.atom", &context)?;
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/atom+xml; charset=utf-8"),
    );
    response.extensions_mut().insert(super::cache::Cacheable);
    Ok(response)
}

pub async fn search(
    State(state): State<AppState>,
    ctx: RequestContext,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    ctx.require(Permission::Read)?;
    let q = query
        .get("q")
        .map(|q| q.trim().to_string())
        .unwrap_or_default();
    if q.len() > MAX_QUERY_BYTES {
        return Err(AppError::BadRequest(format!(
            "Search queries are limited to {MAX_QUERY_BYTES} bytes."
        )));
    }
    let number = page_number(&query);
    let by_meaning = query.get("mode").is_some_and(|m| m == "meaning");
    let mut meaning = None;
    if by_meaning && !q.is_empty() {
        meaning = Some(search_by_meaning(&ctx, &q).await?);
    }
    let hits = match &meaning {
        // Word matches stand in where semantic search is off.
        Some(Meaning { off: None, .. }) => Vec::new(),
        _ => {
            let (wiki, terms) = (ctx.wiki.clone(), q.clone());
            blocking(move || {
                Ok(wiki.search(&terms, SEARCH_PAGE + 1, (number - 1) * SEARCH_PAGE)?)
            })
            .await?
        }
    };
    let has_more = hits.len() > SEARCH_PAGE as usize;
    #[derive(Serialize)]
    struct Search {
        site: Site,
        query: String,
        hits: Vec<SearchHit>,
        number: u32,
        has_more: bool,
        exact: Option<String>,
        by_meaning: bool,
        meaning: Option<Meaning>,
    }
    // Offer the page whose name is exactly what was typed.
    let exact = PagePath::parse(&q)
        .ok()
        .filter(|p| ctx.wiki.exists(p))
        .map(|p| p.to_string());
    let hits = hits.into_iter().take(SEARCH_PAGE as usize).collect();
    state.html(
        StatusCode::OK,
        "search.html",
        &Search {
            site: state.site(&ctx),
            query: q,
            hits,
            number,
            has_more,
            exact,
            by_meaning,
            meaning,
        },
    )
}

/// Passages a search by meaning shows.
const MEANING_RESULTS: usize = 20;
/// Passages shown from any one page.
const MEANING_PER_PAGE: usize = 2;

/// The search page's answer by meaning: passages, or why there are none.
#[derive(Serialize)]
struct Meaning {
    hits: Vec<crate::semantic::SemanticHit>,
    /// Why semantic search is off (the page then shows word matches).
    off: Option<String>,
    /// Pages still waiting to be indexed, so a missing result can be explained.
    pending: u64,
}

async fn search_by_meaning(ctx: &RequestContext, q: &str) -> Result<Meaning, AppError> {
    let wiki = ctx.wiki.clone();
    let q = q.to_string();
    blocking(move || {
        let Some(semantic) = wiki.semantic().cloned() else {
            return Ok(Meaning {
                hits: Vec::new(),
                off: Some("it is not configured here".into()),
                pending: 0,
            });
        };
        let pending = wiki.index().semantic_queue_len().unwrap_or(0);
        match semantic.search(&wiki, &q, MEANING_RESULTS, MEANING_PER_PAGE) {
            Ok(hits) => Ok(Meaning {
                hits,
                off: None,
                pending,
            }),
            Err(crate::semantic::SemanticError::Off(reason)) => Ok(Meaning {
                hits: Vec::new(),
                off: Some(reason),
                pending,
            }),
            Err(err) => Err(err.into()),
        }
    })
    .await
}

pub async fn create_form(
    State(state): State<AppState>,
    ctx: RequestContext,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    ctx.require(Permission::Write)?;
    let name = query.get("name").cloned().unwrap_or_default();
    state.html(
        StatusCode::OK,
        "create.html",
        &Create {
            site: state.site(&ctx),
            name,
            error: None,
        },
    )
}

/// What the new-page form template gets.
#[derive(Serialize)]
struct Create {
    site: Site,
    name: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
}

/// Validates the new page's name and opens the editor (or the page, if it exists).
pub async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<CreateForm>,
) -> Result<Response, AppError> {
    ctx.require(Permission::Write)?;
    let name = form.name.trim().trim_matches('/');
    match PagePath::parse(name) {
        Ok(page) if ctx.wiki.exists(&page) => {
            Ok(Redirect::to(&page_url(page.as_str())).into_response())
        }
        Ok(page) => {
            Ok(Redirect::to(&format!("{}/-/edit", page_url(page.as_str()))).into_response())
        }
        Err(err) => {
            let context = Create {
                site: state.site(&ctx),
                name: name.to_string(),
                error: Some(format!("Invalid page name: {err}.")),
            };
            state.html(StatusCode::BAD_REQUEST, "create.html", &context)
        }
    }
}

pub async fn commit(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(rev): Path<String>,
) -> Result<Response, AppError> {
    ctx.require(Permission::Read)?;
    let wiki = ctx.wiki.clone();
    let detail = blocking(move || Ok(wiki.commit_detail(&rev)?)).await?;
    #[derive(Serialize)]
    struct Commit {
        site: Site,
        commit: CommitRow,
        parent: Option<String>,
        files: Vec<FileDiff>,
    }
    let context = Commit {
        site: state.site(&ctx),
        commit: detail.commit,
        parent: detail.parent,
        files: detail.files,
    };
    state.html(StatusCode::OK, "commit.html", &context)
}

pub async fn revert(
    ctx: RequestContext,
    Path(rev): Path<String>,
    Form(form): Form<MessageForm>,
) -> Result<Response, AppError> {
    ctx.require(Permission::Write)?;
    let wiki = ctx.wiki.clone();
    let author = ctx.author();
    let new = blocking(move || Ok(wiki.revert(&rev, &author, &form.message)?)).await?;
    Ok(Redirect::to(&format!("/-/commit/{}", short(&new))).into_response())
}

pub async fn orphans(
    State(state): State<AppState>,
    ctx: RequestContext,
) -> Result<Response, AppError> {
    ctx.require(Permission::Read)?;
    let wiki = ctx.wiki.clone();
    let pages = blocking(move || Ok(wiki.index().orphans(HOME).map_err(WikiError::from)?)).await?;
    #[derive(Serialize)]
    struct Orphans {
        site: Site,
        pages: Vec<(String, String)>,
    }
    state.html(
        StatusCode::OK,
        "orphans.html",
        &Orphans {
            site: state.site(&ctx),
            pages,
        },
    )
}
