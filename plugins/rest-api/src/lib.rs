//! Holt's REST API (being written).

use holt_plugin_sdk::{Plugin, Request, Response, register_plugin};

struct RestApi;

impl Plugin for RestApi {
    fn new() -> Self {
        RestApi
    }

    fn handle_http(&self, _request: Request) -> Response {
        Response::json(200, "{\"status\":\"ok\"}")
    }
}

register_plugin!(RestApi);
