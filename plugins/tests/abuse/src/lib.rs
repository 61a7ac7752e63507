//! A component that misbehaves on purpose. Each route tries one way to escape or exhaust the
//! sandbox; the host must fail that request alone and serve the next one normally.

use holt_plugin_sdk::{
    Error, Plugin, Request, Response, Tool, ToolResult, kv, pages, register_plugin,
};

struct Abuse;

#[inline(never)]
fn recurse(depth: u64, pad: &mut [u8; 256]) -> u64 {
    pad[(depth % 256) as usize] = depth as u8;
    if depth == u64::MAX {
        0
    } else {
        recurse(depth + 1, pad).wrapping_add(pad[0] as u64)
    }
}

fn outcome(result: Result<String, Error>) -> Response {
    match result {
        Ok(value) => Response::text(200, &value),
        Err(err) => Response::error(&err),
    }
}

impl Plugin for Abuse {
    fn new() -> Self {
        Abuse
    }

    fn handle_http(&self, request: Request) -> Response {
        match request.path.as_str() {
            "/ok" => Response::text(200, "ok"),
            "/loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "/alloc" => {
                let big: Vec<u8> = vec![1; 1 << 30];
                Response::text(
                    200,
                    &format!("allocated {}", std::hint::black_box(big).len()),
                )
            }
            "/recurse" => {
                let mut pad = [0u8; 256];
                Response::text(200, &recurse(0, &mut pad).to_string())
            }
            "/panic" => panic!("this plugin panics on purpose"),
            "/big" => Response::new(200, "application/octet-stream", vec![b'x'; 100 << 20]),
            "/ungranted" => outcome(kv::set("key", b"value").map(|_| "stored".into())),
            "/other-wiki" => {
                // Every way a name might reach outside this wiki.
                let attempts = [
                    "../other/Home",
                    "/other/Home",
                    "..%2Fother%2FHome",
                    "other/../../Home",
                    ".git/config",
                ];
                let results: Vec<String> = attempts
                    .iter()
                    .map(|a| match pages::read(a, None) {
                        Ok(page) => format!("{a}: READ {} bytes", page.content.len()),
                        Err(err) => format!("{a}: {}", err.describe()),
                    })
                    .collect();
                Response::text(200, &results.join("\n"))
            }
            "/write" => outcome(pages::save(
                "Abuse Written",
                "written by a plugin\n",
                None,
                "plugin write",
            )),
            "/read" => outcome(pages::read("Home", None).map(|p| p.title)),
            "/read-any" => {
                let name = request.query_param("page").unwrap_or_default();
                outcome(pages::read(&name, None).map(|p| p.content))
            }
            _ => Response::text(404, "unknown abuse"),
        }
    }

    fn preprocess_markdown(&self, _path: &str, markdown: String) -> String {
        markdown.replace("{{plugin}}", "**replaced by a plugin**")
    }

    fn fragments(&self, path: &str) -> Vec<holt_plugin_sdk::Fragment> {
        if path != "Fragments" {
            return Vec::new();
        }
        vec![
            holt_plugin_sdk::Fragment {
                slot: "sidebar".into(),
                html: "<div class=\"abuse-sidebar\">side<script>alert(1)</script></div>".into(),
            },
            holt_plugin_sdk::Fragment {
                slot: "after-content".into(),
                html: "<p class=\"abuse-after\">after</p>".into(),
            },
        ]
    }

    fn postprocess_html(&self, path: &str, html: String) -> String {
        match path {
            "Trap Render" => panic!("a render hook that panics"),
            "Slow Render" => loop {
                std::hint::black_box(0u64);
            },
            "Script Render" => format!(
                "{html}<script>alert('from a plugin')</script><p class=\"abuse-added\">added</p>"
            ),
            _ => html,
        }
    }

    fn page_saved(&self, event: holt_plugin_sdk::PageSaved) {
        // A slow event hook must never slow the save that caused it.
        if event.path == "Slow Event" {
            let start = std::time::Instant::now();
            while start.elapsed() < std::time::Duration::from_millis(800) {
                std::hint::black_box(0u64);
            }
        }
        let _ = pages::save(
            &format!("Events/{}", event.path.replace('/', "-")),
            &format!("saved {} by {}\n", event.path, event.author),
            None,
            "page event seen",
        );
    }

    fn list_tools(&self) -> Vec<Tool> {
        let tool = |name: &str, description: &str| Tool {
            name: name.into(),
            description: description.into(),
            input_schema: "{\"type\":\"object\",\"properties\":{}}".into(),
            writes: false,
        };
        vec![
            tool(
                "abuse_ok",
                "Answers 'fine' (the plugin works between misbehaviours).",
            ),
            tool(
                "abuse_loop",
                "Loops forever (the host must stop it at its deadline).",
            ),
            tool(
                "abuse_panic",
                "Panics (the host must fail this call alone).",
            ),
        ]
    }

    fn call_tool(&self, name: &str, _arguments: &str) -> ToolResult {
        match name {
            "abuse_ok" => ToolResult {
                content: "fine".into(),
                is_error: false,
            },
            "abuse_loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "abuse_panic" => panic!("this tool panics on purpose"),
            _ => ToolResult {
                content: format!("unknown tool '{name}'"),
                is_error: true,
            },
        }
    }
}

register_plugin!(Abuse);
