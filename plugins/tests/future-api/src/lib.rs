//! A component built for an API version this host does not know (`holt:plugin@9.9.9`). Its
//! manifest even claims 0.1.0: the host must read the truth from the component and refuse it.

wit_bindgen::generate!({
    inline: "
        package holt:plugin@9.9.9;

        interface http-handler {
            record http-request {
                method: string,
                path: string,
                query: string,
                headers: list<tuple<string, string>>,
                body: list<u8>,
            }
            record http-response {
                status: u16,
                headers: list<tuple<string, string>>,
                body: list<u8>,
            }
            handle: func(request: http-request) -> http-response;
        }

        world from-the-future {
            export http-handler;
        }
    ",
    world: "from-the-future",
});

use exports::holt::plugin::http_handler::{Guest, HttpRequest, HttpResponse};

struct Future;

impl Guest for Future {
    fn handle(_request: HttpRequest) -> HttpResponse {
        HttpResponse {
            status: 200,
            headers: Vec::new(),
            body: b"from the future".to_vec(),
        }
    }
}

export!(Future);
