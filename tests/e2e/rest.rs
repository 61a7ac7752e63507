//! The REST API plugin at `/api/v1`, over real HTTP.
