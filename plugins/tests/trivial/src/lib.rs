//! The smallest useful component: its own world, with no imports and one export. It proves
//! the host runs components that export only some interfaces, and measures dispatch overhead.

wit_bindgen::generate!({
    path: "../../../wit/holt-plugin/0.1.0",
    inline: "
        package holt-test:trivial;
        world trivial {
            export holt:plugin/http-handler@0.1.0;
        }
    ",
    world: "holt-test:trivial/trivial",
    generate_all,
});

use exports::holt::plugin::http_handler::Guest;
use holt::plugin::types::{HttpRequest, HttpResponse};

struct Trivial;

impl Guest for Trivial {
    fn handle(_request: HttpRequest) -> HttpResponse {
        HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: b"ok\n".to_vec(),
        }
    }
}

export!(Trivial);
