//! An example Holt plugin, small enough to read in one sitting:
//!
//! - `html-postprocess` adds a "Linked from" box to the end of every page, from the host's
//!   link index (`pages::backlinks`);
//! - an HTTP route, `/-/plugin/example/orphans`, lists the pages nothing links to.
//!
//! It asks for one capability, `pages:read`, and acts for the user of each request.

use holt_plugin_sdk::{Plugin, Request, Response, escape_html, page_url, pages, register_plugin};

struct Example;

impl Plugin for Example {
    fn new() -> Self {
        Example
    }

    fn postprocess_html(&self, path: &str, html: String) -> String {
        let Ok(backlinks) = pages::backlinks(path) else {
            return html;
        };
        if backlinks.is_empty() {
            return html;
        }
        let items: String = backlinks
            .iter()
            .map(|p| {
                format!(
                    "<li><a href=\"{}\">{}</a></li>",
                    escape_html(&page_url(p)),
                    escape_html(p)
                )
            })
            .collect();
        format!(
            "{html}<aside class=\"plugin-backlinks\"><h2>Linked from</h2><ul>{items}</ul></aside>"
        )
    }

    fn handle_http(&self, request: Request) -> Response {
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/orphans") => match pages::orphans() {
                Ok(orphans) => {
                    let items: String = orphans
                        .iter()
                        .map(|p| {
                            format!(
                                "<li><a href=\"{}\">{}</a></li>",
                                escape_html(&page_url(p)),
                                escape_html(p)
                            )
                        })
                        .collect();
                    let body = format!(
                        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Orphaned pages</title>\
                         <link rel=\"stylesheet\" href=\"/-/static/holt.css\"></head><body><main class=\"error-page\">\
                         <h1>Orphaned pages</h1><p>{} pages nothing links to.</p><ul class=\"orphans\">{items}</ul>\
                         </main></body></html>",
                        orphans.len()
                    );
                    Response::html(200, &body)
                }
                Err(err) => Response::error(&err),
            },
            _ => Response::text(404, "The example plugin serves /-/plugin/example/orphans."),
        }
    }
}

register_plugin!(Example);
