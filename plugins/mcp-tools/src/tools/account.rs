//! Who the caller is, and what this token lets them do.

use holt_plugin_sdk::context;

use crate::args::Args;
use crate::catalog::Outcome;
use crate::fail::allowed;

pub fn whoami(_args: &Args) -> Outcome {
    let me = context::whoami();
    let wiki = context::wiki();
    let role = me.role.as_deref().unwrap_or("none");
    let signed_in = if me.signed_in { "yes" } else { "no" };
    Ok(format!(
        "user: {}\nrole: {role}\nsigned in: {signed_in}\n{}\nwiki: {} ({})\nurl: {}\n",
        me.name,
        allowed(),
        wiki.name,
        wiki.slug,
        wiki.url
    ))
}
